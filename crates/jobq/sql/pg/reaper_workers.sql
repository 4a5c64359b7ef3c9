-- Registered workers of one host (only that host can tell whether a pid lives).
SELECT worker_id, pid, task_types FROM workers WHERE host = $1;
