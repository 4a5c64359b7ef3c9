DELETE FROM speakers WHERE meeting_id = $1 AND NOT (label = ANY ($2::TEXT[]));
