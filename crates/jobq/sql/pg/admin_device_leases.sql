-- Every device lease of every host, for status displays.
SELECT lease_id, device, holder, pid, host, vram_mb, job_id, acquired_at, expires_at
FROM device_leases
ORDER BY host, device, lease_id;
