SELECT label, name, merged_into, talk_ms, local FROM speakers WHERE meeting_id = :meeting_id ORDER BY CAST(substr(label, 2) AS INTEGER), label;
