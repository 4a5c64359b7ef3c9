-- A meeting's input jobs by type: how many FAILED for good, how many in all, and the
-- first failed one's id and error.
SELECT t.task_type, t.failed, t.total, t.first, j.last_error
FROM (SELECT task_type,
             COUNT(*) FILTER (WHERE status = 'FAILED') AS failed,
             COUNT(*) AS total,
             MIN(job_id) FILTER (WHERE status = 'FAILED') AS first
      FROM jobs
      WHERE meeting_id = $1 AND task_type IN ('AUDIO', 'VISUAL')
      GROUP BY task_type) t
LEFT JOIN jobs j ON j.job_id = t.first
ORDER BY t.task_type;
