//! The queue backend boundary: the operations a worker, a producer and a reaper use,
//! the same on SQLite ([`Queue`], one machine) and PostgreSQL ([`PgQueue`], many), and
//! [`AnyQueue::connect`], which picks the backend from one setting.
//!
//! A program that runs on either backend holds an [`AnyQueue`]. A job's own result rows
//! are written in its completing transaction through [`Tx`] (and read through [`Db`]):
//! each store of the workspace (transcript, speakers, ...) matches on the backend and
//! runs its own SQL for it, one statement per file per backend.

use std::path::Path;

use serde_json::Value;

use crate::device::{DeviceLease, DeviceRequest, LeaseRecord};
use crate::jobs::{Blocked, Claim, FailOutcome, Fence, JobRecord, NewJob, Retry};
use crate::process::WorkerIdent;
use crate::recover::Recovered;
use crate::types::{JobId, MeetingId, Status, TaskType};
use crate::{Crumb, MeetingRecord, PgQueue, Queue, QueueConfig, QueueError, Result};

/// The queue operations every backend offers, with the same guarantees (see the crate
/// documentation).
pub trait JobQueue: Send + Sync {
    /// The tunables this handle was opened with.
    fn config(&self) -> &QueueConfig;
    /// Creates an OPEN meeting.
    fn create_meeting(&self, title: Option<&str>, source: Option<&str>) -> Result<MeetingId>;
    /// Marks an OPEN meeting CLOSED.
    fn close_meeting(&self, meeting_id: MeetingId, duration_ms: Option<i64>) -> Result<bool>;
    /// Enqueues one job; idempotent per (meeting, type, seq).
    fn enqueue(&self, job: &NewJob) -> Result<(JobId, bool)>;
    /// Claims the best ready job of a type.
    fn claim(&self, who: &WorkerIdent, task: TaskType) -> Result<Option<Claim>>;
    /// Extends a claim's lease.
    fn heartbeat(&self, fence: &Fence) -> Result<()>;
    /// Records how far a claim got.
    fn progress(&self, fence: &Fence, progress: i64) -> Result<()>;
    /// Completes a claim.
    fn complete(&self, claim: &Claim, result: &Value) -> Result<()>;
    /// Completes a claim and claims the next job of type `next` in one transaction.
    fn complete_then_claim(
        &self,
        claim: &Claim,
        result: &Value,
        who: &WorkerIdent,
        next: TaskType,
    ) -> Result<Option<Claim>>;
    /// Records a failure (retry after a backoff, or FAILED).
    fn fail(&self, claim: &Claim, error: &str, retry: Retry) -> Result<FailOutcome>;
    /// Gives an unfinished claim back without counting the attempt.
    fn hand_back(&self, claim: &Claim) -> Result<()>;
    /// One job as stored.
    fn job(&self, job_id: JobId) -> Result<Option<JobRecord>>;
    /// Jobs of a type running or able to become ready by themselves.
    fn outstanding(&self, task: TaskType) -> Result<u64>;
    /// Takes back the work of dead or silent workers.
    fn recover(&self) -> Result<Recovered>;
    /// Takes a device lease if it fits.
    fn acquire_device(&self, who: &WorkerIdent, req: DeviceRequest) -> Result<Option<DeviceLease>>;
    /// Extends a device lease.
    fn heartbeat_device(&self, lease: &DeviceLease) -> Result<()>;
    /// Releases a device lease.
    fn release_device(&self, lease: &DeviceLease) -> Result<()>;
}

