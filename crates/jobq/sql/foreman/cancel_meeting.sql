UPDATE meetings
SET status = 'CANCELLED', error = 'cancelled by the user', updated_at = :now
WHERE meeting_id = :meeting_id AND status <> 'CANCELLED';
