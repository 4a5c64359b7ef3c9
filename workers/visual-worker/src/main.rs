//! `visual-worker`: reads queued screen frames into slides.
//!
//! VISUAL jobs (one screen frame each: a screenshot of `ingest record --screens`): read
//! the PNG, compute its change-detector grid, read its text with Tesseract (lines with
//! boxes, so headings, bullets and numbers survive), and store the frame, replacing any
//! earlier result of the job. Slides are assembled from a meeting's frames when read
//! (`debrief_slides`): near-duplicate frames become one slide with its time range. A
//! damaged or missing image fails its job for good with the file named; the meeting's
//! summary does not wait for it (partial results).
//!
//! The OCR engine runs on the CPU and is loaded once for a run of jobs. This binary links
//! neither whisper.cpp nor llama.cpp.

use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use clap::{Parser, Subcommand};
use debrief_contracts::Screenshot;
use debrief_jobq::{Claim, TaskType};
use debrief_media::frame::{read_png, LumaGrid};
use debrief_runtime::{log, worker, ComputeDevice, Handler, JobContext, JobError, Output, WorkerArgs, WorkerConfig};
use debrief_slides::ocr::Ocr;
use debrief_slides::Frame;
use serde_json::json;

const NAME: &str = "visual-worker";

#[derive(Parser)]
#[command(version, about = "Debrief's visual worker (VISUAL jobs: OCR of screen frames into slides)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Take VISUAL jobs.
    Run {
        #[command(flatten)]
        args: WorkerArgs,
        #[command(flatten)]
        ocr: OcrArgs,
    },
}

#[derive(Debug, Clone, clap::Args)]
struct OcrArgs {
    /// Tesseract languages, `+`-joined (each needs its tesseract-ocr-LANG package).
    #[arg(long, env = "DEBRIEF_OCR_LANG", default_value = "eng")]
    lang: String,
    /// Directory of Tesseract's .traineddata files (default: $TESSDATA_PREFIX, else the
    /// system's).
    #[arg(long, env = "DEBRIEF_TESSDATA")]
    tessdata: Option<String>,
}

struct Reader {
    args: OcrArgs,
    ocr: Option<Ocr>,
}

impl Handler for Reader {
    fn load(&mut self, _threads: usize) -> Result<()> {
        let started = Instant::now();
        let ocr = Ocr::load(self.args.tessdata.as_deref(), &self.args.lang)?;
        log(NAME, &format!("loaded Tesseract ({}) in {:.2} s", self.args.lang, started.elapsed().as_secs_f64()));
        self.ocr = Some(ocr);
        Ok(())
    }

    fn run(&mut self, job: &Claim, ctx: &JobContext<'_>) -> Result<Output, JobError> {
        match job.task_type {
            TaskType::Visual => self.visual(job, ctx),
            other => Err(JobError::Permanent(anyhow!("visual-worker does not take {other} jobs"))),
        }
    }

    fn unload(&mut self) {
        if self.ocr.take().is_some() {
            log(NAME, "Tesseract unloaded");
        }
    }
}

impl Reader {
    fn visual(&mut self, job: &Claim, ctx: &JobContext<'_>) -> Result<Output, JobError> {
        let ocr = self.ocr.as_mut().ok_or_else(|| JobError::Retry(anyhow!("OCR engine not loaded")))?;
        // A malformed payload or a damaged image will not get better by retrying.
        let shot: Screenshot = job.payload_as().map_err(|e| JobError::Permanent(e.into()))?;
        let path = shot.path.under(ctx.data_dir.root());
        ctx.progress(1);
        let img = read_png(&path).map_err(|e| JobError::Permanent(e.into()))?;
        ctx.progress(2);
        let started = Instant::now();
        let lines = ocr.read(&img).map_err(|e| JobError::Retry(e.into()))?;
        let ocr_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let frame = Frame {
            job_id: job.job_id,
            t_ms: i64::try_from(shot.t_ms).unwrap_or(i64::MAX),
            path: shot.path.to_string(),
            width: img.width,
            height: img.height,
            grid: LumaGrid::of(&img),
            lines,
            ocr_ms,
            description: None,
        };
        let result = json!({
            "lines": frame.lines.len(),
            "words": frame.lines.iter().map(|l| l.text.split_whitespace().count()).sum::<usize>(),
            "ocr_ms": ocr_ms,
            "width": img.width,
            "height": img.height,
        });
        let meeting = job.meeting_id;
        Ok(Output { result, store: Some(Box::new(move |tx| Ok(debrief_slides::store_frame(tx, meeting, &frame)?))) })
    }
}

fn main() -> Result<()> {
    let Cmd::Run { args, ocr } = Cli::parse().cmd;
    let threads = debrief_runtime::tune_process(NAME, &args);
    let (dd, q) = debrief_runtime::open(args.data_dir.as_deref())?;
    if args.device != ComputeDevice::Cpu {
        bail!("--device {:?}: the visual worker's OCR runs on the CPU only", args.device);
    }
    let cfg = WorkerConfig {
        name: NAME.into(),
        tasks: vec![TaskType::Visual],
        device: None,
        until_idle: args.until_idle,
        max_jobs: args.max_jobs,
        threads,
        idle_min: debrief_runtime::IDLE_MIN,
        idle_max: debrief_runtime::IDLE_MAX,
    };
    let mut h = Reader { args: ocr, ocr: None };
    worker::run(&q, &dd, &cfg, &mut h)?;
    Ok(())
}
