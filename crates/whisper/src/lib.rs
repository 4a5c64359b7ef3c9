//! Speech recognition for Debrief: whisper.cpp through whisper-rs, behind voice
//! activity detection.
//!
//! whisper.cpp applies VAD only inside `whisper_full`, which whisper-rs's state API does
//! not call (see ENGINE-NOTES), so this crate runs silero VAD itself
//! ([`whisper_rs::WhisperVadContext`], one thread: more only spin on small inputs), and
//! skips only silences of 2 s or more: speech separated by shorter pauses is decoded as
//! one stretch of the original audio, pauses kept, letting whisper.cpp seek through its
//! 30 s windows as it does on a whole file; timestamps are shifted back to the chunk's
//! time. Long silence costs nothing and yields no invented text. (Two earlier designs
//! measured worse with `scripts/eval-asr`: all speech of a chunk joined without its
//! pauses made Whisper skip and repeat sentences, 22.4% WER; speech packed into groups
//! of at most 28 s, each decoded alone, lost words that depend on the audio before them,
//! 8.8% against 6.1% for the whole file.)
//!
//! Decoding is independent per call (no context from earlier text, a fresh state each
//! time), so chunks can be transcribed in any order, in parallel, and again with the
//! same result. This crate links whisper.cpp's ggml: never link it into a binary that
//! also links llama.cpp.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperVadContext,
    WhisperVadContextParams, WhisperVadParams,
};

/// Samples per second the engine takes.
pub const SAMPLE_RATE: usize = 16_000;
/// Padding kept around each detected speech span.
const PAD: usize = SAMPLE_RATE / 5;
/// Shortest silence (between padded spans) that is skipped rather than decoded.
const JOIN_GAP: usize = SAMPLE_RATE * 2;

/// Joins padded speech spans separated by less than [`JOIN_GAP`] of silence into groups,
/// returned as (start, end) samples. A group is the original audio, pauses included, so
/// whisper.cpp decodes running speech exactly as it would the whole file (seeking through
/// its 30 s windows by itself); only silences of [`JOIN_GAP`] or more are skipped.
fn groups(len: usize, speech: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &(a, b) in speech {
        let (a, b) = (a.saturating_sub(PAD), (b + PAD).min(len));
        match out.last_mut() {
            Some(g) if a < g.1 + JOIN_GAP => g.1 = g.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Errors of the engine; each names the model file or says what failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The model file is missing or unreadable.
    #[error("model {path}: {msg}")]
    Model {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        msg: String,
    },
    /// whisper.cpp failed on the audio.
    #[error("whisper.cpp: {0}")]
    Whisper(String),
}

/// How to load the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// ggml Whisper model.
    pub model: PathBuf,
    /// ggml silero VAD model.
    pub vad_model: PathBuf,
    /// Decoder threads (never more than the cores).
    pub threads: usize,
    /// Use the GPU (only with the `cuda` feature).
    pub use_gpu: bool,
    /// Language code, or `None` to let a multilingual model detect it.
    pub language: Option<String>,
    /// Names and jargon, given to every chunk as the initial prompt.
    pub vocabulary: Option<String>,
    /// Condition each 30 s window on the text of the windows before it in the same call
    /// (Whisper's default). Off, every window is decoded alone: no run-away repetition
    /// can carry over, at some cost in accuracy where earlier words help.
    pub carry_text: bool,
}

/// One recognised word, in ms relative to the start of the transcribed samples.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Word {
    /// The word with its leading space, as Whisper writes it.
    pub text: String,
    /// Start (ms).
    pub start_ms: i64,
    /// End (ms).
    pub end_ms: i64,
    /// Mean token probability.
    pub p: f32,
}

/// One recognised segment, in ms relative to the start of the transcribed samples.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    /// Start (ms).
    pub start_ms: i64,
    /// End (ms).
    pub end_ms: i64,
    /// Text.
    pub text: String,
    /// Its words.
    pub words: Vec<Word>,
    /// whisper.cpp's no-speech probability.
    pub no_speech_prob: f32,
}

/// A loaded model pair. Dropping it frees whisper.cpp's memory (and VRAM).
pub struct Engine {
    ctx: WhisperContext,
    vad: WhisperVadContext,
    cfg: EngineConfig,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("cfg", &self.cfg).finish()
    }
}

