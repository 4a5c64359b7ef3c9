//! The queue on PostgreSQL, for many machines' workers on one queue (`PgQueue`).
//!
//! Same job model and guarantees as the SQLite [`Queue`](crate::Queue): a claim takes a
//! lease and a random token that fences every later write; dependencies (COMPLETED or
//! SETTLED) gate claims; failures retry with the same backoff; the reaper takes back
//! claims whose lease ran out and judges crashes with the same poison rule
//! ([`QueueConfig::judge`], asked through [`Evidence`]); device leases keep the same
//! budget, per host and device. What differs is how the database makes it safe:
//!
//! - **Claims** use `FOR UPDATE SKIP LOCKED`: concurrent claimers on any host skip a
//!   row another is taking instead of queueing behind it.
//! - **Time** is the database's clock (`debrief_now_ms()`), so a lease means the same
//!   on every host whatever its own clock says.
//! - **Recovery** may run on every host at once: a pass holds an advisory lock, and a
//!   dead-pid check applies only to the host that owns the pid; elsewhere the lease
//!   alone decides.
//! - **Device leases** are serialised per (host, device) by an advisory lock.
//! - **Input files** (chunk audio, screenshots) can travel through the `blobs` table
//!   with their sha256, checked on every read: a worker needs only the database URL.
//!
//! SQL lives in `sql/pg/`, one statement per file; the schema in `sql/pg/schema.sql`
//! mirrors the queue tables of the workspace's `schema.sql` (the drift test compares
//! them).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

use postgres::{NoTls, Row, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::device::{DeviceLease, DeviceRequest, LeaseRecord};
use crate::jobs::{Blocked, Claim, Crash, FailOutcome, Fence, JobRecord, NewJob, Retry};
use crate::process::{hostname, pid_alive, WorkerIdent};
use crate::recover::{batch_beside, triage, Evidence, Fate, LiveClaim, Recovered};
use crate::types::{Device, JobId, MeetingId, MeetingStatus, Status, TaskType};
use crate::{MeetingRecord, QueueConfig, QueueError, Result, Retried, SCHEMA_VERSION};

macro_rules! pg_statements {
    ($($name:ident = $path:literal;)*) => {
        $(const $name: &str = include_str!(concat!("../sql/pg/", $path));)*
        /// (file, text) of every statement.
        #[cfg(test)]
        pub(crate) const ALL: &[(&str, &str)] = &[$(($path, $name)),*];
    };
}

pg_statements! {
    HAS_SCHEMA = "has_schema.sql";
    MIGRATE_LOCK = "migrate_lock.sql";
    SCHEMA_VERSION_SQL = "schema_version.sql";
    SET_SCHEMA_VERSION = "set_schema_version.sql";
    NOW = "now.sql";
    CREATE_MEETING = "create_meeting.sql";
    CLOSE_MEETING = "close_meeting.sql";
    MEETING_STATUS = "meeting_status.sql";
    ENQUEUE = "enqueue.sql";
    FIND_JOB = "find_job.sql";
    ADD_DEP = "add_dep.sql";
    CLAIM = "claim.sql";
    COMPLETE = "complete.sql";
    FAIL = "fail.sql";
    HAND_BACK = "hand_back.sql";
    HEARTBEAT = "heartbeat.sql";
    PROGRESS = "progress.sql";
    REGISTER = "register.sql";
    UNREGISTER = "unregister.sql";
    JOB = "job.sql";
    REAPER_LOCK = "reaper_lock.sql";
    REAPER_CLAIMS = "reaper_claims.sql";
    REAPER_CRASHED = "reaper_crashed.sql";
    REAPER_TAKE_BACK = "reaper_take_back.sql";
    REAPER_COMPLETED_SINCE = "reaper_completed_since.sql";
    REAPER_CRASH_LOGS = "reaper_crash_logs.sql";
    REAPER_IDLE_DEATHS_SINCE = "reaper_idle_deaths_since.sql";
    REAPER_WORKERS = "reaper_workers.sql";
    REAPER_WORKER_GONE = "reaper_worker_gone.sql";
    REAPER_IDLE_DEATH = "reaper_idle_death.sql";
    REAPER_PRUNE_DEATHS = "reaper_prune_deaths.sql";
    DEVICE_LOCK = "device_lock.sql";
    DEVICE_LEASES = "device_leases.sql";
    DEVICE_REAP = "device_reap.sql";
    DEVICE_ACQUIRE = "device_acquire.sql";
    DEVICE_HEARTBEAT = "device_heartbeat.sql";
    DEVICE_RELEASE = "device_release.sql";
    PUT_BLOB = "put_blob.sql";
    GET_BLOB = "get_blob.sql";
    OUTSTANDING = "outstanding.sql";
    FOREMAN_CLOSED = "closed_meetings.sql";
    FOREMAN_JOB_IDS = "job_ids_of_type.sql";
    FOREMAN_MARK_PROCESSING = "mark_processing.sql";
    FOREMAN_DONE = "meetings_done.sql";
    FOREMAN_FAILED = "meetings_failed.sql";
    FOREMAN_RESUMED = "meetings_resumed.sql";
    FOREMAN_SET_PARTIAL = "set_partial.sql";
    FOREMAN_INPUT_FAILURES = "input_failures.sql";
    ADMIN_MEETINGS = "admin_meetings.sql";
    ADMIN_MEETING_JOBS = "admin_meeting_jobs.sql";
    ADMIN_FAILED_JOBS = "admin_failed_jobs.sql";
    ADMIN_COUNTS = "admin_counts.sql";
    ADMIN_BLOCKED = "admin_blocked.sql";
    ADMIN_DEVICE_LEASES = "admin_device_leases.sql";
    FOREMAN_CANCEL_MEETING = "cancel_meeting.sql";
    FOREMAN_CANCEL_JOBS = "cancel_jobs.sql";
    FOREMAN_RETRY = "retry_failed.sql";
    FOREMAN_REDO_DEPENDENTS = "redo_dependents.sql";
    FOREMAN_REDO_TRANSCRIPT = "redo_transcript.sql";
    FOREMAN_DELETE_MEETING = "delete_meeting.sql";
    FOREMAN_MEETING_STATUS = "meeting_status_now.sql";
}

/// The PostgreSQL schema (queue tables and blobs).
pub const PG_SCHEMA_SQL: &str = include_str!("../sql/pg/schema.sql");

/// The result tables of the stores that run on PostgreSQL (created if missing).
pub const PG_RESULTS_SQL: &str = include_str!("../sql/pg/results.sql");

/// A handle on a queue in PostgreSQL; cheap to clone, usable from many threads.
#[derive(Clone)]
pub struct PgQueue {
    pool: r2d2::Pool<PostgresConnectionManager<NoTls>>,
    cfg: QueueConfig,
    /// The URL without its password, for messages.
    shown: String,
}

impl std::fmt::Debug for PgQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgQueue").field("database", &self.shown).field("cfg", &self.cfg).finish()
    }
}

