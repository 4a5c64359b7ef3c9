-- Job counts by type and status (non-zero ones).
SELECT task_type, status, COUNT(*) FROM jobs GROUP BY task_type, status ORDER BY task_type, status;
