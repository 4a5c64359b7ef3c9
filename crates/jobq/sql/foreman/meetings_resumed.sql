-- A retried meeting is PROCESSING again.
UPDATE meetings
SET status = 'PROCESSING', error = NULL, updated_at = :now
WHERE status IN ('FAILED', 'DONE')
  AND NOT EXISTS (SELECT 1 FROM jobs j
                  WHERE j.meeting_id = meetings.meeting_id AND j.status = 'FAILED')
  AND EXISTS (SELECT 1 FROM jobs j
              WHERE j.meeting_id = meetings.meeting_id AND j.status <> 'COMPLETED')
RETURNING meeting_id;
