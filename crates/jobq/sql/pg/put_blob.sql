-- An input file of a meeting, stored once (a re-run of the producer's write stores the
-- same bytes again under the same path).
INSERT INTO blobs (meeting_id, path, sha256, bytes, created_at)
VALUES ($1, $2, $3, $4, debrief_now_ms())
ON CONFLICT (meeting_id, path) DO UPDATE SET sha256 = EXCLUDED.sha256, bytes = EXCLUDED.bytes;
