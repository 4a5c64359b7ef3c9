//! The worker loop every worker binary runs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use debrief_config::DataDir;
use debrief_jobq::{
    AnyQueue, Claim, DeviceLease, DeviceRequest, FailOutcome, Fence, MeetingId, QueueError, Retry, TaskType, Tx,
    WorkerIdent,
};
use serde_json::Value;

use crate::{log, signals};

/// Time since boot, suspends included (CLOCK_BOOTTIME; CLOCK_MONOTONIC where that fails).
fn boottime() -> Duration {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_BOOTTIME)
        .or_else(|_| clock_gettime(ClockId::CLOCK_MONOTONIC))
        .map(Duration::from)
        .unwrap_or_default()
}

/// Boxed error a result-storing closure may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Writes a job's output rows inside the transaction that completes it (on either
/// backend: see [`Tx`]).
pub type Store = Box<dyn FnOnce(&mut Tx<'_, '_>) -> Result<(), BoxError> + Send>;

/// What a handler returns for a finished job.
pub struct Output {
    /// Small JSON result kept on the job row.
    pub result: Value,
    /// Output rows, written atomically with the completion (and never for a claim that
    /// was lost).
    pub store: Option<Store>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output").field("result", &self.result).field("store", &self.store.is_some()).finish()
    }
}

impl Output {
    /// A result with no output rows.
    pub fn result(result: Value) -> Self {
        Self { result, store: None }
    }
}

/// Why a job did not finish.
#[derive(Debug)]
pub enum JobError {
    /// Transient: retry after a backoff while attempts remain.
    Retry(anyhow::Error),
    /// The input is bad: FAILED now, with this error.
    Permanent(anyhow::Error),
    /// The handler stopped because [`JobContext::should_stop`] said so; the job is
    /// handed back without counting an attempt.
    Interrupted,
}

/// What a handler may look at while it runs a job.
#[derive(Debug)]
pub struct JobContext<'a> {
    /// The queue (for reading other jobs' results, e.g. a TRANSCRIPT job's chunks).
    pub queue: &'a AnyQueue,
    /// The data directory (chunk files are relative to it).
    pub data_dir: &'a DataDir,
    /// Inference threads to use (performance cores).
    pub threads: usize,
    /// This worker (for a device lease a job takes for a part of its work, such as the
    /// audio worker's speaker analysis on the NPU).
    pub who: &'a debrief_jobq::WorkerIdent,
    fence: &'a Fence,
    lost: &'a AtomicBool,
    lease_lost: &'a AtomicBool,
    steps: Steps,
}

/// Where a job's progress steps go: every step to the claim's breadcrumb file (one
/// `pwrite`; the reaper reads it if the worker dies), and to the database at most once a
/// second (for `foreman status`, and as the reaper's fallback after a power cut).
#[derive(Debug, Clone)]
struct Steps {
    crumb: Option<debrief_jobq::Crumb>,
    /// When the database last got a step (ms since the job started; -1: never).
    db_at: Arc<AtomicI64>,
    started: std::time::Instant,
}

/// At most this often does a progress step become a database write.
const DB_STEP_EVERY_MS: i64 = 1_000;

impl Steps {
    fn new(q: &AnyQueue, fence: &Fence) -> Steps {
        let crumb = match q.crumb(fence) {
            Ok(c) => c,
            Err(e) => {
                log(
                    "worker",
                    &format!("job {}: no breadcrumb file ({e}); progress goes to the database only", fence.job_id),
                );
                None
            }
        };
        Steps { crumb, db_at: Arc::new(AtomicI64::new(-1)), started: std::time::Instant::now() }
    }

