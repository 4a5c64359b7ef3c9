SELECT job_id, meeting_id, task_type, failed_dependency, failed_task_type, failed_error
FROM blocked_jobs
ORDER BY job_id, failed_dependency;
