-- A claim this worker still holds reached step :progress (and is alive: the lease is
-- extended as by a heartbeat). Written synchronously at each step, so that the last
-- value before a crash says where the job was.
UPDATE jobs
SET progress         = :progress,
    lease_expires_at = :now + :lease_ms
WHERE job_id = :job_id
  AND status = 'PROCESSING'
  AND worker_id = :worker_id
  AND claim_token = :token;
