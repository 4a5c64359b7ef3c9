SELECT job_id FROM jobs WHERE meeting_id = :meeting_id AND task_type = :task_type ORDER BY seq;
