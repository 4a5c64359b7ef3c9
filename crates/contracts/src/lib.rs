//! The contracts between Debrief's processes. The database is their only link, and what
//! one process writes into a job's `payload` or `result` (or a report file) another reads:
//! each such document is a type here, serialised by the writer and deserialised by the
//! reader, so the two cannot drift apart and a malformed document is a clear error instead
//! of a silent default.
//!
//! - [`AudioChunk`]: an AUDIO job's payload (written by `ingest`, read by the audio
//!   worker and by transcript assembly).
//! - [`Screenshot`]: a VISUAL job's payload (written by `ingest record --screens`).
//! - [`AudioResult`], [`TranscriptResult`]: what the audio worker stores as job results.
//! - [`RecordReport`]: `ingest record`'s report (stdout and `record-stats.json`).
//!
//! Paths inside payloads are [`DataPath`]s: relative to the data directory, checked when
//! read, so a payload can never make a worker read outside it.
#![deny(missing_docs)]

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

/// Sample rate of every position in a payload (16 kHz, the rate of chunk files).
pub const SAMPLE_RATE: u64 = 16_000;

/// A path relative to the data directory, made only of normal components (no root, no
/// `..`, no `.`): joining it to the data directory never leaves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DataPath(PathBuf);

/// Why a [`DataPath`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path {path:?} in a job payload must be relative to the data directory, without `..` ({why})")]
pub struct BadPath {
    /// The path as given.
    pub path: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl DataPath {
    /// Checks `rel`.
    pub fn new(rel: impl Into<PathBuf>) -> Result<Self, BadPath> {
        let rel = rel.into();
        let bad = |why| BadPath { path: rel.display().to_string(), why };
        if rel.as_os_str().is_empty() {
            return Err(bad("it is empty"));
        }
        for c in rel.components() {
            match c {
                Component::Normal(_) => {}
                Component::RootDir | Component::Prefix(_) => return Err(bad("it is absolute")),
                Component::ParentDir => return Err(bad("it climbs out with `..`")),
                Component::CurDir => return Err(bad("it has a `.` component")),
            }
        }
        Ok(Self(rel))
    }

    /// The relative path.
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The file inside the data directory `root`.
    pub fn under(&self, root: &Path) -> PathBuf {
        root.join(&self.0)
    }
}

impl fmt::Display for DataPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.display().fmt(f)
    }
}

impl<'de> Deserialize<'de> for DataPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DataPath::new(PathBuf::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// One channel of a recorded chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// The local microphone: the person at this machine.
    Mic,
    /// The system audio (the monitor of the output): the other side of a call.
    System,
}

impl Channel {
    /// The name stored in payloads and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Mic => "mic",
            Channel::System => "system",
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The payload of an AUDIO job: one chunk file and where it sits in the meeting. All
/// positions are in 16 kHz samples of meeting time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioChunk {
    /// The chunk's WAV file (`meetings/<id>/audio/chunk-NNNNN.wav`).
    pub path: DataPath,
    /// Meeting time of the chunk's first sample.
    pub start_sample: u64,
    /// Samples in the chunk.
    pub samples: u64,
    /// How many of the first samples repeat the end of the previous chunk.
    pub overlap_samples: u64,
    /// The chunk's channels, in file order, for recorded chunks (`["mic", "system"]`);
    /// empty for imported (mono) audio.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<Channel>,
    /// Whether the chunk was salvaged from a dead recorder's journal.
    #[serde(default, skip_serializing_if = "is_false")]
    pub recovered: bool,
}

impl AudioChunk {
    /// Meeting time of the first sample, in ms.
    pub fn start_ms(&self) -> i64 {
        i64::try_from(self.start_sample * 1000 / SAMPLE_RATE).unwrap_or(i64::MAX)
    }

    /// Meeting time just past the last sample.
    pub fn end_sample(&self) -> u64 {
        self.start_sample.saturating_add(self.samples)
    }
}

/// The payload of a VISUAL job: one changed screenshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Screenshot {
    /// The PNG (`meetings/<id>/screens/frame-NNNNN-TTTTTTTTT.png`).
    pub path: DataPath,
    /// Meeting time it was taken at, in ms.
    pub t_ms: u64,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
}

