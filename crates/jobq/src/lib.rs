//! Debrief's durable job queue: one SQLite database in WAL mode that independent
//! processes share, and the only link between them.
//!
//! - **Jobs** ([`Queue::enqueue`], [`Queue::claim`], [`Queue::complete`], [`Queue::fail`],
//!   [`Queue::hand_back`]): a claim is one `UPDATE ... WHERE job_id = (SELECT ...)
//!   RETURNING` inside `BEGIN IMMEDIATE`; it gives the worker a lease it must
//!   [`Queue::heartbeat`]. Every later write is fenced by the owner and a per-claim
//!   token: a worker whose claim was taken away gets [`QueueError::LostClaim`] and can
//!   no longer touch the job.
//! - **Dependencies**: a job is claimable only once every job it depends on is
//!   COMPLETED; [`Queue::blocked`] lists those waiting on a FAILED one.
//! - **Device leases** ([`Queue::acquire_device`], [`Queue::claim_with_device`]): the GPU
//!   lock. Declared VRAM must fit the budget beside the live leases; a lease declaring
//!   the whole budget excludes every other.
//! - **Recovery** ([`Queue::recover`]): claims and leases whose lease expired, or whose
//!   process died on this host, are taken back; a job that used all its attempts is
//!   FAILED with a readable error.
//!
//! The same queue runs on PostgreSQL for many machines ([`PgQueue`], module `pg`).
//!
//! All SQL lives in `sql/`, one file per statement, and the schema in the workspace's
//! `schema.sql`.
#![deny(missing_docs)]

mod backend;
mod crumbs;
mod device;
mod jobs;
mod meetings;
mod migrate_to;
mod pg;
mod pg_server;
mod process;
mod push;
mod recover;
mod schema;
mod sql;
mod types;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use r2d2::PooledConnection;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Transaction, TransactionBehavior};

pub use backend::{is_postgres_url, AnyQueue, Db, JobQueue, Tx};
pub use crumbs::Crumb;
pub use device::{DeviceLease, DeviceRequest, LeaseRecord};
pub use jobs::{Blocked, Claim, Crash, FailOutcome, Fence, JobRecord, MalformedPayload, NewJob, Retry};
pub use meetings::{MeetingRecord, NewMeeting, Reconciled, Retried, SUMMARY_PRIORITY, TRANSCRIPT_PRIORITY};
pub use migrate_to::{migrate_to, Migrated};
pub use pg::{redact_url, PgQueue, PG_RESULTS_SQL, PG_SCHEMA_SQL};
pub use pg_server::PgServer;
pub use process::{format_utc_ms, hostname, log, now_ms, pid_alive, utc_now, WorkerIdent};
pub use push::{push_meeting, Pushed};
pub use recover::Recovered;

pub use schema::{SCHEMA_SQL, SCHEMA_VERSION};
pub use types::{Device, JobId, MeetingId, MeetingStatus, Status, TaskType};

/// Default GPU budget: the reference laptop's 6 GB card.
pub const DEFAULT_BUDGET_MB: u32 = 6144;

/// Errors of queue operations.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The claim was taken away (lease expired and recovered, job retried or cancelled):
    /// the caller must stop working on the job and must not write its results.
    #[error("job {job_id}: this worker no longer holds the claim (lease expired or the job was taken back)")]
    LostClaim {
        /// The job.
        job_id: JobId,
    },
    /// The device lease expired and was reclaimed, or was released already.
    #[error("{device} lease {lease_id}: no longer held (expired or reclaimed)")]
    LostLease {
        /// The device.
        device: Device,
        /// The lease row.
        lease_id: i64,
    },
    /// The database could not be opened or prepared.
    #[error("database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The file was written by a newer Debrief.
    #[error(
        "database {path} has schema version {found}, newer than this build supports ({supported}); upgrade Debrief"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: i32,
        /// Ours.
        supported: i32,
    },
    /// The file holds tables but no Debrief schema version.
    #[error("database {0} is not a Debrief database (it has tables but no schema version)")]
    NotDebrief(PathBuf),
    /// The meeting takes no new jobs of this type: AUDIO and VISUAL (a producer's input)
    /// only while it is OPEN, and no job at all once it is CANCELLED.
    #[error("meeting {meeting_id} is {status}: it takes no new {task_type} jobs")]
    MeetingNotOpen {
        /// The meeting.
        meeting_id: MeetingId,
        /// Its status.
        status: MeetingStatus,
        /// The job type refused.
        task_type: TaskType,
    },
    /// An argument the schema would reject, caught early with a better message.
    #[error("invalid job: {0}")]
    Invalid(String),
    /// The caller's result-storing closure failed; the completion was rolled back.
    #[error("storing the result failed: {0}")]
    Store(Box<dyn std::error::Error + Send + Sync>),
    /// A file-system error around the database file.
    #[error("database {path}: {source}")]
    Io {
        /// The database file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Any other SQLite error.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The data directory could not be resolved or prepared.
    #[error(transparent)]
    Config(#[from] debrief_config::ConfigError),
    /// A PostgreSQL error (see [`PgQueue`]).
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] postgres::Error),
    /// No pooled connection could be had.
    #[error("database connection pool: {0}")]
    Pool(#[from] r2d2::Error),
}

