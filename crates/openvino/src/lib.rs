//! Speaker analysis of one audio chunk on OpenVINO (CPU, NPU, Intel GPU or AUTO):
//! pyannote segmentation-3.0 over sliding 10 s windows, then one speaker embedding per
//! local speaker per window, made from the audio where that speaker speaks alone: GE2E
//! (resemblyzer's encoder, 40-band mel partials) by default, or a WeSpeaker ResNet34 over
//! Kaldi filter banks (`fbank.rs`).
//!
//! The runtime is the pinned `openvino` wheel's C library, loaded at run time
//! (`openvino-sys`'s runtime linking; its own finder does not find a wheel's library, so
//! the path is given). On CPU, inference precision is pinned to f32: OpenVINO's CPU plugin
//! otherwise picks bf16 on CPUs that have it and results differ between machines.
//!
//! This crate links no ggml and can share a binary with whisper-rs.
#![deny(missing_docs)]

mod fbank;
mod mel;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use debrief_models::EmbeddingKind;
use debrief_speakers::{Channel, ChunkAnalysis, LocalSpeaker, Window, FRAMES_PER_WINDOW, WINDOW_MS};
use openvino::{Core, DeviceType, Dimension, ElementType, InferRequest, PartialShape, RwPropertyKey, Shape, Tensor};

/// Samples per second.
const RATE: usize = 16_000;
/// Samples in one segmentation window.
const WINDOW_SAMPLES: usize = (WINDOW_MS as usize) * RATE / 1000;
/// Mel frames per GE2E partial (1.6 s).
const PARTIAL_FRAMES: usize = 160;
/// Partials per embedding batch.
const BATCH: usize = 8;
/// Most filter-bank frames one WeSpeaker call takes (20 s).
const MAX_FBANK_FRAMES: usize = 2000;
/// Least solo speech (ms) a local speaker needs in a window to get an embedding.
pub const MIN_SOLO_MS: i64 = 800;

/// An error of the speaker engine.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    /// The OpenVINO library could not be loaded.
    #[error("cannot load the OpenVINO runtime {path}: {detail}")]
    Runtime {
        /// The library.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// OpenVINO refused something.
    #[error("OpenVINO: {what}: {detail}")]
    OpenVino {
        /// What was being done.
        what: String,
        /// OpenVINO's error.
        detail: String,
    },
}

fn ov<T>(what: &str, r: Result<T, openvino::InferenceError>) -> Result<T, SpeakerError> {
    r.map_err(|e| SpeakerError::OpenVino { what: what.to_string(), detail: e.to_string() })
}

/// What to load.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// OpenVINO's C library (`libopenvino_c.so.*`).
    pub openvino_c: PathBuf,
    /// pyannote segmentation-3.0 ONNX.
    pub segmentation: PathBuf,
    /// The speaker encoder (ONNX).
    pub embedding: PathBuf,
    /// Which encoder that is (its input and front end).
    pub embedding_kind: EmbeddingKind,
    /// Model id stored with each analysis.
    pub model_id: String,
    /// OpenVINO device: `CPU`, `NPU`, `GPU` or `AUTO`.
    pub device: String,
    /// CPU threads (0: OpenVINO's choice).
    pub threads: usize,
    /// Step between segmentation windows (ms).
    pub step_ms: i64,
}

impl EngineConfig {
    /// The configuration for models fetched by [`debrief_models::speaker_models`] on
    /// OpenVINO device `device` (`cpu`, `npu`, `gpu`, `auto`: any case).
    pub fn new(models: debrief_models::SpeakerModels, device: &str, threads: usize, step_ms: i64) -> Self {
        Self {
            openvino_c: models.openvino_c,
            segmentation: models.segmentation,
            embedding: models.embedding,
            embedding_kind: models.embedding_kind,
            model_id: models.id,
            device: device.to_uppercase(),
            threads,
            step_ms,
        }
    }
}

static LOADED: OnceLock<Result<PathBuf, String>> = OnceLock::new();

fn load_runtime(path: &Path) -> Result<(), SpeakerError> {
    let got = LOADED.get_or_init(|| openvino_sys::library::load_from(path).map(|()| path.to_path_buf()));
    match got {
        Ok(p) if p == path => Ok(()),
        Ok(p) => Err(SpeakerError::Runtime {
            path: path.to_path_buf(),
            detail: format!("another OpenVINO runtime ({}) is already loaded in this process", p.display()),
        }),
        Err(e) => Err(SpeakerError::Runtime { path: path.to_path_buf(), detail: e.clone() }),
    }
}

