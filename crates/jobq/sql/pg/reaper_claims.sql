-- Every live claim, for the reaper to judge (expired lease, or dead pid on its host).
SELECT job_id, worker_id, worker_pid, worker_host, claim_token, lease_expires_at,
       task_type, crashes, crash_log, progress, started_at
FROM jobs
WHERE status = 'PROCESSING';
