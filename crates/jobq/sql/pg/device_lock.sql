-- Serialises lease changes of one device of one host, across every process and host.
SELECT pg_advisory_xact_lock(hashtext('debrief-device:' || $1::TEXT || ':' || $2::TEXT));
