INSERT INTO meetings (title, source, source_sha256, status, created_at, updated_at)
VALUES (:title, :source, :source_sha256, 'OPEN', :now, :now)
RETURNING meeting_id;
