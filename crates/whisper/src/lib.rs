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
//! of at most 28 s, each decoded alone, lost words that depend on the audio before them.)
//!
//! Whisper sometimes skips speech: a decode ends without a closing timestamp, or the
//! last word is stamped over the rest of the window, and whisper.cpp moves on to the
//! next window. The VAD knows where speech is, so a stretch of 2 s of speech without a
//! word is found, what came before it kept, and the stretch decoded again from just
//! before it ([`Transcription::resumed`] counts these). On `scripts/eval-asr`'s forced 17 s
//! chunks this took the word error rate from 7.37% to 3.04%.
//!
//! Decoding is independent per call (no context from earlier text, a fresh state each
//! time), so chunks can be transcribed in any order, in parallel, and again with the
//! same result. This crate links whisper.cpp's ggml: never link it into a binary that
//! also links llama.cpp.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperVadContext, WhisperVadContextParams,
    WhisperVadParams,
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

/// Longest stretch of audio one word is taken to cover: Whisper sometimes stretches a
/// segment's last word over audio it never transcribed.
const WORD_COVER_MS: i64 = 1_500;
/// Speech (by VAD) left without a word for this long means Whisper skipped it.
const SKIPPED_MS: i64 = 2_000;
/// At most this many fresh decodes after skips, per group.
const MAX_RESUMES: usize = 8;
/// The fewest words a segment repeated word for word must have to count as a decoding
/// loop (see [`repeated_from`]).
const REPEAT_WORDS: usize = 4;

/// Progress step (see [`Engine::transcribe_with`]) before voice detection.
pub const STEP_VAD: i64 = 2;
/// Progress steps of decodes start here (see [`Engine::transcribe_with`]).
pub const STEP_DECODE: i64 = 1_000;
/// Room for each decode's compute steps.
pub const DECODE_SPAN: i64 = 1_000_000;

/// Where [`Engine::transcribe_with`] reports progress steps (called on the decoding
/// thread, hence `Send + Sync` and owned).
pub type Progress = std::sync::Arc<dyn Fn(i64) + Send + Sync>;

/// What the abort callback counts with (see `Engine::decode`).
struct StepCounter {
    step: Progress,
    base: i64,
    calls: i64,
}

/// whisper.cpp's abort callback: counts a compute pass, reports it as a progress step
/// (each is one `pwrite` in the worker: see `debrief_jobq::Crumb`), and never asks to
/// abort.
#[allow(unsafe_code)]
unsafe extern "C" fn count_pass(user_data: *mut std::ffi::c_void) -> bool {
    // SAFETY: set only by `Engine::decode` to a `StepCounter` that outlives the decode.
    let c = unsafe { &mut *user_data.cast::<StepCounter>() };
    c.calls += 1;
    (c.step)(c.base + c.calls);
    false
}

fn to_ms(sample: usize) -> i64 {
    (sample * 1000 / SAMPLE_RATE) as i64
}

/// Whisper.cpp jumps to the end of its 30 s window when a decode ends without a closing
/// timestamp, or when it stamps the last segment over the rest of the window: whole
/// sentences then vanish (measured: 9 to 27 words at a time in `scripts/eval-asr`'s forced
/// cuts). This finds such a skip: the first stretch between `from` and `to` (ms) with at
/// least [`SKIPPED_MS`] of VAD speech that no word covers (a word covering at most
/// [`WORD_COVER_MS`]). Returns where to decode again: just before that speech.
fn skipped_from(segs: &[Segment], speech_ms: &[(i64, i64)], from: i64, to: i64) -> Option<i64> {
    let mut covered: Vec<(i64, i64)> = segs
        .iter()
        .flat_map(|s| {
            let spans: Vec<(i64, i64)> = if s.words.is_empty() {
                vec![(s.start_ms, s.end_ms)]
            } else {
                s.words.iter().map(|w| (w.start_ms, w.end_ms.min(w.start_ms + WORD_COVER_MS))).collect()
            };
            spans
        })
        .collect();
    covered.sort_unstable();
    // Holes between covered spans (and before the first, after the last).
    let mut holes = Vec::new();
    let mut at = from;
    for (a, b) in covered {
        if a > at {
            holes.push((at, a));
        }
        at = at.max(b);
    }
    if to > at {
        holes.push((at, to));
    }
    holes.into_iter().find_map(|(h0, h1)| {
        let inside: Vec<(i64, i64)> =
            speech_ms.iter().map(|&(a, b)| (a.max(h0), b.min(h1))).filter(|(a, b)| b > a).collect();
        let total: i64 = inside.iter().map(|(a, b)| b - a).sum();
        (total >= SKIPPED_MS).then(|| h0.max(inside[0].0 - to_ms(PAD)))
    })
}

