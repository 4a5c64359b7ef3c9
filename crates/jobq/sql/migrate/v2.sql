-- Version 2: meeting summaries (summary-worker).
-- Map phase checkpoints: one row per transcript window, written (fenced by the SUMMARY
-- job's claim) as each window's notes are finished, so a killed job resumes from the
-- last finished window. input_sha256 covers the window's text, the prompt, the grammar
-- and the model: a row whose hash differs is recomputed, never reused.
CREATE TABLE summary_windows (
    window_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    meeting_id    INTEGER NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    idx           INTEGER NOT NULL CHECK (idx >= 0),
    start_ms      INTEGER NOT NULL,
    end_ms        INTEGER NOT NULL CHECK (end_ms >= start_ms),
    input_sha256  TEXT NOT NULL,
    notes         TEXT NOT NULL CHECK (json_valid(notes)),
    created_at    INTEGER NOT NULL,
    UNIQUE (meeting_id, idx)
);

-- A meeting's final summary (overview, decisions, action items, open questions, each
-- item with its time range), replaced by the SUMMARY job's completing transaction.
CREATE TABLE summaries (
    meeting_id  INTEGER PRIMARY KEY REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    summary     TEXT NOT NULL CHECK (json_valid(summary)),
    model       TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
