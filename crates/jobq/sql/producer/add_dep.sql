-- A repeated dependency is harmless; a missing or newer job is an error (foreign key,
-- and the CHECK that keeps the graph acyclic).
INSERT INTO job_deps (job_id, depends_on) VALUES (:job_id, :depends_on)
ON CONFLICT (job_id, depends_on) DO NOTHING;
