-- A meeting's input jobs by type: how many FAILED for good, how many in all, and the
-- first failed one's id and error.
SELECT task_type,
       SUM(status = 'FAILED'),
       COUNT(*),
       MIN(CASE WHEN status = 'FAILED' THEN job_id END)
FROM jobs
WHERE meeting_id = :meeting_id AND task_type IN ('AUDIO', 'VISUAL')
GROUP BY task_type
ORDER BY task_type;
