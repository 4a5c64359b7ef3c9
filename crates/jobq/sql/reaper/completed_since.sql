-- Evidence for the poison rule: other jobs of the same type that COMPLETED since a time
-- (the environment, model and workers were fine meanwhile), and how long their last
-- runs lasted inside that time (ms): the exposure to whatever kills workers that they
-- survived.
SELECT COUNT(*), COALESCE(SUM(finished_at - MAX(COALESCE(started_at, finished_at), :since)), 0) FROM jobs
WHERE task_type = :task_type AND job_id <> :job_id AND status = 'COMPLETED' AND finished_at >= :since;
