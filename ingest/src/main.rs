//! `ingest`: gets audio into Debrief. `import` decodes recordings into 16 kHz mono chunks
//! cut at quiet points and queues an AUDIO job per chunk.

mod import;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = match cli.cmd {
        Cmd::Import(args) => import::run(cli.data_dir.as_deref(), &args),
    };
    match out {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ingest: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
