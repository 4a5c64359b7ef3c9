SELECT cs.analysis FROM chunk_speakers cs
JOIN jobs j ON j.job_id = cs.job_id
WHERE cs.meeting_id = $1 AND j.status = 'COMPLETED'
ORDER BY j.seq, cs.job_id;
