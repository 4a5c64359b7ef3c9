//! Producing and consuming jobs.

use rusqlite::{named_params, OptionalExtension, Row, Transaction, TransactionBehavior};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::process::{now_ms, WorkerIdent};
use crate::types::{JobId, MeetingId, MeetingStatus, Status, TaskType};

use crate::{sql, Queue, QueueError, Result};

/// A job to enqueue. Build with [`NewJob::new`] and the setters.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The meeting it belongs to.
    pub meeting_id: MeetingId,
    /// What it does.
    pub task_type: TaskType,
    /// Its number among the meeting's jobs of this type (chunk or frame number).
    pub seq: i64,
    /// Higher runs first.
    pub priority: i32,
    /// Parameters for the worker.
    pub payload: Value,
    /// Claims allowed before it is FAILED for good.
    pub max_attempts: u32,
    /// Not claimable before this time (ms since the epoch); 0 for now.
    pub run_after: i64,
    /// Jobs that must be COMPLETED first. They must already exist.
    pub depends_on: Vec<JobId>,
    /// Jobs that must be settled first: COMPLETED, or FAILED for good (their failure
    /// leaves a gap in this job's input instead of blocking it). They must already exist.
    pub after_settled: Vec<JobId>,
    /// Why the payload given could not be serialised.
    pub(crate) payload_error: Option<String>,
}

impl NewJob {
    /// A job with an empty payload, priority 0, 3 attempts, no dependencies.
    pub fn new(meeting_id: MeetingId, task_type: TaskType, seq: i64) -> Self {
        Self {
            meeting_id,
            task_type,
            seq,
            priority: 0,
            payload: Value::Object(Default::default()),
            max_attempts: 3,
            run_after: 0,
            depends_on: Vec::new(),
            after_settled: Vec::new(),
            payload_error: None,
        }
    }

    /// Sets the payload: a contract type of `debrief-contracts` (or any JSON). A value
    /// that cannot be serialised makes the enqueue fail with [`QueueError::Invalid`].
    pub fn payload(mut self, payload: impl Serialize) -> Self {
        match serde_json::to_value(payload) {
            Ok(v) => self.payload = v,
            Err(e) => self.payload_error = Some(e.to_string()),
        }
        self
    }

    /// Sets the priority (higher first).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the number of attempts.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Adds dependencies that must be COMPLETED.
    pub fn depends_on(mut self, jobs: impl IntoIterator<Item = JobId>) -> Self {
        self.depends_on.extend(jobs);
        self
    }

    /// Adds dependencies that must be settled (COMPLETED or FAILED for good): partial
    /// input, such as a transcript's chunks, where one failure must not block the rest.
    pub fn after_settled(mut self, jobs: impl IntoIterator<Item = JobId>) -> Self {
        self.after_settled.extend(jobs);
        self
    }
}

/// What identifies a claim for every later write: job, owner and the claim's token.
/// Cheap to clone into a heartbeat thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The job.
    pub job_id: JobId,
    /// The owner's [`WorkerIdent::id`].
    pub worker_id: String,
    /// Random per claim: a re-claim of the same job by the same worker gets a new one.
    pub token: i64,
}

/// A job this worker holds.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The job.
    pub job_id: JobId,
    /// Its meeting.
    pub meeting_id: MeetingId,
    /// Its type.
    pub task_type: TaskType,
    /// Its number within the meeting and type.
    pub seq: i64,
    /// Its priority.
    pub priority: i32,
    /// Parameters.
    pub payload: Value,
    /// Which attempt this is (1 for the first claim).
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Times a worker died while running it (not attempts: see [`Queue::recover`]).
    pub crashes: u32,
    /// Owner and token for fenced writes.
    pub fence: Fence,
}

impl Claim {
    /// The payload as `T`. A payload that does not parse will never parse: fail the job
    /// for good with this error (it names the job and the field).
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, MalformedPayload> {
        payload_as(self.job_id, self.task_type, &self.payload)
    }
}

/// A job's payload is not what its task type's contract says.
#[derive(Debug, thiserror::Error)]
#[error("job {job_id} ({task_type}): malformed payload: {source}")]
pub struct MalformedPayload {
    /// The job.
    pub job_id: JobId,
    /// Its type.
    pub task_type: TaskType,
    /// What serde said (names the field).
    pub source: serde_json::Error,
}

fn payload_as<T: DeserializeOwned>(job_id: JobId, task_type: TaskType, v: &Value) -> Result<T, MalformedPayload> {
    T::deserialize(v).map_err(|source| MalformedPayload { job_id, task_type, source })
}

