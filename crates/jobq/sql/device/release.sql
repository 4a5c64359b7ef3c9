-- Give a lease back (after the model is unloaded).
DELETE FROM device_leases
WHERE lease_id = :lease_id AND holder = :holder AND token = :token;
