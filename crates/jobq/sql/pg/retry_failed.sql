-- FAILED jobs (one, or all when $1 is NULL) start over with fresh attempts and crashes,
-- out of quarantine; the last error is kept for reference. Jobs of cancelled meetings
-- stay failed.
UPDATE jobs
SET status = 'PENDING', attempts = 0, crashes = 0, crash_log = '[]', quarantined_at = NULL,
    run_after = 0, finished_at = NULL
WHERE status = 'FAILED'
  AND ($1::BIGINT IS NULL OR job_id = $1)
  AND meeting_id IN (SELECT meeting_id FROM meetings WHERE status <> 'CANCELLED')
RETURNING job_id;
