//! Device leases: the GPU (and NPU) lock.
//!
//! A lease is a row in `device_leases`, inserted only when its declared VRAM fits the
//! budget beside the live leases of that device, inside `BEGIN IMMEDIATE` (SQLite's one
//! writer at a time makes check-and-insert atomic across processes). Before checking, the
//! acquirer deletes leases that expired or whose holder died on this host, so a killed
//! holder never keeps the GPU longer than one lease period.

use rusqlite::{named_params, OptionalExtension, Transaction};

use crate::jobs::{claim_in, Claim};
use crate::process::{now_ms, pid_alive, WorkerIdent};
use crate::types::{Device, JobId, TaskType};
use crate::{sql, Queue, QueueError, Result};

/// What a worker asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRequest {
    /// Which device.
    pub device: Device,
    /// Declared VRAM in MB; `None` (or anything over the budget) takes the whole budget,
    /// which excludes every other lease.
    pub vram_mb: Option<u32>,
}

impl DeviceRequest {
    /// The whole device: mutual exclusion.
    pub fn exclusive(device: Device) -> Self {
        Self { device, vram_mb: None }
    }

    /// A share of the device's budget.
    pub fn shared(device: Device, vram_mb: u32) -> Self {
        Self { device, vram_mb: Some(vram_mb) }
    }
}

/// A lease this process holds. Heartbeat it ([`Queue::heartbeat_device`]) and release it
/// ([`Queue::release_device`]) after unloading the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceLease {
    /// Row id.
    pub lease_id: i64,
    /// The device.
    pub device: Device,
    /// The holder's [`WorkerIdent::id`].
    pub holder: String,
    /// Fencing token of this lease.
    pub token: i64,
    /// VRAM it declared.
    pub vram_mb: u32,
}

/// A lease row as stored, for status displays.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LeaseRecord {
    /// Row id.
    pub lease_id: i64,
    /// Device.
    pub device: Device,
    /// Holder id.
    pub holder: String,
    /// Holder pid.
    pub pid: u32,
    /// Holder host.
    pub host: String,
    /// Declared VRAM.
    pub vram_mb: u32,
    /// Job it was taken with, if any.
    pub job_id: Option<JobId>,
    /// Acquired at (ms).
    pub acquired_at: i64,
    /// Expires at (ms) unless heart-beaten.
    pub expires_at: i64,
}

/// Deletes the leases of `device` whose lease expired or whose holder is dead on this
/// host. Returns how many went.
pub(crate) fn reap_in(tx: &Transaction<'_>, device: Device, now: i64) -> Result<usize> {
    let here = crate::process::hostname();
    let dead: Vec<i64> = {
        let mut stmt = tx.prepare_cached(sql::DEVICE_LEASES)?;
        let rows = stmt.query_map(named_params! { ":device": device }, |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, u32>(2)?, r.get::<_, String>(3)?, r.get::<_, i64>(4)?))
        })?;
        let mut dead = Vec::new();
        for row in rows {
            let (id, pid, host, expires_at) = row?;
            if expires_at <= now || (host == here && !pid_alive(pid)) {
                dead.push(id);
            }
        }
        dead
    };
    let mut del = tx.prepare_cached(sql::DEVICE_REAP)?;
    for id in &dead {
        del.execute(named_params! { ":lease_id": id })?;
    }
    Ok(dead.len())
}

fn acquire_in(
    tx: &Transaction<'_>,
    queue: &Queue,
    who: &WorkerIdent,
    req: DeviceRequest,
    job_id: Option<JobId>,
) -> Result<Option<DeviceLease>> {
    let now = now_ms();
    reap_in(tx, req.device, now)?;
    let budget = queue.cfg.device_budget_mb.max(1);
    let vram_mb = req.vram_mb.unwrap_or(budget).clamp(1, budget);
    let token = fastrand::i64(1..);
    let lease_id: Option<i64> = tx
        .prepare_cached(sql::DEVICE_ACQUIRE)?
        .query_row(
            named_params! {
                ":device": req.device,
                ":holder": who.id,
                ":pid": who.pid,
                ":host": who.host,
                ":vram_mb": vram_mb,
                ":token": token,
                ":job_id": job_id,
                ":now": now,
                ":lease_ms": queue.cfg.lease_ms(),
                ":budget_mb": budget,
            },
            |r| r.get(0),
        )
        .optional()?;
    Ok(lease_id.map(|lease_id| DeviceLease { lease_id, device: req.device, holder: who.id.clone(), token, vram_mb }))
}

