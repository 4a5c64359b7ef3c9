-- A meeting's status (no row if there is no such meeting).
SELECT status FROM meetings WHERE meeting_id = $1;
