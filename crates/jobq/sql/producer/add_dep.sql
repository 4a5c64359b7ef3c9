-- A repeated dependency is harmless (the first one's need stays); a missing or newer
-- job is an error (foreign key, and the CHECK that keeps the graph acyclic).
INSERT INTO job_deps (job_id, depends_on, need) VALUES (:job_id, :depends_on, :need)
ON CONFLICT (job_id, depends_on) DO NOTHING;
