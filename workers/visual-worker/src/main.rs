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
//! Optionally (`--vlm-url`), each new slide is also described by a vision-language model
//! behind an OpenAI-compatible server with image input (llama.cpp's `llama-server -m
//! MODEL.gguf --mmproj MMPROJ.gguf`, Ollama with a vision model, vLLM): charts, diagrams
//! and pictures that OCR cannot read. A frame that shows the same slide as the frame
//! before it (already described) is not sent again. With `--device cuda` the worker
//! holds the full-budget GPU lease while it works through its jobs (the lease stands for
//! the server's GPU memory), so the summary-worker's LLM on the same GPU waits for it;
//! it releases the lease once idle. The description is the model's words, shown as such
//! in the exports (italics), never as something said in the meeting.
//!
//! The OCR engine runs on the CPU and is loaded once for a run of jobs. This binary links
//! neither whisper.cpp nor llama.cpp.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use clap::{Parser, Subcommand};
use debrief_contracts::Screenshot;
use debrief_jobq::{Claim, TaskType};
use debrief_media::frame::{read_png_bytes, LumaGrid};
use debrief_openai::{Client, ServerConfig};
use debrief_runtime::{log, worker, ComputeDevice, Handler, JobContext, JobError, Output, WorkerArgs, WorkerConfig};
use debrief_slides::ocr::Ocr;
use debrief_slides::Frame;
use serde_json::{json, Value};

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
        #[command(flatten)]
        vlm: VlmArgs,
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

#[derive(Debug, Clone, clap::Args)]
struct VlmArgs {
    /// Also describe each new slide with a vision-language model behind this
    /// OpenAI-compatible server with image input, base URL with /v1 (e.g.
    /// http://127.0.0.1:8080/v1 for `llama-server --mmproj`). Off by default.
    #[arg(long, env = "DEBRIEF_VLM_URL")]
    vlm_url: Option<String>,
    /// Model name the server knows (e.g. `qwen2.5vl:3b` for Ollama); empty lets the
    /// server choose.
    #[arg(long, env = "DEBRIEF_VLM_MODEL", default_value = "")]
    vlm_model: String,
    /// Bearer token, if the server wants one.
    #[arg(long, env = "DEBRIEF_VLM_API_KEY")]
    vlm_api_key: Option<String>,
    /// Limit for one request, in seconds.
    #[arg(long, default_value_t = 120)]
    vlm_timeout: u64,
    /// Extra tries of a request that failed in transport or with HTTP 429/5xx.
    #[arg(long, default_value_t = 2)]
    vlm_retries: u32,
    /// First pause between tries, in ms (doubles).
    #[arg(long, default_value_t = 1000)]
    vlm_retry_pause_ms: u64,
    /// Longest description, in tokens.
    #[arg(long, default_value_t = 160)]
    vlm_max_tokens: u32,
}

/// What the model is asked for each slide (`{text}`: what OCR read).
const VLM_PROMPT: &str = "This image is a slide or a screen shared in a meeting. In at most three sentences, \
describe what its charts, diagrams, tables or pictures show: labels, numbers, trends. Do not repeat its text, \
which was read separately:\n{text}\nIf it shows only text, answer exactly: text only";

struct Reader {
    args: OcrArgs,
    ocr: Option<Ocr>,
    vlm: Option<Client>,
    vlm_max_tokens: u32,
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
            TaskType::Visual => match self.visual(job, ctx) {
                Err(JobError::Retry(_)) if ctx.should_stop() => Err(JobError::Interrupted),
                r => r,
            },
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
        // The screenshot's bytes: from the database on a shared PostgreSQL queue, else
        // from the data directory.
        let png = match ctx.stored_input(job.meeting_id, shot.path.as_path())? {
            Some(bytes) => bytes,
            None => std::fs::read(&path)
                .map_err(|e| JobError::Permanent(anyhow!("cannot read screenshot {}: {e}", path.display())))?,
        };
        let img = read_png_bytes(&path, &png).map_err(|e| JobError::Permanent(e.into()))?;
        ctx.progress(2);
        let started = Instant::now();
        let lines = ocr.read(&img).map_err(|e| JobError::Retry(e.into()))?;
        let ocr_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let mut frame = Frame {
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
        let mut result = json!({
            "lines": frame.lines.len(),
            "words": frame.lines.iter().map(|l| l.text.split_whitespace().count()).sum::<usize>(),
            "ocr_ms": ocr_ms,
            "width": img.width,
            "height": img.height,
        });
        if let Some(vlm) = &self.vlm {
            ctx.progress(3);
            match describe(vlm, self.vlm_max_tokens, job, ctx, &png, &frame) {
                Ok((description, how)) => {
                    frame.description = description;
                    result["description"] = how;
                }
                Err(_) if ctx.should_stop() => return Err(JobError::Interrupted),
                Err(e) if job.attempt < job.max_attempts => return Err(JobError::Retry(e)),
                // Partial results: on the last attempt the slide keeps its text.
                Err(e) => {
                    log(NAME, &format!("job {}: no description, keeping the OCR text: {e:#}", job.job_id));
                    result["description"] = json!({"error": format!("{e:#}")});
                }
            }
        }
        let meeting = job.meeting_id;
        Ok(Output { result, store: Some(Box::new(move |tx| Ok(debrief_slides::store_frame(tx, meeting, &frame)?))) })
    }
}

