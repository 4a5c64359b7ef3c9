INSERT INTO speaker_turns (meeting_id, start_ms, end_ms, speaker) VALUES ($1, $2, $3, $4);
