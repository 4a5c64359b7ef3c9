-- Locks the meeting's row for the enqueueing transaction, so that a cancel and an
-- enqueue never cross.
SELECT status FROM meetings WHERE meeting_id = $1 FOR SHARE;
