INSERT INTO job_deps (job_id, depends_on, need) VALUES ($1, $2, $3)
ON CONFLICT (job_id, depends_on) DO NOTHING;