impl QueueError {
    /// Whether this is another process holding the database's lock past the busy timeout
    /// (SQLITE_BUSY / SQLITE_LOCKED, or no pooled connection in time): transient, so a
    /// long-running loop retries with backoff instead of exiting.
    pub fn is_busy(&self) -> bool {
        let busy = |e: &rusqlite::Error| {
            matches!(e, rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
        };
        match self {
            QueueError::Sqlite(e) | QueueError::Open { source: e, .. } => busy(e),
            QueueError::Pool(_) => true,
            _ => false,
        }
    }
}

/// Result of queue operations.
pub type Result<T, E = QueueError> = std::result::Result<T, E>;

/// Tunables shared by every process that opens the queue.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// How long a claim or device lease lives without a heartbeat. Heartbeat at a
    /// fraction of it (a third or less).
    pub lease: Duration,
    /// How long one statement waits for another process's write lock.
    pub busy_timeout: Duration,
    /// First retry delay after a failure; doubles per attempt, with jitter.
    pub backoff_base: Duration,
    /// Largest retry delay.
    pub backoff_max: Duration,
    /// Poison rule: a job is set aside once this many of its crashes in a row happened
    /// at the same progress point while other jobs of its type completed and none lost
    /// its worker (see `Queue::recover`).
    pub poison_streak: u32,
    /// Poison rule: a job whose crashes happened at varying points is judged once it has
    /// this many, by its share of the deaths for the time it ran (see `Queue::recover`).
    pub max_crashes: u32,
    /// VRAM budget per device in MB.
    pub device_budget_mb: u32,
    /// Connections kept by this process (a worker needs two: its loop and its
    /// heartbeat thread).
    pub pool_size: u32,
    /// Serialise this crate's write transactions through the writer gate (see
    /// `Gate`). On by default; turn off only where `flock` is unreliable (some network
    /// file systems, where SQLite's WAL mode is unsafe anyway).
    pub writer_gate: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(600),
            poison_streak: 4,
            max_crashes: 12,
            device_budget_mb: DEFAULT_BUDGET_MB,
            pool_size: 4,
            writer_gate: true,
        }
    }
}

impl QueueConfig {
    pub(crate) fn lease_ms(&self) -> i64 {
        duration_ms(self.lease)
    }

    /// Delay before retry number `attempt` (1-based: the delay after the first failure
    /// is for attempt 1): `base * 2^(attempt-1)` capped at `backoff_max`, then jittered
    /// into its upper half so that jobs failed together do not retry together.
    pub fn backoff_ms(&self, attempt: u32) -> i64 {
        let base = duration_ms(self.backoff_base).max(0);
        let max = duration_ms(self.backoff_max).max(base);
        let shift = attempt.saturating_sub(1).min(30);
        let d = base.saturating_mul(1i64 << shift).min(max);
        if d < 2 {
            return d;
        }
        d / 2 + fastrand::i64(0..=d - d / 2)
    }
}

