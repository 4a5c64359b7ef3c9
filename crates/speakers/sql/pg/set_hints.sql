UPDATE meetings SET speaker_hints = $2 WHERE meeting_id = $1;
