-- Every AUDIO job of a meeting with its payload (the chunk's geometry, read as
-- debrief_contracts::AudioChunk), in order; segments are loaded per job.
SELECT job_id, seq, payload
FROM jobs
WHERE meeting_id = :meeting_id AND task_type = 'AUDIO'
ORDER BY seq;
