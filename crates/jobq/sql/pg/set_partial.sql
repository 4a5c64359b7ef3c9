UPDATE meetings SET partial = $2 WHERE meeting_id = $1;
