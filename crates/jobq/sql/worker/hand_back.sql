-- Give an unfinished claim back (graceful shutdown): ready again at once, and the
-- attempt it used is not counted.
UPDATE jobs
SET status           = 'PENDING',
    attempts         = MAX(attempts - 1, 0),
    claim_token      = NULL,
    lease_expires_at = NULL,
    started_at       = NULL
WHERE job_id = :job_id
  AND status = 'PROCESSING'
  AND worker_id = :worker_id
  AND claim_token = :token;
