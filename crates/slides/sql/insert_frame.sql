INSERT INTO screen_frames (job_id, meeting_id, t_ms, path, width, height, grid, text, lines, ocr_ms, description)
VALUES (:job_id, :meeting_id, :t_ms, :path, :width, :height, :grid, :text, :lines, :ocr_ms, :description);
