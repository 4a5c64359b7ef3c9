-- A claim this worker still holds reached step $5 (and is alive: the lease is extended).
UPDATE jobs
SET progress         = $5,
    lease_expires_at = debrief_now_ms() + $4
WHERE job_id = $1
  AND status = 'PROCESSING'
  AND worker_id = $2
  AND claim_token = $3;
