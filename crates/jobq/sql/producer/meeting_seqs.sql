-- The seq numbers a meeting already has jobs for, of one type.
SELECT seq FROM jobs WHERE meeting_id = :meeting_id AND task_type = :task_type ORDER BY seq;
