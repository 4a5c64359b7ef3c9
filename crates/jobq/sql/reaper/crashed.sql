-- Take back a claim whose worker died while running it: a crash, not an attempt (the
-- attempt the claim took is given back). PENDING again after the crash backoff, or, when
-- the reaper's poison rule fired, FAILED and set aside (quarantined_at). Fenced by the
-- claim token the reaper judged.
UPDATE jobs
SET status           = CASE WHEN :quarantine THEN 'FAILED' ELSE 'PENDING' END,
    attempts         = MAX(attempts - 1, 0),
    crashes          = crashes + 1,
    crash_log        = :crash_log,
    quarantined_at   = CASE WHEN :quarantine THEN :now ELSE NULL END,
    run_after        = CASE WHEN :quarantine THEN run_after ELSE :run_after END,
    finished_at      = CASE WHEN :quarantine THEN :now ELSE NULL END,
    last_error       = :error,
    claim_token      = NULL,
    lease_expires_at = NULL
WHERE job_id = :job_id
  AND status = 'PROCESSING'
  AND claim_token = :token
RETURNING status;
