-- Take back a claim whose worker is gone: PENDING again after a backoff, or FAILED when
-- it has used all its attempts (a job that kills its worker must not loop forever).
-- With :count = 0 (the lease expired but the worker still lives on this host: the
-- machine was suspended, or the process stopped) the attempt is not counted and the job
-- is PENDING again at once, like a hand-back.
-- Fenced by the claim token the reaper judged, so a claim renewed meanwhile is left alone.
UPDATE jobs
SET status           = CASE WHEN NOT :count OR attempts < max_attempts THEN 'PENDING' ELSE 'FAILED' END,
    attempts         = CASE WHEN :count THEN attempts ELSE MAX(attempts - 1, 0) END,
    run_after        = CASE WHEN NOT :count THEN :now
                            WHEN attempts < max_attempts THEN :run_after
                            ELSE run_after END,
    finished_at      = CASE WHEN NOT :count OR attempts < max_attempts THEN NULL ELSE :now END,
    last_error       = :error,
    claim_token      = NULL,
    lease_expires_at = NULL
WHERE job_id = :job_id
  AND status = 'PROCESSING'
  AND claim_token = :token
RETURNING status;
