-- A clean exit.
DELETE FROM workers WHERE worker_id = $1;
