UPDATE speakers SET name = $3 WHERE meeting_id = $1 AND label = $2;
