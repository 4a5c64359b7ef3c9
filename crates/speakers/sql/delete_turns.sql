DELETE FROM speaker_turns WHERE meeting_id = :meeting_id;
