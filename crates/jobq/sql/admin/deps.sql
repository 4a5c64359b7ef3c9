SELECT depends_on FROM job_deps WHERE job_id = :job_id ORDER BY depends_on;
