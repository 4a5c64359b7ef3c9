-- A registered worker's process is gone. If it held no job when it died, its death is
-- kept as evidence about the environment; a death holding a job is that job's crash.
DELETE FROM workers WHERE worker_id = :worker_id;
