UPDATE speakers SET merged_into = $3 WHERE meeting_id = $1 AND label = $2;
