DELETE FROM device_leases WHERE lease_id = $1;