/// The loaded models.
pub struct SpeakerEngine {
    seg: InferRequest,
    emb: InferRequest,
    kind: EmbeddingKind,
    mel: mel::Mel,
    fbank: fbank::Fbank,
    model_id: String,
    step_ms: i64,
    device: String,
    // Kept alive for the requests (the compiled models own their plugins).
    _core: Core,
}

impl std::fmt::Debug for SpeakerEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeakerEngine").field("model_id", &self.model_id).field("device", &self.device).finish()
    }
}

fn device_type(name: &str) -> DeviceType<'static> {
    match name.to_ascii_uppercase().as_str() {
        "CPU" => DeviceType::CPU,
        "GPU" => DeviceType::GPU,
        "NPU" => DeviceType::NPU,
        other => DeviceType::Other(other.to_string().into()),
    }
}

impl SpeakerEngine {
    /// Loads the runtime and compiles both models for `cfg.device`.
    pub fn load(cfg: &EngineConfig) -> Result<Self, SpeakerError> {
        load_runtime(&cfg.openvino_c)?;
        let mut core = Core::new().map_err(|e| SpeakerError::Runtime {
            path: cfg.openvino_c.clone(),
            detail: format!("cannot create the OpenVINO core: {e}"),
        })?;
        let device = device_type(&cfg.device);
        if matches!(device, DeviceType::CPU) {
            ov(
                "pinning CPU precision to f32",
                core.set_property(&device, &RwPropertyKey::HintInferencePrecision, "f32"),
            )?;
            if cfg.threads > 0 {
                ov(
                    "setting CPU threads",
                    core.set_property(&device, &RwPropertyKey::InferenceNumThreads, &cfg.threads.to_string()),
                )?;
            }
        }
        let path_str = |p: &Path| p.to_string_lossy().into_owned();
        // pyannote's export has a dynamic input; OpenVINO compiles it once it is static.
        let mut seg =
            ov("reading the segmentation model", core.read_model_from_file(&path_str(&cfg.segmentation), ""))?;
        let shape = ov("shape", PartialShape::new_static(3, &[1, 1, WINDOW_SAMPLES as i64]))?;
        ov("reshaping the segmentation model", seg.reshape_single_input(&shape))?;
        let mut seg_c =
            ov(&format!("compiling segmentation for {}", cfg.device), core.compile_model(&seg, device.to_owned()))?;
        let mut emb = ov("reading the embedding model", core.read_model_from_file(&path_str(&cfg.embedding), ""))?;
        let shape = match cfg.embedding_kind {
            EmbeddingKind::Ge2e => {
                ov("shape", PartialShape::new_static(3, &[BATCH as i64, PARTIAL_FRAMES as i64, 40]))?
            }
            // One utterance of 1 to MAX_FBANK_FRAMES frames (a window's solo speech is at
            // most 10 s: 998 frames).
            EmbeddingKind::WeSpeaker => ov(
                "shape",
                PartialShape::new(
                    3,
                    &[Dimension::new(1, 1), Dimension::new(1, MAX_FBANK_FRAMES as i64), Dimension::new(80, 80)],
                ),
            )?,
        };
        ov("reshaping the embedding model", emb.reshape_single_input(&shape))?;
        let mut emb_c = ov(&format!("compiling the embedding for {}", cfg.device), core.compile_model(&emb, device))?;
        Ok(Self {
            seg: ov("segmentation request", seg_c.create_infer_request())?,
            emb: ov("embedding request", emb_c.create_infer_request())?,
            kind: cfg.embedding_kind,
            mel: mel::Mel::new(),
            fbank: fbank::Fbank::new(),
            model_id: cfg.model_id.clone(),
            step_ms: cfg.step_ms.clamp(500, WINDOW_MS),
            device: cfg.device.clone(),
            _core: core,
        })
    }

    /// Powerset log-probabilities of one 10 s window (`FRAMES_PER_WINDOW` rows of 7).
    pub fn segment(&mut self, window: &[f32]) -> Result<Vec<[f32; 7]>, SpeakerError> {
        let mut input =
            ov("tensor", Tensor::new(ElementType::F32, &ov("shape", Shape::new(&[1, 1, WINDOW_SAMPLES as i64]))?))?;
        {
            let data = ov("tensor data", input.get_data_mut::<f32>())?;
            data.fill(0.0);
            let n = window.len().min(WINDOW_SAMPLES);
            data[..n].copy_from_slice(&window[..n]);
        }
        ov("segmentation input", self.seg.set_input_tensor(&input))?;
        ov("segmentation", self.seg.infer())?;
        let out = ov("segmentation output", self.seg.get_output_tensor())?;
        let v = ov("segmentation output data", out.get_data::<f32>())?;
        if v.len() != FRAMES_PER_WINDOW * 7 {
            return Err(SpeakerError::OpenVino {
                what: "segmentation output".into(),
                detail: format!("{} values, expected {} x 7", v.len(), FRAMES_PER_WINDOW),
            });
        }
        Ok(v.chunks_exact(7).map(|c| c.try_into().expect("7")).collect())
    }

