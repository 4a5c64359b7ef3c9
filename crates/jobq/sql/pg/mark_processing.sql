UPDATE meetings SET status = 'PROCESSING', updated_at = debrief_now_ms()
WHERE meeting_id = $1 AND status = 'CLOSED';
