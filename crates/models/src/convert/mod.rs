//! Converters to whisper.cpp's ggml files, and the readers and pieces they need.
//!
//! - [`whisper`]: a CTranslate2 Whisper folder to a ggml Whisper model, from [`ct2`] (reads
//!   `model.bin`), [`mel`] (the Slaney mel filters) and [`vocab`] (the byte-level BPE
//!   vocabulary), written with [`ggml`] (which also reads the result back, for tests).
//! - [`silero`]: silero-vad's ONNX export (read with `prost`, messages in [`onnx`]) to
//!   whisper.cpp's ggml VAD model, written with the same [`ggml`] tensor records.

pub(crate) mod ct2;
pub mod ge2e;
pub(crate) mod ggml;
pub(crate) mod mel;
pub(crate) mod onnx;
pub mod silero;
pub mod torch_legacy;
pub(crate) mod vocab;
pub(crate) mod whisper;
