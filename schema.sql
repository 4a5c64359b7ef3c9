-- Debrief's one schema. Embedded by crates/jobq (include_str!) and applied to a fresh
-- database inside BEGIN IMMEDIATE, after which PRAGMA user_version is set to
-- jobq::SCHEMA_VERSION. Changes to an existing database go through the numbered
-- migrations in crates/jobq/src/schema.rs; this file always describes the newest schema.
--
-- Conventions: times are integer milliseconds since the Unix epoch (UTC); enumerations
-- are upper-case TEXT guarded by CHECK constraints; JSON columns are guarded by
-- json_valid().

CREATE TABLE meetings (
    meeting_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    title       TEXT,
    -- where the audio came from: the file paths for imports, 'record' for live capture
    source      TEXT,
    -- sha256 of the imported files' contents: a re-run of an import finds its meeting
    source_sha256 TEXT,
    -- length of the meeting's audio once all of it is in
    duration_ms INTEGER,
    -- OPEN: chunks may still arrive; CLOSED: all input is in, the foreman may plan the
    -- meeting's TRANSCRIPT and SUMMARY jobs; PROCESSING/DONE/FAILED follow its jobs.
    status      TEXT NOT NULL DEFAULT 'OPEN'
                CHECK (status IN ('OPEN', 'CLOSED', 'PROCESSING', 'DONE', 'FAILED', 'CANCELLED')),
    -- why the meeting is FAILED or CANCELLED
    error       TEXT,
    created_at  INTEGER NOT NULL,
    closed_at   INTEGER,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX meetings_by_source ON meetings (source_sha256) WHERE source_sha256 IS NOT NULL;
CREATE INDEX meetings_by_status ON meetings (status);

CREATE TABLE jobs (
    job_id            INTEGER PRIMARY KEY AUTOINCREMENT,
    meeting_id        INTEGER NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    task_type         TEXT NOT NULL CHECK (task_type IN ('AUDIO', 'VISUAL', 'TRANSCRIPT', 'SUMMARY')),
    -- position of the job among its meeting's jobs of the same type (chunk number, frame
    -- number); (meeting_id, task_type, seq) makes enqueueing idempotent
    seq               INTEGER NOT NULL DEFAULT 0 CHECK (seq >= 0),
    status            TEXT NOT NULL DEFAULT 'PENDING'
                      CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED')),
    priority          INTEGER NOT NULL DEFAULT 0,
    payload           TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    result            TEXT CHECK (result IS NULL OR json_valid(result)),
    -- attempts counts claims that were not handed back; a job is FAILED once it has used
    -- max_attempts of them
    attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts      INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    run_after         INTEGER NOT NULL DEFAULT 0,
    -- the current claim (NULL unless PROCESSING): who holds it, and a token that fences
    -- every later write to the job
    worker_id         TEXT,
    worker_pid        INTEGER,
    worker_host       TEXT,
    claim_token       INTEGER,
    lease_expires_at  INTEGER,
    last_error        TEXT,
    created_at        INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER,
    UNIQUE (meeting_id, task_type, seq),
    CHECK ((status = 'PROCESSING') = (claim_token IS NOT NULL AND worker_id IS NOT NULL
                                      AND lease_expires_at IS NOT NULL))
);

-- The claim query: ready jobs of one type, best priority first, oldest first.
CREATE INDEX jobs_claimable ON jobs (task_type, priority DESC, job_id) WHERE status = 'PENDING';
-- Recovery: claims whose lease ran out.
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE status = 'PROCESSING';
CREATE INDEX jobs_by_meeting ON jobs (meeting_id, task_type, status);

-- job_id may start only once every depends_on is COMPLETED. A job can depend only on
-- jobs that existed before it (depends_on < job_id), so the graph has no cycles.
CREATE TABLE job_deps (
    job_id      INTEGER NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    depends_on  INTEGER NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    PRIMARY KEY (job_id, depends_on),
    CHECK (depends_on < job_id)
) WITHOUT ROWID;
CREATE INDEX job_deps_reverse ON job_deps (depends_on);

