-- Evidence for the poison rule: the crash logs of the other jobs of the same type (the
-- rule counts their crashes since a time, to tell a job that kills its workers from
-- workers that are being killed).
SELECT job_id, crash_log FROM jobs
WHERE task_type = :task_type AND job_id <> :job_id AND crashes > 0;
