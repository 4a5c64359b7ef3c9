SELECT speaker_hints FROM meetings WHERE meeting_id = $1;
