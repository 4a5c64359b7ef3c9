-- As ../chunks_of_meeting.sql: every AUDIO job of a meeting with its payload, status
-- and error, in order.
SELECT job_id, seq, payload, status, last_error
FROM jobs
WHERE meeting_id = $1 AND task_type = 'AUDIO'
ORDER BY seq;