impl QueueConfig {
    /// Delay before a job whose worker died `crashes` times runs again: longer than after
    /// a reported error (the retry after the first crash waits as long as after a second
    /// error), so that other jobs run first and show whether the job is to blame.
    pub fn crash_backoff_ms(&self, crashes: u32) -> i64 {
        self.backoff_ms(crashes.saturating_add(1))
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A handle on the queue database; cheap to clone, usable from many threads.
#[derive(Clone)]
pub struct Queue {
    pool: r2d2::Pool<SqliteConnectionManager>,
    cfg: QueueConfig,
    path: PathBuf,
    gate: Arc<Gate>,
}

/// The writer gate: a lock (a thread mutex plus `flock` on `DB-gate`) that every write
/// transaction of this crate takes first. SQLite lets only one writer in at a time
/// anyway, but its waiters poll with sleeps, so under contention the write lock sits
/// idle between transactions; the gate hands it on at once. The kernel releases the
/// lock of a process that dies, so a killed worker never blocks the others.
///
/// The gate is an optimisation, never a correctness lock (SQLite's locking stays the
/// source of truth, and writers that do not take the gate still work), so waiting for
/// it is bounded: a process stopped (SIGSTOP, a debugger) while holding it must not stop
/// everyone else. A writer polls for the gate for at most the busy timeout, then goes on
/// without it to SQLite's own busy handling; after such a timeout, writers of this
/// process only try the gate once (no waiting) until a busy timeout has passed. A stop
/// request (see [`set_interrupt`]) ends the wait at once the same way. A process stopped
/// *inside* a write transaction also holds SQLite's own write lock, which nothing can
/// take from it: other writers get `SQLITE_BUSY` after the busy timeout (the worker
/// loops retry with backoff) until it runs again or dies.
struct Gate {
    file: Mutex<std::fs::File>,
    /// Until when (ms since the epoch) writers do not wait for the gate: it was found
    /// held past the busy timeout.
    bypass_until: std::sync::atomic::AtomicI64,
}

static INTERRUPT: std::sync::OnceLock<&'static std::sync::atomic::AtomicBool> = std::sync::OnceLock::new();

/// Registers the process's stop flag (the worker runtime's SIGTERM/SIGINT flag): once it
/// is set, waiting for the writer gate ends at once (the write goes on to SQLite's own,
/// bounded, busy handling), so a stop is never held up by another process's gate.
/// Idempotent; the first flag registered stays.
pub fn set_interrupt(flag: &'static std::sync::atomic::AtomicBool) {
    let _ = INTERRUPT.set(flag);
}

fn interrupted() -> bool {
    INTERRUPT.get().is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst))
}

/// Holds the gate; releases it on drop.
pub(crate) struct GateGuard<'a> {
    file: std::sync::MutexGuard<'a, std::fs::File>,
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// A pooled connection with the gate held; the connection is returned to the pool
/// before the gate is released (fields drop in order).
pub(crate) struct Writer<'a> {
    pub(crate) conn: PooledConnection<SqliteConnectionManager>,
    _gate: Option<GateGuard<'a>>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("path", &self.path).field("cfg", &self.cfg).finish()
    }
}

impl Queue {
    /// Resolves and prepares the data directory (see [`debrief_config::DataDir::open`])
    /// and opens its queue with the default settings: what every binary does first.
    pub fn open_data_dir(flag: Option<&Path>) -> Result<(debrief_config::DataDir, Queue)> {
        let dd = debrief_config::DataDir::open(flag)?;
        let q = Queue::open_in(&dd, QueueConfig::default())?;
        Ok((dd, q))
    }

    /// Opens `DIR/debrief.db` in a prepared data directory.
    pub fn open_in(dir: &debrief_config::DataDir, cfg: QueueConfig) -> Result<Self> {
        Self::open(&dir.db_path(), cfg)
    }

