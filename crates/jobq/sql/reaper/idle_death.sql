INSERT OR REPLACE INTO worker_deaths (worker_id, at, task_types) VALUES (:worker_id, :now, :task_types);
