-- Undo a meeting whose import failed; its jobs go with it (ON DELETE CASCADE).
DELETE FROM meetings WHERE meeting_id = :meeting_id AND status = 'OPEN';