/// Whisper's other way of losing speech: stuck in a loop, it writes the sentence it just
/// wrote again over the speech that follows (measured in `scripts/eval-summary`'s design
/// review: "I would like to see those numbers before we build the full service." twice,
/// the second copy stamped over 16 s in which another voice said something else). Returns
/// the start of the first segment that repeats the one before it word for word (at least
/// [`REPEAT_WORDS`] words; a short "Yes." said twice is speech), where to decode again.
fn repeated_from(segs: &[Segment]) -> Option<i64> {
    let norm = |s: &Segment| -> Vec<String> {
        s.text
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    segs.windows(2).find_map(|pair| {
        let (a, b) = (norm(&pair[0]), norm(&pair[1]));
        (a.len() >= REPEAT_WORDS && a == b).then_some(pair[1].start_ms)
    })
}

/// `segs` without the words that start at or after `t` (ms).
fn truncate(segs: Vec<Segment>, t: i64) -> Vec<Segment> {
    segs.into_iter()
        .filter(|s| s.start_ms < t)
        .filter_map(|mut s| {
            if s.words.is_empty() || s.words.iter().all(|w| w.start_ms < t) {
                return Some(s);
            }
            s.words.retain(|w| w.start_ms < t);
            let last = s.words.last()?;
            s.end_ms = last.end_ms;
            s.text = s.words.iter().map(|w| w.text.as_str()).collect::<String>().trim().to_owned();
            Some(s)
        })
        .collect()
}

/// A segment that only describes sound ("[BLANK_AUDIO]", "(music)", "*applause*"), which
/// Whisper writes for non-speech; it is no part of a transcript.
fn is_annotation(text: &str) -> bool {
    let pairs = [('[', ']'), ('(', ')'), ('*', '*'), ('♪', '♪')];
    pairs.iter().any(|&(open, close)| {
        text.chars().count() >= 2
            && text.starts_with(open)
            && text.ends_with(close)
            && !text[open.len_utf8()..text.len() - close.len_utf8()].contains([open, close])
    })
}

fn norm(word: &str) -> String {
    word.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Appends a decode's segments to its group's, dropping the words at its start that
/// repeat the group's last words (a decode resumed mid-word may hear that word again).
fn append_resumed(out: &mut Vec<Segment>, mut segs: Vec<Segment>) {
    let kept: Vec<String> = out.iter().flat_map(|s| s.words.iter().map(|w| norm(&w.text))).collect();
    let fresh: Vec<String> = segs.iter().flat_map(|s| s.words.iter().map(|w| norm(&w.text))).take(3).collect();
    let repeat = (1..=fresh.len().min(kept.len())).rev().find(|&k| fresh[..k] == kept[kept.len() - k..]).unwrap_or(0);
    if repeat > 0 {
        let mut left = repeat;
        segs.retain_mut(|s| {
            let n = left.min(s.words.len());
            left -= n;
            if n == 0 {
                return true;
            }
            s.words.drain(..n);
            match (s.words.first(), s.words.last()) {
                (Some(first), Some(last)) => {
                    s.start_ms = first.start_ms;
                    s.end_ms = last.end_ms;
                    s.text = s.words.iter().map(|w| w.text.as_str()).collect::<String>().trim().to_owned();
                    true
                }
                _ => false,
            }
        });
    }
    out.extend(segs);
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

/// What [`Engine::transcribe`] heard, and what it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcription {
    /// The segments, in order.
    pub segments: Vec<Segment>,
    /// How many times decoding started again after Whisper had skipped speech.
    pub resumed: usize,
    /// Seconds spent in voice activity detection.
    pub vad_seconds: f64,
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
    EngineError::Model { path: path.to_path_buf(), msg: msg.into() }
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
        let segs =
            self.vad.segments_from_samples(params, samples).map_err(|e| EngineError::Whisper(format!("VAD: {e}")))?;
        // Segment times are in centiseconds.
        let cs = |t: f32| ((f64::from(t) * SAMPLE_RATE as f64 / 100.0).round().max(0.0) as usize).min(samples.len());
        Ok(segs.map(|s| (cs(s.start), cs(s.end))).filter(|(a, b)| b > a).collect())
    }

    /// Transcribes 16 kHz mono samples. Timestamps are relative to `samples[0]`.
    pub fn transcribe(&mut self, samples: &[f32]) -> Result<Transcription, EngineError> {
        self.transcribe_with(samples, &(std::sync::Arc::new(|_| {}) as Progress))
    }

    /// [`Engine::transcribe`], reporting progress to `step`: [`STEP_VAD`] before voice
    /// detection, then for the n-th decode (from 0) `STEP_DECODE + n * DECODE_SPAN`
    /// before it starts, that plus 1 once its state is allocated, and that plus 1 + k
    /// after the k-th compute pass of whisper.cpp within it (counted through its abort
    /// callback, one call per encoder or decoder pass). The same audio always gives the
    /// same sequence, so a chunk that crashes whisper.cpp at one place reports the same
    /// last step every time, while kills from outside land on different ones. `step` runs on the decoding thread.
    pub fn transcribe_with(&mut self, samples: &[f32], step: &Progress) -> Result<Transcription, EngineError> {
        let vad_started = std::time::Instant::now();
        step(STEP_VAD);
        let speech = self.speech(samples)?;
        let vad_seconds = vad_started.elapsed().as_secs_f64();
        let speech_ms: Vec<(i64, i64)> = speech.iter().map(|&(a, b)| (to_ms(a), to_ms(b))).collect();
        let mut out = Vec::new();
        let mut resumed = 0;
        let mut decodes: i64 = 0;
        for (a, b) in groups(samples.len(), &speech) {
            // Decode the group; where Whisper skipped speech (see `skipped_from`), keep
            // what it wrote before the skip and decode again from there.
            let mut start = a;
            let mut group = Vec::new();
            for round in 0..=MAX_RESUMES {
                let base = STEP_DECODE + decodes * DECODE_SPAN;
                decodes += 1;
                step(base);
                let segs = self.decode(&samples[start..b], start, Some((step.clone(), base)))?;
                // Resume only where that makes progress (a second or more further on).
                let skipped = skipped_from(&segs, &speech_ms, to_ms(start), to_ms(b));
                let resume = [skipped, repeated_from(&segs)]
                    .into_iter()
                    .flatten()
                    .min()
                    .map(|t| (t, ((t.max(0) as usize) * SAMPLE_RATE / 1000).min(b)))
                    .filter(|&(_, next)| round < MAX_RESUMES && next < b && next >= start + SAMPLE_RATE)
                    // A fresh decode that hears no word at all there is believed (music,
                    // noise the VAD took for speech): no more tries.
                    .filter(|_| round == 0 || segs.iter().any(|s| !s.words.is_empty()));
                match resume {
                    None => {
                        append_resumed(&mut group, segs);
                        break;
                    }
                    Some((t, next)) => {
                        append_resumed(&mut group, truncate(segs, t));
                        start = next;
                        resumed += 1;
                    }
                }
            }
            out.append(&mut group);
        }
        Ok(Transcription { segments: out, resumed, vad_seconds })
    }

    /// Plain whisper.cpp on all of `samples`, without VAD: the baseline the pipeline is
    /// measured against.
    pub fn transcribe_plain(&mut self, samples: &[f32]) -> Result<Vec<Segment>, EngineError> {
        self.decode(samples, 0, None)
    }

    /// Decodes `audio`, which starts `offset` samples into the caller's samples,
    /// reporting progress steps from `base` (see [`Engine::transcribe_with`]).
    fn decode(
        &mut self,
        audio: &[f32],
        offset: usize,
        progress: Option<(Progress, i64)>,
    ) -> Result<Vec<Segment>, EngineError> {
        let mut state = self.ctx.create_state().map_err(|e| EngineError::Whisper(format!("creating a state: {e}")))?;
        // A step of its own between allocating the state and the first pass (which
        // follows the mel spectrogram): the passes count from `base + 2`.
        let progress = progress.map(|(step, base)| {
            step(base + 1);
            (step, base + 1)
        });
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        // Counts whisper.cpp's compute passes through its abort callback (it never
        // aborts). whisper-rs's safe wrapper for this callback casts its boxed closure
        // back to the wrong type (whisper-rs 0.16: a crash at the first call), so the raw
        // callback is set here, pointing at `counter`, which lives on this stack frame
        // until `state.full` below has returned.
        let mut counter = progress.map(|(step, base)| StepCounter { step, base, calls: 0 });
        if let Some(c) = counter.as_mut() {
            #[allow(unsafe_code)]
            // SAFETY: `count_pass` reads its user data only as the `StepCounter` set here,
            // which outlives every call: whisper.cpp calls it only during `state.full`, and
            // `params` is consumed by that call.
            unsafe {
                params.set_abort_callback(Some(count_pass));
                params.set_abort_callback_user_data(std::ptr::from_mut(c).cast());
            }
        }
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
        state.full(params, audio).map_err(|e| EngineError::Whisper(format!("decoding: {e}")))?;
        drop(counter);
        let eot = self.ctx.token_eot();
        let ms = |cs: i64| {
            let pos = ((cs.max(0) as usize) * SAMPLE_RATE / 100).min(audio.len());
            ((offset + pos) * 1000 / SAMPLE_RATE) as i64
        };
        let mut out = Vec::new();
        for seg in state.as_iter() {
            let text = seg.to_str_lossy().map_err(|e| EngineError::Whisper(e.to_string()))?.trim().to_owned();
            if text.is_empty() || is_annotation(&text) {
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
                    words.push(Word { text: piece.clone(), start_ms: ms(data.t0), end_ms: ms(data.t1), p: 0.0 });
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

    fn seg(words: &[(&str, i64, i64)]) -> Segment {
        let words: Vec<Word> =
            words.iter().map(|&(t, a, b)| Word { text: format!(" {t}"), start_ms: a, end_ms: b, p: 0.9 }).collect();
        Segment {
            start_ms: words[0].start_ms,
            end_ms: words[words.len() - 1].end_ms,
            text: words.iter().map(|w| w.text.as_str()).collect::<String>().trim().to_owned(),
            words,
            no_speech_prob: 0.0,
        }
    }

    #[test]
    fn a_decode_that_stops_early_is_resumed_after_its_last_word() {
        // Measured in a 17 s chunk: one sentence, then nothing for 13 s of speech.
        let words = [
            ("He", 0, 110),
            ("might", 110, 450),
            ("have", 450, 720),
            ("been", 720, 990),
            ("made", 990, 1_500),
            ("still", 1_500, 2_000),
            ("more", 2_000, 2_500),
            ("respectable", 2_500, 3_040),
            ("was.", 3_040, 3_300),
        ];
        let segs = [seg(&words)];
        let speech = [(0, 7_100), (8_000, 17_000)];
        assert_eq!(skipped_from(&segs, &speech, 0, 17_000), Some(3_300));
        // Words all there: pauses between sentences (no speech) are no skip.
        let full =
            [seg(&[("One", 0, 400), ("two.", 500, 900)]), seg(&[("Three", 2_500, 2_900), ("four.", 3_000, 3_500)])];
        assert_eq!(skipped_from(&full, &[(0, 950), (2_400, 3_600)], 0, 4_000), None);
    }

    #[test]
    fn a_sentence_written_twice_in_a_row_is_decoded_again_from_the_copy() {
        let said = |t0: i64| {
            seg(&[
                ("I", t0, t0 + 200),
                ("would", t0 + 200, t0 + 500),
                ("like", t0 + 500, t0 + 800),
                ("to", t0 + 800, t0 + 900),
                ("see", t0 + 900, t0 + 1_200),
                ("those", t0 + 1_200, t0 + 1_500),
                ("numbers.", t0 + 1_500, t0 + 2_000),
            ])
        };
        let first = seg(&[("Good.", 0, 400)]);
        assert_eq!(repeated_from(&[first.clone(), said(1_000), said(5_000)]), Some(5_000));
        let mut upper = said(5_000);
        upper.text = upper.text.to_uppercase().replace('.', "!");
        assert_eq!(repeated_from(&[said(1_000), upper]), Some(5_000), "case and punctuation aside");
        // A short reply said twice is speech, and so is a sentence said again later.
        let yes = |t: i64| seg(&[("Yes,", t, t + 300), ("I", t + 300, t + 400), ("agree.", t + 400, t + 800)]);
        assert_eq!(repeated_from(&[yes(0), yes(1_000)]), None);
        assert_eq!(repeated_from(&[said(1_000), first, said(5_000)]), None);
    }

    #[test]
    fn a_word_stretched_over_unheard_speech_covers_only_its_start() {
        // "pound@437560-442210 sign.@442210-448720" in a measured chunk (times from 437 s).
        let segs = [seg(&[("press", 0, 250), ("the", 250, 300), ("pound", 300, 4_950), ("sign.", 4_950, 11_460)])];
        let speech = [(0, 11_400)];
        assert_eq!(
            skipped_from(&segs, &speech, 0, 11_500),
            Some(1_800),
            "the speech after the first 1.5 s of \"pound\""
        );
        let kept = truncate(segs.to_vec(), 1_800);
        assert_eq!(kept[0].text, "press the pound");
        assert_eq!(kept[0].end_ms, 4_950);
    }

    #[test]
    fn sound_descriptions_are_not_speech() {
        for t in ["[BLANK_AUDIO]", "(music)", "*applause*", "♪♪", "[Music]"] {
            assert!(is_annotation(t), "{t}");
        }
        for t in ["[Laughs] That was close.", "(Sighs) fine (really)", "Okay.", "(", "*", "♪"] {
            assert!(!is_annotation(t), "{t}");
        }
    }

    #[test]
    fn a_resumed_decode_does_not_repeat_the_words_before_it() {
        let mut group = vec![seg(&[("at", 0, 200), ("the", 200, 300), ("tone", 300, 700)])];
        append_resumed(
            &mut group,
            vec![seg(&[("tone,", 650, 800), ("please", 800, 1_200)]), seg(&[("record.", 1_300, 1_800)])],
        );
        let words: Vec<String> = group.iter().flat_map(|s| s.words.iter().map(|w| norm(&w.text))).collect();
        assert_eq!(words, ["at", "the", "tone", "please", "record"]);
        assert_eq!(group[1].text, "please");
        assert_eq!(group[1].start_ms, 800);
    }

    #[test]
    fn speech_is_joined_across_short_pauses_only() {
        let s = SAMPLE_RATE;
        let speech =
            [(s, 5 * s), (6 * s, 20 * s), (21 * s, 27 * s), (40 * s, 45 * s), (47 * s, 100 * s), (119 * s, 120 * s)];
        let g = groups(120 * s, &speech);
        assert_eq!(g, vec![(s - PAD, 27 * s + PAD), (40 * s - PAD, 100 * s + PAD), (119 * s - PAD, 120 * s)]);
    }
}
