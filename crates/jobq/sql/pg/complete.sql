-- Finish a claim this worker still holds. Result rows of the job are written in the
-- same transaction by the caller.
UPDATE jobs
SET status           = 'COMPLETED',
    result           = $4,
    claim_token      = NULL,
    lease_expires_at = NULL,
    finished_at      = debrief_now_ms()
WHERE job_id = $1
  AND status = 'PROCESSING'
  AND worker_id = $2
  AND claim_token = $3;
