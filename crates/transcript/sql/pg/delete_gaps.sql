DELETE FROM transcript_gaps WHERE meeting_id = $1;
