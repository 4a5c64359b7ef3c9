-- Take a lease when the declared VRAM fits beside the live leases of the host's device.
INSERT INTO device_leases (device, holder, pid, host, vram_mb, token, job_id, acquired_at, expires_at)
SELECT $1::TEXT, $2::TEXT, $3::BIGINT, $4::TEXT, $5::INTEGER, $6::BIGINT, $7::BIGINT, debrief_now_ms(),
       debrief_now_ms() + $8::BIGINT
WHERE (SELECT COALESCE(SUM(vram_mb), 0)
       FROM device_leases
       WHERE host = $4::TEXT AND device = $1::TEXT AND expires_at > debrief_now_ms()) + $5::INTEGER <= $9::BIGINT
RETURNING lease_id;
