-- Schema 7: a device of its own for an Intel GPU used through OpenVINO ('igpu'), beside the
-- discrete card ('gpu') and the NPU ('npu'). SQLite cannot change a CHECK in place: the
-- table is rebuilt with the text schema.sql has, and its live leases are kept.
CREATE TEMP TABLE device_leases_v6 AS SELECT * FROM device_leases;
DROP TABLE device_leases;
CREATE TABLE device_leases (
    lease_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    device       TEXT NOT NULL CHECK (device IN ('gpu', 'npu', 'igpu')),
    holder       TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    host         TEXT NOT NULL,
    vram_mb      INTEGER NOT NULL CHECK (vram_mb > 0),
    token        INTEGER NOT NULL,
    -- the job the lease was taken for, if it was taken together with a claim
    job_id       INTEGER REFERENCES jobs (job_id) ON DELETE SET NULL,
    acquired_at  INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
INSERT INTO device_leases SELECT * FROM temp.device_leases_v6;
DROP TABLE temp.device_leases_v6;
CREATE INDEX device_leases_by_device ON device_leases (device, expires_at);
