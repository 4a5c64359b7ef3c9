UPDATE device_leases
SET expires_at = debrief_now_ms() + $4
WHERE lease_id = $1 AND holder = $2 AND token = $3;