/// Whether a failure may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Transient: retry after a backoff while attempts remain.
    Yes,
    /// Permanent (bad input): FAILED now.
    No,
}

/// What [`Queue::fail`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailOutcome {
    /// PENDING again, claimable from `run_after`.
    Retrying {
        /// ms since the epoch.
        run_after: i64,
        /// Attempts used so far.
        attempts: u32,
        /// Attempts allowed.
        max_attempts: u32,
    },
    /// FAILED for good; the error is kept in `last_error`.
    Failed,
}

/// A job row as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobRecord {
    /// Row id.
    pub job_id: JobId,
    /// Meeting.
    pub meeting_id: MeetingId,
    /// Type.
    pub task_type: TaskType,
    /// Sequence number.
    pub seq: i64,
    /// Status.
    pub status: Status,
    /// Priority.
    pub priority: i32,
    /// Payload.
    pub payload: Value,
    /// Result, once COMPLETED.
    pub result: Option<Value>,
    /// Attempts used.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Not claimable before.
    pub run_after: i64,
    /// Current or last owner.
    pub worker_id: Option<String>,
    /// Its pid.
    pub worker_pid: Option<u32>,
    /// Its host.
    pub worker_host: Option<String>,
    /// Lease expiry while PROCESSING.
    pub lease_expires_at: Option<i64>,
    /// The last error text.
    pub last_error: Option<String>,
    /// Created (ms).
    pub created_at: i64,
    /// Last claimed (ms).
    pub started_at: Option<i64>,
    /// COMPLETED or FAILED at (ms).
    pub finished_at: Option<i64>,
    /// Times a worker died while running it.
    pub crashes: u32,
    /// The recent crashes, oldest first.
    pub crash_log: Vec<Crash>,
    /// How far the current (or last) claim got, in the worker's own steps.
    pub progress: Option<i64>,
    /// When it was set aside as poison (it is then FAILED); `None` otherwise.
    pub quarantined_at: Option<i64>,
}

/// One death of a worker while it ran a job, as the reaper recorded it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Crash {
    /// When it was found (ms).
    pub at: i64,
    /// The job's progress at the time (`None`: before its first step).
    pub point: Option<i64>,
    /// How long (ms) the claim had run when its death was found: the job's exposure to
    /// whatever kills workers (`None` in logs written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ran: Option<i64>,
}

impl JobRecord {
    /// The payload as `T` (see [`MalformedPayload`]).
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, MalformedPayload> {
        payload_as(self.job_id, self.task_type, &self.payload)
    }

    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            job_id: r.get(0)?,
            meeting_id: r.get(1)?,
            task_type: r.get(2)?,
            seq: r.get(3)?,
            status: r.get(4)?,
            priority: r.get(5)?,
            payload: json_col(r, 6)?,
            result: r.get::<_, Option<String>>(7)?.map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s))),
            attempts: r.get(8)?,
            max_attempts: r.get(9)?,
            run_after: r.get(10)?,
            worker_id: r.get(11)?,
            worker_pid: r.get(12)?,
            worker_host: r.get(13)?,
            lease_expires_at: r.get(14)?,
            last_error: r.get(15)?,
            created_at: r.get(16)?,
            started_at: r.get(17)?,
            finished_at: r.get(18)?,
            crashes: r.get(19)?,
            crash_log: serde_json::from_str(&r.get::<_, String>(20)?).unwrap_or_default(),
            progress: r.get(21)?,
            quarantined_at: r.get(22)?,
        })
    }
}

/// A PENDING job that cannot run because a job it waits for has FAILED.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Blocked {
    /// The waiting job.
    pub job_id: JobId,
    /// Its meeting.
    pub meeting_id: MeetingId,
    /// Its type.
    pub task_type: TaskType,
    /// The FAILED job it waits for (directly or through others).
    pub failed_dependency: JobId,
    /// That job's type.
    pub failed_task_type: TaskType,
    /// That job's error.
    pub failed_error: Option<String>,
}

fn json_col(r: &Row<'_>, i: usize) -> rusqlite::Result<Value> {
    let s: String = r.get(i)?;
    serde_json::from_str(&s)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
}

