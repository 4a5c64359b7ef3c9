DELETE FROM transcript_segments WHERE meeting_id = $1;
