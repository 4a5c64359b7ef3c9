//! `audio-worker`: turns queued audio chunks into text.
//!
//! AUDIO jobs: read the chunk, find speech with silero VAD, transcribe it with Whisper
//! (each chunk on its own: any order, any parallelism, same text on a re-run), and store
//! its segments and words in meeting time, replacing any earlier result of the job.
//! TRANSCRIPT jobs (released once every AUDIO job of the meeting is COMPLETED): assemble
//! the meeting transcript from all chunk results, resolving the overlaps. The model is
//! loaded once for a run of jobs and unloaded when idle; with `--device cuda` (a build
//! with the `cuda` feature) the worker holds the GPU lease while it is loaded.
//!
//! This binary links whisper.cpp and must never link llama.cpp.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use debrief_contracts::{AudioChunk, AudioResult, TranscriptResult};
use debrief_jobq::{Claim, TaskType};
use debrief_openvino::SpeakerEngine;
use debrief_runtime::{log, worker, ComputeDevice, Handler, JobContext, JobError, Output, WorkerArgs, WorkerConfig};
use debrief_speakers::Channel as SpeakerChannel;
use debrief_transcript::{Segment, Word};
use debrief_whisper::{Engine, EngineConfig};

#[derive(Parser)]
#[command(version, about = "Debrief's Whisper worker (AUDIO and TRANSCRIPT jobs)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Take AUDIO and TRANSCRIPT jobs.
    Run {
        #[command(flatten)]
        args: WorkerArgs,
        #[command(flatten)]
        asr: AsrArgs,
    },
}

#[derive(Debug, Clone, clap::Args)]
struct AsrArgs {
    /// Whisper model: a pinned name (tiny.en, base) fetched into the model cache, or a
    /// path to a ggml file.
    #[arg(long, env = "DEBRIEF_WHISPER_MODEL", default_value = "tiny.en")]
    model: String,
    /// Silero VAD model in ggml form (default: converted from the pinned silero-vad).
    #[arg(long)]
    vad_model: Option<PathBuf>,
    /// Language (default: en for .en models, detected otherwise).
    #[arg(long)]
    language: Option<String>,
    /// Names and jargon to prime every chunk with (Whisper's initial prompt).
    #[arg(long, env = "DEBRIEF_VOCABULARY")]
    vocabulary: Option<String>,
    /// Decode every 30 s window without the text of the windows before it (Whisper's
    /// "condition on previous text" off): guards against a repetition loop carrying on.
    #[arg(long)]
    no_carry: bool,
    /// Model cache (default: $DEBRIEF_CACHE/models or ~/.cache/debrief/models).
    #[arg(long)]
    model_cache: Option<PathBuf>,
    /// Speaker analysis (pyannote segmentation and GE2E embeddings on OpenVINO) of every
    /// chunk, for the meeting-wide diarization the TRANSCRIPT job does: on or off.
    #[arg(long, env = "DEBRIEF_DIARIZE", default_value = "on", value_parser = ["on", "off"])]
    diarize: String,
    /// OpenVINO device for the speaker analysis: cpu, npu, gpu (an Intel GPU) or auto. A
    /// chunk's analysis holds that device's lease (npu: the NPU's; gpu: the Intel GPU's,
    /// `igpu`, a device apart from the discrete card Whisper and the LLM use; auto: both,
    /// since OpenVINO may pick either); cpu takes none.
    #[arg(long, env = "DEBRIEF_SPEAKER_DEVICE", default_value = "cpu", value_parser = ["cpu", "npu", "gpu", "auto"])]
    speaker_device: String,
    /// Speaker encoder: wespeaker-resnet34 (WeSpeaker's ResNet34, from PyPI), ge2e
    /// (resemblyzer's, from PyPI: 2.7 times faster on a CPU, weaker) or
    /// wespeaker-resnet34-lm (needs `foreman models fetch wespeaker-resnet34-lm`). A
    /// meeting's speakers are clustered from one encoder's embeddings: re-run its AUDIO
    /// jobs after switching.
    #[arg(long, env = "DEBRIEF_SPEAKER_MODEL", default_value = "wespeaker-resnet34", value_parser = ["ge2e", "wespeaker-resnet34", "wespeaker-resnet34-lm"])]
    speaker_model: String,
    /// Step between the 10 s segmentation windows (ms); smaller is slower and finer.
    #[arg(long, default_value_t = 2500)]
    speaker_step_ms: i64,
}

struct Asr {
    args: AsrArgs,
    use_gpu: bool,
    engine: Option<Engine>,
    speakers: Option<SpeakerEngine>,
}