    /// Opens (creating it 0600 if needed) and migrates the database at `path`.
    pub fn open(path: &Path, cfg: QueueConfig) -> Result<Self> {
        debrief_config::touch_private_file(path)
            .map_err(|source| QueueError::Io { path: path.to_path_buf(), source })?;
        schema::set_busy_timeout(cfg.busy_timeout);
        let open_err = |source| QueueError::Open { path: path.to_path_buf(), source };
        let gate_path = PathBuf::from(format!("{}-gate", path.display()));
        debrief_config::touch_private_file(&gate_path)
            .map_err(|source| QueueError::Io { path: gate_path.clone(), source })?;
        let gate_file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&gate_path)
            .map_err(|source| QueueError::Io { path: gate_path.clone(), source })?;
        let mut conn = schema::connect(path).map_err(open_err)?;
        schema::migrate(&mut conn, path)?;
        drop(conn);
        let manager = SqliteConnectionManager::file(path).with_init(|c| schema::configure(c));
        let pool = r2d2::Pool::builder()
            .max_size(cfg.pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(cfg.busy_timeout.max(Duration::from_secs(5)))
            .build(manager)?;
        Ok(Self {
            pool,
            cfg,
            path: path.to_path_buf(),
            gate: Arc::new(Gate { file: Mutex::new(gate_file), bypass_until: Default::default() }),
        })
    }

    /// The configuration this handle was opened with.
    pub fn config(&self) -> &QueueConfig {
        &self.cfg
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The breadcrumb file of a claim (see [`Crumb`]): fine-grained progress that costs
    /// no database write and that the reaper reads if the worker dies.
    pub fn crumb(&self, fence: &Fence) -> std::io::Result<Crumb> {
        crumbs::Crumb::create(self.path(), fence)
    }

    pub(crate) fn conn(&self) -> Result<PooledConnection<SqliteConnectionManager>> {
        Ok(self.pool.get()?)
    }

    /// A connection for writing, with the writer gate held if it could be had within the
    /// busy timeout (see `Gate`).
    pub(crate) fn writer(&self) -> Result<Writer<'_>> {
        let conn = self.conn()?;
        if !self.cfg.writer_gate {
            return Ok(Writer { conn, _gate: None });
        }
        let gate = self.take_gate()?;
        Ok(Writer { conn, _gate: gate })
    }

    /// Polls for the gate (thread mutex, then `flock(LOCK_EX|LOCK_NB)`) with short sleeps
    /// for up to the busy timeout; `None` when it stayed held or a stop was requested.
    fn take_gate(&self) -> Result<Option<GateGuard<'_>>> {
        use std::sync::atomic::Ordering;
        let start = std::time::Instant::now();
        let bypass = now_ms() < self.gate.bypass_until.load(Ordering::Relaxed);
        let mut pause = Duration::from_micros(200);
        loop {
            match self.gate.file.try_lock() {
                Ok(file) => match file.try_lock() {
                    Ok(()) => {
                        self.gate.bypass_until.store(0, Ordering::Relaxed);
                        return Ok(Some(GateGuard { file }));
                    }
                    Err(std::fs::TryLockError::WouldBlock) => {}
                    Err(std::fs::TryLockError::Error(source)) => {
                        return Err(QueueError::Io {
                            path: PathBuf::from(format!("{}-gate", self.path.display())),
                            source,
                        })
                    }
                },
                Err(std::sync::TryLockError::Poisoned(p)) => drop(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
            if bypass || interrupted() {
                return Ok(None);
            }
            if start.elapsed() >= self.cfg.busy_timeout {
                let until = now_ms().saturating_add(duration_ms(self.cfg.busy_timeout));
                self.gate.bypass_until.store(until, Ordering::Relaxed);
                log(
                    "jobq",
                    &format!(
                        "the writer gate {}-gate has been held for {:?} (a stopped process?); writing without it",
                        self.path.display(),
                        self.cfg.busy_timeout
                    ),
                );
                return Ok(None);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction and commits it if `f` succeeds.
    /// Producers use it to write their own rows and enqueue jobs atomically (see
    /// [`Queue::enqueue_in`]).
    pub fn write<T, E>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<QueueError>,
    {
        let mut w = self.writer()?;
        let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(QueueError::from)?;
        let out = f(&tx)?;
        tx.commit().map_err(QueueError::from)?;
        Ok(out)
    }

    /// Runs a read-only closure on a pooled connection.
    pub fn read<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<T>) -> Result<T> {
        let conn = self.conn()?;
        f(&conn)
    }
}

#[cfg(test)]
mod pg_tests;
#[cfg(test)]
mod tests;
