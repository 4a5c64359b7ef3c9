-- Unfinished jobs of a cancelled meeting are FAILED; a worker still running one loses
-- its claim at its next heartbeat and stops.
UPDATE jobs
SET status = 'FAILED',
    last_error = 'cancelled: meeting ' || meeting_id || ' was cancelled by the user',
    claim_token = NULL,
    lease_expires_at = NULL,
    finished_at = debrief_now_ms()
WHERE meeting_id = $1 AND status IN ('PENDING', 'PROCESSING');
