//! A test-only worker built on the real worker runtime (poll loop, heartbeats, signals,
//! tuning), standing in for the model workers in end-to-end tests.
//!
//! AUDIO: reads the chunk file and checks it against its payload (a missing or wrong
//! file fails the job for good), result = sample count and RMS. TRANSCRIPT: gathers its
//! meeting's chunk results and stores the real gaps failed chunks leave. VISUAL and SUMMARY: trivial results. `DEBRIEF_TEST_WORK_MS`
//! makes each job take that long (checking for stop requests), for kill tests;
//! `DEBRIEF_TEST_STOP_MS` makes it take that long to stop once asked (a model step
//! that cannot be interrupted); `DEBRIEF_TEST_UNINTERRUPTIBLE=1` makes it ignore stop
//! requests while it works. `DEBRIEF_TEST_LEASE_MS` sets the queue's lease period.
//! Each job records progress steps 1 to 10 as its work time passes; with
//! `DEBRIEF_TEST_ABORT_SEQ=N` the worker aborts (SIGABRT, as a decoder bug would) at step
//! 5 of the AUDIO job with seq N, every time: a poison chunk.
//! `--device cuda` takes the (fake: nothing runs on a GPU) full GPU lease while loaded.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use debrief_contracts::AudioChunk;
use debrief_jobq::{Claim, TaskType};
use debrief_runtime::{worker, Handler, JobContext, JobError, Output, WorkerArgs, WorkerConfig};
use serde_json::json;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Take jobs.
    Run {
        #[command(flatten)]
        args: WorkerArgs,
        /// Task types to take, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "AUDIO,TRANSCRIPT,VISUAL,SUMMARY")]
        tasks: Vec<TaskType>,
    },
}

struct Fake {
    work: Duration,
    uninterruptible: bool,
    stop: Duration,
    abort_seq: Option<i64>,
    loaded: bool,
}

impl Handler for Fake {
    fn load(&mut self, _threads: usize) -> Result<()> {
        eprintln!("test-worker: model loaded");
        self.loaded = true;
        Ok(())
    }

    fn run(&mut self, job: &Claim, ctx: &JobContext<'_>) -> Result<Output, JobError> {
        assert!(self.loaded, "run before load");
        let start = Instant::now();
        let until = start + self.work;
        let poison = job.task_type == TaskType::Audio && self.abort_seq == Some(job.seq);
        let mut step = 0;
        loop {
            // Steps 1..=10 mark tenths of the work time, each recorded before it runs.
            let due = if self.work.is_zero() {
                10
            } else {
                (start.elapsed().as_micros() * 10 / self.work.as_micros()).min(9) as i64 + 1
            };
            while step < due {
                step += 1;
                ctx.progress(step);
                if poison && step == 5 {
                    eprintln!("test-worker: job {} (AUDIO #{}) aborts at step 5", job.job_id, job.seq);
                    std::process::abort();
                }
            }
            if Instant::now() >= until {
                break;
            }
            if !self.uninterruptible && ctx.should_stop() {
                std::thread::sleep(self.stop);
                return Err(JobError::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        match job.task_type {
            TaskType::Audio => audio(job, ctx).map_err(JobError::Permanent),
            TaskType::Transcript => {
                let meeting = job.meeting_id;
                let q = ctx.queue.sqlite().expect("test-worker runs on SQLite");
                let chunks: Vec<_> = q
                    .meeting_jobs(meeting)
                    .map_err(|e| JobError::Retry(e.into()))?
                    .into_iter()
                    .filter(|j| j.task_type == TaskType::Audio)
                    .map(|j| json!({ "seq": j.seq, "result": j.result }))
                    .collect();
                // The real gaps (from the chunks' geometry and status), so exports of a
                // partial meeting mark them as they would with the audio-worker.
                let gaps = ctx
                    .queue
                    .read(|c| Ok(debrief_transcript::gaps(&debrief_transcript::load_chunks(c, meeting)?)))
                    .map_err(|e| JobError::Retry(e.into()))?;
                Ok(Output {
                    result: json!({ "chunks": chunks, "gaps": gaps.len() }),
                    store: Some(Box::new(move |tx| Ok(debrief_transcript::store_gaps(tx, meeting, &gaps)?))),
                })
            }
            _ => Ok(Output::result(json!({ "ok": true }))),
        }
    }

    fn unload(&mut self) {
        if self.loaded {
            eprintln!("test-worker: model unloaded");
        }
        self.loaded = false;
    }
}

fn audio(job: &Claim, ctx: &JobContext<'_>) -> Result<Output> {
    let chunk: AudioChunk = job.payload_as()?;
    let path = chunk.path.under(ctx.data_dir.root());
    let samples = debrief_media::read_wav(&path).with_context(|| format!("chunk of job {}", job.job_id))?;
    let expected = chunk.samples;
    anyhow::ensure!(
        samples.len() as u64 == expected,
        "{} holds {} samples, the job says {expected}",
        path.display(),
        samples.len()
    );
    let rms = (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len().max(1) as f64).sqrt();
    Ok(Output::result(json!({ "samples": samples.len(), "rms": rms })))
}

fn main() -> Result<()> {
    let Cmd::Run { args, tasks } = Cli::parse().cmd;
    let threads = debrief_runtime::tune_process("test-worker", &args);
    let dd = debrief_config::DataDir::open(args.data_dir.as_deref())?;
    let mut qcfg = debrief_jobq::QueueConfig::default();
    if let Some(ms) = std::env::var("DEBRIEF_TEST_LEASE_MS").ok().and_then(|v| v.parse().ok()) {
        qcfg.lease = Duration::from_millis(ms);
    }
    let q = debrief_jobq::Queue::open_in(&dd, qcfg)?;
    let ms = |var: &str| Duration::from_millis(std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(0));
    let cfg = WorkerConfig {
        name: "test-worker".into(),
        tasks,
        device: args.device.lease(),
        until_idle: args.until_idle,
        max_jobs: args.max_jobs,
        threads,
        idle_min: Duration::from_millis(20),
        idle_max: Duration::from_millis(200),
    };
    let mut h = Fake {
        work: ms("DEBRIEF_TEST_WORK_MS"),
        stop: ms("DEBRIEF_TEST_STOP_MS"),
        uninterruptible: std::env::var_os("DEBRIEF_TEST_UNINTERRUPTIBLE").is_some_and(|v| v == "1"),
        abort_seq: std::env::var("DEBRIEF_TEST_ABORT_SEQ").ok().and_then(|v| v.parse().ok()),
        loaded: false,
    };
    worker::run(&debrief_jobq::AnyQueue::Sqlite(q), &dd, &cfg, &mut h)?;
    Ok(())
}
