-- Take back a claim whose worker is gone: PENDING again after a backoff, or FAILED when
-- it has used all its attempts (a job that kills its worker must not loop forever).
-- Fenced by the claim token the reaper judged, so a claim renewed meanwhile is left alone.
UPDATE jobs
SET status           = CASE WHEN attempts < max_attempts THEN 'PENDING' ELSE 'FAILED' END,
    run_after        = CASE WHEN attempts < max_attempts THEN :run_after ELSE run_after END,
    finished_at      = CASE WHEN attempts < max_attempts THEN NULL ELSE :now END,
    last_error       = :error,
    claim_token      = NULL,
    lease_expires_at = NULL
WHERE job_id = :job_id
  AND status = 'PROCESSING'
  AND claim_token = :token
RETURNING status;
