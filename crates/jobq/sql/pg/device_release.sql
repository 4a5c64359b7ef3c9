DELETE FROM device_leases
WHERE lease_id = $1 AND holder = $2 AND token = $3;
