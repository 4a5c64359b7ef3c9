-- Every job of a meeting, by type and seq.
SELECT job_id, meeting_id, task_type, seq, status, priority, payload, result, attempts,
       max_attempts, run_after, worker_id, worker_pid, worker_host, lease_expires_at,
       last_error, created_at, started_at, finished_at,
       crashes, crash_log, progress, quarantined_at
FROM jobs
WHERE meeting_id = $1
ORDER BY task_type, seq;