-- Whisper's output for one AUDIO job (one chunk), in meeting time. A re-run of the job
-- replaces its rows in the transaction that completes it; nothing is ever appended twice.
CREATE TABLE asr_segments (
    job_id          INTEGER NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    idx             INTEGER NOT NULL CHECK (idx >= 0),
    meeting_id      INTEGER NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    start_ms        INTEGER NOT NULL,
    end_ms          INTEGER NOT NULL CHECK (end_ms >= start_ms),
    text            TEXT NOT NULL,
    -- [{"text": " word", "start_ms": 0, "end_ms": 0, "p": 0.9}, ...]
    words           TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(words)),
    no_speech_prob  REAL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE INDEX asr_segments_by_meeting ON asr_segments (meeting_id, start_ms);

-- A meeting's assembled transcript (chunk overlaps resolved), written whole by its
-- TRANSCRIPT job; speaker labels join when diarization arrives.
CREATE TABLE transcript_segments (
    meeting_id  INTEGER NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL CHECK (idx >= 0),
    start_ms    INTEGER NOT NULL,
    end_ms      INTEGER NOT NULL CHECK (end_ms >= start_ms),
    speaker     TEXT,
    text        TEXT NOT NULL,
    words       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(words)),
    PRIMARY KEY (meeting_id, idx)
) WITHOUT ROWID;

-- Device leases: the GPU (and NPU) lock. One row per holder. The sum of vram_mb over
-- the unexpired leases of a device never exceeds the budget the acquirer passes; a
-- lease that declares the whole budget therefore excludes every other one. Devices:
-- 'gpu' the discrete (CUDA) card, 'npu' the Intel NPU, 'igpu' an Intel GPU used through
-- OpenVINO (schema 7 added it; the table is rebuilt by that migration).
CREATE TABLE device_leases (
    lease_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    device       TEXT NOT NULL CHECK (device IN ('gpu', 'npu', 'igpu')),
    holder       TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    host         TEXT NOT NULL,
    vram_mb      INTEGER NOT NULL CHECK (vram_mb > 0),
    token        INTEGER NOT NULL,
    -- the job the lease was taken for, if it was taken together with a claim
    job_id       INTEGER REFERENCES jobs (job_id) ON DELETE SET NULL,
    acquired_at  INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX device_leases_by_device ON device_leases (device, expires_at);

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

-- Version 3: crashes are not attempts, poison is quarantined, partial meetings.
-- A worker that died while running a job (its process is gone, or its lease expired and
-- it is not known to be alive) counts a crash, not an attempt; crash_log keeps the last
-- crashes ({"at": ms, "point": progress}) for the poison rule (ARCHITECTURE.md).
ALTER TABLE jobs ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0 CHECK (crashes >= 0);
ALTER TABLE jobs ADD COLUMN crash_log TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(crash_log));
-- How far the current claim got (a worker-defined, increasing number written at each
-- step); NULL until the first step. A crash records it in crash_log.
ALTER TABLE jobs ADD COLUMN progress INTEGER;
-- Set (with status FAILED) when the job was set aside as poison; cleared by a retry.
ALTER TABLE jobs ADD COLUMN quarantined_at INTEGER;
-- COMPLETED: the job may start once depends_on is COMPLETED (a FAILED one blocks it).
-- SETTLED: once depends_on is COMPLETED or FAILED for good: a TRANSCRIPT job after its
-- AUDIO chunks, a SUMMARY after its VISUAL frames (partial results beat no results).
ALTER TABLE job_deps ADD COLUMN need TEXT NOT NULL DEFAULT 'COMPLETED' CHECK (need IN ('COMPLETED', 'SETTLED'));
-- A DONE meeting some of whose input could not be processed: what is missing.
ALTER TABLE meetings ADD COLUMN partial TEXT;

-- Stretches of a meeting's audio its transcript lacks (their AUDIO job FAILED or was
-- set aside), written with the transcript by its TRANSCRIPT job.
CREATE TABLE transcript_gaps (
    meeting_id  INTEGER NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    start_ms    INTEGER NOT NULL,
    end_ms      INTEGER NOT NULL CHECK (end_ms >= start_ms),
    job_id      INTEGER REFERENCES jobs (job_id) ON DELETE SET NULL,
    reason      TEXT NOT NULL,
    PRIMARY KEY (meeting_id, start_ms)
) WITHOUT ROWID;

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

-- Version 5: speakers (diarization).

