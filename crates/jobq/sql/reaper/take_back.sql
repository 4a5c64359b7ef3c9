-- Take back a claim whose lease expired while its worker still lives on this host (the
-- machine was suspended, or the process stopped): neither a crash nor an attempt, the
-- job is PENDING again at once, like a hand-back. Fenced by the claim token the reaper
-- judged, so a claim renewed meanwhile is left alone.
UPDATE jobs
SET status           = 'PENDING',
    attempts         = MAX(attempts - 1, 0),
    run_after        = :now,
    last_error       = :error,
    claim_token      = NULL,
    lease_expires_at = NULL
WHERE job_id = :job_id
  AND status = 'PROCESSING'
  AND claim_token = :token
RETURNING status;
