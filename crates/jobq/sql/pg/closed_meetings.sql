SELECT meeting_id FROM meetings WHERE status = 'CLOSED' ORDER BY meeting_id FOR UPDATE;
