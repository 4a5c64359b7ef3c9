INSERT INTO transcript_segments (meeting_id, idx, start_ms, end_ms, speaker, text, words)
VALUES (:meeting_id, :idx, :start_ms, :end_ms, :speaker, :text, :words);
