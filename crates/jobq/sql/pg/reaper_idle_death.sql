INSERT INTO worker_deaths (worker_id, at, task_types) VALUES ($1, $2, $3)
ON CONFLICT (worker_id) DO UPDATE SET at = EXCLUDED.at, task_types = EXCLUDED.task_types;
