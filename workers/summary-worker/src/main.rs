//! `summary-worker`: map-reduce meeting summaries (SUMMARY jobs).
//!
//! The foreman releases a meeting's SUMMARY job once its transcript (and every VISUAL
//! job) is complete. Map: the transcript is cut into windows that fit the model's
//! context with room for the answer, and each window's notes (key points, decisions,
//! action items, open questions, each with its time) are generated under a grammar and
//! stored at once, fenced by the claim, so a killed job resumes from its last finished
//! window. Reduce: the notes are merged, hierarchically when they do not fit one
//! context, into the summary, stored in the transaction that completes the job.
//!
//! Backends: llama.cpp in this process (default; `--device cuda` in a build with the
//! `cuda` feature takes the GPU lease before loading and drops model and context before
//! releasing it), or any OpenAI-compatible server (`--backend openai`).
//!
//! This binary links llama.cpp and must never link whisper.cpp.

mod backend;
mod settings;

use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use debrief_jobq::{Claim, QueueError, TaskType};
use debrief_runtime::{log, worker, ComputeDevice, Handler, JobContext, JobError, Output, WorkerArgs, WorkerConfig};
use debrief_summary::parse::Anchor;
use debrief_summary::prompts::Prompts;
use debrief_summary::shape::{Shape, MAP, OVERVIEW, REDUCE};
use debrief_summary::store::{self, WindowRow};
use debrief_summary::{mmss, parse, reduce, window, Notes, Summary};
use serde_json::json;

use backend::{Llama, Llm, Server};
use settings::{Backend, Settings, SettingsArgs};

const NAME: &str = "summary-worker";

#[derive(Parser)]
#[command(version, about = "Debrief's summary worker (SUMMARY jobs): llama.cpp or an OpenAI-compatible server")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Take SUMMARY jobs.
    Run {
        #[command(flatten)]
        args: WorkerArgs,
        #[command(flatten)]
        llm: SettingsArgs,
    },
}

struct Summarizer {
    settings: Settings,
    prompts: Prompts,
    use_gpu: bool,
    llm: Option<Box<dyn Llm>>,
}

/// Resident memory of this process, for the load and unload logs.
fn rss_mb() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or_else(|| "?".into(), |kb| format!("{} MB", kb / 1024))
}

impl Handler for Summarizer {
    fn load(&mut self, threads: usize) -> Result<()> {
        let s = &self.settings;
        let started = Instant::now();
        let before = rss_mb();
        let llm: Box<dyn Llm> = match s.backend {
            Backend::Llama => {
                let path = backend::gguf_path(&s.model, s.model_cache.clone())?;
                let engine = debrief_llm::Engine::load(&debrief_llm::EngineConfig {
                    model: path.clone(),
                    threads,
                    n_ctx: s.context,
                    use_gpu: self.use_gpu,
                })?;
                let id = format!(
                    "{} (llama.cpp)",
                    path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
                );
                Box::new(Llama { engine, id })
            }
            Backend::Openai => Box::new(Server::new(s.server(), s.context as usize)?),
        };
        log(
            NAME,
            &format!(
                "loaded {} (context {} tokens) in {:.2} s; memory {before} -> {}",
                llm.id(),
                llm.n_ctx(),
                started.elapsed().as_secs_f64(),
                rss_mb()
            ),
        );
        self.llm = Some(llm);
        Ok(())
    }

    fn run(&mut self, job: &Claim, ctx: &JobContext<'_>) -> Result<Output, JobError> {
        if job.task_type != TaskType::Summary {
            return Err(JobError::Permanent(anyhow!("summary-worker does not take {} jobs", job.task_type)));
        }
        match self.summarise(job, ctx) {
            // A request cut short by a stop (or a lost claim) is not the job's failure:
            // hand it back uncounted.
            Err(JobError::Retry(_)) if ctx.should_stop() => Err(JobError::Interrupted),
            r => r,
        }
    }

    fn unload(&mut self) {
        if let Some(llm) = self.llm.take() {
            let before = rss_mb();
            let id = llm.id();
            drop(llm);
            log(NAME, &format!("model unloaded ({id}); memory {before} -> {}", rss_mb()));
        }
    }
}

/// A failure of the model or server: retried (the server may come back; the job fails
/// for good after its attempts).
fn retry(e: impl Into<anyhow::Error>) -> JobError {
    JobError::Retry(e.into())
}

