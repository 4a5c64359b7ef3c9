SELECT speaker_hints FROM meetings WHERE meeting_id = :meeting_id;
