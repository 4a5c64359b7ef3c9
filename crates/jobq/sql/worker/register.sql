-- A worker announces itself at start (see the reaper's idle deaths).
INSERT OR REPLACE INTO workers (worker_id, host, pid, task_types, started_at)
VALUES (:worker_id, :host, :pid, :task_types, :now);