    /// The embedding of `audio` (one speaker), L2-normalised, by the loaded encoder.
    pub fn embed(&mut self, audio: &[f32]) -> Result<Vec<f32>, SpeakerError> {
        match self.kind {
            EmbeddingKind::Ge2e => self.embed_ge2e(audio),
            EmbeddingKind::WeSpeaker => self.embed_wespeaker(audio),
        }
    }

    /// WeSpeaker: the whole utterance's mean-normalised filter banks in one call (at most
    /// [`MAX_FBANK_FRAMES`]; longer audio is cut into equal parts whose embeddings are
    /// averaged).
    fn embed_wespeaker(&mut self, audio: &[f32]) -> Result<Vec<f32>, SpeakerError> {
        let max_samples = (MAX_FBANK_FRAMES - 1) * 160 + 400;
        let parts = audio.len().div_ceil(max_samples).max(1);
        let len = audio.len().div_ceil(parts);
        let mut sum: Vec<f32> = Vec::new();
        for part in audio.chunks(len.max(1)) {
            let feats = self.fbank.normalised(part);
            let frames = feats.len() / fbank::BANDS;
            if frames == 0 {
                continue;
            }
            let mut input =
                ov("tensor", Tensor::new(ElementType::F32, &ov("shape", Shape::new(&[1, frames as i64, 80]))?))?;
            ov("tensor data", input.get_data_mut::<f32>())?.copy_from_slice(&feats);
            ov("embedding input", self.emb.set_input_tensor(&input))?;
            ov("embedding", self.emb.infer())?;
            let out = ov("embedding output", self.emb.get_output_tensor())?;
            let v = ov("embedding output data", out.get_data::<f32>())?;
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
            if sum.is_empty() {
                sum = vec![0.0; v.len()];
            }
            for (s, x) in sum.iter_mut().zip(v) {
                *s += x / norm;
            }
        }
        if sum.is_empty() {
            return Err(SpeakerError::OpenVino {
                what: "embedding".into(),
                detail: format!("{} samples are shorter than one 25 ms frame", audio.len()),
            });
        }
        let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
        Ok(sum.into_iter().map(|x| x / norm).collect())
    }

    /// GE2E over 1.6 s partials every 0.8 s, averaged and L2-normalised. Short audio is
    /// repeated to fill one partial.
    fn embed_ge2e(&mut self, audio: &[f32]) -> Result<Vec<f32>, SpeakerError> {
        let frames = self.mel.frames(&normalize_volume(audio));
        let n = frames.len() / 40;
        let mut partials: Vec<Vec<f32>> = Vec::new();
        if n < PARTIAL_FRAMES {
            let mut p = Vec::with_capacity(PARTIAL_FRAMES * 40);
            while p.len() < PARTIAL_FRAMES * 40 && n > 0 {
                let take = (PARTIAL_FRAMES * 40 - p.len()).min(frames.len());
                p.extend_from_slice(&frames[..take]);
            }
            p.resize(PARTIAL_FRAMES * 40, 0.0);
            partials.push(p);
        } else {
            let mut s = 0;
            while s + PARTIAL_FRAMES <= n {
                partials.push(frames[s * 40..(s + PARTIAL_FRAMES) * 40].to_vec());
                s += PARTIAL_FRAMES / 2;
            }
            if n - (s - PARTIAL_FRAMES / 2 + PARTIAL_FRAMES) >= PARTIAL_FRAMES / 2 {
                partials.push(frames[(n - PARTIAL_FRAMES) * 40..].to_vec());
            }
        }
        let mut sum = vec![0f32; 256];
        for batch in partials.chunks(BATCH) {
            let mut input = ov(
                "tensor",
                Tensor::new(ElementType::F32, &ov("shape", Shape::new(&[BATCH as i64, PARTIAL_FRAMES as i64, 40]))?),
            )?;
            {
                let data = ov("tensor data", input.get_data_mut::<f32>())?;
                data.fill(0.0);
                for (i, p) in batch.iter().enumerate() {
                    data[i * PARTIAL_FRAMES * 40..(i + 1) * PARTIAL_FRAMES * 40].copy_from_slice(p);
                }
            }
            ov("embedding input", self.emb.set_input_tensor(&input))?;
            ov("embedding", self.emb.infer())?;
            let out = ov("embedding output", self.emb.get_output_tensor())?;
            let v = ov("embedding output data", out.get_data::<f32>())?;
            for row in v.chunks_exact(256).take(batch.len()) {
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
                for (s, x) in sum.iter_mut().zip(row) {
                    *s += x / norm;
                }
            }
        }
        let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
        Ok(sum.into_iter().map(|x| x / norm).collect())
    }

