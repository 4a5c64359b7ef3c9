-- Schema 5: speakers (diarization).

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