    /// Records `step`; returns whether it should also be written to the database now.
    fn mark(&self, step: i64) -> bool {
        let crumbed = self.crumb.as_ref().is_some_and(|c| c.mark(step).is_ok());
        let now = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let last = self.db_at.load(Ordering::Relaxed);
        let due = !crumbed || last < 0 || now - last >= DB_STEP_EVERY_MS;
        due && self.db_at.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    fn remove(&self) {
        if let Some(c) = &self.crumb {
            c.remove();
        }
    }
}

impl JobContext<'_> {
    /// True once the process was asked to stop, the claim was lost, or the device lease
    /// was lost (another process may own the device now): a long-running handler checks
    /// this between steps and returns [`JobError::Interrupted`].
    pub fn should_stop(&self) -> bool {
        signals::stop_requested() || self.lost.load(Ordering::SeqCst) || self.lease_lost.load(Ordering::SeqCst)
    }

    /// Records that the job reached `step` (any increasing measure of the handler's own:
    /// a per-mille of the audio decoded, a window index), before the step runs. If the
    /// worker dies, the reaper logs the crash with the last step recorded, and a job that
    /// kills its worker at the same step each time is set aside as poison rather than
    /// retried forever. Cheap enough to call many times a second: each step is one
    /// `pwrite` to the claim's breadcrumb file, and a database write at most once a
    /// second (see `Steps`). A failed write is not fatal; a lost claim makes [`JobContext::should_stop`] true.
    pub fn progress(&self, step: i64) {
        if !self.steps.mark(step) {
            return;
        }
        match self.queue.progress(self.fence, step) {
            Ok(()) => {}
            Err(QueueError::LostClaim { .. }) => self.lost.store(true, Ordering::SeqCst),
            Err(e) => log("worker", &format!("job {}: recording progress {step}: {e}", self.fence.job_id)),
        }
    }

    /// The stored copy of the job's input file `rel` (a chunk, a screenshot; its path in
    /// the data directory): on a shared PostgreSQL queue the bytes come from the database,
    /// checked against their sha256, so a worker on another machine needs no shared
    /// files. `None` on SQLite, or when the database holds no copy: read the file in the
    /// data directory then. A database that cannot be read now is a retry; bytes that
    /// fail their hash are not (the job fails for good and the meeting keeps a gap).
    pub fn stored_input(&self, meeting: MeetingId, rel: &std::path::Path) -> Result<Option<Vec<u8>>, JobError> {
        self.queue.stored_input(meeting, rel).map_err(|e| {
            if matches!(e, QueueError::Postgres(_) | QueueError::Pool(_)) {
                JobError::Retry(e.into())
            } else {
                JobError::Permanent(e.into())
            }
        })
    }

    /// [`JobContext::progress`] as a function that owns what it needs, for an engine's
    /// callback that must be `'static` (whisper.cpp's). A lost claim is left to the
    /// heartbeat to notice.
    pub fn progress_sink(&self) -> std::sync::Arc<dyn Fn(i64) + Send + Sync> {
        let (q, fence, steps) = (self.queue.clone(), self.fence.clone(), self.steps.clone());
        std::sync::Arc::new(move |step| {
            if !steps.mark(step) {
                return;
            }
            match q.progress(&fence, step) {
                Ok(()) | Err(QueueError::LostClaim { .. }) => {}
                Err(e) => log("worker", &format!("job {}: recording progress {step}: {e}", fence.job_id)),
            }
        })
    }
}

/// The model side of a worker.
pub trait Handler {
    /// Loads the model. Called before the first job of a batch, after the device lease
    /// (if any) is held.
    fn load(&mut self, threads: usize) -> Result<()>;
    /// Runs one job.
    fn run(&mut self, job: &Claim, ctx: &JobContext<'_>) -> Result<Output, JobError>;
    /// Frees the model: when idle, before a device lease is released, and at exit.
    fn unload(&mut self);
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Name in logs and in the worker id (e.g. `audio-worker`).
    pub name: String,
    /// Task types it takes, in the order it tries them.
    pub tasks: Vec<TaskType>,
    /// A device lease to hold while the model is loaded (`None` on the CPU).
    pub device: Option<DeviceRequest>,
    /// Exit once no job of its types can become ready.
    pub until_idle: bool,
    /// Exit after this many jobs.
    pub max_jobs: Option<u64>,
    /// Inference threads.
    pub threads: usize,
    /// First idle poll delay; doubles up to `idle_max`.
    pub idle_min: Duration,
    /// Longest idle poll delay.
    pub idle_max: Duration,
}

/// What a worker did, for its exit log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Jobs completed.
    pub completed: u64,
    /// Jobs that failed (retried later or for good).
    pub failed: u64,
    /// Jobs handed back (shutdown) or lost (claim taken away).
    pub handed_back: u64,
}