    /// Analyses one channel of a chunk whose first sample is at `start_ms` of meeting time.
    /// `progress` is called after each window.
    pub fn analyse(
        &mut self,
        samples: &[f32],
        start_ms: i64,
        channel: Channel,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Window>, SpeakerError> {
        let step = usize::try_from(self.step_ms).unwrap_or(2500) * RATE / 1000;
        let mut starts: Vec<usize> =
            (0..).map(|i| i * step).take_while(|s| s + WINDOW_SAMPLES <= samples.len()).collect();
        if samples.len() > WINDOW_SAMPLES && starts.last().is_some_and(|&s| s + WINDOW_SAMPLES < samples.len()) {
            starts.push(samples.len() - WINDOW_SAMPLES);
        }
        if starts.is_empty() && !samples.is_empty() {
            starts.push(0);
        }
        let total = starts.len();
        let mut out = Vec::with_capacity(total);
        for (i, &s) in starts.iter().enumerate() {
            let end = (s + WINDOW_SAMPLES).min(samples.len());
            let logp = self.segment(&samples[s..end])?;
            let valid = ((end - s) * FRAMES_PER_WINDOW).div_ceil(WINDOW_SAMPLES).min(FRAMES_PER_WINDOW);
            let bits: Vec<u8> = logp.iter().map(|row| POWERSET[argmax(row)]).collect();
            let activity: String = bits.iter().map(|b| char::from(b'0' + b)).collect();
            let mut speakers = Vec::new();
            for local in 0..3u8 {
                let mask = 1u8 << local;
                if !bits[..valid].iter().any(|b| b & mask != 0) {
                    continue;
                }
                // Its solo frames' audio.
                let mut audio: Vec<f32> = Vec::new();
                for (f, &b) in bits[..valid].iter().enumerate() {
                    if b == mask {
                        let a = s + f * WINDOW_SAMPLES / FRAMES_PER_WINDOW;
                        let z = (s + (f + 1) * WINDOW_SAMPLES / FRAMES_PER_WINDOW).min(end);
                        audio.extend_from_slice(&samples[a.min(z)..z]);
                    }
                }
                let solo_ms = (audio.len() * 1000 / RATE) as i64;
                let embedding =
                    if channel != Channel::Mic && solo_ms >= MIN_SOLO_MS { Some(self.embed(&audio)?) } else { None };
                speakers.push(LocalSpeaker { local, solo_ms, embedding });
            }
            out.push(Window {
                start_ms: start_ms + (s * 1000 / RATE) as i64,
                valid_frames: valid,
                activity,
                channel,
                speakers,
            });
            progress(i + 1, total);
        }
        Ok(out)
    }

    /// Analyses a chunk: each given channel (`(samples, channel)`), windows of all of them.
    pub fn analyse_chunk(
        &mut self,
        channels: &[(&[f32], Channel)],
        start_ms: i64,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ChunkAnalysis, SpeakerError> {
        let started = std::time::Instant::now();
        let mut windows = Vec::new();
        for (samples, ch) in channels {
            windows.extend(self.analyse(samples, start_ms, *ch, progress)?);
        }
        Ok(ChunkAnalysis {
            model: self.model_id.clone(),
            step_ms: self.step_ms,
            windows,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// Powerset class → local speaker bits (pyannote segmentation-3.0: 3 speakers, at most 2
/// at once: {}, {0}, {1}, {2}, {0,1}, {0,2}, {1,2}).
const POWERSET: [u8; 7] = [0, 1, 2, 4, 3, 5, 6];

fn argmax(row: &[f32; 7]) -> usize {
    (0..7).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap_or(0)
}

/// resemblyzer's volume normalisation: raise to -30 dBFS, never lower.
fn normalize_volume(audio: &[f32]) -> Vec<f32> {
    let rms = (audio.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>() / audio.len().max(1) as f64).sqrt();
    if rms <= 0.0 {
        return audio.to_vec();
    }
    let db = 20.0 * rms.log10();
    let change = -30.0 - db;
    if change <= 0.0 {
        return audio.to_vec();
    }
    let g = 10f64.powf(change / 20.0) as f32;
    audio.iter().map(|x| x * g).collect()
}
