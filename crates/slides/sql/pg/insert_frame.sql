INSERT INTO screen_frames (job_id, meeting_id, t_ms, path, width, height, grid, text, lines, ocr_ms, description)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11);
