UPDATE speakers SET name = :name WHERE meeting_id = :meeting_id AND label = :label;
