-- Idle workers taking a task type that died since a time (comma-separated task_types).
SELECT COUNT(*) FROM worker_deaths
WHERE at >= :since AND (',' || task_types || ',') LIKE ('%,' || :task_type || ',%');
