-- As ../foreman/meetings_failed.sql: a FAILED transcript or summary fails the meeting.
UPDATE meetings
SET status = 'FAILED',
    error = (SELECT 'job ' || j.job_id || ' (' || j.task_type || ' #' || j.seq || ') failed: '
                    || COALESCE(j.last_error, 'no error recorded')
             FROM jobs j
             WHERE j.meeting_id = meetings.meeting_id AND j.status = 'FAILED'
               AND j.task_type IN ('TRANSCRIPT', 'SUMMARY')
             ORDER BY j.job_id LIMIT 1),
    updated_at = debrief_now_ms()
WHERE status IN ('PROCESSING', 'DONE')
  AND EXISTS (SELECT 1 FROM jobs j
              WHERE j.meeting_id = meetings.meeting_id AND j.status = 'FAILED'
                AND j.task_type IN ('TRANSCRIPT', 'SUMMARY'))
RETURNING meeting_id;
