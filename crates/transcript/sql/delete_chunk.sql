DELETE FROM asr_segments WHERE job_id = :job_id;
