DELETE FROM speakers WHERE meeting_id = :meeting_id AND label NOT IN (SELECT value FROM json_each(:labels));