macro_rules! delegate {
    ($t:ty) => {
        impl JobQueue for $t {
            fn config(&self) -> &QueueConfig {
                <$t>::config(self)
            }
            fn create_meeting(&self, title: Option<&str>, source: Option<&str>) -> Result<MeetingId> {
                <$t>::create_meeting(self, title, source)
            }
            fn close_meeting(&self, meeting_id: MeetingId, duration_ms: Option<i64>) -> Result<bool> {
                <$t>::close_meeting(self, meeting_id, duration_ms)
            }
            fn enqueue(&self, job: &NewJob) -> Result<(JobId, bool)> {
                <$t>::enqueue(self, job)
            }
            fn claim(&self, who: &WorkerIdent, task: TaskType) -> Result<Option<Claim>> {
                <$t>::claim(self, who, task)
            }
            fn heartbeat(&self, fence: &Fence) -> Result<()> {
                <$t>::heartbeat(self, fence)
            }
            fn progress(&self, fence: &Fence, progress: i64) -> Result<()> {
                <$t>::progress(self, fence, progress)
            }
            fn complete(&self, claim: &Claim, result: &Value) -> Result<()> {
                <$t>::complete(self, claim, result)
            }
            fn complete_then_claim(
                &self,
                claim: &Claim,
                result: &Value,
                who: &WorkerIdent,
                next: TaskType,
            ) -> Result<Option<Claim>> {
                <$t>::complete_and_claim(self, claim, result, |_| Ok(()), who, next)
            }
            fn fail(&self, claim: &Claim, error: &str, retry: Retry) -> Result<FailOutcome> {
                <$t>::fail(self, claim, error, retry)
            }
            fn hand_back(&self, claim: &Claim) -> Result<()> {
                <$t>::hand_back(self, claim)
            }
            fn job(&self, job_id: JobId) -> Result<Option<JobRecord>> {
                <$t>::job(self, job_id)
            }
            fn outstanding(&self, task: TaskType) -> Result<u64> {
                <$t>::outstanding(self, task)
            }
            fn recover(&self) -> Result<Recovered> {
                <$t>::recover(self)
            }
            fn acquire_device(&self, who: &WorkerIdent, req: DeviceRequest) -> Result<Option<DeviceLease>> {
                <$t>::acquire_device(self, who, req)
            }
            fn heartbeat_device(&self, lease: &DeviceLease) -> Result<()> {
                <$t>::heartbeat_device(self, lease)
            }
            fn release_device(&self, lease: &DeviceLease) -> Result<()> {
                <$t>::release_device(self, lease)
            }
        }
    };
}

delegate!(Queue);
delegate!(PgQueue);

/// A write transaction of either backend, for a store that writes its rows in the
/// transaction that completes a job (or in one of its own, see [`AnyQueue::write`]).
pub enum Tx<'a, 'c> {
    /// SQLite (`BEGIN IMMEDIATE`).
    Sqlite(&'a rusqlite::Transaction<'c>),
    /// PostgreSQL.
    Postgres(&'a mut postgres::Transaction<'c>),
}

/// A connection of either backend for reading a store.
pub enum Db<'a> {
    /// SQLite.
    Sqlite(&'a rusqlite::Connection),
    /// PostgreSQL.
    Postgres(&'a mut postgres::Client),
}

impl std::fmt::Debug for Tx<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite(_) => "Tx::Sqlite",
            Self::Postgres(_) => "Tx::Postgres",
        })
    }
}

impl std::fmt::Debug for Db<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite(_) => "Db::Sqlite",
            Self::Postgres(_) => "Db::Postgres",
        })
    }
}

/// The queue of either backend, chosen by one setting ([`AnyQueue::connect`]): what the
/// worker runtime and the foreman hold. Cheap to clone.
#[derive(Clone, Debug)]
pub enum AnyQueue {
    /// One machine: the SQLite file in the data directory.
    Sqlite(Queue),
    /// Many machines: a PostgreSQL database.
    Postgres(PgQueue),
}

/// The operations every backend offers ([`JobQueue`]) are called on an `AnyQueue`
/// directly.
impl std::ops::Deref for AnyQueue {
    type Target = dyn JobQueue;

    fn deref(&self) -> &Self::Target {
        match self {
            Self::Sqlite(q) => q,
            Self::Postgres(q) => q,
        }
    }
}

macro_rules! both {
    ($self:ident, $q:ident => $e:expr) => {
        match $self {
            AnyQueue::Sqlite($q) => $e,
            AnyQueue::Postgres($q) => $e,
        }
    };
}

