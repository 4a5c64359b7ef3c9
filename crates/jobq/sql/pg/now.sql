-- The database's clock (ms since the epoch): every host's leases are measured by it.
SELECT debrief_now_ms();
