-- Hits for a tsquery ($1), best first (ts_rank_cd), with the meeting's title and day,
-- from the search_entries view over lines, summary items and frames (the English
-- configuration stems as SQLite's porter tokenizer does). $2 meeting, $3 created since
-- (ms), $4 speaker (a label, a name, or a label merged into such a speaker), $5 limit,
-- $6 ts_headline's options. Lines of cancelled meetings and frames of VISUAL jobs being
-- re-run are left out, as on SQLite.
WITH wanted (meeting_id, label) AS (
    SELECT s.meeting_id, s.label FROM speakers AS s
    WHERE $4::TEXT IS NOT NULL
      AND (lower(s.name) = lower($4)
           OR lower(s.label) = lower($4)
           OR s.merged_into IN (
               SELECT t.label FROM speakers AS t
               WHERE t.meeting_id = s.meeting_id
                 AND (lower(t.name) = lower($4) OR lower(t.label) = lower($4))))
), q AS (
    SELECT to_tsquery('english', $1) AS query
)
SELECT x.meeting_id, x.kind, x.t_ms, x.speaker, x.ref, x.text,
       ts_headline('english', x.text, q.query, $6) AS snip,
       -ts_rank_cd(to_tsvector('english', x.text), q.query)::DOUBLE PRECISION AS score,
       m.title, m.created_at
FROM search_entries AS x
CROSS JOIN q
JOIN meetings AS m ON m.meeting_id = x.meeting_id
WHERE to_tsvector('english', x.text) @@ q.query
  AND m.status <> 'CANCELLED'
  AND ($2::BIGINT IS NULL OR x.meeting_id = $2)
  AND ($3::BIGINT IS NULL OR m.created_at >= $3)
  AND (x.kind <> 'slide' OR EXISTS (SELECT 1 FROM jobs AS j WHERE j.job_id = x.ref AND j.status = 'COMPLETED'))
  AND ($4::TEXT IS NULL
       OR lower(x.speaker) = lower($4)
       OR (x.meeting_id, x.speaker) IN (SELECT meeting_id, label FROM wanted))
ORDER BY score, x.meeting_id, x.t_ms
LIMIT $5;
