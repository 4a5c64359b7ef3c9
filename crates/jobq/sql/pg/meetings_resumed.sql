-- As ../foreman/meetings_resumed.sql: a retried meeting is PROCESSING again.
UPDATE meetings
SET status = 'PROCESSING', error = NULL, updated_at = debrief_now_ms()
WHERE status IN ('FAILED', 'DONE')
  AND NOT EXISTS (SELECT 1 FROM jobs j
                  WHERE j.meeting_id = meetings.meeting_id AND j.status = 'FAILED'
                    AND j.task_type IN ('TRANSCRIPT', 'SUMMARY'))
  AND EXISTS (SELECT 1 FROM jobs j
              WHERE j.meeting_id = meetings.meeting_id AND j.status IN ('PENDING', 'PROCESSING'))
RETURNING meeting_id;
