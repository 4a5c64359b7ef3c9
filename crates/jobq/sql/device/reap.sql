-- Drop a lease whose holder is gone (expired, or its pid is dead on this host).
DELETE FROM device_leases
WHERE lease_id = :lease_id;
