INSERT INTO chunk_speakers (job_id, meeting_id, model, analysis) VALUES ($1, $2, $3, $4)
ON CONFLICT (job_id) DO UPDATE SET meeting_id = excluded.meeting_id, model = excluded.model, analysis = excluded.analysis;
