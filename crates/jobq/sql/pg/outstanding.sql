-- Jobs of one type that are running or can still become ready by themselves: PROCESSING,
-- or PENDING and not blocked (through COMPLETED dependencies) behind a FAILED job.
WITH RECURSIVE chain (job_id) AS (
    SELECT d.job_id
    FROM job_deps d JOIN jobs f ON f.job_id = d.depends_on
    WHERE f.status = 'FAILED' AND d.need = 'COMPLETED'
    UNION
    SELECT d.job_id
    FROM job_deps d JOIN chain c ON d.depends_on = c.job_id
    WHERE d.need = 'COMPLETED'
)
SELECT COUNT(*)
FROM jobs j
WHERE j.task_type = $1
  AND (j.status = 'PROCESSING'
       OR (j.status = 'PENDING' AND j.job_id NOT IN (SELECT job_id FROM chain)));
