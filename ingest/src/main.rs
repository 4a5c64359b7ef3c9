//! `ingest`: gets audio into Debrief. `import` decodes recordings into 16 kHz mono chunks
//! cut at quiet points and queues an AUDIO job per chunk; `record` captures the
//! microphone, the system audio and screenshots live, queueing chunks (AUDIO) and changed
//! screenshots (VISUAL) while the meeting goes on; `recover` finishes recordings whose
//! recorder died (every `import` and `record` does that first too).

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
}

/// A log line on stderr.
pub(crate) fn log(msg: &str) {
    debrief_jobq::log("ingest", msg);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = cli.data_dir.as_deref();
    let out = match cli.cmd {
        Cmd::Import(args) => import::run(dir, &args),
        Cmd::Record(args) => record::run(dir, &args),
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
