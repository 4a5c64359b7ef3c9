-- Other jobs of the type completed since $3, and how long they ran inside that window.
SELECT COUNT(*), COALESCE(SUM(finished_at - GREATEST(COALESCE(started_at, finished_at), $3)), 0)::BIGINT FROM jobs
WHERE task_type = $1 AND job_id <> $2 AND status = 'COMPLETED' AND finished_at >= $3;
