-- Schema 4: what the visual worker read from each screen frame.

-- One read screen frame per VISUAL job: its OCR text and lines (with boxes), its
-- change-detector grid (64 x 36 mean luma bytes) and, when a vision-language model ran,
-- its description. A re-run of the job replaces its row in the transaction that
-- completes it. A meeting's slides are assembled from these rows when read.
CREATE TABLE screen_frames (
    job_id       INTEGER PRIMARY KEY REFERENCES jobs (job_id) ON DELETE CASCADE,
    meeting_id   INTEGER NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    t_ms         INTEGER NOT NULL CHECK (t_ms >= 0),
    path         TEXT NOT NULL,
    width        INTEGER NOT NULL CHECK (width >= 0),
    height       INTEGER NOT NULL CHECK (height >= 0),
    grid         BLOB NOT NULL,
    text         TEXT NOT NULL,
    -- [{"text": "Budget", "left": 80, "top": 60, "width": 300, "height": 60, "conf": 93.0, "block": 1}, ...]
    lines        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(lines)),
    ocr_ms       INTEGER NOT NULL DEFAULT 0,
    description  TEXT
);
CREATE INDEX screen_frames_by_meeting ON screen_frames (meeting_id, t_ms);

-- Workers alive now (registered at start, removed at a clean exit), so the reaper can
-- notice one that died while idle: evidence for the poison rule that something outside
-- kills workers, even when it costs no job a crash.
CREATE TABLE workers (
    worker_id   TEXT PRIMARY KEY,
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    task_types  TEXT NOT NULL,
    started_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Workers that died without a clean exit while holding no job (kept a day).
CREATE TABLE worker_deaths (
    worker_id   TEXT PRIMARY KEY,
    at          INTEGER NOT NULL,
    task_types  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX worker_deaths_by_time ON worker_deaths (at);