/// Runs the claim-run-complete loop until stopped (SIGTERM/SIGINT), idle (with
/// `until_idle`) or done (`max_jobs`). The model is loaded lazily, kept for consecutive
/// jobs, and unloaded when idle and at exit, always before the device lease is released.
pub fn run(q: &AnyQueue, dd: &DataDir, cfg: &WorkerConfig, handler: &mut dyn Handler) -> Result<Summary> {
    signals::install();
    let who = WorkerIdent::current(&cfg.name);
    log(&cfg.name, &format!("started as {} taking {:?}", who.id, cfg.tasks));
    // Registered while it runs, so that a death while idle is noticed (a clean exit,
    // even with an error, unregisters; a kill does not).
    if let Err(e) = crate::retry_busy(&cfg.name, "registering", || Ok(q.register_worker(&who, &cfg.tasks)?)) {
        log(&cfg.name, &format!("could not register ({e}); deaths while idle will go unnoticed"));
    }
    let mut state = State { q, dd, cfg, who, lease: None, loaded: false, summary: Summary::default() };
    let outcome = state.main_loop(handler);
    state.idle(handler);
    if let Err(e) = q.unregister_worker(&state.who) {
        log(&cfg.name, &format!("could not unregister: {e}"));
    }
    let s = &state.summary;
    log(&cfg.name, &format!("exiting: {} completed, {} failed, {} handed back", s.completed, s.failed, s.handed_back));
    outcome.map(|()| state.summary.clone())
}

struct State<'a> {
    q: &'a AnyQueue,
    dd: &'a DataDir,
    cfg: &'a WorkerConfig,
    who: WorkerIdent,
    lease: Option<DeviceLease>,
    loaded: bool,
    summary: Summary,
}

