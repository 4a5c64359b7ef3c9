-- All input of an OPEN meeting is in.
UPDATE meetings
SET status = 'CLOSED', duration_ms = COALESCE($2, duration_ms), closed_at = debrief_now_ms(),
    updated_at = debrief_now_ms()
WHERE meeting_id = $1 AND status = 'OPEN';