impl Summarizer {
    fn summarise(&mut self, job: &Claim, ctx: &JobContext<'_>) -> Result<Output, JobError> {
        let started = Instant::now();
        let meeting = job.meeting_id;
        let llm = self.llm.as_deref_mut().ok_or_else(|| retry(anyhow!("model not loaded")))?;
        let p = &self.prompts;
        let segments = ctx.queue.read(|c| Ok(debrief_transcript::load_transcript(c, meeting)?)).map_err(retry)?;
        // Slides join the transcript as lines of their own at the time they appeared.
        let slides = ctx.queue.read(|c| Ok(debrief_slides::slides(c, meeting)?)).map_err(retry)?;
        let marks: Vec<(i64, String)> = slides.iter().map(|s| (s.start_ms, debrief_slides::render::mark(s))).collect();
        let lines = window::with_slides(window::lines(&segments), &marks);
        let model = llm.id();
        if lines.is_empty() {
            let s = Summary { overview: "No speech was transcribed in this meeting.".into(), ..Summary::default() };
            return Ok(finish(meeting, s, model, 0, json!({"windows": 0})));
        }
        // Map.
        let map_budget = budget(llm, &MAP, &p.map_system, &p.map(""))?;
        let map_budget = self.settings.window_tokens.map_or(map_budget, |w| w.min(map_budget));
        let windows = window::windows(&lines, map_budget, &mut |t| llm.count(t));
        let stored = ctx.queue.read(|c| Ok(store::windows(c, meeting)?)).map_err(retry)?;
        let grammar = MAP.gbnf();
        let mut notes = Vec::with_capacity(windows.len());
        let mut reused = 0;
        for w in &windows {
            if ctx.should_stop() {
                return Err(JobError::Interrupted);
            }
            let hash = w.input_hash(&[&model, &p.map_system, &p.map_user, &grammar]);
            let what = format!(
                "meeting {meeting} window {}/{} [{}–{}]",
                w.idx + 1,
                windows.len(),
                mmss(w.start_ms),
                mmss(w.end_ms)
            );
            if let Some(s) = stored.iter().find(|s| s.idx == w.idx && s.input_sha256 == hash) {
                log(
                    NAME,
                    &format!("{what}: reusing the notes stored at {}", debrief_runtime::format_utc_ms(s.created_at)),
                );
                notes.push(s.notes.clone());
                reused += 1;
                continue;
            }
            let t = Instant::now();
            let answer = chat(llm, &p.map_system, &p.map(&w.text()), &MAP, ctx, w.idx as i64 + 1)?;
            let anchors: Vec<Anchor> = w
                .lines
                .iter()
                .map(|l| Anchor { start_ms: l.start_ms, end_ms: l.end_ms, text: l.text.clone() })
                .collect();
            let n = parse::notes(&answer, &anchors, MAP.max_items).map_err(retry)?;
            let row = WindowRow {
                meeting_id: meeting,
                idx: w.idx,
                start_ms: w.start_ms,
                end_ms: w.end_ms,
                input_sha256: &hash,
                notes: &n,
            };
            match ctx.queue.write_fenced(&job.fence, |tx| store::put_window(tx, &row).map_err(QueueError::from)) {
                Ok(()) => {}
                Err(QueueError::LostClaim { .. }) => return Err(JobError::Interrupted),
                Err(e) => return Err(retry(e)),
            }
            log(NAME, &format!("{what}: {} notes in {:.1} s", n.items().count(), t.elapsed().as_secs_f64()));
            notes.push(n);
        }
        // Reduce, level by level until one call takes all the notes.
        let red_budget = budget(llm, &REDUCE, &p.reduce_system, &p.reduce(""))?;
        let mut level = notes;
        let mut depth = 0;
        let mut call = windows.len() as i64;
        let summary = loop {
            if ctx.should_stop() {
                return Err(JobError::Interrupted);
            }
            depth += 1;
            let groups = reduce::groups(level, red_budget, &mut |t| llm.count(t));
            if let [only] = groups.as_slice() {
                break reduce_call(llm, p, only, ctx, call + 1)?;
            }
            log(NAME, &format!("meeting {meeting}: reduce level {depth}: {} groups", groups.len()));
            level = Vec::with_capacity(groups.len());
            for g in &groups {
                let span = (
                    g.iter().flat_map(|n| n.items()).map(|(_, i)| i.start_ms).min().unwrap_or(0),
                    g.iter().flat_map(|n| n.items()).map(|(_, i)| i.end_ms).max().unwrap_or(0),
                );
                call += 1;
                level.push(reduce::as_notes(reduce_call(llm, p, g, ctx, call)?, span));
            }
        };
        let result = json!({
            "windows": windows.len(),
            "reused_windows": reused,
            "reduce_levels": depth,
            "seconds": started.elapsed().as_secs_f64(),
            "model": model,
        });
        log(
            NAME,
            &format!(
                "meeting {meeting}: summary of {} windows ({reused} reused) in {:.1} s",
                windows.len(),
                started.elapsed().as_secs_f64()
            ),
        );
        Ok(finish(meeting, summary, model, windows.len(), result))
    }
}

