SELECT status FROM meetings WHERE meeting_id = :meeting_id;
