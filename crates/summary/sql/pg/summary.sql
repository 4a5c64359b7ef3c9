-- A meeting's summary.
SELECT summary, model, created_at FROM summaries WHERE meeting_id = $1;
