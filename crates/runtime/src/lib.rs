//! What every Debrief worker binary shares.
//!
//! - [`worker::run`]: the poll loop. Claims jobs of the worker's types (with a device
//!   lease when its model runs on the GPU), heartbeats the claim and the lease from a
//!   second thread, completes with the output rows in the same transaction, backs off
//!   while idle, and unloads the model before releasing the lease.
//! - [`signals`]: SIGTERM/SIGINT stop the loop gracefully; the current job is finished
//!   or handed back.
//! - [`tune`]: nice +10, the idle I/O class, and pinning to the performance cores of a
//!   hybrid CPU, with the inference thread count sized to them.
//! - [`WorkerArgs`]: the command line all workers share.
#![deny(missing_docs)]

pub mod signals;
pub mod tune;
pub mod worker;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use debrief_config::DataDir;
use debrief_jobq::Queue;

pub use worker::{Handler, JobContext, JobError, Output, Store, Summary, WorkerConfig};

/// Whether `e` (or an error it wraps) is a busy database: see
/// [`debrief_jobq::QueueError::is_busy`].
pub fn is_busy(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<debrief_jobq::QueueError>().is_some_and(debrief_jobq::QueueError::is_busy))
}

/// Runs `f` until it gets past a busy database: each busy error is logged (as `who`,
/// saying `what` was being done) and retried after a backoff from 250 ms doubling to
/// 10 s; any other error is returned. `Ok(None)` when a stop was requested while waiting.
/// A transient lock held by another process (a backup, a long transaction) is never
/// fatal to a long-running loop.
pub fn retry_busy<T>(who: &str, what: &str, mut f: impl FnMut() -> Result<T>) -> Result<Option<T>> {
    let mut delay = Duration::from_millis(250);
    let mut tries = 0u32;
    loop {
        match f() {
            Ok(v) => {
                if tries > 0 {
                    debrief_jobq::log(who, &format!("{what}: the database answers again after {tries} busy retries"));
                }
                return Ok(Some(v));
            }
            Err(e) if is_busy(&e) => {
                tries += 1;
                debrief_jobq::log(
                    who,
                    &format!("{what}: the database is busy ({e:#}); retrying in {:.2} s", delay.as_secs_f64()),
                );
                if signals::sleep_unless_stopped(delay) {
                    return Ok(None);
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The command line every worker takes: `WORKER [--data-dir DIR] run [--until-idle]
/// [--max-jobs N] [--device cpu|cuda] [--no-tune] [--threads N]`.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// Data directory (default: $DEBRIEF_HOME, else the XDG data directory).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// The queue: a `postgres://user:password@host/db` URL, to take jobs from a queue
    /// that several machines share (input files then come from the database), or the
    /// path of a SQLite file (default: debrief.db in the data directory).
    #[arg(long, env = "DEBRIEF_DATABASE_URL")]
    pub database: Option<String>,
    /// Exit once no job this worker takes can become ready.
    #[arg(long)]
    pub until_idle: bool,
    /// Exit after this many jobs.
    #[arg(long)]
    pub max_jobs: Option<u64>,
    /// Where inference runs: cpu, or cuda (needs a build with the `cuda` feature; takes
    /// the GPU lease).
    #[arg(long, value_enum, default_value_t = ComputeDevice::Cpu)]
    pub device: ComputeDevice,
    /// Leave priority, I/O class and CPU affinity alone.
    #[arg(long)]
    pub no_tune: bool,
    /// Inference threads (default: the performance cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Where a worker runs its model (`--device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ComputeDevice {
    /// The CPU: no device lease.
    Cpu,
    /// The CUDA GPU: takes the full-budget GPU lease for as long as the model is loaded.
    #[value(alias = "gpu")]
    Cuda,
}

impl ComputeDevice {
    /// The device lease a model on this device needs, if any.
    pub fn lease(self) -> Option<debrief_jobq::DeviceRequest> {
        match self {
            ComputeDevice::Cpu => None,
            ComputeDevice::Cuda => Some(debrief_jobq::DeviceRequest::exclusive(debrief_jobq::Device::Gpu)),
        }
    }
}

/// Applies process tuning as `args` ask (see [`tune::apply`]), logs what was applied,
/// and returns the inference thread count: `--threads`, else the performance cores.
/// Call early in `main`, before spawning threads.
pub fn tune_process(name: &str, args: &WorkerArgs) -> usize {
    let opts = tune::TuneOptions { enabled: !args.no_tune, ..tune::TuneOptions::default() };
    let applied = tune::apply(&opts, std::path::Path::new("/sys"));
    log(name, &format!("tuning: {applied}"));
    args.threads.unwrap_or(applied.threads).max(1)
}

pub use debrief_jobq::{format_utc_ms, log, utc_now};

/// Opens the data directory and the queue the way every binary does.
pub fn open(data_dir: Option<&std::path::Path>) -> Result<(DataDir, Queue)> {
    Ok(Queue::open_data_dir(data_dir)?)
}

/// Opens the data directory and the queue a worker was pointed at: the PostgreSQL
/// database of `--database`/`DEBRIEF_DATABASE_URL` when that is a `postgres://` URL
/// (machines sharing one queue; input files come from the database), else the SQLite
/// file it names, else the data directory's own `debrief.db`.
pub fn open_queue(
    data_dir: Option<&std::path::Path>,
    database: Option<&str>,
) -> Result<(DataDir, debrief_jobq::AnyQueue)> {
    let dd = DataDir::open(data_dir)?;
    let cfg = debrief_jobq::QueueConfig::default();
    let q = match database {
        Some(db) => debrief_jobq::AnyQueue::connect(db, cfg)?,
        None => debrief_jobq::AnyQueue::Sqlite(Queue::open_in(&dd, cfg)?),
    };
    Ok((dd, q))
}

/// Default idle polling: start at 100 ms, back off to 2 s.
pub const IDLE_MIN: Duration = Duration::from_millis(100);
/// See [`IDLE_MIN`].
pub const IDLE_MAX: Duration = Duration::from_secs(2);

#[cfg(test)]
mod busy_tests {
    use std::time::{Duration, Instant};

    use debrief_jobq::{Queue, QueueConfig};

    /// Another process holds `BEGIN EXCLUSIVE` for longer than the busy timeout: a bare
    /// queue call fails with a busy error (what used to end the foreman's and the idle
    /// worker's loops), and `retry_busy` waits it out and succeeds.
    #[test]
    fn a_database_locked_past_the_busy_timeout_is_waited_out() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("debrief.db");
        let q = Queue::open(&db, QueueConfig { busy_timeout: Duration::from_millis(100), ..QueueConfig::default() })
            .unwrap();
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let path = db.clone();
        let holder = std::thread::spawn(move || {
            let c = rusqlite::Connection::open(path).unwrap();
            c.execute_batch("BEGIN EXCLUSIVE").unwrap();
            locked_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(1_500));
            c.execute_batch("ROLLBACK").unwrap();
        });
        locked_rx.recv().unwrap();
        let err = q.recover().unwrap_err();
        assert!(err.is_busy(), "{err}");
        assert!(super::is_busy(&anyhow::Error::from(err).context("recovering")));
        let t0 = Instant::now();
        let got = super::retry_busy("test", "recovering", || Ok(q.recover()?)).unwrap();
        assert!(got.is_some());
        assert!(t0.elapsed() >= Duration::from_millis(900), "it waited for the lock: {:?}", t0.elapsed());
        holder.join().unwrap();
        // Other errors are not retried.
        let mut calls = 0;
        let e = super::retry_busy("test", "x", || -> anyhow::Result<()> {
            calls += 1;
            anyhow::bail!("not busy")
        });
        assert!(e.is_err() && calls == 1);
    }

    struct Echo;
    impl crate::Handler for Echo {
        fn load(&mut self, _threads: usize) -> anyhow::Result<()> {
            Ok(())
        }
        fn run(
            &mut self,
            _job: &debrief_jobq::Claim,
            _ctx: &crate::JobContext<'_>,
        ) -> Result<crate::Output, crate::JobError> {
            Ok(crate::Output::result(serde_json::json!({})))
        }
        fn unload(&mut self) {}
    }

    /// The worker loop (`--until-idle`) started while the database is locked past the
    /// busy timeout waits, then does its job and exits cleanly instead of failing.
    #[test]
    fn an_idle_worker_waits_out_a_locked_database() {
        let dir = tempfile::tempdir().unwrap();
        let dd = debrief_config::DataDir::at(dir.path().join("data")).unwrap();
        let q = Queue::open_in(&dd, QueueConfig { busy_timeout: Duration::from_millis(100), ..QueueConfig::default() })
            .unwrap();
        let m = q.create_meeting(None, None).unwrap();
        let (job, _) = q.enqueue(&debrief_jobq::NewJob::new(m, debrief_jobq::TaskType::Audio, 0)).unwrap();
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let path = dd.db_path();
        let holder = std::thread::spawn(move || {
            let c = rusqlite::Connection::open(path).unwrap();
            c.execute_batch("BEGIN EXCLUSIVE").unwrap();
            locked_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(1_200));
            c.execute_batch("ROLLBACK").unwrap();
        });
        locked_rx.recv().unwrap();
        let cfg = crate::WorkerConfig {
            name: "test-worker".into(),
            tasks: vec![debrief_jobq::TaskType::Audio],
            device: None,
            until_idle: true,
            max_jobs: None,
            threads: 1,
            idle_min: Duration::from_millis(10),
            idle_max: Duration::from_millis(50),
        };
        let summary = crate::worker::run(&debrief_jobq::AnyQueue::Sqlite(q.clone()), &dd, &cfg, &mut Echo).unwrap();
        holder.join().unwrap();
        assert_eq!(summary.completed, 1);
        assert_eq!(q.job(job).unwrap().unwrap().status, debrief_jobq::Status::Completed);
    }
}
