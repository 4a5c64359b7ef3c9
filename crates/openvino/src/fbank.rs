//! Kaldi's filter-bank front end, as WeSpeaker computes it before its ResNet speaker
//! encoders (`torchaudio.compliance.kaldi.fbank` over samples scaled to the int16 range,
//! then the mean over time subtracted from each band):
//!
//! 80 mel bands, 25 ms frames every 10 ms at 16 kHz, only whole frames (`snip_edges`), no
//! dither, each frame's DC offset removed, pre-emphasis 0.97, a Hamming window, zero padding
//! to 512 points, the power spectrum, triangular filters on Kaldi's mel scale
//! (`1127 ln(1 + f / 700)`) from 20 Hz to the Nyquist frequency, and the natural log floored
//! at f32's epsilon. Checked against `kaldi-native-fbank` (PyPI) in this crate's tests.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

const RATE: f32 = 16_000.0;
/// Samples per frame (25 ms).
const FRAME: usize = 400;
/// Samples between frames (10 ms).
const SHIFT: usize = 160;
/// FFT length: the frame padded to a power of two.
const PADDED: usize = 512;
/// Mel bands.
pub(crate) const BANDS: usize = 80;
const LOW_HZ: f32 = 20.0;
const PREEMPH: f32 = 0.97;

fn mel(hz: f32) -> f32 {
    1127.0 * (1.0 + hz / 700.0).ln()
}

pub(crate) struct Fbank {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    /// Per band: the first FFT bin it covers and its weights from there.
    filters: Vec<(usize, Vec<f32>)>,
}

