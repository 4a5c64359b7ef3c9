INSERT INTO asr_segments (job_id, idx, meeting_id, start_ms, end_ms, text, words, no_speech_prob)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);
