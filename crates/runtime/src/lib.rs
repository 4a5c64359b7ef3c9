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

use anyhow::{Context, Result};
use debrief_config::DataDir;
use debrief_jobq::{Queue, QueueConfig};

pub use worker::{Handler, JobContext, JobError, Output, Store, Summary, WorkerConfig};

/// The command line every worker takes: `WORKER [--data-dir DIR] run [--until-idle]
/// [--max-jobs N] [--device cpu|cuda] [--no-tune] [--threads N]`.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// Data directory (default: $DEBRIEF_HOME, else the XDG data directory).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Exit once no job this worker takes can become ready.
    #[arg(long)]
    pub until_idle: bool,
    /// Exit after this many jobs.
    #[arg(long)]
    pub max_jobs: Option<u64>,
    /// Where inference runs: cpu, or cuda (needs a build with the `cuda` feature; takes
    /// the GPU lease).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Leave priority, I/O class and CPU affinity alone.
    #[arg(long)]
    pub no_tune: bool,
    /// Inference threads (default: the performance cores).
    #[arg(long)]
    pub threads: Option<usize>,
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

/// One log line on stderr: UTC time, process name and pid, message.
pub fn log(name: &str, msg: &str) {
    eprintln!("{} {name}[{}]: {msg}", utc_now(), std::process::id());
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn utc_now() -> String {
    format_utc_ms(debrief_jobq::now_ms())
}

/// Formats ms since the epoch as ISO 8601 UTC.
pub fn format_utc_ms(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Opens the data directory and the queue the way every binary does.
pub fn open(data_dir: Option<&std::path::Path>) -> Result<(DataDir, Queue)> {
    let dd = DataDir::open(data_dir)?;
    let q = Queue::open_in(&dd, QueueConfig::default())
        .with_context(|| format!("opening the database in {}", dd.root().display()))?;
    Ok((dd, q))
}

/// Default idle polling: start at 100 ms, back off to 2 s.
pub const IDLE_MIN: Duration = Duration::from_millis(100);
/// See [`IDLE_MIN`].
pub const IDLE_MAX: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(format_utc_ms(1_795_737_600_000), "2026-11-27T00:00:00.000Z");
    }
}