/// The description of `frame` (its image is `png`) and how it was got: reused from the
/// meeting's frame just before it if that shows the same slide and was described,
/// else asked of the model (`None` when it sees only text).
fn describe(
    vlm: &Client,
    max_tokens: u32,
    job: &Claim,
    ctx: &JobContext<'_>,
    png: &[u8],
    frame: &Frame,
) -> Result<(Option<String>, Value)> {
    let frames = ctx.queue.read(|db| debrief_slides::load_frames(db, job.meeting_id))?;
    let before = frames.iter().rfind(|f| f.t_ms < frame.t_ms && f.job_id != frame.job_id);
    if let Some(prev) = before.filter(|p| p.description.is_some() && debrief_slides::same_slide(p, frame)) {
        return Ok((prev.description.clone(), json!({"reused_from_job": prev.job_id})));
    }
    let started = Instant::now();
    let text = frame.text();
    let prompt = VLM_PROMPT.replace("{text}", if text.trim().is_empty() { "(none)" } else { &text });
    let body = json!({
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", BASE64.encode(png))}},
        ]}],
        "temperature": 0,
        "max_tokens": max_tokens,
        "stream": false,
        // Ollama unloads the model right after answering, so the server holds no GPU
        // memory once this worker releases its lease (other servers ignore it).
        "keep_alive": 0,
    });
    let answer = vlm.chat(body, &|| ctx.should_stop())?;
    let answer = answer.split_whitespace().collect::<Vec<_>>().join(" ");
    let ms = started.elapsed().as_millis();
    let only_text = answer.trim_end_matches('.').eq_ignore_ascii_case("text only");
    log(NAME, &format!("job {}: described by {} in {ms} ms: {answer:?}", job.job_id, vlm.config().url));
    let description = (!answer.is_empty() && !only_text).then_some(answer);
    Ok((description, json!({"vlm_ms": ms, "text_only": only_text})))
}

fn main() -> Result<()> {
    let Cmd::Run { args, ocr, vlm } = Cli::parse().cmd;
    let threads = debrief_runtime::tune_process(NAME, &args);
    let (dd, q) = debrief_runtime::open_queue(args.data_dir.as_deref(), args.database.as_deref())?;
    let client = match &vlm.vlm_url {
        Some(url) => {
            let cfg = ServerConfig {
                url: url.clone(),
                model: vlm.vlm_model.clone(),
                api_key: vlm.vlm_api_key.clone(),
                timeout: Duration::from_secs(vlm.vlm_timeout.max(1)),
                retries: vlm.vlm_retries,
                retry_pause: Duration::from_millis(vlm.vlm_retry_pause_ms),
            };
            Some(Client::new(cfg, "VLM server", "--vlm-url", NAME)?)
        }
        None => None,
    };
    if args.device != ComputeDevice::Cpu && client.is_none() {
        bail!(
            "--device {:?}: the visual worker's OCR runs on the CPU; a GPU is for the vision-language model (--vlm-url)",
            args.device
        );
    }
    // With a VLM server, the lease stands for the server's GPU memory while this worker
    // uses it.
    let device = args.device.lease();
    let cfg = WorkerConfig {
        name: NAME.into(),
        tasks: vec![TaskType::Visual],
        device,
        until_idle: args.until_idle,
        max_jobs: args.max_jobs,
        threads,
        idle_min: debrief_runtime::IDLE_MIN,
        idle_max: debrief_runtime::IDLE_MAX,
    };
    let mut h = Reader { args: ocr, ocr: None, vlm: client, vlm_max_tokens: vlm.vlm_max_tokens };
    worker::run(&q, &dd, &cfg, &mut h)?;
    Ok(())
}
