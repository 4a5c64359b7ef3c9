SELECT start_ms, end_ms, text, words FROM asr_segments WHERE job_id = $1 ORDER BY idx;