impl Asr {
    fn model_paths(&self) -> Result<(PathBuf, PathBuf)> {
        let cache = self.args.model_cache.clone().unwrap_or_else(debrief_models::default_cache_dir);
        let p = PathBuf::from(&self.args.model);
        let model = if p.is_file() {
            p
        } else {
            debrief_models::whisper_model(&self.args.model, &cache)
                .with_context(|| format!("Whisper model {:?}", self.args.model))?
        };
        let vad = match &self.args.vad_model {
            Some(v) => v.clone(),
            None => debrief_models::vad_model(&cache).context("silero VAD model")?,
        };
        Ok((model, vad))
    }
}

impl Handler for Asr {
    fn load(&mut self, threads: usize) -> Result<()> {
        let (model, vad_model) = self.model_paths()?;
        let language = self.args.language.clone().or_else(|| {
            model.file_name().and_then(|f| f.to_str()).filter(|f| f.contains(".en")).map(|_| "en".to_owned())
        });
        let started = std::time::Instant::now();
        let engine = Engine::load(EngineConfig {
            model: model.clone(),
            vad_model,
            threads,
            use_gpu: self.use_gpu,
            language,
            vocabulary: self.args.vocabulary.clone(),
            carry_text: !self.args.no_carry,
        })?;
        log(
            "audio-worker",
            &format!("loaded {} in {:.2} s ({threads} threads)", model.display(), started.elapsed().as_secs_f64()),
        );
        self.engine = Some(engine);
        if self.args.diarize == "on" {
            // Speakers are an addition to the words: without their models the worker still
            // transcribes (the transcript then has no speakers, and the log says why).
            match self.load_speakers(threads) {
                Ok(se) => self.speakers = Some(se),
                Err(e) => log("audio-worker", &format!("speaker analysis off: {e:#}")),
            }
        }
        Ok(())
    }

    fn run(&mut self, job: &Claim, ctx: &JobContext<'_>) -> Result<Output, JobError> {
        match job.task_type {
            TaskType::Audio => self.audio(job, ctx),
            TaskType::Transcript => transcript(job, ctx),
            other => Err(JobError::Permanent(anyhow!("audio-worker does not take {other} jobs"))),
        }
    }

    fn unload(&mut self) {
        if self.engine.take().is_some() {
            log("audio-worker", "model unloaded");
        }
        self.speakers = None;
    }
}

impl Asr {
    fn load_speakers(&self, threads: usize) -> Result<SpeakerEngine> {
        let cache = self.args.model_cache.clone().unwrap_or_else(debrief_models::default_cache_dir);
        let m = debrief_models::speaker_models_with(&cache, &self.args.speaker_model).with_context(|| {
            format!("speaker models (pyannote segmentation, {}, OpenVINO)", self.args.speaker_model)
        })?;
        let started = std::time::Instant::now();
        let cfg = debrief_openvino::EngineConfig::new(m, &self.args.speaker_device, threads, self.args.speaker_step_ms);
        let se = SpeakerEngine::load(&cfg)?;
        log(
            "audio-worker",
            &format!(
                "loaded speaker models on OpenVINO {} ({}) in {:.2} s",
                self.args.speaker_device,
                self.args.speaker_model,
                started.elapsed().as_secs_f64()
            ),
        );
        Ok(se)
    }