fn model_err(path: &Path, msg: impl Into<String>) -> EngineError {
    EngineError::Model {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

impl Engine {
    /// Loads the Whisper and VAD models.
    ///
    /// whisper.cpp's own logging (model details, timings: many lines per chunk) is
    /// silenced unless `DEBRIEF_ENGINE_LOG=1`; failures still come back as errors.
    pub fn load(cfg: EngineConfig) -> Result<Self, EngineError> {
        if std::env::var_os("DEBRIEF_ENGINE_LOG").is_none_or(|v| v != "1") {
            whisper_rs::install_logging_hooks();
        }
        for p in [&cfg.model, &cfg.vad_model] {
            if !p.is_file() {
                return Err(model_err(p, "not found (run `foreman models fetch`)"));
            }
        }
        let path_str = |p: &Path| p.to_str().map(str::to_owned).ok_or_else(|| model_err(p, "path is not UTF-8"));
        let mut cp = WhisperContextParameters::default();
        cp.use_gpu(cfg.use_gpu);
        let ctx = WhisperContext::new_with_params(path_str(&cfg.model)?, cp)
            .map_err(|e| model_err(&cfg.model, format!("whisper.cpp cannot load it: {e}")))?;
        let mut vp = WhisperVadContextParams::new();
        vp.set_n_threads(1);
        vp.set_use_gpu(false);
        let vad = WhisperVadContext::new(&path_str(&cfg.vad_model)?, vp)
            .map_err(|e| model_err(&cfg.vad_model, format!("whisper.cpp cannot load it: {e}")))?;
        Ok(Self { ctx, vad, cfg })
    }

    /// Speech spans of `samples` as (start, end) sample indices.
    pub fn speech(&mut self, samples: &[f32]) -> Result<Vec<(usize, usize)>, EngineError> {
        let mut params = WhisperVadParams::new();
        params.set_speech_pad(30);
        let segs = self
            .vad
            .segments_from_samples(params, samples)
            .map_err(|e| EngineError::Whisper(format!("VAD: {e}")))?;
        // Segment times are in centiseconds.
        let cs = |t: f32| ((f64::from(t) * SAMPLE_RATE as f64 / 100.0).round().max(0.0) as usize).min(samples.len());
        Ok(segs.map(|s| (cs(s.start), cs(s.end))).filter(|(a, b)| b > a).collect())
    }

    /// Transcribes 16 kHz mono samples. Timestamps are relative to `samples[0]`.
    pub fn transcribe(&mut self, samples: &[f32]) -> Result<Vec<Segment>, EngineError> {
        let speech = self.speech(samples)?;
        let mut out = Vec::new();
        for (a, b) in groups(samples.len(), &speech) {
            out.extend(self.decode(&samples[a..b], a)?);
        }
        Ok(out)
    }

    /// Plain whisper.cpp on all of `samples`, without VAD: the baseline the pipeline is
    /// measured against.
    pub fn transcribe_plain(&mut self, samples: &[f32]) -> Result<Vec<Segment>, EngineError> {
        self.decode(samples, 0)
    }

    /// Decodes `audio`, which starts `offset` samples into the caller's samples.
    fn decode(&mut self, audio: &[f32], offset: usize) -> Result<Vec<Segment>, EngineError> {
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(i32::try_from(self.cfg.threads.max(1)).unwrap_or(1));
        params.set_language(self.cfg.language.as_deref());
        params.set_no_context(true);
        if !self.cfg.carry_text {
            params.set_n_max_text_ctx(0);
        }
        params.set_token_timestamps(true);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_special(false);
        params.set_print_timestamps(false);
        if let Some(v) = &self.cfg.vocabulary {
            params.set_initial_prompt(v);
        }
        let mut state = self
            .ctx
            .create_state()
            .map_err(|e| EngineError::Whisper(format!("creating a state: {e}")))?;
        state
            .full(params, audio)
            .map_err(|e| EngineError::Whisper(format!("decoding: {e}")))?;
        let eot = self.ctx.token_eot();
        let ms = |cs: i64| {
            let pos = ((cs.max(0) as usize) * SAMPLE_RATE / 100).min(audio.len());
            ((offset + pos) * 1000 / SAMPLE_RATE) as i64
        };
        let mut out = Vec::new();
        for seg in state.as_iter() {
            let text = seg.to_str_lossy().map_err(|e| EngineError::Whisper(e.to_string()))?.trim().to_owned();
            if text.is_empty() {
                continue;
            }
            let mut words: Vec<Word> = Vec::new();
            let mut probs: Vec<f32> = Vec::new();
            for i in 0..seg.n_tokens() {
                let Some(tok) = seg.get_token(i) else { continue };
                if tok.token_id() >= eot {
                    continue;
                }
                let piece = tok.to_str_lossy().map_err(|e| EngineError::Whisper(e.to_string()))?.into_owned();
                let data = tok.token_data();
                let starts_word = piece.starts_with(' ') || words.is_empty();
                if starts_word {
                    if let Some(w) = words.last_mut() {
                        w.p = probs.iter().sum::<f32>() / probs.len().max(1) as f32;
                    }
                    probs.clear();
                    words.push(Word {
                        text: piece.clone(),
                        start_ms: ms(data.t0),
                        end_ms: ms(data.t1),
                        p: 0.0,
                    });
                } else if let Some(w) = words.last_mut() {
                    w.text.push_str(&piece);
                    w.end_ms = ms(data.t1);
                }
                probs.push(tok.token_probability());
            }
            if let Some(w) = words.last_mut() {
                w.p = probs.iter().sum::<f32>() / probs.len().max(1) as f32;
            }
            out.push(Segment {
                start_ms: ms(seg.start_timestamp()),
                end_ms: ms(seg.end_timestamp()),
                text,
                words,
                no_speech_prob: seg.no_speech_probability(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_is_joined_across_short_pauses_only() {
        let s = SAMPLE_RATE;
        let speech = [(s, 5 * s), (6 * s, 20 * s), (21 * s, 27 * s), (40 * s, 45 * s), (47 * s, 100 * s), (119 * s, 120 * s)];
        let g = groups(120 * s, &speech);
        assert_eq!(g, vec![(s - PAD, 27 * s + PAD), (40 * s - PAD, 100 * s + PAD), (119 * s - PAD, 120 * s)]);
    }
}
