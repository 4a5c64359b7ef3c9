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

-- Existing meetings follow the new rule too.
UPDATE job_deps SET need = 'SETTLED'
WHERE depends_on IN (SELECT job_id FROM jobs WHERE task_type IN ('AUDIO', 'VISUAL'));
DROP VIEW blocked_jobs;
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
