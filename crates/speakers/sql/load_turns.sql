SELECT start_ms, end_ms, speaker FROM speaker_turns WHERE meeting_id = :meeting_id ORDER BY start_ms, speaker;
