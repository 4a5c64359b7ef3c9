SELECT start_ms, end_ms, speaker, text, words FROM transcript_segments
WHERE meeting_id = :meeting_id ORDER BY idx;
