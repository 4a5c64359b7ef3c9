SELECT job_id FROM jobs WHERE meeting_id = $1 AND task_type = $2 ORDER BY seq;
