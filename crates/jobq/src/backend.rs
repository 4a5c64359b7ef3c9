//! The queue backend boundary: the operations a worker, a producer and a reaper use,
//! the same on SQLite ([`Queue`], one machine) and PostgreSQL ([`PgQueue`], many), and
//! [`connect`], which picks the backend from one setting.
//!
//! Writing a job's own result rows in its completing transaction needs the backend's
//! transaction type, so that stays on the concrete types ([`Queue::complete_with`],
//! [`PgQueue::complete_with`]).

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::device::{DeviceLease, DeviceRequest};
use crate::jobs::{Claim, FailOutcome, Fence, JobRecord, NewJob, Retry};
use crate::process::WorkerIdent;
use crate::recover::Recovered;
use crate::types::{JobId, MeetingId, TaskType};
use crate::{PgQueue, Queue, QueueConfig, Result};

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

/// Whether `database` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(database: &str) -> bool {
    database.starts_with("postgres://") || database.starts_with("postgresql://")
}

/// Opens the queue `database` names: a PostgreSQL URL, or the path of a SQLite file.
/// The one setting that chooses the backend (`--database`, `DEBRIEF_DATABASE_URL`).
pub fn connect(database: &str, cfg: QueueConfig) -> Result<Arc<dyn JobQueue>> {
    if is_postgres_url(database) {
        Ok(Arc::new(PgQueue::connect(database, cfg)?))
    } else {
        Ok(Arc::new(Queue::open(Path::new(database), cfg)?))
    }
}
