INSERT OR REPLACE INTO chunk_speakers (job_id, meeting_id, model, analysis) VALUES (:job_id, :meeting_id, :model, :analysis);
