-- A meeting's read frames in time order; frames of VISUAL jobs that are not COMPLETED
-- (a re-run in progress) are left out.
SELECT f.job_id, f.t_ms, f.path, f.width, f.height, f.grid, f.text, f.lines, f.ocr_ms, f.description
FROM screen_frames f JOIN jobs j ON j.job_id = f.job_id
WHERE f.meeting_id = $1 AND j.status = 'COMPLETED'
ORDER BY f.t_ms, f.job_id;
