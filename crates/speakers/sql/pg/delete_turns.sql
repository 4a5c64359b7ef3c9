DELETE FROM speaker_turns WHERE meeting_id = $1;
