-- A meeting's speakers in label order (S2 before S10), as SQLite's CAST orders them.
SELECT label, name, merged_into, talk_ms, local FROM speakers WHERE meeting_id = $1
ORDER BY coalesce(substring(label from '^.([0-9]+)')::numeric, 0), label;
