-- The leases of one device of one host.
SELECT lease_id, pid, expires_at FROM device_leases WHERE host = $1 AND device = $2;
