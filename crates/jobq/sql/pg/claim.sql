-- Claim the best ready job of one type: highest priority, then oldest; its run_after has
-- passed and every job it depends on is COMPLETED (or, for a SETTLED dependency, FAILED
-- for good). FOR UPDATE SKIP LOCKED: concurrent claimers on any host pass over a row
-- another is taking instead of waiting for it, and never take the same one.
UPDATE jobs
SET status           = 'PROCESSING',
    attempts         = attempts + 1,
    worker_id        = $1,
    worker_pid       = $2,
    worker_host      = $3,
    claim_token      = $4,
    lease_expires_at = debrief_now_ms() + $5,
    started_at       = debrief_now_ms(),
    finished_at      = NULL,
    progress         = NULL
WHERE job_id = (
    SELECT j.job_id
    FROM jobs j
    WHERE j.status = 'PENDING'
      AND j.task_type = $6
      AND j.run_after <= debrief_now_ms()
      AND NOT EXISTS (
          SELECT 1
          FROM job_deps d
          JOIN jobs p ON p.job_id = d.depends_on
          WHERE d.job_id = j.job_id AND p.status <> 'COMPLETED'
            AND NOT (d.need = 'SETTLED' AND p.status = 'FAILED')
      )
    ORDER BY j.priority DESC, j.job_id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING job_id, meeting_id, task_type, seq, priority, payload, attempts, max_attempts, crashes;
