-- All input of an OPEN meeting is in.
UPDATE meetings
SET status = 'CLOSED', duration_ms = COALESCE(:duration_ms, duration_ms), closed_at = :now, updated_at = :now
WHERE meeting_id = :meeting_id AND status = 'OPEN';
