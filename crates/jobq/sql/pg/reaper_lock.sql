-- One reaper at a time across every host: the pass is judged on one consistent view
-- (held to the end of the transaction).
SELECT pg_advisory_xact_lock(hashtext('debrief-reaper'));
