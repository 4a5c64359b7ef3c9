-- Deletes a meeting that is not taking input and everything stored for it (jobs,
-- transcript, speakers, summary, frames and search entries go with it by cascade and
-- triggers). A worker running one of its jobs loses its claim at the next heartbeat
-- and writes nothing.
DELETE FROM meetings WHERE meeting_id = :meeting_id AND status <> 'OPEN';