/// Inserts `job` (and its dependencies) within `tx`. Returns the job id and whether it
/// was created (false: a job with the same meeting, type and seq already existed and was
/// left as it is).
pub(crate) fn enqueue_in(tx: &Transaction<'_>, job: &NewJob) -> Result<(JobId, bool)> {
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
    // Checked in the enqueueing transaction, so a cancel and an enqueue never cross.
    let status: Option<MeetingStatus> = tx
        .prepare_cached(sql::MEETING_STATUS)?
        .query_row(named_params! { ":meeting_id": job.meeting_id }, |r| r.get(0))
        .optional()?;
    let input = matches!(job.task_type, TaskType::Audio | TaskType::Visual);
    match status {
        None => return Err(QueueError::Invalid(format!("meeting {} does not exist", job.meeting_id))),
        Some(s) if s == MeetingStatus::Cancelled || (input && s != MeetingStatus::Open) => {
            return Err(QueueError::MeetingNotOpen { meeting_id: job.meeting_id, status: s, task_type: job.task_type })
        }
        Some(_) => {}
    }
    let inserted: Option<JobId> = tx
        .prepare_cached(sql::ENQUEUE)?
        .query_row(
            named_params! {
                ":meeting_id": job.meeting_id,
                ":task_type": job.task_type,
                ":seq": job.seq,
                ":priority": job.priority,
                ":payload": payload,
                ":max_attempts": job.max_attempts,
                ":run_after": job.run_after,
                ":now": now_ms(),
            },
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                QueueError::Invalid(format!("meeting {} does not exist", job.meeting_id))
            }
            e => e.into(),
        })?;
    let Some(job_id) = inserted else {
        let existing = tx.prepare_cached(sql::FIND_JOB)?.query_row(
            named_params! {
                ":meeting_id": job.meeting_id,
                ":task_type": job.task_type,
                ":seq": job.seq,
            },
            |r| r.get(0),
        )?;
        return Ok((existing, false));
    };
    let mut add = tx.prepare_cached(sql::ADD_DEP)?;
    let deps = job.depends_on.iter().map(|d| (d, "COMPLETED")).chain(job.after_settled.iter().map(|d| (d, "SETTLED")));
    for (dep, need) in deps {
        add.execute(named_params! { ":job_id": job_id, ":depends_on": dep, ":need": need }).map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                QueueError::Invalid(format!("job {job_id} cannot depend on job {dep}: it does not exist or is newer"))
            }
            e => e.into(),
        })?;
    }
    Ok((job_id, true))
}

pub(crate) fn claim_in(
    tx: &Transaction<'_>,
    queue: &Queue,
    who: &WorkerIdent,
    task: TaskType,
) -> Result<Option<Claim>> {
    let token = fastrand::i64(1..);
    let claim = tx
        .prepare_cached(sql::CLAIM)?
        .query_row(
            named_params! {
                ":worker_id": who.id,
                ":pid": who.pid,
                ":host": who.host,
                ":token": token,
                ":now": now_ms(),
                ":lease_ms": queue.cfg.lease_ms(),
                ":task_type": task,
            },
            |r| {
                Ok(Claim {
                    job_id: r.get(0)?,
                    meeting_id: r.get(1)?,
                    task_type: r.get(2)?,
                    seq: r.get(3)?,
                    priority: r.get(4)?,
                    payload: json_col(r, 5)?,
                    attempt: r.get(6)?,
                    max_attempts: r.get(7)?,
                    crashes: r.get(8)?,
                    fence: Fence { job_id: r.get(0)?, worker_id: who.id.clone(), token },
                })
            },
        )
        .optional()?;
    Ok(claim)
}

fn one_row(changed: usize, job_id: JobId) -> Result<()> {
    if changed == 1 {
        Ok(())
    } else {
        Err(QueueError::LostClaim { job_id })
    }
}

impl Queue {
    /// Enqueues one job in its own transaction. Idempotent per (meeting, type, seq).
    /// AUDIO and VISUAL jobs need an OPEN meeting, and a CANCELLED one takes none:
    /// [`QueueError::MeetingNotOpen`] (the foreman plans TRANSCRIPT and SUMMARY jobs on
    /// CLOSED meetings).
    pub fn enqueue(&self, job: &NewJob) -> Result<(JobId, bool)> {
        self.write(|tx| enqueue_in(tx, job))
    }

    /// Enqueues within a caller's transaction (see [`Queue::write`]), so that a producer
    /// can record its own rows and the job atomically.
    pub fn enqueue_in(tx: &Transaction<'_>, job: &NewJob) -> Result<(JobId, bool)> {
        enqueue_in(tx, job)
    }

