-- Meetings with their job counts: all of them ($1 NULL), or one.
SELECT m.meeting_id, m.title, m.source, m.status, m.error, m.duration_ms, m.created_at,
       m.closed_at, m.updated_at, m.partial,
       (SELECT COUNT(*) FROM jobs j WHERE j.meeting_id = m.meeting_id),
       (SELECT COUNT(*) FROM jobs j WHERE j.meeting_id = m.meeting_id AND j.status = 'COMPLETED'),
       (SELECT COUNT(*) FROM jobs j WHERE j.meeting_id = m.meeting_id AND j.status = 'FAILED')
FROM meetings m
WHERE $1::BIGINT IS NULL OR m.meeting_id = $1
ORDER BY m.meeting_id;
