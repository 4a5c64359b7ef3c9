//! `ingest`: gets audio into Debrief. `import` decodes recordings into 16 kHz mono chunks
//! cut at quiet points and queues an AUDIO job per chunk; `record` captures the
//! microphone, the system audio and screenshots live, queueing chunks (AUDIO) and changed
//! screenshots (VISUAL) while the meeting goes on; `recover` finishes recordings whose
//! recorder died (every `import` and `record` does that first too).
//!
//! Capture always goes to the data directory's SQLite queue, which never waits on a
//! network. With `--database postgres://…` (or `DEBRIEF_DATABASE_URL`) a meeting is
//! pushed to that shared queue once it is closed (`import` and `record` do it at the
//! end; `push` does it for meetings recorded before, or whose push failed), and the
//! id printed is the meeting's id there.

mod import;
mod journal;
mod kill_point;
mod layout;
mod pulse;
mod record;
mod screens;
mod video;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "Get recordings into Debrief")]
struct Cli {
    /// Data directory (default: $DEBRIEF_HOME, else the XDG data directory).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// A shared PostgreSQL queue (postgres://…) that closed meetings are pushed to, with
    /// their chunks and screenshots, for workers on other machines.
    #[arg(long, global = true, env = "DEBRIEF_DATABASE_URL")]
    database: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Import recordings (WAV, FLAC, MP3, Ogg/Vorbis, M4A/MP4 AAC, ...) as one meeting,
    /// in the order given. Prints the meeting id as the last line. Re-running an import
    /// of the same files resumes or finds the earlier meeting instead of duplicating it.
    Import(import::ImportArgs),
    /// Record a meeting live: microphone and system audio as separate channels, and
    /// screenshots with --screens. Chunks are queued while recording. Stops at Ctrl-C,
    /// SIGTERM or --for; prints a JSON report and then the meeting id as the last line.
    Record(record::RecordArgs),
    /// List capture devices (PulseAudio or PipeWire), marking the default microphone and
    /// the monitor sources that carry system audio.
    Devices,
    /// Finish recordings whose recorder died: queue the chunk in progress and the
    /// unqueued screenshots, and close the meeting. Prints the meetings recovered.
    Recover,
    /// Push closed meetings to the --database queue (all that are closed when none is
    /// named; one already pushed is reported, not copied again). Prints "LOCAL ID" per
    /// meeting.
    Push {
        /// Local meeting ids.
        meetings: Vec<debrief_jobq::MeetingId>,
    },
}

/// A log line on stderr.
pub(crate) fn log(msg: &str) {
    debrief_jobq::log("ingest", msg);
}

/// The shared queue `--database` names, connected before anything is captured (a
/// mistyped URL fails now, not after the recording).
fn shared_queue(database: Option<&str>) -> anyhow::Result<Option<debrief_jobq::PgQueue>> {
    match database {
        None => Ok(None),
        Some(url) if debrief_jobq::is_postgres_url(url) => {
            Ok(Some(debrief_jobq::PgQueue::connect(url, debrief_jobq::QueueConfig::default())?))
        }
        Some(other) => anyhow::bail!(
            "--database {other}: ingest pushes meetings to a postgres:// URL only (its own queue is the data directory's)"
        ),
    }
}

/// Pushes local meeting `m` and says what happened (files missing here included).
fn push_one(
    q: &debrief_jobq::Queue,
    dd: &debrief_config::DataDir,
    pg: &debrief_jobq::PgQueue,
    m: debrief_jobq::MeetingId,
) -> debrief_jobq::Result<debrief_jobq::Pushed> {
    let p = debrief_jobq::push_meeting(q, dd.root(), pg, m)?;
    if p.already {
        log(&format!("meeting {m} was pushed before to {}, as meeting {}", pg.database(), p.meeting_id));
    } else {
        log(&format!(
            "meeting {m} pushed to {} as meeting {} ({} file(s) stored, {} already there)",
            pg.database(),
            p.meeting_id,
            p.files_copied,
            p.files_present
        ));
    }
    for f in &p.files_missing {
        log(&format!("meeting {m}: {f} is missing here; its job will fail there and leave a gap"));
    }
    Ok(p)
}

/// Pushes local meeting `m` when a shared queue is named, and prints the id it goes by.
fn publish(
    dir: Option<&std::path::Path>,
    pg: Option<&debrief_jobq::PgQueue>,
    m: debrief_jobq::MeetingId,
) -> anyhow::Result<()> {
    let Some(pg) = pg else {
        println!("{m}");
        return Ok(());
    };
    let (dd, q) = debrief_jobq::Queue::open_data_dir(dir)?;
    let p = push_one(&q, &dd, pg, m).map_err(|e| {
        anyhow::anyhow!(
            "meeting {m} is in the data directory, but pushing it to {} failed: {e} (`ingest push {m}` tries again)",
            pg.database()
        )
    })?;
    println!("{}", p.meeting_id);
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = cli.data_dir.as_deref();
    let out = match cli.cmd {
        Cmd::Import(args) => shared_queue(cli.database.as_deref())
            .and_then(|pg| import::run(dir, &args).and_then(|m| publish(dir, pg.as_ref(), m))),
        Cmd::Record(args) => shared_queue(cli.database.as_deref())
            .and_then(|pg| record::run(dir, &args).and_then(|m| publish(dir, pg.as_ref(), m))),
        Cmd::Push { meetings } => push(dir, cli.database.as_deref(), &meetings),
        Cmd::Devices => pulse::list(),
        Cmd::Recover => debrief_jobq::Queue::open_data_dir(dir).map_err(anyhow::Error::from).and_then(|(dd, q)| {
            let r = journal::recover_dead(&dd, &q)?;
            for m in &r.closed {
                println!("{m}");
            }
            anyhow::ensure!(r.failed.is_empty(), "the recovery of meeting(s) {:?} failed (see above)", r.failed);
            Ok(())
        }),
    };
    match out {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ingest: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `ingest push`: the named meetings, or every closed one.
fn push(
    dir: Option<&std::path::Path>,
    database: Option<&str>,
    meetings: &[debrief_jobq::MeetingId],
) -> anyhow::Result<()> {
    let pg = shared_queue(database)?.ok_or_else(|| {
        anyhow::anyhow!("push: give the shared queue with --database postgres://… (or DEBRIEF_DATABASE_URL)")
    })?;
    let (dd, q) = debrief_jobq::Queue::open_data_dir(dir)?;
    let list: Vec<debrief_jobq::MeetingId> = if meetings.is_empty() {
        q.meetings(None)?
            .into_iter()
            .filter(|m| m.status != debrief_jobq::MeetingStatus::Open)
            .map(|m| m.meeting_id)
            .collect()
    } else {
        meetings.to_vec()
    };
    let mut failed = Vec::new();
    for m in list {
        match push_one(&q, &dd, &pg, m) {
            Ok(p) => println!("{m} {}", p.meeting_id),
            Err(e) => {
                log(&format!("meeting {m}: {e}"));
                failed.push(m);
            }
        }
    }
    anyhow::ensure!(failed.is_empty(), "meeting(s) {failed:?} were not pushed (see above)");
    Ok(())
}
