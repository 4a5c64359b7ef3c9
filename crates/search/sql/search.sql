-- Hits for an FTS5 query, best first (bm25), with the meeting's title and day. Lines of
-- cancelled meetings are left out, and so are frames of VISUAL jobs being re-run.
-- :speaker matches the stored label or name, a label the user named so, or a label
-- merged into such a speaker (names are resolved here, never written into the index);
-- the (meeting, label) pairs it means are found once, before the hits are filtered.
WITH wanted (meeting_id, label) AS (
    SELECT s.meeting_id, s.label FROM speakers AS s
    WHERE :speaker IS NOT NULL
      AND (lower(s.name) = lower(:speaker)
           OR lower(s.label) = lower(:speaker)
           OR s.merged_into IN (
               SELECT t.label FROM speakers AS t
               WHERE t.meeting_id = s.meeting_id
                 AND (lower(t.name) = lower(:speaker) OR lower(t.label) = lower(:speaker))))
)
SELECT x.meeting_id, x.kind, x.t_ms, x.speaker, x.ref, x.text,
       snippet(search_index, 0, char(2), char(3), '…', 14) AS snip,
       x.rank AS score, m.title, m.created_at
FROM search_index AS x
JOIN meetings AS m ON m.meeting_id = x.meeting_id
WHERE search_index MATCH :query
  AND m.status <> 'CANCELLED'
  AND (:meeting_id IS NULL OR x.meeting_id = :meeting_id)
  AND (:since IS NULL OR m.created_at >= :since)
  AND (x.kind <> 'slide' OR EXISTS (SELECT 1 FROM jobs AS j WHERE j.job_id = x.ref AND j.status = 'COMPLETED'))
  AND (:speaker IS NULL
       OR lower(x.speaker) = lower(:speaker)
       OR (x.meeting_id, x.speaker) IN (SELECT meeting_id, label FROM wanted))
ORDER BY x.rank
LIMIT :limit;
