SELECT lease_id, device, holder, pid, host, vram_mb, job_id, acquired_at, expires_at
FROM device_leases
ORDER BY device, lease_id;
