-- How many searchable entries a meeting has (0 for one that does not exist).
SELECT COUNT(*) FROM search_entries WHERE meeting_id = $1;
