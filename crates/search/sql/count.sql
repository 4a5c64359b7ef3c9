-- How many index entries a meeting has (0 for one that does not exist).
SELECT COUNT(*) FROM search_index WHERE meeting_id = :meeting_id;
