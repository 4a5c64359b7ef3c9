-- Drop checkpoints beyond the meeting's current windows (the transcript got shorter).
DELETE FROM summary_windows WHERE meeting_id = $1 AND idx >= $2;
