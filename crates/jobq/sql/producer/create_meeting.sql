INSERT INTO meetings (title, source, status, created_at, updated_at)
VALUES (:title, :source, 'OPEN', :now, :now)
RETURNING meeting_id;
