-- Deletes a meeting that is not taking input and everything stored for it (jobs,
-- results and its stored files go with it by cascade). A worker running one of its
-- jobs loses its claim at the next heartbeat and writes nothing.
DELETE FROM meetings WHERE meeting_id = $1 AND status <> 'OPEN';