pub(crate) fn heartbeat_in(tx: &Transaction<'_>, queue: &Queue, lease: &DeviceLease) -> Result<()> {
    let n = tx.prepare_cached(sql::DEVICE_HEARTBEAT)?.execute(named_params! {
        ":lease_id": lease.lease_id,
        ":holder": lease.holder,
        ":token": lease.token,
        ":now": now_ms(),
        ":lease_ms": queue.cfg.lease_ms(),
    })?;
    one_lease(n, lease)
}

/// `Ok` when a fenced statement touched the lease's row, else [`QueueError::LostLease`].
fn one_lease(changed: usize, lease: &DeviceLease) -> Result<()> {
    if changed == 1 {
        Ok(())
    } else {
        Err(QueueError::LostLease { device: lease.device, lease_id: lease.lease_id })
    }
}

impl Queue {
    /// Takes a lease on a device if the declared VRAM fits; `None` if it does not now.
    pub fn acquire_device(&self, who: &WorkerIdent, req: DeviceRequest) -> Result<Option<DeviceLease>> {
        self.write(|tx| acquire_in(tx, self, who, req, None))
    }

    /// Claims a job of type `task` and a lease on its device in one transaction: both or
    /// neither. `None` when there is no ready job or the device is busy, so a lease is
    /// never held while there is nothing to do.
    pub fn claim_with_device(
        &self,
        who: &WorkerIdent,
        task: TaskType,
        req: DeviceRequest,
    ) -> Result<Option<(Claim, DeviceLease)>> {
        let mut w = self.writer()?;
        let tx = w.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let Some(claim) = claim_in(&tx, self, who, task)? else {
            return Ok(None);
        };
        let Some(lease) = acquire_in(&tx, self, who, req, Some(claim.job_id))? else {
            // Dropping the transaction rolls the claim back.
            return Ok(None);
        };
        tx.commit()?;
        Ok(Some((claim, lease)))
    }

    /// Claims a job while holding `lease`: the lease is checked and extended in the same
    /// transaction, so no GPU job starts under a lease that was lost.
    pub fn claim_under(&self, who: &WorkerIdent, task: TaskType, lease: &DeviceLease) -> Result<Option<Claim>> {
        self.write(|tx| {
            heartbeat_in(tx, self, lease)?;
            claim_in(tx, self, who, task)
        })
    }

    /// Extends a lease. [`QueueError::LostLease`] means another process may now own the
    /// device: stop using it.
    pub fn heartbeat_device(&self, lease: &DeviceLease) -> Result<()> {
        self.write(|tx| heartbeat_in(tx, self, lease))
    }

    /// Releases a lease (after the model is unloaded). Releasing a lease that was
    /// already reclaimed is reported as [`QueueError::LostLease`].
    pub fn release_device(&self, lease: &DeviceLease) -> Result<()> {
        let w = self.writer()?;
        let n = w.conn.prepare_cached(sql::DEVICE_RELEASE)?.execute(named_params! {
            ":lease_id": lease.lease_id,
            ":holder": lease.holder,
            ":token": lease.token,
        })?;
        one_lease(n, lease)
    }

    /// Every lease row, for status displays.
    pub fn device_leases(&self) -> Result<Vec<LeaseRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql::ADMIN_DEVICE_LEASES)?;
        let rows = stmt.query_map([], |r| {
            Ok(LeaseRecord {
                lease_id: r.get(0)?,
                device: r.get(1)?,
                holder: r.get(2)?,
                pid: r.get(3)?,
                host: r.get(4)?,
                vram_mb: r.get(5)?,
                job_id: r.get(6)?,
                acquired_at: r.get(7)?,
                expires_at: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
