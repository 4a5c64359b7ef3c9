UPDATE meetings SET partial = :partial WHERE meeting_id = :meeting_id;
