-- Idempotent per (meeting, task type, seq): a second enqueue of the same job inserts
-- nothing and returns nothing; the caller then looks the existing job up.
INSERT INTO jobs (meeting_id, task_type, seq, priority, payload, max_attempts, run_after, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, debrief_now_ms())
ON CONFLICT (meeting_id, task_type, seq) DO NOTHING
RETURNING job_id;
