-- All input of an OPEN meeting is in.
UPDATE meetings
SET status = 'CLOSED', closed_at = :now, updated_at = :now
WHERE meeting_id = :meeting_id AND status = 'OPEN';
