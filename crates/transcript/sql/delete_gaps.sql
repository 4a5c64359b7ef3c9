DELETE FROM transcript_gaps WHERE meeting_id = :meeting_id;