    fn audio(&mut self, job: &Claim, ctx: &JobContext<'_>) -> Result<Output, JobError> {
        let engine = self.engine.as_mut().ok_or_else(|| JobError::Retry(anyhow!("model not loaded")))?;
        // A malformed payload, or a missing or unreadable chunk, will not get better by
        // retrying.
        let chunk: AudioChunk = job.payload_as().map_err(|e| JobError::Permanent(e.into()))?;
        // Progress steps (kept by the queue, so a worker's death says where it was): 1
        // reading the file, then the engine's (voice detection, each decode).
        ctx.progress(1);
        // Read once: Whisper takes the mix, the speaker analysis each recorded channel.
        // On a shared PostgreSQL queue the chunk comes from the database (its sha256
        // checked), else from the data directory. A database that cannot be read now is
        // worth a retry; damaged bytes are not.
        let path = chunk.path.under(ctx.data_dir.root());
        let stored = ctx.stored_input(job.meeting_id, chunk.path.as_path())?;
        let channels = match stored {
            Some(bytes) => debrief_media::read_wav_channels_from_bytes(&path, &bytes),
            None => debrief_media::read_wav_channels(&path),
        }
        .map_err(|e| JobError::Permanent(e.into()))?;
        let samples = debrief_media::mix_channels(&channels);
        let start_ms = chunk.start_ms();
        let started = std::time::Instant::now();
        let heard = engine.transcribe_with(&samples, &ctx.progress_sink()).map_err(|e| JobError::Retry(e.into()))?;
        let secs = started.elapsed().as_secs_f64();
        let rows: Vec<(Segment, f32)> = heard
            .segments
            .into_iter()
            .map(|s| {
                let seg = Segment {
                    start_ms: start_ms + s.start_ms,
                    end_ms: start_ms + s.end_ms,
                    speaker: None,
                    text: s.text,
                    words: s
                        .words
                        .into_iter()
                        .map(|w| Word {
                            text: w.text,
                            start_ms: start_ms + w.start_ms,
                            end_ms: start_ms + w.end_ms,
                            p: w.p,
                            speaker: None,
                        })
                        .collect(),
                };
                (seg, s.no_speech_prob)
            })
            .collect();
        // Speakers: each channel of a recording apart (the microphone is the local
        // person), the mix of an import; stored with the words, replacing a re-run's. A
        // failed analysis keeps the words (partial results beat none): the chunk then has
        // no speaker measurements, and its job result says why.
        let mut speaker_error = None;
        let analysis = match self.speakers.as_mut() {
            Some(se) => {
                let tracks: Vec<(&[f32], SpeakerChannel)> = if channels.len() == 2 && chunk.channels.len() == 2 {
                    let kind = |c: &debrief_contracts::Channel| match c {
                        debrief_contracts::Channel::Mic => SpeakerChannel::Mic,
                        debrief_contracts::Channel::System => SpeakerChannel::System,
                    };
                    chunk.channels.iter().zip(&channels).map(|(c, s)| (s.as_slice(), kind(c))).collect()
                } else {
                    vec![(samples.as_slice(), SpeakerChannel::Mix)]
                };
                // On the NPU, the analysis holds the NPU's lease (another worker's model
                // there waits, and so does this one for it); on the CPU, nothing.
                ctx.progress(SPEAKER_STEP);
                let leases = device_leases(ctx, openvino_devices(&self.args.speaker_device))?;
                // Progress: SPEAKER_STEP + windows analysed (after Whisper's own steps).
                let a = se.analyse_chunk(&tracks, start_ms, &mut |done, _| ctx.progress(SPEAKER_STEP + done as i64));
                release_leases(ctx, &leases);
                match a {
                    Ok(a) => Some(a),
                    Err(e) => {
                        log("audio-worker", &format!("job {}: speaker analysis failed, words kept: {e}", job.job_id));
                        speaker_error = Some(e.to_string());
                        None
                    }
                }
            }
            None => None,
        };
        let result = to_result(&AudioResult {
            segments: rows.len(),
            words: rows.iter().map(|r| r.0.words.len()).sum::<usize>(),
            audio_s: samples.len() as f64 / 16_000.0,
            seconds: secs,
            vad_seconds: heard.vad_seconds,
            resumed_after_skips: heard.resumed,
            speaker_error,
        })?;
        let (job_id, meeting) = (job.job_id, job.meeting_id);
        Ok(Output {
            result,
            store: Some(Box::new(move |tx| {
                debrief_transcript::store_chunk(tx, job_id, meeting, &rows)?;
                if let Some(a) = &analysis {
                    debrief_speakers::store_analysis(tx, job_id, meeting, a)?;
                }
                Ok(())
            })),
        })
    }
}

