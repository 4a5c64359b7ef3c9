-- A worker announces itself at start (see the reaper's idle deaths).
INSERT INTO workers (worker_id, host, pid, task_types, started_at)
VALUES ($1, $2, $3, $4, debrief_now_ms())
ON CONFLICT (worker_id) DO UPDATE
SET host = EXCLUDED.host, pid = EXCLUDED.pid, task_types = EXCLUDED.task_types, started_at = EXCLUDED.started_at;
