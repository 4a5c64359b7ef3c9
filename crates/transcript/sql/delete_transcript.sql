DELETE FROM transcript_segments WHERE meeting_id = :meeting_id;
