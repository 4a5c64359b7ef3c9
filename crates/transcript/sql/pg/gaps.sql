SELECT start_ms, end_ms, job_id, reason FROM transcript_gaps
WHERE meeting_id = $1 ORDER BY start_ms;
