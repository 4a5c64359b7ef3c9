//! Claim+complete throughput of the job queue, for `scripts/bench-queue`.
//!
//! `jobq-bench --db PATH --jobs N --consumers C [--mode one-commit|two-commit]`
//! enqueues N jobs (not timed), starts C consumer processes (this binary again, with
//! `--consume`), releases them together once all have opened the database, and times
//! until the last one finds the queue empty. Each consumer claims, "runs" (no-op) and
//! completes jobs: `two-commit` is claim and complete as separate transactions,
//! `one-commit` completes each job and claims the next in one transaction
//! (`Queue::complete_and_claim`). Durability is the queue's own: WAL with
//! synchronous=FULL, read back and reported. The last stdout line is JSON.
//!
//! `--database-url postgres://...` runs the same on PostgreSQL (`PgQueue`) instead of the
//! SQLite file (`--db` is then unused); the database must be empty. Durability is the
//! server's `synchronous_commit`, read back and reported.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use clap::{Parser, ValueEnum};
use debrief_jobq::{JobQueue, NewJob, PgQueue, Queue, QueueConfig, Status, TaskType, WorkerIdent};
use serde_json::json;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum Mode {
    OneCommit,
    TwoCommit,
}

#[derive(Parser)]
struct Cli {
    #[arg(long, default_value = "debrief.db")]
    db: PathBuf,
    /// A PostgreSQL database to run on instead of the SQLite file.
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value_t = 5000)]
    jobs: u32,
    #[arg(long, default_value_t = 1)]
    consumers: u32,
    #[arg(long, value_enum, default_value_t = Mode::OneCommit)]
    mode: Mode,
    /// Turn the writer gate off (to measure what it buys).
    #[arg(long)]
    no_gate: bool,
    /// Internal: run as one consumer process.
    #[arg(long, hide = true)]
    consume: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let cfg = QueueConfig { writer_gate: !cli.no_gate, ..QueueConfig::default() };
    if let Some(url) = &cli.database_url {
        let q =
            PgQueue::connect(url, cfg).with_context(|| format!("connecting to {}", debrief_jobq::redact_url(url)))?;
        if cli.consume {
            return consume(&q, cli.mode);
        }
        return run_pg(&cli, &q, url);
    }
    let q = Queue::open(&cli.db, cfg).with_context(|| format!("opening {}", cli.db.display()))?;
    if cli.consume {
        return consume(&q, cli.mode);
    }
    let m = q.create_meeting(Some("bench"), None)?;
    q.write(|tx| {
        for i in 0..cli.jobs {
            Queue::enqueue_in(tx, &NewJob::new(m, TaskType::Audio, i64::from(i)).payload(json!({ "n": i })))?;
        }
        Ok::<_, debrief_jobq::QueueError>(())
    })?;
    q.read(|c| Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?))?;
    let (journal, sync): (String, i64) = q.read(|c| {
        Ok((
            c.pragma_query_value(None, "journal_mode", |r| r.get(0))?,
            c.pragma_query_value(None, "synchronous", |r| r.get(0))?,
        ))
    })?;

    let (secs, per_consumer) = race(&cli, &["--db".into(), cli.db.clone().into_os_string()])?;
    let completed: u64 = q.counts()?.iter().filter(|(_, s, _)| *s == Status::Completed).map(|(_, _, n)| n).sum();
    let total: u64 = per_consumer.iter().sum();
    if completed != u64::from(cli.jobs) || total != u64::from(cli.jobs) {
        bail!("{completed} COMPLETED and {total} consumed, expected {}", cli.jobs);
    }
    println!(
        "{}",
        json!({
            "system": "debrief",
            "mode": format!("{:?}", cli.mode),
            "writer_gate": !cli.no_gate,
            "consumers": cli.consumers,
            "jobs": cli.jobs,
            "seconds": secs,
            "jobs_per_s": f64::from(cli.jobs) / secs,
            "per_consumer": per_consumer,
            "journal_mode": journal,
            "synchronous": match sync { 2 => "FULL".to_owned(), 1 => "NORMAL".to_owned(), n => n.to_string() },
        })
    );
    Ok(())
}

