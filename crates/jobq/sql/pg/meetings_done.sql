-- As ../foreman/meetings_done.sql: every job settled, the transcript and summary
-- COMPLETED; FAILED input jobs leave gaps, recorded in `partial` by the caller.
UPDATE meetings
SET status = 'DONE', error = NULL, updated_at = debrief_now_ms()
WHERE status IN ('PROCESSING', 'FAILED')
  AND EXISTS (SELECT 1 FROM jobs j
              WHERE j.meeting_id = meetings.meeting_id AND j.task_type = 'SUMMARY')
  AND NOT EXISTS (SELECT 1 FROM jobs j
                  WHERE j.meeting_id = meetings.meeting_id
                    AND (j.status IN ('PENDING', 'PROCESSING')
                         OR (j.status = 'FAILED' AND j.task_type IN ('TRANSCRIPT', 'SUMMARY'))))
RETURNING meeting_id;
