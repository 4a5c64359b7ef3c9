-- Every AUDIO job of a meeting with its chunk geometry, in order; segments are loaded per job.
SELECT job_id, seq,
       json_extract(payload, '$.start_sample'),
       json_extract(payload, '$.overlap_samples'),
       json_extract(payload, '$.samples')
FROM jobs
WHERE meeting_id = :meeting_id AND task_type = 'AUDIO'
ORDER BY seq;