-- One speaker analysis per AUDIO job: pyannote segmentation over sliding windows of the
-- chunk and a speaker embedding per local speaker per window (JSON, see
-- crates/speakers). A re-run of the job replaces its row in the transaction that
-- completes it, so a killed job loses at most its own chunk's analysis.
CREATE TABLE chunk_speakers (
    job_id       INTEGER PRIMARY KEY REFERENCES jobs (job_id) ON DELETE CASCADE,
    meeting_id   INTEGER NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    model        TEXT NOT NULL,
    analysis     TEXT NOT NULL CHECK (json_valid(analysis))
);
CREATE INDEX chunk_speakers_by_meeting ON chunk_speakers (meeting_id);

-- Who spoke when, for the whole meeting: written by the TRANSCRIPT job from one
-- clustering of every chunk's embeddings (replaced on each run).
CREATE TABLE speaker_turns (
    meeting_id   INTEGER NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    start_ms     INTEGER NOT NULL,
    end_ms       INTEGER NOT NULL CHECK (end_ms > start_ms),
    speaker      TEXT NOT NULL,
    PRIMARY KEY (meeting_id, start_ms, speaker)
) WITHOUT ROWID;

-- A meeting's speakers: labels (S1, S2, ...) from the clustering, the names people gave
-- them, and merges (a label shown as another). Names and merges are the user's and are
-- never touched by re-clustering; talk time and the local flag are the clustering's.
CREATE TABLE speakers (
    meeting_id   INTEGER NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    label        TEXT NOT NULL,
    name         TEXT,
    merged_into  TEXT,
    talk_ms      INTEGER NOT NULL DEFAULT 0,
    local        INTEGER NOT NULL DEFAULT 0 CHECK (local IN (0, 1)),
    PRIMARY KEY (meeting_id, label)
) WITHOUT ROWID;

-- Hints for the clustering ({"num": 3} or {"min": 2, "max": 5}), from import, record or
-- `foreman speakers --num`.
ALTER TABLE meetings ADD COLUMN speaker_hints TEXT CHECK (speaker_hints IS NULL OR json_valid(speaker_hints));

-- Schema 6: full-text search over every meeting (`foreman search`).