/// Tokens left for the input of one call: the context minus the prompt around the
/// input and the longest answer the grammar allows.
fn budget(llm: &mut dyn Llm, shape: &Shape, system: &str, empty_user: &str) -> Result<usize, JobError> {
    let overhead = llm.prompt_tokens(system, empty_user).map_err(retry)?;
    let n_ctx = llm.n_ctx();
    let room = n_ctx.saturating_sub(overhead + shape.max_tokens() + 16);
    if room < 64 {
        return Err(JobError::Permanent(anyhow!(
            "a context of {n_ctx} tokens leaves no room for the transcript: the prompt takes {overhead} and the answer up to {}; use a larger --context",
            shape.max_tokens()
        )));
    }
    Ok(room)
}

/// Progress steps of a SUMMARY job: call `n` (map windows first, then reduce calls) is
/// `n * CALL_STEPS`, and each token in and out of the model one more, so a worker that
/// dies says which call and how far into it (the poison rule compares these).
const CALL_STEPS: i64 = 1_000_000;

fn chat(
    llm: &mut dyn Llm,
    system: &str,
    user: &str,
    shape: &Shape,
    ctx: &JobContext<'_>,
    call: i64,
) -> Result<String, JobError> {
    let base = call.saturating_mul(CALL_STEPS);
    ctx.progress(base);
    // The model polls `stop` between tokens (and between prompt batches): each poll is
    // a step.
    let polls = std::cell::Cell::new(0i64);
    let stop = || {
        polls.set(polls.get() + 1);
        ctx.progress(base + polls.get().min(CALL_STEPS - 1));
        ctx.should_stop()
    };
    match llm.chat(system, user, shape, &stop) {
        Ok(a) => {
            if std::env::var_os("DEBRIEF_LOG_ANSWERS").is_some() {
                log(NAME, &format!("{} answer: {a}", shape.name));
            }
            Ok(a)
        }
        Err(_) if ctx.should_stop() => Err(JobError::Interrupted),
        Err(e) => Err(retry(e)),
    }
}

/// One reduce call. A group of one window's notes needs no merging: its lists are kept
/// and the model writes only the overview.
/// `call` numbers the call among the job's model calls (for its progress steps).
fn reduce_call(
    llm: &mut dyn Llm,
    p: &Prompts,
    group: &[Notes],
    ctx: &JobContext<'_>,
    call: i64,
) -> Result<Summary, JobError> {
    let shape = if group.len() == 1 { &OVERVIEW } else { &REDUCE };
    let answer = chat(llm, &p.reduce_system, &p.reduce(&reduce::render(group)), shape, ctx, call)?;
    let s = parse::summary(&answer, &reduce::anchors(group), REDUCE.max_items).map_err(retry)?;
    Ok(reduce::complete(s, group, REDUCE.max_items))
}

fn finish(
    meeting: debrief_jobq::MeetingId,
    summary: Summary,
    model: String,
    windows: usize,
    result: serde_json::Value,
) -> Output {
    Output { result, store: Some(Box::new(move |tx| Ok(store::put_summary(tx, meeting, &summary, &model, windows)?))) }
}

fn main() -> Result<()> {
    let Cmd::Run { args, llm } = Cli::parse().cmd;
    let threads = debrief_runtime::tune_process(NAME, &args);
    let (dd, q) = debrief_runtime::open(args.data_dir.as_deref())?;
    let settings = Settings::resolve(&llm, dd.root())?;
    let prompts_dir = settings.prompts_dir.clone().or_else(|| Some(dd.root().join("prompts")).filter(|d| d.is_dir()));
    let (prompts, used) = Prompts::load(prompts_dir.as_deref())?;
    for f in &used {
        log(NAME, &format!("prompt override: {}", f.display()));
    }
    if args.device == ComputeDevice::Cuda && settings.backend == Backend::Llama && !cfg!(feature = "cuda") {
        bail!("--device cuda needs a build with the `cuda` feature (cargo build --release -p summary-worker --features cuda)");
    }
    // With a server, the lease stands for the server's GPU memory while this worker uses it.
    let device = args.device.lease();
    let cfg = WorkerConfig {
        name: NAME.into(),
        tasks: vec![TaskType::Summary],
        device,
        until_idle: args.until_idle,
        max_jobs: args.max_jobs,
        threads,
        idle_min: debrief_runtime::IDLE_MIN,
        idle_max: debrief_runtime::IDLE_MAX,
    };
    let mut h = Summarizer { settings, prompts, use_gpu: device.is_some(), llm: None };
    worker::run(&q, &dd, &cfg, &mut h).context("summary-worker")?;
    Ok(())
}
