INSERT INTO meetings (title, source, source_sha256, status, created_at, updated_at)
VALUES ($1, $2, $3, 'OPEN', debrief_now_ms(), debrief_now_ms())
RETURNING meeting_id;
