-- Drop checkpoints beyond the meeting's current windows (the transcript got shorter).
DELETE FROM summary_windows WHERE meeting_id = :meeting_id AND idx >= :count;
