-- One migrating process at a time.
SELECT pg_advisory_xact_lock(hashtext('debrief-migrate'));
