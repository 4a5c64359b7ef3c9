-- Every job settled, the transcript and summary COMPLETED: the meeting is DONE. Input jobs
-- (AUDIO, VISUAL) that FAILED for good leave gaps; the caller records them in `partial`.
UPDATE meetings
SET status = 'DONE', error = NULL, updated_at = :now
WHERE status IN ('PROCESSING', 'FAILED')
  AND EXISTS (SELECT 1 FROM jobs j
              WHERE j.meeting_id = meetings.meeting_id AND j.task_type = 'SUMMARY')
  AND NOT EXISTS (SELECT 1 FROM jobs j
                  WHERE j.meeting_id = meetings.meeting_id
                    AND (j.status IN ('PENDING', 'PROCESSING')
                         OR (j.status = 'FAILED' AND j.task_type IN ('TRANSCRIPT', 'SUMMARY'))))
RETURNING meeting_id;