    /// Claims the best ready job of type `task`, or returns `None` when there is none.
    pub fn claim(&self, who: &WorkerIdent, task: TaskType) -> Result<Option<Claim>> {
        self.write(|tx| claim_in(tx, self, who, task))
    }

    /// Extends the claim's lease. [`QueueError::LostClaim`] means stop working on it.
    pub fn heartbeat(&self, fence: &Fence) -> Result<()> {
        let w = self.writer()?;
        let n = w.conn.prepare_cached(sql::HEARTBEAT)?.execute(named_params! {
            ":job_id": fence.job_id,
            ":worker_id": fence.worker_id,
            ":token": fence.token,
            ":now": now_ms(),
            ":lease_ms": self.cfg.lease_ms(),
        })?;
        one_row(n, fence.job_id)
    }

    /// Registers a starting worker and the task types it takes, so that the reaper can
    /// tell a worker that died while idle (evidence that something outside kills
    /// workers) from one that exited cleanly ([`Queue::unregister_worker`]).
    pub fn register_worker(&self, who: &WorkerIdent, tasks: &[TaskType]) -> Result<()> {
        let list = tasks.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(",");
        self.write(|tx| {
            tx.prepare_cached(sql::WORKER_REGISTER)?.execute(named_params! {
                ":worker_id": who.id,
                ":host": who.host,
                ":pid": who.pid,
                ":task_types": list,
                ":now": now_ms(),
            })?;
            Ok(())
        })
    }

