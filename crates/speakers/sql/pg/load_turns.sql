SELECT start_ms, end_ms, speaker FROM speaker_turns WHERE meeting_id = $1 ORDER BY start_ms, speaker;
