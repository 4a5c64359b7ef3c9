//! A test-only worker for the queue's multi-process tests. It does no real work: jobs
//! say in their payload how long to "work", whether to fail, or to crash the process.
//! It records what it did in an append-only log file (one `write` per line, so lines
//! from many processes never interleave) and in the `test_done` table, written in the
//! completing transaction.
//!
//! `--database-url postgres://...` runs it on PostgreSQL instead of the SQLite file
//! (`PgQueue`), where the test creates `test_done` itself.
//!
//! `drain`: claim, heartbeat, complete jobs of one type until none can become ready.
//! `gpu`: contend for the GPU lease and record each critical section's interval.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use debrief_jobq::{
    Claim, Device, DeviceRequest, JobQueue, PgQueue, Queue, QueueConfig, QueueError, Retry, TaskType, WorkerIdent,
};
use serde_json::json;

#[derive(Parser)]
struct Cli {
    /// The database file.
    #[arg(long, required_unless_present = "database_url")]
    db: Option<PathBuf>,
    /// A PostgreSQL database to use instead of the file.
    #[arg(long)]
    database_url: Option<String>,
    /// Append-only log of what this process did.
    #[arg(long)]
    log: PathBuf,
    /// Lease period in ms.
    #[arg(long, default_value_t = 3000)]
    lease_ms: u64,
    /// Retry backoff base in ms.
    #[arg(long, default_value_t = 20)]
    backoff_ms: u64,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Work through jobs of one type.
    Drain {
        #[arg(long, default_value = "AUDIO")]
        task: TaskType,
        /// Complete each job and claim the next in one transaction.
        #[arg(long)]
        pipeline: bool,
        /// Heartbeat period in ms.
        #[arg(long, default_value_t = 500)]
        heartbeat_ms: u64,
        /// Pretend to run on another host (see `gpu --host`).
        #[arg(long)]
        host: Option<String>,
    },
    /// Contend for the GPU with full-budget leases.
    Gpu {
        #[arg(long, default_value_t = 100)]
        rounds: u32,
        /// How long each critical section lasts, in microseconds.
        #[arg(long, default_value_t = 300)]
        hold_us: u64,
        /// File holding the pid of whoever is inside the critical section.
        #[arg(long)]
        marker: PathBuf,
        /// Take the lease once, say HOLDING on stdout, and keep it (heart-beaten)
        /// until killed.
        #[arg(long)]
        hog: bool,
        /// Pretend to run on another host (its pid cannot be checked there, so only
        /// lease expiry frees what it holds).
        #[arg(long)]
        host: Option<String>,
    },
}

fn monotonic_ns() -> i64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() * 1_000_000_000 + t.tv_nsec())
        .unwrap_or(0)
}

struct Log(std::fs::File);

impl Log {
    fn open(path: &Path) -> Result<Self> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening log {}", path.display()))?;
        Ok(Self(f))
    }

    fn line(&mut self, s: &str) -> Result<()> {
        self.0.write_all(format!("{s}\n").as_bytes())?;
        Ok(())
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let cfg = QueueConfig {
        lease: Duration::from_millis(cli.lease_ms),
        backoff_base: Duration::from_millis(cli.backoff_ms),
        backoff_max: Duration::from_millis(cli.backoff_ms * 8),
        ..QueueConfig::default()
    };
    let db = match (&cli.database_url, &cli.db) {
        (Some(url), _) => Db::Pg(PgQueue::connect(url, cfg).context("connecting to PostgreSQL")?),
        (None, Some(path)) => Db::Lite(Queue::open(path, cfg).with_context(|| format!("opening {}", path.display()))?),
        (None, None) => anyhow::bail!("--db or --database-url is required"),
    };
    let mut log = Log::open(&cli.log)?;
    let ident = |name: &str, host: Option<String>| {
        let mut who = WorkerIdent::current(name);
        if let Some(h) = host {
            who.host = h;
        }
        who
    };
    match cli.cmd {
        Cmd::Drain { task, pipeline, heartbeat_ms, host } => {
            drain(&db, &mut log, &ident("test-worker", host), task, pipeline, Duration::from_millis(heartbeat_ms))
        }
        Cmd::Gpu { rounds, hold_us, marker, hog, host } => {
            gpu(db.q(), &mut log, &ident("gpu-test", host), rounds, hold_us, &marker, hog)
        }
    }
}

/// The queue, SQLite or PostgreSQL: the shared operations through [`JobQueue`], the
/// completion that writes `test_done` in the job's own transaction per backend.
#[derive(Clone)]
enum Db {
    Lite(Queue),
    Pg(PgQueue),
}

type StoreResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

impl Db {
    fn q(&self) -> &dyn JobQueue {
        match self {
            Db::Lite(q) => q,
            Db::Pg(q) => q,
        }
    }

