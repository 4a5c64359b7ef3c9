-- Schema 6: full-text search over every meeting (`foreman search`).

-- One FTS5 index over what people search for: transcript lines, summary items (and the
-- overview) and screen frames' text. Rows are written by the triggers below, so the
-- index changes in the same transaction as the text it indexes: a re-run job replaces
-- its rows, a deleted meeting takes its rows with it, and nothing can fall behind.
-- Rowids are derived from the source row, so each source row has exactly one entry:
--   transcript line  meeting_id * 2^32 + idx
--   summary item     meeting_id * 2^32 + 2^31 + list * 2^24 + position
--                    (lists: 0 key points, 1 decisions, 2 action items,
--                     3 open questions, 4 the overview)
--   screen frame     -job_id
-- `speaker` is the label stored with the text (names are resolved when searching, so a
-- rename needs no re-indexing); `ref` is the segment index, the item's position or the
-- frame's VISUAL job.
CREATE VIRTUAL TABLE search_index USING fts5(
    text,
    meeting_id UNINDEXED,
    kind UNINDEXED,
    t_ms UNINDEXED,
    speaker UNINDEXED,
    ref UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER search_line_added AFTER INSERT ON transcript_segments BEGIN
    INSERT INTO search_index (rowid, text, meeting_id, kind, t_ms, speaker, ref)
    VALUES (new.meeting_id * 4294967296 + new.idx, new.text, new.meeting_id, 'line', new.start_ms, new.speaker, new.idx);
END;
CREATE TRIGGER search_line_removed AFTER DELETE ON transcript_segments BEGIN
    DELETE FROM search_index WHERE rowid = old.meeting_id * 4294967296 + old.idx;
END;
CREATE TRIGGER search_line_changed AFTER UPDATE ON transcript_segments BEGIN
    DELETE FROM search_index WHERE rowid = old.meeting_id * 4294967296 + old.idx;
    INSERT INTO search_index (rowid, text, meeting_id, kind, t_ms, speaker, ref)
    VALUES (new.meeting_id * 4294967296 + new.idx, new.text, new.meeting_id, 'line', new.start_ms, new.speaker, new.idx);
END;

-- A summary's entries: its items (by list and position) and its overview.
CREATE VIEW search_summary_entries (entry, text, meeting_id, kind, t_ms, speaker, ref) AS
SELECT s.meeting_id * 4294967296 + 2147483648 + l.list * 16777216 + CAST(i.key AS INTEGER),
       json_extract(i.value, '$.text'), s.meeting_id, l.kind, json_extract(i.value, '$.start_ms'),
       json_extract(i.value, '$.speaker'), CAST(i.key AS INTEGER)
FROM summaries AS s,
     (SELECT 0 AS list, 'key point' AS kind, '$.key_points' AS path
      UNION ALL SELECT 1, 'decision', '$.decisions'
      UNION ALL SELECT 2, 'action item', '$.action_items'
      UNION ALL SELECT 3, 'open question', '$.open_questions') AS l,
     json_each(s.summary, l.path) AS i
WHERE json_extract(i.value, '$.text') IS NOT NULL
UNION ALL
SELECT s.meeting_id * 4294967296 + 2147483648 + 4 * 16777216, json_extract(s.summary, '$.overview'),
       s.meeting_id, 'overview', 0, NULL, 0
FROM summaries AS s
WHERE coalesce(json_extract(s.summary, '$.overview'), '') <> '';

CREATE TRIGGER search_summary_added AFTER INSERT ON summaries BEGIN
    INSERT INTO search_index (rowid, text, meeting_id, kind, t_ms, speaker, ref)
    SELECT * FROM search_summary_entries WHERE meeting_id = new.meeting_id;
END;
CREATE TRIGGER search_summary_removed AFTER DELETE ON summaries BEGIN
    DELETE FROM search_index
    WHERE rowid BETWEEN old.meeting_id * 4294967296 + 2147483648 AND old.meeting_id * 4294967296 + 4294967295;
END;
CREATE TRIGGER search_summary_changed AFTER UPDATE ON summaries BEGIN
    DELETE FROM search_index
    WHERE rowid BETWEEN old.meeting_id * 4294967296 + 2147483648 AND old.meeting_id * 4294967296 + 4294967295;
    INSERT INTO search_index (rowid, text, meeting_id, kind, t_ms, speaker, ref)
    SELECT * FROM search_summary_entries WHERE meeting_id = new.meeting_id;
END;

CREATE TRIGGER search_frame_added AFTER INSERT ON screen_frames BEGIN
    INSERT INTO search_index (rowid, text, meeting_id, kind, t_ms, speaker, ref)
    VALUES (-new.job_id, new.text || coalesce(char(10) || new.description, ''), new.meeting_id, 'slide', new.t_ms, NULL, new.job_id);
END;
CREATE TRIGGER search_frame_removed AFTER DELETE ON screen_frames BEGIN
    DELETE FROM search_index WHERE rowid = -old.job_id;
END;
CREATE TRIGGER search_frame_changed AFTER UPDATE ON screen_frames BEGIN
    DELETE FROM search_index WHERE rowid = -old.job_id;
    INSERT INTO search_index (rowid, text, meeting_id, kind, t_ms, speaker, ref)
    VALUES (-new.job_id, new.text || coalesce(char(10) || new.description, ''), new.meeting_id, 'slide', new.t_ms, NULL, new.job_id);
END;

-- A deleted meeting's lines and items go with it even where no row trigger ran.
CREATE TRIGGER search_meeting_removed AFTER DELETE ON meetings BEGIN
    DELETE FROM search_index
    WHERE rowid BETWEEN old.meeting_id * 4294967296 AND old.meeting_id * 4294967296 + 4294967295;
END;

-- Index what existing databases already hold.
INSERT INTO search_index (rowid, text, meeting_id, kind, t_ms, speaker, ref)
SELECT meeting_id * 4294967296 + idx, text, meeting_id, 'line', start_ms, speaker, idx FROM transcript_segments;
INSERT INTO search_index (rowid, text, meeting_id, kind, t_ms, speaker, ref)
SELECT * FROM search_summary_entries;
INSERT INTO search_index (rowid, text, meeting_id, kind, t_ms, speaker, ref)
SELECT -job_id, text || coalesce(char(10) || description, ''), meeting_id, 'slide', t_ms, NULL, job_id FROM screen_frames;
