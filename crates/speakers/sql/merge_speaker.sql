UPDATE speakers SET merged_into = :into WHERE meeting_id = :meeting_id AND label = :label;
