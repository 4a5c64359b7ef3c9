INSERT INTO transcript_gaps (meeting_id, start_ms, end_ms, job_id, reason)
VALUES (:meeting_id, :start_ms, :end_ms, :job_id, :reason);
