-- Jobs of one type that are running or can still become ready by themselves: PROCESSING,
-- or PENDING and not blocked behind a FAILED job.
SELECT COUNT(*)
FROM jobs j
WHERE j.task_type = :task_type
  AND (j.status = 'PROCESSING'
       OR (j.status = 'PENDING' AND j.job_id NOT IN (SELECT job_id FROM blocked_jobs)));
