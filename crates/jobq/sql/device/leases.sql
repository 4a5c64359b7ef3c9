-- The leases on one device, for the acquirer to reap expired or dead holders.
SELECT lease_id, holder, pid, host, expires_at
FROM device_leases
WHERE device = :device;
