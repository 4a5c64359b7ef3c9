-- Evidence for the poison rule: other jobs of the same type that COMPLETED since a time
-- (the environment, model and workers were fine meanwhile).
SELECT COUNT(*) FROM jobs
WHERE task_type = :task_type AND job_id <> :job_id AND status = 'COMPLETED' AND finished_at >= :since;