impl AnyQueue {
    /// Opens the queue `database` names: a PostgreSQL URL, or the path of a SQLite file.
    pub fn connect(database: &str, cfg: QueueConfig) -> Result<Self> {
        if is_postgres_url(database) {
            Ok(Self::Postgres(PgQueue::connect(database, cfg)?))
        } else {
            Ok(Self::Sqlite(Queue::open(Path::new(database), cfg)?))
        }
    }

    /// The tunables this handle was opened with.
    pub fn config(&self) -> &QueueConfig {
        both!(self, q => q.config())
    }

    /// The database, for messages (a PostgreSQL URL without its password).
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(q) => q.path().display().to_string(),
            Self::Postgres(q) => q.database().to_owned(),
        }
    }

    /// The SQLite queue, if this is one (tools that exist only there: the breadcrumb
    /// files, the admin views).
    pub fn sqlite(&self) -> Option<&Queue> {
        match self {
            Self::Sqlite(q) => Some(q),
            Self::Postgres(_) => None,
        }
    }

    /// Marks the job COMPLETED and runs `store` in the same transaction (see
    /// [`Queue::complete_with`]).
    pub fn complete_with<F>(&self, claim: &Claim, result: &Value, store: F) -> Result<()>
    where
        F: FnOnce(&mut Tx<'_, '_>) -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
    {
        match self {
            Self::Sqlite(q) => q.complete_with(claim, result, |tx| store(&mut Tx::Sqlite(tx))),
            Self::Postgres(q) => q.complete_with(claim, result, |tx| store(&mut Tx::Postgres(tx))),
        }
    }

    /// Runs `f` in one write transaction and commits it if `f` succeeds.
    pub fn write<T, E>(&self, f: impl FnOnce(&mut Tx<'_, '_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<QueueError>,
    {
        match self {
            Self::Sqlite(q) => q.write(|tx| f(&mut Tx::Sqlite(tx))),
            Self::Postgres(q) => q.write(|tx| f(&mut Tx::Postgres(tx))),
        }
    }

    /// Runs a read-only closure on a connection.
    pub fn read<T>(&self, f: impl FnOnce(&mut Db<'_>) -> Result<T>) -> Result<T> {
        match self {
            Self::Sqlite(q) => q.read(|c| f(&mut Db::Sqlite(c))),
            Self::Postgres(q) => q.read(|c| f(&mut Db::Postgres(c))),
        }
    }

    /// Runs `f` in one write transaction only while `fence`'s claim is still held (see
    /// [`Queue::write_fenced`]).
    pub fn write_fenced<T, E>(&self, fence: &Fence, f: impl FnOnce(&mut Tx<'_, '_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<QueueError>,
    {
        match self {
            Self::Sqlite(q) => q.write_fenced(fence, |tx| f(&mut Tx::Sqlite(tx))),
            Self::Postgres(q) => q.write_fenced(fence, |tx| f(&mut Tx::Postgres(tx))),
        }
    }

    /// Cancels a meeting and stops its unfinished jobs (see [`Queue::cancel_meeting`]).
    pub fn cancel_meeting(&self, meeting_id: MeetingId) -> Result<Option<usize>> {
        both!(self, q => q.cancel_meeting(meeting_id))
    }

    /// Deletes a meeting that is not OPEN and its rows (see [`Queue::delete_meeting`]).
    pub fn delete_meeting(&self, meeting_id: MeetingId) -> Result<bool> {
        both!(self, q => q.delete_meeting(meeting_id))
    }

    /// Retries FAILED jobs and redoes what depends on them (see [`Queue::retry_failed`]).
    pub fn retry_failed(&self, job_id: Option<JobId>) -> Result<crate::Retried> {
        both!(self, q => q.retry_failed(job_id))
    }

    /// Runs a meeting's transcript again after `also` (see [`Queue::redo_transcript`]).
    pub fn redo_transcript(
        &self,
        meeting_id: MeetingId,
        also: impl FnOnce(&mut Tx<'_, '_>) -> Result<()>,
    ) -> Result<Vec<JobId>> {
        match self {
            Self::Sqlite(q) => q.redo_transcript(meeting_id, |tx| also(&mut Tx::Sqlite(tx))),
            Self::Postgres(q) => q.redo_transcript(meeting_id, |tx| also(&mut Tx::Postgres(tx))),
        }
    }

    /// Meetings with their job counts: all of them, or one.
    pub fn meetings(&self, only: Option<MeetingId>) -> Result<Vec<MeetingRecord>> {
        both!(self, q => q.meetings(only))
    }

    /// One meeting, if it exists.
    pub fn meeting(&self, meeting_id: MeetingId) -> Result<Option<MeetingRecord>> {
        Ok(self.meetings(Some(meeting_id))?.into_iter().next())
    }

    /// Every job of a meeting, by type and seq.
    pub fn meeting_jobs(&self, meeting_id: MeetingId) -> Result<Vec<JobRecord>> {
        both!(self, q => q.meeting_jobs(meeting_id))
    }

    /// Every FAILED job, with its error.
    pub fn failed_jobs(&self) -> Result<Vec<JobRecord>> {
        both!(self, q => q.failed_jobs())
    }

    /// Job counts by type and status (only non-zero ones).
    pub fn counts(&self) -> Result<Vec<(TaskType, Status, u64)>> {
        both!(self, q => q.counts())
    }

    /// PENDING jobs that wait on a FAILED job, with that job and its error.
    pub fn blocked(&self) -> Result<Vec<Blocked>> {
        both!(self, q => q.blocked())
    }

    /// Every device lease, for status displays.
    pub fn device_leases(&self) -> Result<Vec<LeaseRecord>> {
        both!(self, q => q.device_leases())
    }

    /// The foreman's bookkeeping pass (see [`Queue::reconcile_meetings`]).
    pub fn reconcile_meetings(&self) -> Result<crate::Reconciled> {
        both!(self, q => q.reconcile_meetings())
    }

    /// Claims a job and a lease on its device, both or neither.
    pub fn claim_with_device(
        &self,
        who: &WorkerIdent,
        task: TaskType,
        req: DeviceRequest,
    ) -> Result<Option<(Claim, DeviceLease)>> {
        both!(self, q => q.claim_with_device(who, task, req))
    }

    /// Claims a job while holding `lease` (checked and extended in the same transaction).
    pub fn claim_under(&self, who: &WorkerIdent, task: TaskType, lease: &DeviceLease) -> Result<Option<Claim>> {
        both!(self, q => q.claim_under(who, task, lease))
    }

    /// A worker announces itself.
    pub fn register_worker(&self, who: &WorkerIdent, tasks: &[TaskType]) -> Result<()> {
        both!(self, q => q.register_worker(who, tasks))
    }

    /// A clean exit.
    pub fn unregister_worker(&self, who: &WorkerIdent) -> Result<()> {
        both!(self, q => q.unregister_worker(who))
    }

    /// The breadcrumb file of a claim (SQLite only: a reaper on another host could not
    /// read it; on PostgreSQL progress goes to the database).
    pub fn crumb(&self, fence: &Fence) -> std::io::Result<Option<Crumb>> {
        match self {
            Self::Sqlite(q) => q.crumb(fence).map(Some),
            Self::Postgres(_) => Ok(None),
        }
    }

    /// The bytes of a meeting's input file (a chunk, a screenshot) stored in the
    /// database under `rel`, its path in the data directory, checked against its sha256:
    /// how a worker on another machine reads its input. `None` on SQLite (the file is
    /// on this machine) and when PostgreSQL holds no copy (the file is read instead).
    pub fn stored_input(&self, meeting_id: MeetingId, rel: &Path) -> Result<Option<Vec<u8>>> {
        match self {
            Self::Sqlite(_) => Ok(None),
            Self::Postgres(q) => {
                let key = rel.to_str().ok_or_else(|| QueueError::Invalid(format!("{}: not UTF-8", rel.display())))?;
                q.get_blob(meeting_id, key)
            }
        }
    }
}

/// Whether `database` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(database: &str) -> bool {
    database.starts_with("postgres://") || database.starts_with("postgresql://")
}
