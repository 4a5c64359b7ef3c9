-- A claim this worker holds failed. Retry after $6 ms while attempts remain and the
-- error is retryable ($5); otherwise FAILED for good. The error text is kept either way.
UPDATE jobs
SET status           = CASE WHEN $5 AND attempts < max_attempts THEN 'PENDING' ELSE 'FAILED' END,
    run_after        = CASE WHEN $5 AND attempts < max_attempts THEN debrief_now_ms() + $6 ELSE run_after END,
    finished_at      = CASE WHEN $5 AND attempts < max_attempts THEN NULL ELSE debrief_now_ms() END,
    last_error       = $4,
    claim_token      = NULL,
    lease_expires_at = NULL
WHERE job_id = $1
  AND status = 'PROCESSING'
  AND worker_id = $2
  AND claim_token = $3
RETURNING status, attempts, max_attempts, run_after;
