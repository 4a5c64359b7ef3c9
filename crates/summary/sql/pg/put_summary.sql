-- Store (or replace) a meeting's summary.
INSERT INTO summaries (meeting_id, summary, model, created_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (meeting_id) DO UPDATE SET
    summary = excluded.summary,
    model = excluded.model,
    created_at = excluded.created_at;
