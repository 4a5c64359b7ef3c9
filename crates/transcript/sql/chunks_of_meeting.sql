-- Every AUDIO job of a meeting with its payload (the chunk's geometry, read as
-- debrief_contracts::AudioChunk), its status and its error, in order; segments are
-- loaded per job. A FAILED chunk's span becomes a gap in the transcript.
SELECT job_id, seq, payload, status, last_error
FROM jobs
WHERE meeting_id = :meeting_id AND task_type = 'AUDIO'
ORDER BY seq;
