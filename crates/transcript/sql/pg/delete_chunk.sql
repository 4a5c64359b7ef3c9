DELETE FROM asr_segments WHERE job_id = $1;
