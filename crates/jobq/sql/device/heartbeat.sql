-- Extend a lease its holder still has.
UPDATE device_leases
SET expires_at = :now + :lease_ms
WHERE lease_id = :lease_id AND holder = :holder AND token = :token;
