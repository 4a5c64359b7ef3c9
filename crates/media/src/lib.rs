//! Audio in for Debrief: decode any common audio file to 16 kHz mono, cut it into chunks at
//! quiet points, and store chunks as crash-safe WAV files.
//!
//! The pipeline, all streaming with bounded memory (about one chunk of audio at a time,
//! however long the file):
//!
//! ```text
//! file ─► AudioSource (symphonia demux+decode, downmix, rubato resample to 16 kHz)
//!      ─► Chunker (quiet-point cuts, overlap) ─► write_wav_atomic (one file per chunk)
//! ```
//!
//! ```no_run
//! # fn main() -> Result<(), debrief_media::MediaError> {
//! use debrief_media::{AudioSource, ChunkPlan, Chunker, write_wav_atomic};
//! let mut src = AudioSource::open("meeting.m4a".as_ref())?;
//! let mut chunker = Chunker::new(ChunkPlan::default());
//! let mut chunks = Vec::new();
//! while let Some(block) = src.next_block()? {
//!     chunks.extend(chunker.push(&block));
//! }
//! chunks.extend(chunker.finish());
//! for c in &chunks {
//!     write_wav_atomic(format!("chunk-{:04}.wav", c.index).as_ref(), &c.samples)?;
//! }
//! # Ok(()) }
//! ```
//!
//! **Architecture invariant:** everything downstream of this crate sees only 16 kHz mono
//! `f32` samples, timed so that sample `i` is `i / 16000` seconds into the source. Errors
//! always name the file they are about.
//!
//! **API boundary:** [`AudioSource`], [`Chunker`] / [`ChunkPlan`] / [`Chunk`],
//! [`write_wav_atomic`], [`write_wav_i16_atomic`], [`read_wav`], [`MonoResampler`],
//! [`MediaError`]; [`frame`] (screen frames: the change detector, PNG reading);
//! `video` (feature `video`: frames of video files through FFmpeg's libraries).

#![deny(missing_docs)]

pub mod chunk;
mod decode;
mod error;
pub mod frame;
mod resample;
#[cfg(feature = "video")]
pub mod video;
mod wav;

pub use chunk::{Chunk, ChunkPlan, Chunker, InvalidPlan};
pub use decode::{AudioSource, SourceInfo, SOURCE_CHANNELS, SOURCE_RATES};
pub use error::MediaError;
pub use resample::MonoResampler;
pub use wav::{
    mix_channels, read_wav, read_wav_channels, read_wav_channels_from_bytes, write_wav_atomic, write_wav_i16_atomic,
};

/// The sample rate of everything this crate produces, in Hz.
pub const SAMPLE_RATE: u32 = 16_000;
