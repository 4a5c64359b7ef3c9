-- Finish a claim this worker still holds. Result rows of the job are written in the
-- same transaction by the caller.
UPDATE jobs
SET status           = 'COMPLETED',
    result           = :result,
    claim_token      = NULL,
    lease_expires_at = NULL,
    finished_at      = :now
WHERE job_id = :job_id
  AND status = 'PROCESSING'
  AND worker_id = :worker_id
  AND claim_token = :token;
