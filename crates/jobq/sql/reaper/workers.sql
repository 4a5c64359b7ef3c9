-- Registered workers on this host, for the reaper to check their pids.
SELECT worker_id, pid, task_types FROM workers WHERE host = :host;
