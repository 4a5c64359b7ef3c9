SELECT start_ms, end_ms, job_id, reason FROM transcript_gaps
WHERE meeting_id = :meeting_id ORDER BY start_ms;
