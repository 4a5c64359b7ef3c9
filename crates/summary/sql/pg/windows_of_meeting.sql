-- Map checkpoints of a meeting, in window order.
SELECT window_id, idx, start_ms, end_ms, input_sha256, notes, created_at
FROM summary_windows
WHERE meeting_id = $1
ORDER BY idx;
