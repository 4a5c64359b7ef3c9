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
use debrief_summary::dates::Day;
use debrief_summary::prompts::Prompts;
use debrief_summary::shape::{self, Answer};
use debrief_summary::store::{self, WindowRow};
use debrief_summary::{cite, mmss, reduce, window, Notes, Summary};
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
    /// The queue, SQLite or PostgreSQL (transcripts, speaker names, slides and summaries
    /// are read and written there).
    q: debrief_jobq::AnyQueue,
    settings: Settings,
    prompts: Prompts,
    use_gpu: bool,
    llm: Option<Box<dyn Llm>>,
    /// Whether the loaded model words items itself (see `settings`).
    prose: bool,
}

/// Map window budget for models that only label lines (unless `--window-tokens`): a
/// window of about 35 lines, whose call takes about 8 s with SmolLM2 on one CPU thread.
const EXTRACT_WINDOW_TOKENS: usize = 1024;

/// GGUF files at least this big (a 2-3B model at 4 bits) word their items themselves.
const PROSE_GGUF_BYTES: u64 = 1 << 30;

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
                let big = std::fs::metadata(&path).is_ok_and(|m| m.len() >= PROSE_GGUF_BYTES);
                self.prose = s.prose.unwrap_or(big);
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
            Backend::Openai => {
                self.prose = s.prose.unwrap_or(true);
                Box::new(Server::new(s.server(), s.context as usize)?)
            }
        };
        log(
            NAME,
            &format!(
                "loaded {} (context {} tokens, items {}) in {:.2} s; memory {before} -> {}",
                llm.id(),
                llm.n_ctx(),
                if self.prose { "in its words, checked against the cited lines" } else { "in the cited lines' words" },
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
        let prose = self.prose;
        let llm = self.llm.as_deref_mut().ok_or_else(|| retry(anyhow!("model not loaded")))?;
        let p = &self.prompts;
        let mut segments = self.q.read(|db| debrief_transcript::load_transcript(db, meeting)).map_err(retry)?;
        // Speakers by the names people gave them (`foreman speakers --rename`), so owners
        // read "Dana Lee" rather than "S2"; the export maps labels renamed later.
        let speakers = self.q.read(|db| debrief_speakers::load_speakers(db, meeting)).map_err(retry)?;
        for seg in segments.iter_mut() {
            seg.speaker = seg.speaker.as_deref().map(|l| debrief_speakers::SpeakerRow::display(&speakers, l));
        }
        let slides = self.q.read(|db| debrief_slides::slides(db, meeting)).map_err(retry)?;
        // Due dates are relative to the meeting's day (when it was recorded or imported).
        let day = self.q.meeting(meeting).map_err(retry)?.map(|m| Day::of_ms(m.created_at));
        let marks: Vec<(i64, String)> = slides.iter().map(|s| (s.start_ms, debrief_slides::render::mark(s))).collect();
        let lines = window::with_slides(window::lines(&segments), &marks);
        let grounding = if prose { "prose checked against the cited lines" } else { "the cited lines' own words" };
        let model = format!("{} (items: {grounding})", llm.id());
        if lines.is_empty() {
            let s = Summary { overview: "No speech was transcribed in this meeting.".into(), ..Summary::default() };
            return Ok(finish(meeting, s, model, 0, json!({"windows": 0})));
        }
        // Each line costs its tokens plus its label in the answer.
        let per_line = cite::answer_tokens_per_line(prose);
        let map_budget = budget(llm, cite::answer(&[], prose).max_tokens, &p.map_system, &p.map(""))?;
        // A small model labels short windows better, and a killed call loses less.
        let cap = self.settings.window_tokens.or((!prose).then_some(EXTRACT_WINDOW_TOKENS));
        let map_budget = cap.map_or(map_budget, |w| w.min(map_budget));
        let windows = window::windows(&lines, map_budget, &mut |t| llm.count(t) + per_line);
        let stored = self.q.read(|db| store::windows(db, meeting)).map_err(retry)?;
        let day_text = day.map(Day::iso).unwrap_or_default();
        let mut notes = Vec::with_capacity(windows.len());
        let mut reused = 0;
        let map_started = Instant::now();
        for w in &windows {
            if ctx.should_stop() {
                return Err(JobError::Interrupted);
            }
            let answer = cite::answer(&w.lines, prose);
            let hash = w.input_hash(&[&model, &p.map_system, &p.map_user, &answer.gbnf, &day_text]);
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
            let n = if cite::citable(&w.lines).is_empty() {
                // No line of the window can support any item: nothing to ask.
                Notes::default()
            } else {
                let text = chat(llm, &p.map_system, &p.map(&w.text()), &answer, ctx, w.idx as i64 + 1)?;
                cite::notes(&text, &w.lines, prose, day).map_err(retry)?
            };
            let row = WindowRow {
                meeting_id: meeting,
                idx: w.idx,
                start_ms: w.start_ms,
                end_ms: w.end_ms,
                input_sha256: &hash,
                notes: &n,
            };
            match self.q.write_fenced(&job.fence, |tx| store::put_window(tx, &row)) {
                Ok(()) => {}
                Err(QueueError::LostClaim { .. }) => return Err(JobError::Interrupted),
                Err(e) => return Err(retry(e)),
            }
            log(NAME, &format!("{what}: {} cited lines in {:.1} s", n.items().count(), t.elapsed().as_secs_f64()));
            notes.push(n);
        }
        if ctx.should_stop() {
            return Err(JobError::Interrupted);
        }
        let map_seconds = map_started.elapsed().as_secs_f64();
        let reduce_started = Instant::now();
        let mut summary = reduce::merge(&notes);
        let facts = reduce::facts(&lines, &summary);
        let has_items = [&summary.key_points, &summary.decisions, &summary.action_items, &summary.open_questions]
            .iter()
            .any(|l| !l.is_empty());
        summary.overview = if prose && has_items {
            let ov = shape::overview();
            let room = budget(llm, ov.max_tokens, &p.reduce_system, &p.reduce(""))?;
            let fitted = reduce::fit(summary.clone(), room, &mut |t| llm.count(t));
            let call = windows.len() as i64 + 1;
            let text = chat(llm, &p.reduce_system, &p.reduce(&reduce::render(&fitted)), &ov, ctx, call)?;
            reduce::checked_overview(&text, &fitted, &facts).unwrap_or_else(|| {
                log(
                    NAME,
                    &format!("meeting {meeting}: the model's overview says more than the items; writing a plain one"),
                );
                reduce::plain_overview(&summary, &facts)
            })
        } else {
            reduce::plain_overview(&summary, &facts)
        };
        let result = json!({
            "windows": windows.len(),
            "reused_windows": reused,
            "items": summary.key_points.len() + summary.decisions.len() + summary.action_items.len() + summary.open_questions.len(),
            "prose": prose,
            "seconds": started.elapsed().as_secs_f64(),
            // This run's map calls (windows reused from an earlier attempt cost nothing) and
            // its reduce: the merge and, with a prose model, the overview call.
            "map_seconds": map_seconds,
            "reduce_seconds": reduce_started.elapsed().as_secs_f64(),
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

fn budget(llm: &mut dyn Llm, answer_tokens: usize, system: &str, empty_user: &str) -> Result<usize, JobError> {
    let overhead = llm.prompt_tokens(system, empty_user).map_err(retry)?;
    let n_ctx = llm.n_ctx();
    let room = n_ctx.saturating_sub(overhead + answer_tokens + 16);
    if room < 64 {
        return Err(JobError::Permanent(anyhow!(
            "a context of {n_ctx} tokens leaves no room for the transcript: the prompt takes {overhead} and the answer up to {answer_tokens}; use a larger --context"
        )));
    }
    Ok(room)
}

const CALL_STEPS: i64 = 1_000_000;

fn chat(
    llm: &mut dyn Llm,
    system: &str,
    user: &str,
    answer: &Answer,
    ctx: &JobContext<'_>,
    call: i64,
) -> Result<String, JobError> {
    let base = call.saturating_mul(CALL_STEPS);
    ctx.progress(base);
    let polls = std::cell::Cell::new(0i64);
    let stop = || {
        polls.set(polls.get() + 1);
        ctx.progress(base + polls.get().min(CALL_STEPS - 1));
        ctx.should_stop()
    };
    match llm.chat(system, user, answer, &stop) {
        Ok(a) => {
            if std::env::var_os("DEBRIEF_LOG_ANSWERS").is_some() {
                log(NAME, &format!("{} answer: {a}", answer.name));
            }
            Ok(a)
        }
        Err(_) if ctx.should_stop() => Err(JobError::Interrupted),
        Err(e) => Err(retry(e)),
    }
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
    let (dd, q) = debrief_runtime::open_queue(args.data_dir.as_deref(), args.database.as_deref())?;
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
    let mut h = Summarizer { q: q.clone(), settings, prompts, use_gpu: device.is_some(), llm: None, prose: false };
    worker::run(&q, &dd, &cfg, &mut h).context("summary-worker")?;
    Ok(())
}
