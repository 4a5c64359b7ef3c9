SELECT start_ms, end_ms, speaker, text, words FROM transcript_segments
WHERE meeting_id = $1 ORDER BY idx;
