-- The result tables the workers' stores write on PostgreSQL (crates/transcript,
-- crates/speakers), mirroring the workspace's schema.sql (the drift test in crates/jobq
-- compares the column names). Created if missing on every connect, under the migration
-- lock, so a queue database made before a store moved here gets it too. JSON is kept
-- as checked TEXT, as in SQLite, so both backends store the same bytes.

-- Whisper's output for one AUDIO job (one chunk), in meeting time.
CREATE TABLE IF NOT EXISTS asr_segments (
    job_id          BIGINT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    idx             BIGINT NOT NULL CHECK (idx >= 0),
    meeting_id      BIGINT NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    start_ms        BIGINT NOT NULL,
    end_ms          BIGINT NOT NULL CHECK (end_ms >= start_ms),
    text            TEXT NOT NULL,
    words           TEXT NOT NULL DEFAULT '[]' CHECK (words::jsonb IS NOT NULL),
    no_speech_prob  DOUBLE PRECISION,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX IF NOT EXISTS asr_segments_by_meeting ON asr_segments (meeting_id, start_ms);

-- A meeting's assembled transcript, written whole by its TRANSCRIPT job.
CREATE TABLE IF NOT EXISTS transcript_segments (
    meeting_id  BIGINT NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    idx         BIGINT NOT NULL CHECK (idx >= 0),
    start_ms    BIGINT NOT NULL,
    end_ms      BIGINT NOT NULL CHECK (end_ms >= start_ms),
    speaker     TEXT,
    text        TEXT NOT NULL,
    words       TEXT NOT NULL DEFAULT '[]' CHECK (words::jsonb IS NOT NULL),
    PRIMARY KEY (meeting_id, idx)
);

-- Stretches of a meeting's audio its transcript lacks.
CREATE TABLE IF NOT EXISTS transcript_gaps (
    meeting_id  BIGINT NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    start_ms    BIGINT NOT NULL,
    end_ms      BIGINT NOT NULL CHECK (end_ms >= start_ms),
    job_id      BIGINT REFERENCES jobs (job_id) ON DELETE SET NULL,
    reason      TEXT NOT NULL,
    PRIMARY KEY (meeting_id, start_ms)
);

-- One speaker analysis per AUDIO job.
CREATE TABLE IF NOT EXISTS chunk_speakers (
    job_id       BIGINT PRIMARY KEY REFERENCES jobs (job_id) ON DELETE CASCADE,
    meeting_id   BIGINT NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    model        TEXT NOT NULL,
    analysis     TEXT NOT NULL CHECK (analysis::jsonb IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS chunk_speakers_by_meeting ON chunk_speakers (meeting_id);

-- Who spoke when, for the whole meeting (replaced by each TRANSCRIPT job).
CREATE TABLE IF NOT EXISTS speaker_turns (
    meeting_id   BIGINT NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    start_ms     BIGINT NOT NULL,
    end_ms       BIGINT NOT NULL CHECK (end_ms > start_ms),
    speaker      TEXT NOT NULL,
    PRIMARY KEY (meeting_id, start_ms, speaker)
);

-- A meeting's speakers: labels from the clustering, names and merges from people.
CREATE TABLE IF NOT EXISTS speakers (
    meeting_id   BIGINT NOT NULL REFERENCES meetings (meeting_id) ON DELETE CASCADE,
    label        TEXT NOT NULL,
    name         TEXT,
    merged_into  TEXT,
    talk_ms      BIGINT NOT NULL DEFAULT 0,
    local        BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (meeting_id, label)
);
