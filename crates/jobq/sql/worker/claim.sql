-- Claim the best ready job of one type: highest priority, then oldest; its run_after has
-- passed and every job it depends on is COMPLETED (or, for a SETTLED dependency, FAILED
-- for good). Runs inside BEGIN IMMEDIATE, so no
-- two workers can pick the same row.
UPDATE jobs
SET status           = 'PROCESSING',
    attempts         = attempts + 1,
    worker_id        = :worker_id,
    worker_pid       = :pid,
    worker_host      = :host,
    claim_token      = :token,
    lease_expires_at = :now + :lease_ms,
    started_at       = :now,
    finished_at      = NULL,
    progress         = NULL
WHERE job_id = (
    SELECT j.job_id
    FROM jobs j
    WHERE j.status = 'PENDING'
      AND j.task_type = :task_type
      AND j.run_after <= :now
      AND NOT EXISTS (
          SELECT 1
          FROM job_deps d
          JOIN jobs p ON p.job_id = d.depends_on
          WHERE d.job_id = j.job_id AND p.status <> 'COMPLETED'
            AND NOT (d.need = 'SETTLED' AND p.status = 'FAILED')
      )
    ORDER BY j.priority DESC, j.job_id
    LIMIT 1
)
RETURNING job_id, meeting_id, task_type, seq, priority, payload, attempts, max_attempts, crashes;