impl Fbank {
    pub(crate) fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(PADDED);
        // Symmetric Hamming, as Kaldi's: 0.54 - 0.46 cos(2 pi n / (N - 1)).
        let window = (0..FRAME)
            .map(|n| 0.54 - 0.46 * (2.0 * std::f64::consts::PI * n as f64 / (FRAME - 1) as f64).cos())
            .map(|w| w as f32)
            .collect();
        // Kaldi's mel banks: equal steps on the mel scale between LOW_HZ and Nyquist, weights
        // taken at the centre frequency of each of the first PADDED / 2 FFT bins.
        let (lo, hi) = (mel(LOW_HZ), mel(RATE / 2.0));
        let delta = (hi - lo) / (BANDS + 1) as f32;
        let bin_hz = RATE / PADDED as f32;
        let filters = (0..BANDS)
            .map(|b| {
                let (left, centre, right) =
                    (lo + b as f32 * delta, lo + (b + 1) as f32 * delta, lo + (b + 2) as f32 * delta);
                let w: Vec<f32> = (0..PADDED / 2)
                    .map(|i| {
                        let m = mel(bin_hz * i as f32);
                        if m > left && m < right {
                            if m <= centre {
                                (m - left) / (centre - left)
                            } else {
                                (right - m) / (right - centre)
                            }
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let first = w.iter().position(|&x| x > 0.0).unwrap_or(0);
                let last = w.iter().rposition(|&x| x > 0.0).map_or(first, |l| l + 1);
                (first, w[first..last].to_vec())
            })
            .collect();
        Self { fft, window, filters }
    }

    /// Log mel energies, row-major `[frames][BANDS]`, of `audio` (16 kHz, in [-1, 1]; scaled
    /// to the int16 range here, as WeSpeaker's recipe does). Audio shorter than one frame
    /// gives no frames.
    pub(crate) fn frames(&self, audio: &[f32]) -> Vec<f32> {
        if audio.len() < FRAME {
            return Vec::new();
        }
        let n = 1 + (audio.len() - FRAME) / SHIFT;
        let mut out = Vec::with_capacity(n * BANDS);
        let mut frame = [0f32; FRAME];
        let mut buf = self.fft.make_input_vec();
        let mut spec = self.fft.make_output_vec();
        let mut power = vec![0f32; PADDED / 2];
        for f in 0..n {
            let src = &audio[f * SHIFT..f * SHIFT + FRAME];
            for (d, s) in frame.iter_mut().zip(src) {
                *d = s * 32768.0;
            }
            let mean = frame.iter().map(|&x| f64::from(x)).sum::<f64>() / FRAME as f64;
            for x in &mut frame {
                *x -= mean as f32;
            }
            // Pre-emphasis from the last sample down; the first is scaled by itself.
            for i in (1..FRAME).rev() {
                frame[i] -= PREEMPH * frame[i - 1];
            }
            frame[0] -= PREEMPH * frame[0];
            buf.fill(0.0);
            for ((b, x), w) in buf.iter_mut().zip(&frame).zip(&self.window) {
                *b = x * w;
            }
            if self.fft.process(&mut buf, &mut spec).is_err() {
                spec.iter_mut().for_each(|c| *c = Default::default());
            }
            for (p, c) in power.iter_mut().zip(&spec) {
                *p = c.norm_sqr();
            }
            for (first, w) in &self.filters {
                let e: f32 = w.iter().zip(&power[*first..]).map(|(a, b)| a * b).sum();
                out.push(e.max(f32::EPSILON).ln());
            }
        }
        out
    }

    /// [`Fbank::frames`] with each band's mean over the frames subtracted (cepstral mean
    /// normalisation over the utterance, WeSpeaker's only normalisation).
    pub(crate) fn normalised(&self, audio: &[f32]) -> Vec<f32> {
        let mut x = self.frames(audio);
        let n = x.len() / BANDS;
        if n == 0 {
            return x;
        }
        let mut mean = [0f64; BANDS];
        for row in x.chunks_exact(BANDS) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += f64::from(*v);
            }
        }
        for row in x.chunks_exact_mut(BANDS) {
            for (v, m) in row.iter_mut().zip(&mean) {
                *v -= (*m / n as f64) as f32;
            }
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of 1 s of LibriVox speech computed by `kaldi-native-fbank` 1.23.0 from PyPI
    /// (`scripts/fbank_reference.py` wrote the file).
    #[test]
    fn matches_kaldi_native_fbank_on_real_speech() {
        let r: serde_json::Value =
            serde_json::from_str(include_str!("../tests/data/fbank-reference.json")).expect("reference");
        let audio: Vec<f32> =
            r["samples"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap() as f32 / 32768.0).collect();
        let want: Vec<Vec<f64>> = r["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect())
            .collect();
        let got = Fbank::new().frames(&audio);
        assert_eq!((got.len() / BANDS, want.len()), (98, 98), "frame count (snip_edges)");
        let mut worst = 0f64;
        for (f, row) in want.iter().enumerate() {
            assert_eq!(row.len(), BANDS);
            for (b, w) in row.iter().enumerate() {
                let d = (f64::from(got[f * BANDS + b]) - w).abs();
                worst = worst.max(d);
                assert!(d < 1e-3, "frame {f} band {b}: {} against {w}", got[f * BANDS + b]);
            }
        }
        eprintln!("largest difference from kaldi-native-fbank: {worst:.2e}");
    }

    #[test]
    fn the_mean_over_time_is_removed_and_short_audio_gives_nothing() {
        let fb = Fbank::new();
        assert!(fb.frames(&[0.1; FRAME - 1]).is_empty());
        let audio: Vec<f32> =
            (0..8000).map(|i| ((i as f32) * 0.07).sin() * 0.3 + ((i * 7919) % 13) as f32 * 1e-3).collect();
        let x = fb.normalised(&audio);
        let n = x.len() / BANDS;
        assert_eq!(n, 1 + (8000 - FRAME) / SHIFT);
        for b in 0..BANDS {
            let mean: f64 = x.chunks_exact(BANDS).map(|r| f64::from(r[b])).sum::<f64>() / n as f64;
            assert!(mean.abs() < 1e-4, "band {b}: mean {mean}");
        }
    }
}