    /// A clean exit: the worker is no longer registered.
    pub fn unregister_worker(&self, who: &WorkerIdent) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(sql::WORKER_UNREGISTER)?.execute(named_params! { ":worker_id": who.id })?;
            Ok(())
        })
    }

    /// Records that the claim reached step `progress` (a number that grows as the job
    /// advances, in the worker's own units) and extends its lease. Called at each step
    /// of a job, before the step runs: when a worker dies, the last value says where,
    /// and a job that always kills its worker at the same point is poison (see
    /// [`Queue::recover`]). [`QueueError::LostClaim`] means stop working on it.
    pub fn progress(&self, fence: &Fence, progress: i64) -> Result<()> {
        let w = self.writer()?;
        let n = w.conn.prepare_cached(sql::PROGRESS)?.execute(named_params! {
            ":job_id": fence.job_id,
            ":worker_id": fence.worker_id,
            ":token": fence.token,
            ":progress": progress,
            ":now": now_ms(),
            ":lease_ms": self.cfg.lease_ms(),
        })?;
        one_row(n, fence.job_id)
    }

    /// Runs `f` in one transaction only while `fence`'s claim is still held (the claim's
    /// lease is extended in the same transaction): a worker checkpoints partial results
    /// of a long job this way. [`QueueError::LostClaim`] means nothing was written.
    pub fn write_fenced<T, E>(&self, fence: &Fence, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<QueueError>,
    {
        self.write(|tx| {
            let n = tx
                .prepare_cached(sql::HEARTBEAT)
                .and_then(|mut st| {
                    st.execute(named_params! {
                        ":job_id": fence.job_id,
                        ":worker_id": fence.worker_id,
                        ":token": fence.token,
                        ":now": now_ms(),
                        ":lease_ms": self.cfg.lease_ms(),
                    })
                })
                .map_err(QueueError::from)?;
            one_row(n, fence.job_id)?;
            f(tx)
        })
    }

    /// Marks the job COMPLETED with `result`.
    pub fn complete(&self, claim: &Claim, result: &Value) -> Result<()> {
        self.complete_with(claim, result, |_| Ok(()))
    }

    /// Marks the job COMPLETED and runs `store` in the same transaction to write the
    /// job's output rows. If the claim was lost nothing is written
    /// ([`QueueError::LostClaim`]); if `store` fails the whole completion rolls back
    /// ([`QueueError::Store`]) and the claim is still held.
    pub fn complete_with<F>(&self, claim: &Claim, result: &Value, store: F) -> Result<()>
    where
        F: FnOnce(&Transaction<'_>) -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
    {
        self.finish_then(claim, result, store, |_| Ok(()))
    }

    /// Completes `claim` (as [`Queue::complete_with`]) and claims the next ready job of
    /// type `next` in the same transaction: one commit, so one fsync, per job instead of
    /// two. A worker draining a backlog of short jobs uses this.
    pub fn complete_and_claim<F>(
        &self,
        claim: &Claim,
        result: &Value,
        store: F,
        who: &WorkerIdent,
        next: TaskType,
    ) -> Result<Option<Claim>>
    where
        F: FnOnce(&Transaction<'_>) -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
    {
        self.finish_then(claim, result, store, |tx| claim_in(tx, self, who, next))
    }

    fn finish_then<F, T>(
        &self,
        claim: &Claim,
        result: &Value,
        store: F,
        then: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T>
    where
        F: FnOnce(&Transaction<'_>) -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
    {
        let result = serde_json::to_string(result).map_err(|e| QueueError::Invalid(format!("result: {e}")))?;
        let mut w = self.writer()?;
        let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.prepare_cached(sql::COMPLETE)?.execute(named_params! {
            ":job_id": claim.fence.job_id,
            ":worker_id": claim.fence.worker_id,
            ":token": claim.fence.token,
            ":result": result,
            ":now": now_ms(),
        })?;
        one_row(n, claim.job_id)?;
        store(&tx).map_err(QueueError::Store)?;
        let out = then(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Records a failure. With [`Retry::Yes`] and attempts left, the job is PENDING again
    /// after an exponential, jittered backoff; otherwise it is FAILED. `error` is kept.
    pub fn fail(&self, claim: &Claim, error: &str, retry: Retry) -> Result<FailOutcome> {
        let run_after = now_ms().saturating_add(self.cfg.backoff_ms(claim.attempt));
        let mut w = self.writer()?;
        let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = tx
            .prepare_cached(sql::FAIL)?
            .query_row(
                named_params! {
                    ":job_id": claim.fence.job_id,
                    ":worker_id": claim.fence.worker_id,
                    ":token": claim.fence.token,
                    ":retryable": retry == Retry::Yes,
                    ":run_after": run_after,
                    ":error": error,
                    ":now": now_ms(),
                },
                |r| Ok((r.get::<_, Status>(0)?, r.get::<_, u32>(1)?, r.get::<_, u32>(2)?, r.get::<_, i64>(3)?)),
            )
            .optional()?;
        tx.commit()?;
        match row {
            None => Err(QueueError::LostClaim { job_id: claim.job_id }),
            Some((Status::Pending, attempts, max_attempts, run_after)) => {
                Ok(FailOutcome::Retrying { run_after, attempts, max_attempts })
            }
            Some(_) => Ok(FailOutcome::Failed),
        }
    }

    /// Gives an unfinished job back (graceful shutdown): PENDING at once, and this
    /// attempt does not count.
    pub fn hand_back(&self, claim: &Claim) -> Result<()> {
        let w = self.writer()?;
        let n = w.conn.prepare_cached(sql::HAND_BACK)?.execute(named_params! {
            ":job_id": claim.fence.job_id,
            ":worker_id": claim.fence.worker_id,
            ":token": claim.fence.token,
        })?;
        one_row(n, claim.job_id)
    }

    /// One job as stored.
    pub fn job(&self, job_id: JobId) -> Result<Option<JobRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql::ADMIN_JOB)?;
        Ok(stmt.query_row(named_params! { ":job_id": job_id }, JobRecord::from_row).optional()?)
    }

    /// The jobs `job_id` depends on.
    pub fn dependencies(&self, job_id: JobId) -> Result<Vec<JobId>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql::ADMIN_DEPS)?;
        let rows = stmt.query_map(named_params! { ":job_id": job_id }, |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Job counts by type and status (only non-zero ones).
    pub fn counts(&self) -> Result<Vec<(TaskType, Status, u64)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql::ADMIN_COUNTS)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0).unsigned_abs())))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How many jobs of type `task` are PROCESSING or could still become ready without
    /// anyone's help (PENDING and not blocked behind a FAILED job). Zero means a worker
    /// for `task` has nothing left to wait for.
    pub fn outstanding(&self, task: TaskType) -> Result<u64> {
        let conn = self.conn()?;
        let n: i64 = conn
            .prepare_cached(sql::ADMIN_OUTSTANDING)?
            .query_row(named_params! { ":task_type": task }, |r| r.get(0))?;
        Ok(n.max(0).unsigned_abs())
    }

    /// PENDING jobs that wait on a FAILED job, with that job and its error.
    pub fn blocked(&self) -> Result<Vec<Blocked>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql::ADMIN_BLOCKED)?;
        let rows = stmt.query_map([], |r| {
            Ok(Blocked {
                job_id: r.get(0)?,
                meeting_id: r.get(1)?,
                task_type: r.get(2)?,
                failed_dependency: r.get(3)?,
                failed_task_type: r.get(4)?,
                failed_error: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
