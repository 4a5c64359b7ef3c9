//! Synthetic recordings with known content, written in any container ffmpeg encodes.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A speech-like test signal: bursts of two amplitude-modulated tones (150 Hz to 3 kHz,
/// well below 8 kHz, so its 16 kHz resampling is the same function sampled at 16 kHz),
/// separated by silences. Deterministic.
pub(crate) struct Synth {
    segs: Vec<(f64, f64, f64, f64)>,
    pub(crate) seconds: f64,
}

impl Synth {
    pub(crate) fn new(seconds: f64, seed: u64) -> Self {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut rnd = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f64) / f64::from(1u32 << 31)
        };
        let mut segs = Vec::new();
        let mut t = 0.3;
        while t < seconds - 1.0 {
            let len = 2.0 + 6.0 * rnd();
            let end = (t + len).min(seconds - 0.3);
            segs.push((t, end, 150.0 + 500.0 * rnd(), 700.0 + 2300.0 * rnd()));
            t = end + 0.5 + 1.0 * rnd();
        }
        Self { segs, seconds }
    }

    /// The signal at time `t` seconds.
    pub(crate) fn at(&self, t: f64) -> f64 {
        let i = self.segs.partition_point(|s| s.1 <= t);
        let Some(&(a, b, f1, f2)) = self.segs.get(i) else { return 0.0 };
        if t < a {
            return 0.0;
        }
        let fade = ((t - a).min(b - t) / 0.02).min(1.0);
        let env = fade * (0.6 + 0.4 * (2.0 * PI * 4.0 * t).sin());
        env * (0.3 * (2.0 * PI * f1 * t).sin() + 0.2 * (2.0 * PI * f2 * t).sin())
    }

    /// Samples at `rate` Hz.
    pub(crate) fn render(&self, rate: u32) -> Vec<f32> {
        let n = (self.seconds * f64::from(rate)).round() as usize;
        (0..n).map(|i| self.at(i as f64 / f64::from(rate)) as f32).collect()
    }

    /// A stereo WAV at `rate` (left = s, right = s/2: the mono downmix is 0.75 s).
    pub(crate) fn write_wav(&self, path: &Path, rate: u32) {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).expect("wav");
        for s in self.render(rate) {
            let l = (s * 32767.0).round() as i16;
            w.write_sample(l).expect("write");
            w.write_sample(((s * 0.5) * 32767.0).round() as i16).expect("write");
        }
        w.finalize().expect("finalize");
    }

    /// The expected 16 kHz mono samples (the downmix of [`Synth::write_wav`]).
    pub(crate) fn expected_16k(&self) -> Vec<f32> {
        self.render(16_000).into_iter().map(|s| s * 0.75).collect()
    }
}

/// Encodes `wav` with ffmpeg into `ext` (flac, mp3, ogg, m4a) next to it.
pub(crate) fn encode(wav: &Path, ext: &str) -> PathBuf {
    let out = wav.with_extension(ext);
    let codec: &[&str] = match ext {
        "flac" => &["-c:a", "flac"],
        "mp3" => &["-c:a", "libmp3lame", "-b:a", "192k"],
        "ogg" => &["-c:a", "libvorbis", "-q:a", "6"],
        "m4a" => &["-c:a", "aac", "-b:a", "192k"],
        other => panic!("no encoder for {other}"),
    };
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(wav)
        .args(codec)
        .arg(&out)
        .status()
        .expect("ffmpeg (scripts/setup installs it)");
    assert!(st.success(), "ffmpeg failed for {ext}");
    out
}

/// SNR in dB of `got[range]` against `want`, comparing `got[i]` with `want[i - lag]`.
pub(crate) fn snr_at(got: &[f32], want: &[f32], range: std::ops::Range<usize>, lag: i64) -> f64 {
    let (mut sig, mut err) = (0.0f64, 0.0f64);
    for i in range {
        let j = i as i64 - lag;
        if i >= got.len() || j < 0 || j as usize >= want.len() {
            continue;
        }
        let w = f64::from(want[j as usize]);
        sig += w * w;
        err += (f64::from(got[i]) - w).powi(2);
    }
    10.0 * (sig / err.max(1e-20)).log10()
}

/// The lag within ±`max_lag` samples that best aligns `got[range]` with `want` (positive:
/// `got` is late).
pub(crate) fn best_lag(got: &[f32], want: &[f32], range: std::ops::Range<usize>, max_lag: i64) -> i64 {
    (-max_lag..=max_lag)
        .map(|l| (l, snr_at(got, want, range.clone(), l)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("lags")
        .0
}
