-- Extend the lease of a claim this worker still holds.
UPDATE jobs
SET lease_expires_at = :now + :lease_ms
WHERE job_id = :job_id
  AND status = 'PROCESSING'
  AND worker_id = :worker_id
  AND claim_token = :token;
