INSERT INTO speakers (meeting_id, label, talk_ms, local) VALUES ($1, $2, $3, $4)
ON CONFLICT (meeting_id, label) DO UPDATE SET talk_ms = excluded.talk_ms, local = excluded.local;