/// What the audio worker stores as an AUDIO job's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioResult {
    /// Transcript segments found.
    pub segments: usize,
    /// Words in them.
    pub words: usize,
    /// Length of the chunk in seconds.
    pub audio_s: f64,
    /// Wall time of the transcription, seconds.
    pub seconds: f64,
    /// Wall time of voice activity detection within it, seconds.
    pub vad_seconds: f64,
    /// How often decoding resumed after Whisper skipped speech.
    pub resumed_after_skips: usize,
    /// Why the chunk's speaker analysis failed (its words are kept without speakers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker_error: Option<String>,
}

/// What the audio worker stores as a TRANSCRIPT job's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptResult {
    /// Chunks assembled.
    pub chunks: usize,
    /// Of which FAILED for good (their spans are gaps).
    #[serde(default)]
    pub failed_chunks: usize,
    /// Meeting time no chunk transcribed (ms).
    #[serde(default)]
    pub gaps_ms: i64,
    /// Segments in the meeting transcript.
    pub segments: usize,
    /// Words in them.
    pub words: usize,
    /// Speakers the meeting-wide clustering found (absent without speaker analysis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speakers: Option<usize>,
}

/// One captured source in a [`RecordReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    /// PulseAudio source name.
    pub device: String,
    /// Its sample rate.
    pub rate: u32,
    /// Frames captured.
    pub frames: u64,
    /// Frames dropped because the capture ring was full.
    pub dropped_frames: u64,
    /// Audio captured, in ms at the source's rate.
    pub audio_ms: f64,
    /// Wall time between its first and last frame, ms.
    pub capture_wall_ms: f64,
    /// CLOCK_MONOTONIC time of its first frame, ns.
    pub first_frame_monotonic_ns: i64,
}

/// `ingest record`'s report: the last JSON on its stdout and
/// `meetings/<id>/record-stats.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordReport {
    /// The meeting recorded.
    pub meeting_id: i64,
    /// Channels of its chunks, in file order.
    pub channels: Vec<Channel>,
    /// 16 kHz samples recorded (per channel).
    pub samples: u64,
    /// Length of the recording, ms.
    pub recorded_ms: u64,
    /// Chunks queued.
    pub chunks: u64,
    /// Screenshots queued.
    pub screenshots: u64,
    /// Frames dropped over all sources.
    pub dropped_frames: u64,
    /// Samples of silence padded in for a late source.
    pub padded_samples: u64,
    /// Per source.
    pub sources: Vec<SourceReport>,
    /// Peak resident memory of the recorder, KiB.
    pub peak_rss_kb: Option<u64>,
    /// Whether writing chunks failed (the meeting then stays open for recovery).
    pub writer_failed: bool,
    /// The first error, if any.
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_paths_stay_inside_the_data_directory() {
        assert!(DataPath::new("meetings/1/audio/chunk-00000.wav").is_ok());
        for bad in ["/etc/passwd", "../x", "meetings/../../x", "./a", ""] {
            assert!(DataPath::new(bad).is_err(), "{bad:?} accepted");
        }
        let err = serde_json::from_value::<AudioChunk>(
            json!({"path": "/etc/shadow", "start_sample": 0, "samples": 1, "overlap_samples": 0}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/etc/shadow") && err.contains("absolute"), "{err}");
    }

    #[test]
    fn audio_payloads_round_trip_and_malformed_ones_name_the_field() {
        let c = AudioChunk {
            path: DataPath::new("meetings/3/audio/chunk-00001.wav").unwrap(),
            start_sample: 1_440_000,
            samples: 1_600_000,
            overlap_samples: 16_000,
            channels: vec![Channel::Mic, Channel::System],
            recovered: true,
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["channels"], json!(["mic", "system"]));
        assert_eq!(serde_json::from_value::<AudioChunk>(v.clone()).unwrap(), c);
        assert_eq!(c.start_ms(), 90_000);
        // Imported chunks: no channels, not recovered, and neither key written.
        let mono = AudioChunk { channels: vec![], recovered: false, ..c };
        let v = serde_json::to_value(&mono).unwrap();
        assert!(v.get("channels").is_none() && v.get("recovered").is_none(), "{v}");
        let err = serde_json::from_value::<AudioChunk>(json!({"path": "a.wav", "samples": 1, "overlap_samples": 0}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("start_sample"), "{err}");
        let err = serde_json::from_value::<AudioChunk>(
            json!({"path": "a.wav", "start_sample": -5, "samples": 1, "overlap_samples": 0}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("-5"), "{err}");
    }
}
