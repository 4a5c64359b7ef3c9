-- Take back a claim whose lease expired while its worker still lives on its host
-- (suspended or stopped): neither a crash nor an attempt. Fenced by the claim token.
UPDATE jobs
SET status           = 'PENDING',
    attempts         = GREATEST(attempts - 1, 0),
    run_after        = debrief_now_ms(),
    last_error       = $3,
    claim_token      = NULL,
    lease_expires_at = NULL
WHERE job_id = $1
  AND status = 'PROCESSING'
  AND claim_token = $2
RETURNING status;
