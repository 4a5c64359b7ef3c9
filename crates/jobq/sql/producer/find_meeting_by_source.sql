-- The newest meeting imported from the same content.
SELECT meeting_id FROM meetings
WHERE source_sha256 = :source_sha256 AND status <> 'CANCELLED'
ORDER BY meeting_id DESC LIMIT 1;
