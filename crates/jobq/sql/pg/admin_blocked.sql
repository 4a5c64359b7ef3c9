-- PENDING jobs that wait (through COMPLETED dependencies) on a FAILED job, with that job
-- and its error (SQLite's blocked_jobs view).
WITH RECURSIVE chain (job_id, root) AS (
    SELECT d.job_id, f.job_id
    FROM job_deps d JOIN jobs f ON f.job_id = d.depends_on
    WHERE f.status = 'FAILED' AND d.need = 'COMPLETED'
    UNION
    SELECT d.job_id, c.root
    FROM job_deps d JOIN chain c ON d.depends_on = c.job_id
    WHERE d.need = 'COMPLETED'
)
SELECT j.job_id, j.meeting_id, j.task_type, c.root, f.task_type, f.last_error
FROM chain c
JOIN jobs j ON j.job_id = c.job_id
JOIN jobs f ON f.job_id = c.root
WHERE j.status = 'PENDING'
ORDER BY j.job_id, c.root;
