//! Speech recognition for Debrief: whisper.cpp through whisper-rs, behind voice
//! activity detection.
//!
//! whisper.cpp applies VAD only inside `whisper_full`, which whisper-rs's state API does
//! not call (see ENGINE-NOTES), so this crate runs silero VAD itself
//! ([`whisper_rs::WhisperVadContext`], one thread: more only spin on small inputs),
//! keeps the speech spans (padded, and merged across short pauses), joins them with
//! 100 ms of silence, transcribes that once, and maps every timestamp back to the
//! chunk's own time. Silence therefore costs nothing and yields no invented text.
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
/// Spans closer than this are merged (the pause stays in the audio).
const MERGE_GAP: usize = SAMPLE_RATE * 6 / 10;
/// Silence put between kept spans.
const JOIN: usize = SAMPLE_RATE / 10;

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

/// Maps positions in the joined buffer back to the original samples.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct SpanMap {
    /// (start in the joined buffer, start in the original, length), in samples.
    spans: Vec<(usize, usize, usize)>,
}

impl SpanMap {
    fn to_original(&self, joined: usize) -> usize {
        let i = self.spans.partition_point(|s| s.0 <= joined);
        match i.checked_sub(1).and_then(|i| self.spans.get(i)) {
            Some(&(j, o, len)) => o + (joined - j).min(len),
            None => self.spans.first().map_or(0, |s| s.1),
        }
    }
}

/// Keeps padded speech spans (merged across short pauses) joined by short silences.
fn join_speech(samples: &[f32], speech: &[(usize, usize)]) -> (Vec<f32>, SpanMap) {
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for &(a, b) in speech {
        let (a, b) = (a.saturating_sub(PAD), (b + PAD).min(samples.len()));
        match merged.last_mut() {
            Some(last) if a <= last.1 + MERGE_GAP => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let mut out = Vec::new();
    let mut map = SpanMap::default();
    for (a, b) in merged {
        if !out.is_empty() {
            out.resize(out.len() + JOIN, 0.0);
        }
        map.spans.push((out.len(), a, b - a));
        out.extend_from_slice(&samples[a..b]);
    }
    (out, map)
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
        if speech.is_empty() {
            return Ok(Vec::new());
        }
        let (joined, map) = join_speech(samples, &speech);
        self.decode(&joined, &map)
    }

    /// Plain whisper.cpp on all of `samples`, without VAD: the baseline the pipeline is
    /// measured against.
    pub fn transcribe_plain(&mut self, samples: &[f32]) -> Result<Vec<Segment>, EngineError> {
        let map = SpanMap {
            spans: vec![(0, 0, samples.len())],
        };
        self.decode(samples, &map)
    }

    fn decode(&mut self, joined: &[f32], map: &SpanMap) -> Result<Vec<Segment>, EngineError> {
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(i32::try_from(self.cfg.threads.max(1)).unwrap_or(1));
        params.set_language(self.cfg.language.as_deref());
        params.set_no_context(true);
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
            .full(params, joined)
            .map_err(|e| EngineError::Whisper(format!("decoding: {e}")))?;
        let eot = self.ctx.token_eot();
        let ms = |cs: i64| {
            let joined_pos = (cs.max(0) as usize) * SAMPLE_RATE / 100;
            (map.to_original(joined_pos.min(joined.len())) * 1000 / SAMPLE_RATE) as i64
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
    fn speech_spans_are_padded_merged_joined_and_mapped_back() {
        let samples: Vec<f32> = (0..SAMPLE_RATE * 20).map(|i| i as f32).collect();
        // Two spans 0.3 s apart merge; a third 5 s later stays apart.
        let speech = [(16_000, 32_000), (36_800, 48_000), (128_000, 144_000)];
        let (joined, map) = join_speech(&samples, &speech);
        assert_eq!(map.spans.len(), 2);
        let (a0, b0) = (16_000 - PAD, 48_000 + PAD);
        let (a1, b1) = (128_000 - PAD, 144_000 + PAD);
        assert_eq!(joined.len(), (b0 - a0) + JOIN + (b1 - a1));
        assert_eq!(joined[0], a0 as f32);
        assert_eq!(map.to_original(0), a0);
        assert_eq!(map.to_original(100), a0 + 100);
        let second = b0 - a0 + JOIN;
        assert_eq!(joined[second], a1 as f32);
        assert_eq!(map.to_original(second + 5), a1 + 5);
        // Inside the inserted silence: clamps to the end of the first span.
        assert_eq!(map.to_original(b0 - a0 + 10), b0);
    }
}
