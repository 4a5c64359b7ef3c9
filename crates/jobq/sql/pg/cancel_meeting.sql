UPDATE meetings
SET status = 'CANCELLED', error = 'cancelled by the user', updated_at = debrief_now_ms()
WHERE meeting_id = $1 AND status <> 'CANCELLED';
