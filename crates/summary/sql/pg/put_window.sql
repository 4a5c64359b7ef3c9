-- Store (or replace) one window's notes; the row keeps its window_id.
INSERT INTO summary_windows (meeting_id, idx, start_ms, end_ms, input_sha256, notes, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (meeting_id, idx) DO UPDATE SET
    start_ms = excluded.start_ms,
    end_ms = excluded.end_ms,
    input_sha256 = excluded.input_sha256,
    notes = excluded.notes,
    created_at = excluded.created_at;
