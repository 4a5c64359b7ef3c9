INSERT INTO transcript_segments (meeting_id, idx, start_ms, end_ms, speaker, text, words)
VALUES ($1, $2, $3, $4, $5, $6, $7);
