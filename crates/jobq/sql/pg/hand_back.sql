-- Give an unfinished claim back (graceful shutdown): ready again at once, and the
-- attempt it used is not counted.
UPDATE jobs
SET status           = 'PENDING',
    attempts         = GREATEST(attempts - 1, 0),
    claim_token      = NULL,
    lease_expires_at = NULL,
    started_at       = NULL
WHERE job_id = $1
  AND status = 'PROCESSING'
  AND worker_id = $2
  AND claim_token = $3;
