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

/// Default idle polling: start at 100 ms, back off to 2 s.
pub const IDLE_MIN: Duration = Duration::from_millis(100);
/// See [`IDLE_MIN`].
pub const IDLE_MAX: Duration = Duration::from_secs(2);
