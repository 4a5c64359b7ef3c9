-- A meeting's speaker hints changed: its COMPLETED TRANSCRIPT job runs again (it
-- re-clusters the stored speaker embeddings; no model runs), then what depends on it.
UPDATE jobs
SET status = 'PENDING', attempts = 0, crashes = 0, crash_log = '[]', run_after = 0, finished_at = NULL
WHERE meeting_id = $1 AND task_type = 'TRANSCRIPT' AND status = 'COMPLETED'
RETURNING job_id;
