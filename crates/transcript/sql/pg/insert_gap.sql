INSERT INTO transcript_gaps (meeting_id, start_ms, end_ms, job_id, reason)
VALUES ($1, $2, $3, $4, $5);
