-- Take a lease when the declared VRAM fits beside the live leases of the device.
INSERT INTO device_leases (device, holder, pid, host, vram_mb, token, job_id, acquired_at, expires_at)
SELECT :device, :holder, :pid, :host, :vram_mb, :token, :job_id, :now, :now + :lease_ms
WHERE (SELECT COALESCE(SUM(vram_mb), 0)
       FROM device_leases
       WHERE device = :device AND expires_at > :now) + :vram_mb <= :budget_mb
RETURNING lease_id;
