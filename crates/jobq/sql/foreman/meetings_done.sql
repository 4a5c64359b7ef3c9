-- Every job COMPLETED, the summary among them: the meeting is DONE.
UPDATE meetings
SET status = 'DONE', error = NULL, updated_at = :now
WHERE status IN ('PROCESSING', 'FAILED')
  AND EXISTS (SELECT 1 FROM jobs j
              WHERE j.meeting_id = meetings.meeting_id AND j.task_type = 'SUMMARY')
  AND NOT EXISTS (SELECT 1 FROM jobs j
                  WHERE j.meeting_id = meetings.meeting_id AND j.status <> 'COMPLETED')
RETURNING meeting_id;