/// Starts the consumers, lets them go together, and times them until the last one found
/// the queue empty. Returns the seconds and the jobs each consumed.
fn race(cli: &Cli, target: &[std::ffi::OsString]) -> Result<(f64, Vec<u64>)> {
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for _ in 0..cli.consumers {
        let mode = match cli.mode {
            Mode::OneCommit => "one-commit",
            Mode::TwoCommit => "two-commit",
        };
        let mut child = Command::new(&exe)
            .args(target)
            .args(["--consume", "--mode", mode])
            .args(cli.no_gate.then_some("--no-gate"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut out = BufReader::new(child.stdout.take().context("stdout")?);
        let mut line = String::new();
        out.read_line(&mut line)?;
        ensure!(line.trim() == "ready", "consumer said {line:?}");
        children.push((child, out));
    }
    let start = Instant::now();
    for (child, _) in &mut children {
        child.stdin.take().context("stdin")?.write_all(b"go\n")?;
    }
    let mut per_consumer = Vec::new();
    for (mut child, mut out) in children {
        let mut line = String::new();
        out.read_line(&mut line)?;
        let st = child.wait()?;
        ensure!(st.success(), "consumer failed: {st}");
        per_consumer.push(line.trim().parse::<u64>()?);
    }
    Ok((start.elapsed().as_secs_f64(), per_consumer))
}

/// Enqueues, races and reports on PostgreSQL.
fn run_pg(cli: &Cli, q: &PgQueue, url: &str) -> Result<()> {
    let m = q.create_meeting(Some("bench"), None)?;
    q.tx(|tx| {
        for i in 0..cli.jobs {
            PgQueue::enqueue_in(tx, &NewJob::new(m, TaskType::Audio, i64::from(i)).payload(json!({ "n": i })))?;
        }
        Ok(())
    })?;
    let sync: String = q.tx(|tx| Ok(tx.query_one("SHOW synchronous_commit", &[])?.get(0)))?;
    let fsync: String = q.tx(|tx| Ok(tx.query_one("SHOW fsync", &[])?.get(0)))?;
    let (secs, per_consumer) = race(cli, &["--database-url".into(), url.into()])?;
    let completed: i64 =
        q.tx(|tx| Ok(tx.query_one("SELECT count(*) FROM jobs WHERE status = 'COMPLETED'", &[])?.get(0)))?;
    let total: u64 = per_consumer.iter().sum();
    if completed != i64::from(cli.jobs) || total != u64::from(cli.jobs) {
        bail!("{completed} COMPLETED and {total} consumed, expected {}", cli.jobs);
    }
    println!(
        "{}",
        json!({
            "system": "debrief-pg",
            "mode": format!("{:?}", cli.mode),
            "consumers": cli.consumers,
            "jobs": cli.jobs,
            "seconds": secs,
            "jobs_per_s": f64::from(cli.jobs) / secs,
            "per_consumer": per_consumer,
            "synchronous_commit": sync,
            "fsync": fsync,
        })
    );
    Ok(())
}

fn consume(q: &dyn JobQueue, mode: Mode) -> Result<()> {
    let who = WorkerIdent::current("bench");
    println!("ready");
    std::io::stdout().flush()?;
    let mut go = String::new();
    std::io::stdin().read_line(&mut go)?;
    let mut n = 0u64;
    let mut next = q.claim(&who, TaskType::Audio)?;
    while let Some(c) = next {
        let result = json!({ "n": c.payload["n"] });
        n += 1;
        next = match mode {
            Mode::OneCommit => q.complete_then_claim(&c, &result, &who, TaskType::Audio)?,
            Mode::TwoCommit => {
                q.complete(&c, &result)?;
                q.claim(&who, TaskType::Audio)?
            }
        };
    }
    println!("{n}");
    Ok(())
}
