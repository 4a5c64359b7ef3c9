SELECT start_ms, end_ms, text, words FROM asr_segments WHERE job_id = :job_id ORDER BY idx;