/// `url` with any password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((auth, host)) = rest.split_once('@') else { return url.to_owned() };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

fn pg_err(e: postgres::Error) -> QueueError {
    QueueError::Postgres(e)
}

fn i(v: impl TryInto<i64>) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

fn u(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn parsed<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T> {
    s.parse().map_err(QueueError::Invalid)
}

fn json(s: &str, what: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(|e| QueueError::Invalid(format!("{what}: {e}")))
}

fn one_row(changed: u64, job_id: JobId) -> Result<()> {
    if changed == 1 {
        Ok(())
    } else {
        Err(QueueError::LostClaim { job_id })
    }
}

impl PgQueue {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and creates or
    /// checks the schema: one process migrates at a time (an advisory lock), and a
    /// database written by a newer Debrief is refused.
    pub fn connect(url: &str, cfg: QueueConfig) -> Result<Self> {
        let shown = redact_url(url);
        let config: postgres::Config =
            url.parse().map_err(|e| QueueError::Invalid(format!("database URL {shown}: {e}")))?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(cfg.pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(cfg.busy_timeout.max(std::time::Duration::from_secs(5)))
            .build(manager)?;
        let q = Self { pool, cfg, shown };
        q.migrate()?;
        Ok(q)
    }

    /// The database, without its password.
    pub fn database(&self) -> &str {
        &self.shown
    }

    /// The configuration this handle was opened with.
    pub fn config(&self) -> &QueueConfig {
        &self.cfg
    }

    fn migrate(&self) -> Result<()> {
        self.tx(|tx| {
            tx.execute(MIGRATE_LOCK, &[])?;
            let has: bool = tx.query_one(HAS_SCHEMA, &[])?.get(0);
            if !has {
                tx.batch_execute(PG_SCHEMA_SQL)?;
                tx.batch_execute(PG_RESULTS_SQL)?;
                tx.execute(SET_SCHEMA_VERSION, &[&SCHEMA_VERSION])?;
                return Ok(());
            }
            let found: i32 = tx.query_one(SCHEMA_VERSION_SQL, &[])?.get(0);
            if found > SCHEMA_VERSION {
                return Err(QueueError::SchemaTooNew {
                    path: PathBuf::from(&self.shown),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            tx.batch_execute(PG_RESULTS_SQL)?;
            Ok(())
        })
    }

    /// Runs `f` in one transaction and commits it if `f` succeeds.
    pub fn tx<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        self.write(f)
    }

    /// Runs `f` in one transaction and commits it if `f` succeeds, with the caller's
    /// error type (a store's).
    pub fn write<T, E>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<QueueError>,
    {
        let mut conn = self.pool.get().map_err(QueueError::from)?;
        let mut tx = conn.transaction().map_err(QueueError::from)?;
        let out = f(&mut tx)?;
        tx.commit().map_err(QueueError::from)?;
        Ok(out)
    }

    /// Runs a read-only closure on a pooled connection.
    pub fn read<T>(&self, f: impl FnOnce(&mut postgres::Client) -> Result<T>) -> Result<T> {
        let mut conn = self.pool.get()?;
        f(&mut conn)
    }

    /// Creates an OPEN meeting.
    pub fn create_meeting(&self, title: Option<&str>, source: Option<&str>) -> Result<MeetingId> {
        self.tx(|tx| Ok(MeetingId(tx.query_one(CREATE_MEETING, &[&title, &source, &None::<String>])?.get(0))))
    }

    /// Marks an OPEN meeting CLOSED (all input is in); false if it was not OPEN.
    pub fn close_meeting(&self, meeting_id: MeetingId, duration_ms: Option<i64>) -> Result<bool> {
        self.tx(|tx| Ok(tx.execute(CLOSE_MEETING, &[&meeting_id.0, &duration_ms])? == 1))
    }

    /// Enqueues one job (and its dependencies); idempotent per (meeting, type, seq),
    /// with the same rules as [`Queue::enqueue`](crate::Queue::enqueue).
    pub fn enqueue(&self, job: &NewJob) -> Result<(JobId, bool)> {
        self.tx(|tx| enqueue_in(tx, job))
    }

    /// Enqueues within a caller's transaction (see [`PgQueue::tx`]), so that a producer
    /// can record its own rows and the job atomically.
    pub fn enqueue_in(tx: &mut Transaction<'_>, job: &NewJob) -> Result<(JobId, bool)> {
        enqueue_in(tx, job)
    }

    /// Claims the best ready job of type `task`, or `None` when there is none.
    pub fn claim(&self, who: &WorkerIdent, task: TaskType) -> Result<Option<Claim>> {
        self.tx(|tx| self.claim_in(tx, who, task))
    }

    fn claim_in(&self, tx: &mut Transaction<'_>, who: &WorkerIdent, task: TaskType) -> Result<Option<Claim>> {
        let token = fastrand::i64(1..);
        let row =
            tx.query_opt(CLAIM, &[&who.id, &i(who.pid), &who.host, &token, &self.cfg.lease_ms(), &task.as_str()])?;
        row.map(|r| claim_from(&r, who, token)).transpose()
    }

    /// Extends the claim's lease. [`QueueError::LostClaim`] means stop working on it.
    pub fn heartbeat(&self, fence: &Fence) -> Result<()> {
        self.tx(|tx| self.heartbeat_in(tx, fence))
    }

    /// Extends `fence`'s lease in `tx`; [`QueueError::LostClaim`] if the claim is gone.
    fn heartbeat_in(&self, tx: &mut Transaction<'_>, fence: &Fence) -> Result<()> {
        let n = tx.execute(HEARTBEAT, &[&fence.job_id.0, &fence.worker_id, &fence.token, &self.cfg.lease_ms()])?;
        one_row(n, fence.job_id)
    }

    /// Records how far the claim got (and extends its lease).
    pub fn progress(&self, fence: &Fence, progress: i64) -> Result<()> {
        let n = self.tx(|tx| {
            Ok(tx.execute(
                PROGRESS,
                &[&fence.job_id.0, &fence.worker_id, &fence.token, &self.cfg.lease_ms(), &progress],
            )?)
        })?;
        one_row(n, fence.job_id)
    }

    /// Marks the job COMPLETED with `result`.
    pub fn complete(&self, claim: &Claim, result: &Value) -> Result<()> {
        self.complete_with(claim, result, |_| Ok(()))
    }

    /// Marks the job COMPLETED and runs `store` in the same transaction to write its
    /// output rows; a lost claim writes nothing ([`QueueError::LostClaim`]), a failing
    /// `store` rolls everything back ([`QueueError::Store`]).
    pub fn complete_with<F>(&self, claim: &Claim, result: &Value, store: F) -> Result<()>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
    {
        self.finish_then(claim, result, store, |_| Ok(()))
    }

    /// Completes `claim` (as [`PgQueue::complete_with`]) and claims the next ready job of
    /// type `next` in the same transaction: one commit per job instead of two.
    pub fn complete_and_claim<F>(
        &self,
        claim: &Claim,
        result: &Value,
        store: F,
        who: &WorkerIdent,
        next: TaskType,
    ) -> Result<Option<Claim>>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
    {
        self.finish_then(claim, result, store, |tx| self.claim_in(tx, who, next))
    }

    fn finish_then<F, T>(
        &self,
        claim: &Claim,
        result: &Value,
        store: F,
        then: impl FnOnce(&mut Transaction<'_>) -> Result<T>,
    ) -> Result<T>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
    {
        let result = serde_json::to_string(result).map_err(|e| QueueError::Invalid(format!("result: {e}")))?;
        self.tx(|tx| {
            let f = &claim.fence;
            one_row(tx.execute(COMPLETE, &[&f.job_id.0, &f.worker_id, &f.token, &result])?, claim.job_id)?;
            store(tx).map_err(QueueError::Store)?;
            then(tx)
        })
    }

    /// Records a failure: PENDING again after the backoff while attempts remain and the
    /// error is retryable, otherwise FAILED; `error` is kept.
    pub fn fail(&self, claim: &Claim, error: &str, retry: Retry) -> Result<FailOutcome> {
        let backoff = self.cfg.backoff_ms(claim.attempt);
        let f = &claim.fence;
        let row = self.tx(|tx| {
            Ok(tx.query_opt(FAIL, &[&f.job_id.0, &f.worker_id, &f.token, &error, &(retry == Retry::Yes), &backoff])?)
        })?;
        let Some(r) = row else { return Err(QueueError::LostClaim { job_id: claim.job_id }) };
        match parsed::<Status>(r.get(0))? {
            Status::Pending => Ok(FailOutcome::Retrying {
                attempts: u(i64::from(r.get::<_, i32>(1))),
                max_attempts: u(i64::from(r.get::<_, i32>(2))),
                run_after: r.get(3),
            }),
            _ => Ok(FailOutcome::Failed),
        }
    }

    /// Gives an unfinished job back: PENDING at once, and this attempt does not count.
    pub fn hand_back(&self, claim: &Claim) -> Result<()> {
        let f = &claim.fence;
        let n = self.tx(|tx| Ok(tx.execute(HAND_BACK, &[&f.job_id.0, &f.worker_id, &f.token])?))?;
        one_row(n, claim.job_id)
    }

    /// A worker announces itself (see the reaper's idle deaths).
    pub fn register_worker(&self, who: &WorkerIdent, tasks: &[TaskType]) -> Result<()> {
        let types = tasks.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(",");
        self.tx(|tx| Ok(tx.execute(REGISTER, &[&who.id, &who.host, &i(who.pid), &types]).map(drop)?))
    }

    /// A clean exit.
    pub fn unregister_worker(&self, who: &WorkerIdent) -> Result<()> {
        self.tx(|tx| Ok(tx.execute(UNREGISTER, &[&who.id]).map(drop)?))
    }

    /// One job as stored.
    pub fn job(&self, job_id: JobId) -> Result<Option<JobRecord>> {
        self.tx(|tx| tx.query_opt(JOB, &[&job_id.0])?.map(|r| record_from(&r)).transpose())
    }

    /// Jobs of type `task` running or able to become ready without anyone's help
    /// (PENDING and not blocked behind a FAILED job): zero means nothing left to wait for.
    pub fn outstanding(&self, task: TaskType) -> Result<u64> {
        let n: i64 = self.tx(|tx| Ok(tx.query_one(OUTSTANDING, &[&task.as_str()])?.get(0)))?;
        Ok(n.max(0).unsigned_abs())
    }

    /// The database's clock (ms since the epoch).
    pub fn now_ms(&self) -> Result<i64> {
        self.tx(|tx| Ok(tx.query_one(NOW, &[])?.get(0)))
    }

    /// Takes back claims whose lease expired, or whose worker died on this host, and
    /// device leases likewise, exactly as [`Queue::recover`](crate::Queue::recover)
    /// judges them. Safe on every host at once: passes are serialised by an advisory
    /// lock, and each host checks only its own pids.
    pub fn recover(&self) -> Result<Recovered> {
        let here = hostname();
        self.tx(|tx| {
            tx.execute(REAPER_LOCK, &[])?;
            let now: i64 = tx.query_one(NOW, &[])?.get(0);
            let claims = tx
                .query(REAPER_CLAIMS, &[])?
                .iter()
                .map(|r| {
                    Ok(LiveClaim {
                        job_id: JobId(r.get(0)),
                        worker_id: r.get(1),
                        pid: r.get::<_, Option<i64>>(2).map(u),
                        host: r.get(3),
                        token: r.get(4),
                        lease_expires_at: r.get(5),
                        task_type: parsed(r.get(6))?,
                        crashes: u(i64::from(r.get::<_, i32>(7))),
                        crash_log: serde_json::from_str(r.get(8)).unwrap_or_default(),
                        progress: r.get(9),
                        started_at: r.get(10),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let holders: std::collections::HashSet<String> = claims.iter().map(|c| c.worker_id.clone()).collect();
            for r in tx.query(REAPER_WORKERS, &[&here])? {
                let (id, pid, tasks): (String, i64, String) = (r.get(0), r.get(1), r.get(2));
                if pid_alive(u(pid)) {
                    continue;
                }
                tx.execute(REAPER_WORKER_GONE, &[&id])?;
                if !holders.contains(&id) {
                    tx.execute(REAPER_IDLE_DEATH, &[&id, &now, &tasks])?;
                }
            }
            tx.execute(REAPER_PRUNE_DEATHS, &[&now.saturating_sub(24 * 3_600_000)])?;
            let mut out = Recovered::default();
            let mut crashed: Vec<(LiveClaim, String)> = Vec::new();
            for mut c in claims {
                match triage(&c, &here, now) {
                    Fate::Live => {}
                    Fate::Stopped(error) => {
                        if tx.query_opt(REAPER_TAKE_BACK, &[&c.job_id.0, &c.token, &error])?.is_some() {
                            out.requeued.push(c.job_id);
                        }
                    }
                    Fate::Crashed { what, .. } => {
                        c.log_crash(now);
                        crashed.push((c, what));
                    }
                }
            }
            for (c, what) in &crashed {
                let v = {
                    let ev = PgEvidence(RefCell::new(&mut *tx));
                    self.cfg.judge(&ev, c, what, &batch_beside(&crashed, c))?
                };
                let log = serde_json::to_string(&c.crash_log).map_err(|e| QueueError::Invalid(e.to_string()))?;
                let backoff = self.cfg.crash_backoff_ms(c.crashes + 1);
                let row =
                    tx.query_opt(REAPER_CRASHED, &[&c.job_id.0, &c.token, &v.quarantine, &log, &backoff, &v.error])?;
                match row.map(|r| parsed::<Status>(r.get(0))).transpose()? {
                    Some(Status::Failed) => out.quarantined.push(c.job_id),
                    Some(_) => out.requeued.push(c.job_id),
                    None => {}
                }
            }
            for d in Device::ALL {
                tx.execute(DEVICE_LOCK, &[&here, &d.as_str()])?;
                out.leases_reaped += reap_in(tx, &here, *d, now)?;
            }
            Ok(out)
        })
    }

    /// Takes a lease on this host's `req.device` if the declared VRAM fits beside the
    /// live leases of that device on this host; `None` if it does not now.
    pub fn acquire_device(&self, who: &WorkerIdent, req: DeviceRequest) -> Result<Option<DeviceLease>> {
        self.tx(|tx| self.acquire_in(tx, who, req, None))
    }

    fn acquire_in(
        &self,
        tx: &mut Transaction<'_>,
        who: &WorkerIdent,
        req: DeviceRequest,
        job: Option<JobId>,
    ) -> Result<Option<DeviceLease>> {
        let budget = self.cfg.device_budget_mb.max(1);
        let vram_mb = req.vram_mb.unwrap_or(budget).clamp(1, budget);
        let token = fastrand::i64(1..);
        tx.execute(DEVICE_LOCK, &[&who.host, &req.device.as_str()])?;
        let now: i64 = tx.query_one(NOW, &[])?.get(0);
        if who.host == hostname() {
            reap_in(tx, &who.host, req.device, now)?;
        }
        let vram = i32::try_from(vram_mb).unwrap_or(i32::MAX);
        let row = tx.query_opt(
            DEVICE_ACQUIRE,
            &[
                &req.device.as_str(),
                &who.id,
                &i(who.pid),
                &who.host,
                &vram,
                &token,
                &job.map(|j| j.0),
                &self.cfg.lease_ms(),
                &i64::from(budget),
            ],
        )?;
        Ok(row.map(|r| DeviceLease { lease_id: r.get(0), device: req.device, holder: who.id.clone(), token, vram_mb }))
    }

    /// Claims a job of type `task` and a lease on its device in one transaction: both or
    /// neither (as [`Queue::claim_with_device`](crate::Queue::claim_with_device)).
    pub fn claim_with_device(
        &self,
        who: &WorkerIdent,
        task: TaskType,
        req: DeviceRequest,
    ) -> Result<Option<(Claim, DeviceLease)>> {
        let mut conn = self.pool.get()?;
        let mut tx = conn.transaction().map_err(pg_err)?;
        let Some(claim) = self.claim_in(&mut tx, who, task)? else {
            return Ok(None);
        };
        let Some(lease) = self.acquire_in(&mut tx, who, req, Some(claim.job_id))? else {
            // Dropping the transaction rolls the claim back.
            return Ok(None);
        };
        tx.commit().map_err(pg_err)?;
        Ok(Some((claim, lease)))
    }

    /// Claims a job while holding `lease`, which is checked and extended in the same
    /// transaction, so no device job starts under a lease that was lost.
    pub fn claim_under(&self, who: &WorkerIdent, task: TaskType, lease: &DeviceLease) -> Result<Option<Claim>> {
        self.tx(|tx| {
            let n =
                tx.execute(DEVICE_HEARTBEAT, &[&lease.lease_id, &lease.holder, &lease.token, &self.cfg.lease_ms()])?;
            if n != 1 {
                return Err(QueueError::LostLease { device: lease.device, lease_id: lease.lease_id });
            }
            self.claim_in(tx, who, task)
        })
    }

    /// Extends a device lease; [`QueueError::LostLease`] once it was reclaimed.
    pub fn heartbeat_device(&self, lease: &DeviceLease) -> Result<()> {
        let n = self.tx(|tx| {
            Ok(tx.execute(DEVICE_HEARTBEAT, &[&lease.lease_id, &lease.holder, &lease.token, &self.cfg.lease_ms()])?)
        })?;
        if n == 1 {
            Ok(())
        } else {
            Err(QueueError::LostLease { device: lease.device, lease_id: lease.lease_id })
        }
    }

    /// Releases a device lease (after the model is unloaded).
    pub fn release_device(&self, lease: &DeviceLease) -> Result<()> {
        self.tx(|tx| Ok(tx.execute(DEVICE_RELEASE, &[&lease.lease_id, &lease.holder, &lease.token]).map(drop)?))
    }

    /// The foreman's bookkeeping in one transaction, as [`Queue::reconcile_meetings`]
    /// (crate::Queue::reconcile_meetings): plan each CLOSED meeting's TRANSCRIPT and
    /// SUMMARY jobs, then move meetings to DONE (noting what is partial), FAILED or back
    /// to PROCESSING. Safe from several foremen at once: the CLOSED rows are locked, and
    /// planning is idempotent.
    pub fn reconcile_meetings(&self) -> Result<crate::Reconciled> {
        use crate::meetings::{describe_partial, InputFailures};
        self.tx(|tx| {
            let mut out = crate::Reconciled::default();
            let closed: Vec<i64> = tx.query(FOREMAN_CLOSED, &[])?.iter().map(|r| r.get(0)).collect();
            for m in closed.into_iter().map(MeetingId) {
                let of = |tx: &mut Transaction<'_>, t: TaskType| -> Result<Vec<JobId>> {
                    Ok(tx.query(FOREMAN_JOB_IDS, &[&m.0, &t.as_str()])?.iter().map(|r| JobId(r.get(0))).collect())
                };
                let audio = of(tx, TaskType::Audio)?;
                let transcript =
                    NewJob::new(m, TaskType::Transcript, 0).priority(crate::TRANSCRIPT_PRIORITY).after_settled(audio);
                let (transcript, _) = enqueue_in(tx, &transcript)?;
                let visual = of(tx, TaskType::Visual)?;
                let summary = NewJob::new(m, TaskType::Summary, 0)
                    .priority(crate::SUMMARY_PRIORITY)
                    .depends_on([transcript])
                    .after_settled(visual);
                enqueue_in(tx, &summary)?;
                tx.execute(FOREMAN_MARK_PROCESSING, &[&m.0])?;
                out.planned.push(m);
            }
            let ids = |tx: &mut Transaction<'_>, sql: &str| -> Result<Vec<MeetingId>> {
                Ok(tx.query(sql, &[])?.iter().map(|r| MeetingId(r.get(0))).collect())
            };
            out.done = ids(tx, FOREMAN_DONE)?;
            for &m in &out.done {
                let found: Vec<InputFailures> = tx
                    .query(FOREMAN_INPUT_FAILURES, &[&m.0])?
                    .iter()
                    .filter(|r| r.get::<_, i64>(1) > 0)
                    .map(|r| {
                        Ok(InputFailures {
                            task: parsed(r.get(0))?,
                            failed: r.get(1),
                            all: r.get(2),
                            first: JobId(r.get(3)),
                            error: r.get(4),
                        })
                    })
                    .collect::<Result<_>>()?;
                let partial = describe_partial(&found);
                tx.execute(FOREMAN_SET_PARTIAL, &[&m.0, &partial])?;
                if let Some(p) = partial {
                    out.partial.push((m, p));
                }
            }
            out.failed = ids(tx, FOREMAN_FAILED)?;
            out.resumed = ids(tx, FOREMAN_RESUMED)?;
            Ok(out)
        })
    }

    /// Runs `f` in one transaction only while `fence`'s claim is still held (the lease
    /// is extended in the same transaction), as [`Queue::write_fenced`](crate::Queue::write_fenced).
    pub fn write_fenced<T, E>(
        &self,
        fence: &Fence,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<QueueError>,
    {
        self.write(|tx| {
            self.heartbeat_in(tx, fence)?;
            f(tx)
        })
    }

    /// Cancels a meeting: it is CANCELLED and its unfinished jobs FAILED (see
    /// [`Queue::cancel_meeting`](crate::Queue::cancel_meeting)). `None` if there is no such
    /// meeting or it was cancelled already; else how many jobs were stopped.
    pub fn cancel_meeting(&self, meeting_id: MeetingId) -> Result<Option<usize>> {
        self.tx(|tx| {
            if tx.execute(FOREMAN_CANCEL_MEETING, &[&meeting_id.0])? == 0 {
                return Ok(None);
            }
            let n = tx.execute(FOREMAN_CANCEL_JOBS, &[&meeting_id.0])?;
            Ok(Some(usize::try_from(n).unwrap_or(usize::MAX)))
        })
    }

    /// Deletes a meeting that is not OPEN and everything stored for it, its stored
    /// files included. `Ok(false)` if there is no such meeting.
    pub fn delete_meeting(&self, meeting_id: MeetingId) -> Result<bool> {
        self.tx(|tx| {
            let status: Option<String> = tx.query_opt(FOREMAN_MEETING_STATUS, &[&meeting_id.0])?.map(|r| r.get(0));
            match status.as_deref() {
                None => Ok(false),
                Some("OPEN") => Err(QueueError::Invalid(format!(
                    "meeting {meeting_id} is still OPEN (being recorded or imported): cancel it first"
                ))),
                Some(_) => Ok(tx.execute(FOREMAN_DELETE_MEETING, &[&meeting_id.0])? == 1),
            }
        })
    }

    /// Gives FAILED jobs (one, or all) fresh attempts, and runs the COMPLETED jobs that
    /// depend on them again (see [`Queue::retry_failed`](crate::Queue::retry_failed)).
    pub fn retry_failed(&self, job_id: Option<JobId>) -> Result<Retried> {
        self.tx(|tx| {
            let ids = |rows: Vec<Row>| rows.iter().map(|r| JobId(r.get(0))).collect::<Vec<_>>();
            let jobs = ids(tx.query(FOREMAN_RETRY, &[&job_id.map(|j| j.0)])?);
            let redo = if jobs.is_empty() { Vec::new() } else { ids(tx.query(FOREMAN_REDO_DEPENDENTS, &[])?) };
            Ok(Retried { jobs, redo })
        })
    }

    /// Runs a meeting's COMPLETED TRANSCRIPT job again and what depends on it, after
    /// `also` in the same transaction (see [`Queue::redo_transcript`](crate::Queue::redo_transcript)).
    pub fn redo_transcript(
        &self,
        meeting_id: MeetingId,
        also: impl FnOnce(&mut Transaction<'_>) -> Result<()>,
    ) -> Result<Vec<JobId>> {
        self.tx(|tx| {
            also(tx)?;
            let mut jobs: Vec<JobId> =
                tx.query(FOREMAN_REDO_TRANSCRIPT, &[&meeting_id.0])?.iter().map(|r| JobId(r.get(0))).collect();
            if !jobs.is_empty() {
                jobs.extend(tx.query(FOREMAN_REDO_DEPENDENTS, &[])?.iter().map(|r| JobId(r.get(0))));
            }
            Ok(jobs)
        })
    }

    /// Meetings with their job counts: all of them, or one.
    pub fn meetings(&self, only: Option<MeetingId>) -> Result<Vec<MeetingRecord>> {
        self.read(|c| {
            c.query(ADMIN_MEETINGS, &[&only.map(|m| m.0)])?
                .iter()
                .map(|r| {
                    Ok(MeetingRecord {
                        meeting_id: MeetingId(r.get(0)),
                        title: r.get(1),
                        source: r.get(2),
                        status: parsed(r.get(3))?,
                        error: r.get(4),
                        duration_ms: r.get(5),
                        created_at: r.get(6),
                        closed_at: r.get(7),
                        updated_at: r.get(8),
                        partial: r.get(9),
                        jobs: r.get(10),
                        completed: r.get(11),
                        failed: r.get(12),
                    })
                })
                .collect()
        })
    }

    /// Every job of a meeting, by type and seq.
    pub fn meeting_jobs(&self, meeting_id: MeetingId) -> Result<Vec<JobRecord>> {
        self.read(|c| c.query(ADMIN_MEETING_JOBS, &[&meeting_id.0])?.iter().map(record_from).collect())
    }

    /// Every FAILED job, with its error.
    pub fn failed_jobs(&self) -> Result<Vec<JobRecord>> {
        self.read(|c| c.query(ADMIN_FAILED_JOBS, &[])?.iter().map(record_from).collect())
    }

    /// Job counts by type and status (only non-zero ones).
    pub fn counts(&self) -> Result<Vec<(TaskType, Status, u64)>> {
        self.read(|c| {
            c.query(ADMIN_COUNTS, &[])?
                .iter()
                .map(|r| Ok((parsed(r.get(0))?, parsed(r.get(1))?, r.get::<_, i64>(2).max(0).unsigned_abs())))
                .collect()
        })
    }

    /// PENDING jobs that wait on a FAILED job, with that job and its error.
    pub fn blocked(&self) -> Result<Vec<Blocked>> {
        self.read(|c| {
            c.query(ADMIN_BLOCKED, &[])?
                .iter()
                .map(|r| {
                    Ok(Blocked {
                        job_id: JobId(r.get(0)),
                        meeting_id: MeetingId(r.get(1)),
                        task_type: parsed(r.get(2))?,
                        failed_dependency: JobId(r.get(3)),
                        failed_task_type: parsed(r.get(4))?,
                        failed_error: r.get(5),
                    })
                })
                .collect()
        })
    }

    /// Every device lease of every host, for status displays.
    pub fn device_leases(&self) -> Result<Vec<LeaseRecord>> {
        self.read(|c| {
            c.query(ADMIN_DEVICE_LEASES, &[])?
                .iter()
                .map(|r| {
                    Ok(LeaseRecord {
                        lease_id: r.get(0),
                        device: parsed(r.get(1))?,
                        holder: r.get(2),
                        pid: u(r.get(3)),
                        host: r.get(4),
                        vram_mb: u(i64::from(r.get::<_, i32>(5))),
                        job_id: r.get::<_, Option<i64>>(6).map(JobId),
                        acquired_at: r.get(7),
                        expires_at: r.get(8),
                    })
                })
                .collect()
        })
    }

    /// Stores an input file of a meeting under its data-directory path; returns its
    /// sha256.
    pub fn put_blob(&self, meeting_id: MeetingId, path: &str, bytes: &[u8]) -> Result<String> {
        let sha = hex(&Sha256::digest(bytes));
        self.tx(|tx| Ok(tx.execute(PUT_BLOB, &[&meeting_id.0, &path, &sha, &bytes]).map(drop)?))?;
        Ok(sha)
    }

    /// Reads an input file of a meeting, checked against the sha256 stored with it:
    /// damaged bytes are an error naming the file, never returned.
    pub fn get_blob(&self, meeting_id: MeetingId, path: &str) -> Result<Option<Vec<u8>>> {
        let row = self.tx(|tx| Ok(tx.query_opt(GET_BLOB, &[&meeting_id.0, &path])?))?;
        let Some(r) = row else { return Ok(None) };
        let (want, bytes): (String, Vec<u8>) = (r.get(0), r.get(1));
        let got = hex(&Sha256::digest(&bytes));
        if got != want {
            return Err(QueueError::Invalid(format!(
                "meeting {meeting_id} file {path} in {}: damaged (sha256 {got}, stored as {want})",
                self.shown
            )));
        }
        Ok(Some(bytes))
    }
}

/// Lower-case hex of `b` (a sha256 as stored in `blobs`).
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Deletes the leases of this host's `device` that expired or whose holder is dead.
fn reap_in(tx: &mut Transaction<'_>, host: &str, device: Device, now: i64) -> Result<usize> {
    let dead: Vec<i64> = tx
        .query(DEVICE_LEASES, &[&host, &device.as_str()])?
        .iter()
        .filter(|r| r.get::<_, i64>(2) <= now || !pid_alive(u(r.get(1))))
        .map(|r| r.get(0))
        .collect();
    for id in &dead {
        tx.execute(DEVICE_REAP, &[id])?;
    }
    Ok(dead.len())
}

fn enqueue_in(tx: &mut Transaction<'_>, job: &NewJob) -> Result<(JobId, bool)> {
    if job.max_attempts == 0 {
        return Err(QueueError::Invalid("max_attempts must be at least 1".into()));
    }
    if job.seq < 0 {
        return Err(QueueError::Invalid(format!("seq must be >= 0, got {}", job.seq)));
    }
    if let Some(e) = &job.payload_error {
        return Err(QueueError::Invalid(format!("payload: {e}")));
    }
    let payload = serde_json::to_string(&job.payload).map_err(|e| QueueError::Invalid(format!("payload: {e}")))?;
    let status = match tx.query_opt(MEETING_STATUS, &[&job.meeting_id.0])? {
        None => return Err(QueueError::Invalid(format!("meeting {} does not exist", job.meeting_id))),
        Some(r) => parsed::<MeetingStatus>(r.get(0))?,
    };
    let input = matches!(job.task_type, TaskType::Audio | TaskType::Visual);
    if status == MeetingStatus::Cancelled || (input && status != MeetingStatus::Open) {
        return Err(QueueError::MeetingNotOpen { meeting_id: job.meeting_id, status, task_type: job.task_type });
    }
    let max_attempts = i32::try_from(job.max_attempts).unwrap_or(i32::MAX);
    let inserted = tx.query_opt(
        ENQUEUE,
        &[&job.meeting_id.0, &job.task_type.as_str(), &job.seq, &job.priority, &payload, &max_attempts, &job.run_after],
    )?;
    let Some(row) = inserted else {
        let existing: i64 = tx.query_one(FIND_JOB, &[&job.meeting_id.0, &job.task_type.as_str(), &job.seq])?.get(0);
        return Ok((JobId(existing), false));
    };
    let job_id = JobId(row.get(0));
    let deps = job.depends_on.iter().map(|d| (d, "COMPLETED")).chain(job.after_settled.iter().map(|d| (d, "SETTLED")));
    for (dep, need) in deps {
        // A failed statement aborts a PostgreSQL transaction: check first, with the
        // same message as the SQLite backend's constraint error.
        if dep.0 >= job_id.0 || tx.query_opt(JOB, &[&dep.0])?.is_none() {
            return Err(QueueError::Invalid(format!(
                "job {job_id} cannot depend on job {dep}: it does not exist or is newer"
            )));
        }
        tx.execute(ADD_DEP, &[&job_id.0, &dep.0, &need])?;
    }
    Ok((job_id, true))
}

fn claim_from(r: &Row, who: &WorkerIdent, token: i64) -> Result<Claim> {
    let job_id = JobId(r.get(0));
    Ok(Claim {
        job_id,
        meeting_id: MeetingId(r.get(1)),
        task_type: parsed(r.get(2))?,
        seq: r.get(3),
        priority: r.get(4),
        payload: json(r.get(5), "payload")?,
        attempt: u(i64::from(r.get::<_, i32>(6))),
        max_attempts: u(i64::from(r.get::<_, i32>(7))),
        crashes: u(i64::from(r.get::<_, i32>(8))),
        fence: Fence { job_id, worker_id: who.id.clone(), token },
    })
}

fn record_from(r: &Row) -> Result<JobRecord> {
    Ok(JobRecord {
        job_id: JobId(r.get(0)),
        meeting_id: MeetingId(r.get(1)),
        task_type: parsed(r.get(2))?,
        seq: r.get(3),
        status: parsed(r.get(4))?,
        priority: r.get(5),
        payload: json(r.get(6), "payload")?,
        result: r.get::<_, Option<&str>>(7).map(|s| json(s, "result")).transpose()?,
        attempts: u(i64::from(r.get::<_, i32>(8))),
        max_attempts: u(i64::from(r.get::<_, i32>(9))),
        run_after: r.get(10),
        worker_id: r.get(11),
        worker_pid: r.get::<_, Option<i64>>(12).map(u),
        worker_host: r.get(13),
        lease_expires_at: r.get(14),
        last_error: r.get(15),
        created_at: r.get(16),
        started_at: r.get(17),
        finished_at: r.get(18),
        crashes: u(i64::from(r.get::<_, i32>(19))),
        crash_log: serde_json::from_str(r.get(20)).unwrap_or_default(),
        progress: r.get(21),
        quarantined_at: r.get(22),
    })
}

/// The poison rule's questions, asked in the reaper's transaction.
struct PgEvidence<'a, 'b>(RefCell<&'a mut Transaction<'b>>);

impl Evidence for PgEvidence<'_, '_> {
    fn completed_since(&self, task: TaskType, job: JobId, since: i64) -> Result<(i64, i64)> {
        let r = self.0.borrow_mut().query_one(REAPER_COMPLETED_SINCE, &[&task.as_str(), &job.0, &since])?;
        Ok((r.get(0), r.get(1)))
    }

    fn crash_logs(&self, task: TaskType, job: JobId) -> Result<HashMap<JobId, Vec<Crash>>> {
        let rows = self.0.borrow_mut().query(REAPER_CRASH_LOGS, &[&task.as_str(), &job.0])?;
        Ok(rows.iter().map(|r| (JobId(r.get(0)), serde_json::from_str(r.get(1)).unwrap_or_default())).collect())
    }

    fn idle_deaths_since(&self, task: TaskType, since: i64) -> Result<i64> {
        Ok(self.0.borrow_mut().query_one(REAPER_IDLE_DEATHS_SINCE, &[&since, &task.as_str()])?.get(0))
    }
}
