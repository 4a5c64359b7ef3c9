-- After a retry: COMPLETED jobs that depend (directly or through others) on a job that is
-- PENDING again are PENDING again too; their outputs are replaced when they complete.
WITH RECURSIVE redo (job_id) AS (
    SELECT d.job_id FROM job_deps d JOIN jobs p ON p.job_id = d.depends_on
    WHERE p.status = 'PENDING'
    UNION
    SELECT d.job_id FROM job_deps d JOIN redo r ON d.depends_on = r.job_id
)
UPDATE jobs
SET status = 'PENDING', attempts = 0, crashes = 0, crash_log = '[]', run_after = 0, finished_at = NULL
WHERE job_id IN (SELECT job_id FROM redo) AND status = 'COMPLETED'
RETURNING job_id;