fn transcript(job: &Claim, ctx: &JobContext<'_>) -> Result<Output, JobError> {
    let meeting = job.meeting_id;
    let chunks =
        ctx.queue.read(|c| debrief_transcript::load_chunks(c, meeting)).map_err(|e| JobError::Retry(e.into()))?;
    // Chunks that failed for good leave gaps; with none transcribed there is nothing to
    // assemble, and the meeting fails with the first chunk's error rather than showing
    // an empty transcript as if nothing had been said.
    let failed = chunks.iter().filter(|c| c.failed.is_some()).count();
    if !chunks.is_empty() && failed == chunks.len() {
        let first = chunks[0].failed.as_deref().unwrap_or_default();
        return Err(JobError::Permanent(anyhow::anyhow!(
            "no audio chunk of meeting {meeting} could be transcribed (all {failed} failed; job {}: {first})",
            chunks[0].job_id
        )));
    }
    let mut segments = debrief_transcript::assemble(&chunks);
    // Speakers for the whole meeting at once, from every chunk's stored analysis (no
    // model runs here: a hint change re-runs only this job).
    let (analyses, hints) = ctx
        .queue
        .read(|c| Ok((debrief_speakers::load_analyses(c, meeting)?, debrief_speakers::load_hints(c, meeting)?)))
        .map_err(|e| JobError::Retry(e.into()))?;
    let diarization = debrief_speakers::main_model(&analyses)
        .map(|m| debrief_speakers::diarize(&analyses, &hints, &debrief_speakers::Params::for_model(m)));
    if let Some(d) = &diarization {
        segments = debrief_transcript::assign_speakers(segments, &d.turns);
    }
    let gaps = debrief_transcript::gaps(&chunks);
    let result = to_result(&TranscriptResult {
        chunks: chunks.len(),
        failed_chunks: failed,
        gaps_ms: gaps.iter().map(|g| g.end_ms - g.start_ms).sum(),
        segments: segments.len(),
        words: segments.iter().map(|s| s.words.len()).sum::<usize>(),
        speakers: diarization.as_ref().map(|d| d.speakers.len()),
    })?;
    Ok(Output {
        result,
        store: Some(Box::new(move |tx| {
            if let Some(d) = &diarization {
                debrief_speakers::store_diarization(tx, meeting, d)?;
            }
            debrief_transcript::store_transcript(tx, meeting, &segments)?;
            Ok(debrief_transcript::store_gaps(tx, meeting, &gaps)?)
        })),
    })
}

/// Progress step of an AUDIO job when its speaker analysis starts (plus one per window):
/// above any step of the transcription before it.
const SPEAKER_STEP: i64 = 1_000_000_000;

/// The device leases a speaker analysis on OpenVINO device `dev` holds, in the one order
/// every worker takes them (so two workers never wait on each other crosswise).
fn openvino_devices(dev: &str) -> &'static [debrief_jobq::Device] {
    use debrief_jobq::Device::{IntelGpu, Npu};
    match dev {
        "npu" => &[Npu],
        "gpu" => &[IntelGpu],
        "auto" => &[IntelGpu, Npu],
        _ => &[],
    }
}

/// Waits for each of `devices`' leases in turn (the job keeps its own claim alive
/// meanwhile); a stop request releases what it holds and hands the job back.
fn device_leases(
    ctx: &JobContext<'_>,
    devices: &[debrief_jobq::Device],
) -> Result<Vec<debrief_jobq::DeviceLease>, JobError> {
    let mut held = Vec::new();
    for &d in devices {
        let req = debrief_jobq::DeviceRequest::exclusive(d);
        loop {
            match ctx.queue.acquire_device(ctx.who, req) {
                Ok(Some(l)) => {
                    held.push(l);
                    break;
                }
                Ok(None) => {}
                Err(e) if e.is_busy() => {}
                Err(e) => {
                    release_leases(ctx, &held);
                    return Err(JobError::Retry(e.into()));
                }
            }
            if ctx.should_stop() {
                release_leases(ctx, &held);
                return Err(JobError::Interrupted);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    Ok(held)
}

/// Releases leases taken by [`device_leases`] (one that cannot be released expires).
fn release_leases(ctx: &JobContext<'_>, leases: &[debrief_jobq::DeviceLease]) {
    for l in leases.iter().rev() {
        if let Err(e) = ctx.queue.release_device(l) {
            log("audio-worker", &format!("releasing a device lease: {e} (it expires by itself)"));
        }
    }
}

fn to_result(r: &impl serde::Serialize) -> Result<serde_json::Value, JobError> {
    serde_json::to_value(r).map_err(|e| JobError::Permanent(e.into()))
}

fn main() -> Result<()> {
    let Cmd::Run { args, asr } = Cli::parse().cmd;
    let threads = debrief_runtime::tune_process("audio-worker", &args);
    let (dd, q) = debrief_runtime::open_queue(args.data_dir.as_deref(), args.database.as_deref())?;
    if args.device == ComputeDevice::Cuda && !cfg!(feature = "cuda") {
        bail!("--device cuda needs a build with the `cuda` feature (cargo build --release -p audio-worker --features cuda)");
    }
    let device = args.device.lease();
    let cfg = WorkerConfig {
        name: "audio-worker".into(),
        tasks: vec![TaskType::Transcript, TaskType::Audio],
        device,
        until_idle: args.until_idle,
        max_jobs: args.max_jobs,
        threads,
        idle_min: debrief_runtime::IDLE_MIN,
        idle_max: debrief_runtime::IDLE_MAX,
    };
    let mut h = Asr { args: asr, use_gpu: device.is_some(), engine: None, speakers: None };
    worker::run(&q, &dd, &cfg, &mut h)?;
    Ok(())
}
