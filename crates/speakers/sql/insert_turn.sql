INSERT INTO speaker_turns (meeting_id, start_ms, end_ms, speaker) VALUES (:meeting_id, :start_ms, :end_ms, :speaker);
