SELECT job_id, crash_log FROM jobs
WHERE task_type = $1 AND job_id <> $2 AND crashes > 0;
