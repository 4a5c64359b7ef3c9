-- A clean exit.
DELETE FROM workers WHERE worker_id = :worker_id;
