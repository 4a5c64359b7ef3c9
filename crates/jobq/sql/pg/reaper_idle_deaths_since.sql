SELECT COUNT(*) FROM worker_deaths
WHERE at >= $1 AND (',' || task_types || ',') LIKE ('%,' || $2::TEXT || ',%');
