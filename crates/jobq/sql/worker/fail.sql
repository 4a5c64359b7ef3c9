-- A claim this worker holds failed. Retry later (run_after chosen by the caller's
-- backoff) while attempts remain and the error is retryable; otherwise FAILED for good.
-- The error text is kept either way.
UPDATE jobs
SET status           = CASE WHEN :retryable AND attempts < max_attempts
                            THEN 'PENDING' ELSE 'FAILED' END,
    run_after        = CASE WHEN :retryable AND attempts < max_attempts
                            THEN :run_after ELSE run_after END,
    finished_at      = CASE WHEN :retryable AND attempts < max_attempts
                            THEN NULL ELSE :now END,
    last_error       = :error,
    claim_token      = NULL,
    lease_expires_at = NULL
WHERE job_id = :job_id
  AND status = 'PROCESSING'
  AND worker_id = :worker_id
  AND claim_token = :token
RETURNING status, attempts, max_attempts, run_after;
