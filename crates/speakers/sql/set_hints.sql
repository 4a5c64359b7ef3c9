UPDATE meetings SET speaker_hints = :hints WHERE meeting_id = :meeting_id;
