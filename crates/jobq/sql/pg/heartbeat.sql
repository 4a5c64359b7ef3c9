-- Extend the lease of a claim this worker still holds.
UPDATE jobs
SET lease_expires_at = debrief_now_ms() + $4
WHERE job_id = $1
  AND status = 'PROCESSING'
  AND worker_id = $2
  AND claim_token = $3;