    /// Completes `claim`, recording it in `test_done` in the same transaction; with
    /// `pipeline`, claims the next job of that type in it too.
    fn finish(
        &self,
        claim: &Claim,
        result: &serde_json::Value,
        pipeline: Option<(&WorkerIdent, TaskType)>,
    ) -> Result<Option<Claim>, QueueError> {
        let (job, pid, attempt) = (claim.job_id.0, i64::from(std::process::id()), i64::from(claim.attempt));
        match self {
            Db::Lite(q) => {
                let store = |tx: &rusqlite::Transaction<'_>| -> StoreResult {
                    tx.execute(
                        "INSERT INTO test_done (job_id, pid, attempt) VALUES (?1, ?2, ?3)",
                        (job, pid, attempt),
                    )?;
                    Ok(())
                };
                match pipeline {
                    Some((who, task)) => q.complete_and_claim(claim, result, store, who, task),
                    None => q.complete_with(claim, result, store).map(|()| None),
                }
            }
            Db::Pg(q) => {
                let store = |tx: &mut postgres::Transaction<'_>| -> StoreResult {
                    tx.execute(
                        "INSERT INTO test_done (job_id, pid, attempt) VALUES ($1, $2, $3)",
                        &[&job, &pid, &attempt],
                    )?;
                    Ok(())
                };
                match pipeline {
                    Some((who, task)) => q.complete_and_claim(claim, result, store, who, task),
                    None => q.complete_with(claim, result, store).map(|()| None),
                }
            }
        }
    }
}

/// Runs a heartbeat thread for `claim` until the returned guard is dropped. The flag
/// turns true if the claim was lost.
fn heartbeat(db: &Db, claim: &Claim, every: Duration) -> (mpsc::Sender<()>, Arc<AtomicBool>) {
    let (stop, stopped) = mpsc::channel::<()>();
    let lost = Arc::new(AtomicBool::new(false));
    let (db, fence, flag) = (db.clone(), claim.fence.clone(), lost.clone());
    std::thread::spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
            if let Err(QueueError::LostClaim { .. }) = db.q().heartbeat(&fence) {
                flag.store(true, Ordering::SeqCst);
                return;
            }
        }
    });
    (stop, lost)
}

fn drain(db: &Db, log: &mut Log, who: &WorkerIdent, task: TaskType, pipeline: bool, hb: Duration) -> Result<()> {
    let q = db.q();
    let mut next: Option<Claim> = None;
    loop {
        let claim = match next.take() {
            Some(c) => c,
            None => match q.claim(who, task)? {
                Some(c) => c,
                None => {
                    // Take back the work of crashed workers, then see whether anything
                    // of our type can still become ready.
                    q.recover()?;
                    if q.outstanding(task)? == 0 {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(5 + u64::from(std::process::id() % 7)));
                    continue;
                }
            },
        };
        log.line(&format!("START {} {} {}", claim.job_id, claim.attempt, std::process::id()))?;
        let p = &claim.payload;
        if p["crash"].as_bool() == Some(true) {
            // Die the hard way, mid-job, as a segfaulting model would.
            nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL)?;
        }
        if let Some(msg) = p["fail"].as_str() {
            let out = q.fail(&claim, msg, Retry::Yes)?;
            log.line(&format!("FAIL {} {out:?}", claim.job_id))?;
            continue;
        }
        let (stop, lost) = heartbeat(db, &claim, hb);
        if let Some(ms) = p["work_ms"].as_u64() {
            std::thread::sleep(Duration::from_millis(ms));
        }
        drop(stop);
        if lost.load(Ordering::SeqCst) {
            log.line(&format!("LOST {}", claim.job_id))?;
            continue;
        }
        let result = json!({ "pid": std::process::id() });
        let done = db.finish(&claim, &result, pipeline.then_some((who, task))).map(|n| next = n);
        match done {
            Ok(()) => log.line(&format!("DONE {} {}", claim.job_id, std::process::id()))?,
            Err(QueueError::LostClaim { job_id }) => log.line(&format!("LOST {job_id}"))?,
            Err(e) => return Err(e.into()),
        }
    }
}

fn gpu(
    q: &dyn JobQueue,
    log: &mut Log,
    who: &WorkerIdent,
    rounds: u32,
    hold_us: u64,
    marker: &Path,
    hog: bool,
) -> Result<()> {
    let me = std::process::id();
    let req = DeviceRequest::exclusive(Device::Gpu);
    for _ in 0..rounds {
        let lease = loop {
            if let Some(l) = q.acquire_device(who, req)? {
                break l;
            }
            std::thread::sleep(Duration::from_micros(200 + u64::from(me % 5) * 100));
        };
        let t0 = monotonic_ns();
        // The marker names whoever is inside; it must be empty (they left) or name a
        // dead process (killed inside).
        if let Ok(prev) = std::fs::read_to_string(marker) {
            if let Ok(pid) = prev.trim().parse::<u32>() {
                if pid != me && debrief_jobq::pid_alive(pid) {
                    log.line(&format!("OVERLAP {me} entered while {pid} was inside"))?;
                }
            }
        }
        std::fs::write(marker, me.to_string())?;
        if hog {
            log.line(&format!("HOLD {me} {t0}"))?;
            println!("HOLDING");
            std::io::stdout().flush()?;
            loop {
                std::thread::sleep(q.config().lease / 4);
                q.heartbeat_device(&lease)?;
            }
        }
        std::thread::sleep(Duration::from_micros(hold_us));
        let still_me = std::fs::read_to_string(marker).map(|s| s.trim() == me.to_string());
        if !matches!(still_me, Ok(true)) {
            log.line(&format!("OVERLAP {me} found another pid in the marker"))?;
        }
        let t1 = monotonic_ns();
        // Leave: empty the marker before the lease goes.
        std::fs::write(marker, "")?;
        log.line(&format!("CS {me} {t0} {t1}"))?;
        q.release_device(&lease)?;
    }
    Ok(())
}