impl State<'_> {
    fn main_loop(&mut self, handler: &mut dyn Handler) -> Result<()> {
        let mut delay = self.cfg.idle_min;
        loop {
            if signals::stop_requested() {
                return Ok(());
            }
            let done = self.summary.completed + self.summary.failed;
            if self.cfg.max_jobs.is_some_and(|m| done >= m) {
                return Ok(());
            }
            // A busy database (another process holding its lock past the busy timeout) is
            // retried with backoff, never a reason to exit.
            let name = self.cfg.name.clone();
            let Some(claimed) = crate::retry_busy(&name, "claiming", || self.claim(handler))? else {
                return Ok(());
            };
            let Some(claim) = claimed else {
                // Nothing to do: never hold a model or a lease while idle.
                self.idle(handler);
                let q = self.q;
                if crate::retry_busy(&name, "recovering lost claims", || Ok(q.recover()?))?.is_none() {
                    return Ok(());
                }
                if self.cfg.until_idle {
                    match crate::retry_busy(&name, "checking for work", || self.nothing_left())? {
                        Some(true) | None => return Ok(()),
                        Some(false) => {}
                    }
                }
                signals::sleep_unless_stopped(delay);
                delay = (delay * 2).min(self.cfg.idle_max);
                continue;
            };
            delay = self.cfg.idle_min;
            if !self.loaded {
                if let Err(e) = handler.load(self.cfg.threads) {
                    let _ = self.q.hand_back(&claim);
                    self.idle(handler);
                    return Err(e.context("loading the model"));
                }
                self.loaded = true;
            }
            self.run_one(handler, &claim)?;
        }
    }

    fn claim(&mut self, handler: &mut dyn Handler) -> Result<Option<Claim>> {
        for &task in &self.cfg.tasks {
            let got = match (&self.cfg.device, &self.lease) {
                (None, _) => self.q.claim(&self.who, task)?,
                (Some(_), Some(lease)) => match self.q.claim_under(&self.who, task, lease) {
                    Ok(c) => c,
                    Err(QueueError::LostLease { .. }) => {
                        self.lease_lost(handler, "device lease lost while idle");
                        None
                    }
                    Err(e) => return Err(e.into()),
                },
                (Some(req), None) => self.q.claim_with_device(&self.who, task, *req)?.map(|(c, l)| {
                    log(&self.cfg.name, &format!("took {} lease {} ({} MB)", l.device, l.lease_id, l.vram_mb));
                    self.lease = Some(l);
                    c
                }),
            };
            if got.is_some() {
                return Ok(got);
            }
        }
        Ok(None)
    }

    fn nothing_left(&self) -> Result<bool> {
        for &t in &self.cfg.tasks {
            if self.q.outstanding(t)? > 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The device lease is gone (expired and reclaimed, or deleted): another process may
    /// own the device now, so the model is unloaded at once and a new lease is taken
    /// (and the model loaded again) with the next claim.
    fn lease_lost(&mut self, handler: &mut dyn Handler, why: &str) {
        if self.loaded {
            handler.unload();
            self.loaded = false;
        }
        if let Some(l) = self.lease.take() {
            log(
                &self.cfg.name,
                &format!("{why} ({} lease {}); model unloaded, will take a new one", l.device, l.lease_id),
            );
        }
    }

    /// Unloads the model, then releases the device lease.
    fn idle(&mut self, handler: &mut dyn Handler) {
        if self.loaded {
            handler.unload();
            self.loaded = false;
        }
        if let Some(lease) = self.lease.take() {
            match self.q.release_device(&lease) {
                Ok(()) => log(&self.cfg.name, &format!("released {} lease {}", lease.device, lease.lease_id)),
                Err(e) => log(&self.cfg.name, &format!("releasing {} lease: {e}", lease.device)),
            }
        }
    }

    fn run_one(&mut self, handler: &mut dyn Handler, claim: &Claim) -> Result<()> {
        let name = &self.cfg.name;
        let crashes = match claim.crashes {
            0 => String::new(),
            n => format!(", after {n} crash{}", if n == 1 { "" } else { "es" }),
        };
        let what = format!(
            "job {} ({} #{} of meeting {}, attempt {}/{}{crashes})",
            claim.job_id, claim.task_type, claim.seq, claim.meeting_id, claim.attempt, claim.max_attempts
        );
        log(name, &format!("{what}: started"));
        let started = std::time::Instant::now();
        let lost = AtomicBool::new(false);
        let lease_lost = AtomicBool::new(false);
        let (stop_hb, hb_stopped) = mpsc::channel::<()>();
        let every = (self.q.config().lease / 3).max(Duration::from_millis(50));
        let outcome = std::thread::scope(|s| {
            let q = self.q;
            let fence = &claim.fence;
            let lease = self.lease.as_ref();
            let (lost, lease_lost) = (&lost, &lease_lost);
            s.spawn(move || {
                let mut lease = lease;
                // Time between heartbeats is measured on CLOCK_BOOTTIME, which counts a
                // suspend (CLOCK_MONOTONIC, behind recv_timeout, does not): waking in
                // short ticks, a resumed worker renews at once, not up to `every` later.
                let tick = every.min(Duration::from_millis(250));
                let mut last = boottime();
                while let Err(mpsc::RecvTimeoutError::Timeout) = hb_stopped.recv_timeout(tick) {
                    if boottime().saturating_sub(last) < every {
                        continue;
                    }
                    last = boottime();
                    if matches!(q.heartbeat(fence), Err(QueueError::LostClaim { .. })) {
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                    // A lost device lease stops the job, but the claim is still held (and
                    // kept alive) until the handler returns and the job is handed back.
                    if lease.is_some_and(|l| matches!(q.heartbeat_device(l), Err(QueueError::LostLease { .. }))) {
                        lease_lost.store(true, Ordering::SeqCst);
                        lease = None;
                    }
                }
            });
            let steps = Steps::new(q, fence);
            let ctx = JobContext {
                queue: self.q,
                data_dir: self.dd,
                threads: self.cfg.threads,
                who: &self.who,
                fence,
                lost,
                lease_lost,
                steps: steps.clone(),
            };
            let out = catch_unwind(AssertUnwindSafe(|| handler.run(claim, &ctx)));
            drop(stop_hb);
            // The handler is done with the job (whatever comes next: complete, fail,
            // hand back): its breadcrumb is no longer needed.
            steps.remove();
            out
        });
        let secs = started.elapsed().as_secs_f64();
        let outcome = match outcome {
            Ok(r) => r,
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("unknown panic");
                // The model may be in any state after a panic: load it afresh.
                handler.unload();
                self.loaded = false;
                Err(JobError::Retry(anyhow::anyhow!("worker panicked: {msg}")))
            }
        };
        if lease_lost.load(Ordering::SeqCst) {
            // Whatever the handler produced, it ran on a device this worker no longer
            // held: drop it, free the device, and give the job back uncounted (unless
            // the claim went too).
            self.lease_lost(handler, &format!("{what}: device lease lost mid-job"));
            self.summary.handed_back += 1;
            if !lost.load(Ordering::SeqCst) {
                match self.q.hand_back(claim) {
                    Ok(()) | Err(QueueError::LostClaim { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            log(name, &format!("{what}: handed back (device lease lost); result dropped"));
            return Ok(());
        }
        if lost.load(Ordering::SeqCst) && !matches!(outcome, Err(JobError::Interrupted)) {
            self.summary.handed_back += 1;
            log(name, &format!("{what}: claim lost (lease expired, cancelled or taken back); result dropped"));
            return Ok(());
        }
        match outcome {
            Ok(out) => {
                let store = out.store;
                let r = self.q.complete_with(claim, &out.result, |tx| match store {
                    Some(f) => f(tx),
                    None => Ok(()),
                });
                match r {
                    Ok(()) => {
                        self.summary.completed += 1;
                        log(name, &format!("{what}: completed in {secs:.2} s"));
                    }
                    Err(QueueError::LostClaim { .. }) => {
                        self.summary.handed_back += 1;
                        log(name, &format!("{what}: claim lost before completion; result dropped"));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(JobError::Interrupted) => {
                self.summary.handed_back += 1;
                match self.q.hand_back(claim) {
                    Ok(()) | Err(QueueError::LostClaim { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                log(name, &format!("{what}: handed back"));
            }
            Err(JobError::Retry(e)) => self.record_failure(claim, &what, &e, Retry::Yes)?,
            Err(JobError::Permanent(e)) => self.record_failure(claim, &what, &e, Retry::No)?,
        }
        Ok(())
    }

    fn record_failure(&mut self, claim: &Claim, what: &str, e: &anyhow::Error, retry: Retry) -> Result<()> {
        let name = &self.cfg.name;
        let text = format!("{e:#}");
        self.summary.failed += 1;
        match self.q.fail(claim, &text, retry) {
            Ok(FailOutcome::Retrying { run_after, .. }) => {
                let wait = (run_after - debrief_jobq::now_ms()).max(0);
                log(name, &format!("{what}: failed, retry in {wait} ms: {text}"));
            }
            Ok(FailOutcome::Failed) => log(name, &format!("{what}: FAILED: {text}")),
            Err(QueueError::LostClaim { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}
