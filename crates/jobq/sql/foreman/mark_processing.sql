UPDATE meetings SET status = 'PROCESSING', updated_at = :now
WHERE meeting_id = :meeting_id AND status = 'CLOSED';