-- One FTS5 index over what people search for: transcript lines, summary items (and the
-- overview) and screen frames' text. Rows are written by the triggers below, so the
-- index changes in the same transaction as the text it indexes: a re-run job replaces
-- its rows, a deleted meeting takes its rows with it, and nothing can fall behind.
-- Rowids are derived from the source row, so each source row has exactly one entry:
--   transcript line  meeting_id * 2^32 + idx
--   summary item     meeting_id * 2^32 + 2^31 + list * 2^24 + position
--                    (lists: 0 key points, 1 decisions, 2 action items,
--                     3 open questions, 4 the overview)
--   screen frame     -job_id
-- `speaker` is the label stored with the text (names are resolved when searching, so a
-- rename needs no re-indexing); `ref` is the segment index, the item's position or the
-- frame's VISUAL job.
CREATE VIRTUAL TABLE search_index USING fts5(
    text,
    meeting_id UNINDEXED,
    kind UNINDEXED,
    t_ms UNINDEXED,
    speaker UNINDEXED,
    ref UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER search_line_added AFTER INSERT ON transcript_segments BEGIN
    INSERT INTO search_index (rowid, text, meeting_id, kind, t_ms, speaker, ref)
    VALUES (new.meeting_id * 4294967296 + new.idx, new.text, new.meeting_id, 'line', new.start_ms, new.speaker, new.idx);
END;
CREATE TRIGGER search_line_removed AFTER DELETE ON transcript_segments BEGIN
    DELETE FROM search_index WHERE rowid = old.meeting_id * 4294967296 + old.idx;
END;
CREATE TRIGGER search_line_changed AFTER UPDATE ON transcript_segments BEGIN
    DELETE FROM search_index WHERE rowid = old.meeting_id * 4294967296 + old.idx;
    INSERT INTO search_index (rowid, text, meeting_id, kind, t_ms, speaker, ref)
    VALUES (new.meeting_id * 4294967296 + new.idx, new.text, new.meeting_id, 'line', new.start_ms, new.speaker, new.idx);
END;

-- A summary's entries: its items (by list and position) and its overview.
CREATE VIEW search_summary_entries (entry, text, meeting_id, kind, t_ms, speaker, ref) AS
SELECT s.meeting_id * 4294967296 + 2147483648 + l.list * 16777216 + CAST(i.key AS INTEGER),
       json_extract(i.value, '$.text'), s.meeting_id, l.kind, json_extract(i.value, '$.start_ms'),
       json_extract(i.value, '$.speaker'), CAST(i.key AS INTEGER)
FROM summaries AS s,
     (SELECT 0 AS list, 'key point' AS kind, '$.key_points' AS path
      UNION ALL SELECT 1, 'decision', '$.decisions'
      UNION ALL SELECT 2, 'action item', '$.action_items'
      UNION ALL SELECT 3, 'open question', '$.open_questions') AS l,
     json_each(s.summary, l.path) AS i
WHERE json_extract(i.value, '$.text') IS NOT NULL
UNION ALL
SELECT s.meeting_id * 4294967296 + 2147483648 + 4 * 16777216, json_extract(s.summary, '$.overview'),
       s.meeting_id, 'overview', 0, NULL, 0
FROM summaries AS s
WHERE coalesce(json_extract(s.summary, '$.overview'), '') <> '';

CREATE TRIGGER search_summary_added AFTER INSERT ON summaries BEGIN
    INSERT INTO search_index (rowid, text, meeting_id, kind, t_ms, speaker, ref)
    SELECT * FROM search_summary_entries WHERE meeting_id = new.meeting_id;
END;
CREATE TRIGGER search_summary_removed AFTER DELETE ON summaries BEGIN
    DELETE FROM search_index
    WHERE rowid BETWEEN old.meeting_id * 4294967296 + 2147483648 AND old.meeting_id * 4294967296 + 4294967295;
END;
CREATE TRIGGER search_summary_changed AFTER UPDATE ON summaries BEGIN
    DELETE FROM search_index
    WHERE rowid BETWEEN old.meeting_id * 4294967296 + 2147483648 AND old.meeting_id * 4294967296 + 4294967295;
    INSERT INTO search_index (rowid, text, meeting_id, kind, t_ms, speaker, ref)
    SELECT * FROM search_summary_entries WHERE meeting_id = new.meeting_id;
END;

CREATE TRIGGER search_frame_added AFTER INSERT ON screen_frames BEGIN
    INSERT INTO search_index (rowid, text, meeting_id, kind, t_ms, speaker, ref)
    VALUES (-new.job_id, new.text || coalesce(char(10) || new.description, ''), new.meeting_id, 'slide', new.t_ms, NULL, new.job_id);
END;
CREATE TRIGGER search_frame_removed AFTER DELETE ON screen_frames BEGIN
    DELETE FROM search_index WHERE rowid = -old.job_id;
END;
CREATE TRIGGER search_frame_changed AFTER UPDATE ON screen_frames BEGIN
    DELETE FROM search_index WHERE rowid = -old.job_id;
    INSERT INTO search_index (rowid, text, meeting_id, kind, t_ms, speaker, ref)
    VALUES (-new.job_id, new.text || coalesce(char(10) || new.description, ''), new.meeting_id, 'slide', new.t_ms, NULL, new.job_id);
END;

-- A deleted meeting's lines and items go with it even where no row trigger ran.
CREATE TRIGGER search_meeting_removed AFTER DELETE ON meetings BEGIN
    DELETE FROM search_index
    WHERE rowid BETWEEN old.meeting_id * 4294967296 AND old.meeting_id * 4294967296 + 4294967295;
END;

-- Pending jobs that can never become ready because a job they need COMPLETED (directly
-- or through other jobs) has FAILED. A SETTLED dependency (see job_deps.need) never
-- blocks. A retry of the failed job unblocks them.
CREATE VIEW blocked_jobs AS
WITH RECURSIVE chain (job_id, root) AS (
    SELECT d.job_id, f.job_id
    FROM job_deps d JOIN jobs f ON f.job_id = d.depends_on
    WHERE f.status = 'FAILED' AND d.need = 'COMPLETED'
    UNION
    SELECT d.job_id, c.root
    FROM job_deps d JOIN chain c ON d.depends_on = c.job_id
    WHERE d.need = 'COMPLETED'
)
SELECT j.job_id, j.meeting_id, j.task_type, c.root AS failed_dependency,
       f.task_type AS failed_task_type, f.last_error AS failed_error
FROM chain c
JOIN jobs j ON j.job_id = c.job_id
JOIN jobs f ON f.job_id = c.root
WHERE j.status = 'PENDING';
