-- Take back a claim whose worker died while running it: a crash, not an attempt.
-- PENDING again after the crash backoff ($5 ms), or, when the poison rule fired ($3),
-- FAILED and set aside. Fenced by the claim token the reaper judged.
UPDATE jobs
SET status           = CASE WHEN $3 THEN 'FAILED' ELSE 'PENDING' END,
    attempts         = GREATEST(attempts - 1, 0),
    crashes          = crashes + 1,
    crash_log        = $4,
    quarantined_at   = CASE WHEN $3 THEN debrief_now_ms() ELSE NULL END,
    run_after        = CASE WHEN $3 THEN run_after ELSE debrief_now_ms() + $5 END,
    finished_at      = CASE WHEN $3 THEN debrief_now_ms() ELSE NULL END,
    last_error       = $6,
    claim_token      = NULL,
    lease_expires_at = NULL
WHERE job_id = $1
  AND status = 'PROCESSING'
  AND claim_token = $2
RETURNING status;
