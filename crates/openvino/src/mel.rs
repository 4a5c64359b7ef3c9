//! resemblyzer's front end: a 40-band mel power spectrogram (not log), 25 ms Hann windows
//! every 10 ms at 16 kHz, centred frames (librosa's `melspectrogram` defaults: zero padding
//! of half a window at each end, Slaney mel scale and area normalisation).

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

const N_FFT: usize = 400;
const HOP: usize = 160;
const N_MELS: usize = 40;

pub(crate) struct Mel {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    filters: Vec<f32>,
}

impl Mel {
    pub(crate) fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        // Periodic Hann (scipy.signal.get_window("hann", N, fftbins=True)).
        let window =
            (0..N_FFT).map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / N_FFT as f32).cos()).collect();
        Self { fft, window, filters: debrief_models::mel_filters(N_MELS, N_FFT, 16_000) }
    }

    /// Row-major `[frames][40]`.
    pub(crate) fn frames(&self, audio: &[f32]) -> Vec<f32> {
        let pad = N_FFT / 2;
        let mut padded = vec![0f32; audio.len() + 2 * pad];
        padded[pad..pad + audio.len()].copy_from_slice(audio);
        let n_frames = 1 + audio.len() / HOP;
        let bins = N_FFT / 2 + 1;
        let mut out = Vec::with_capacity(n_frames * N_MELS);
        let mut buf = self.fft.make_input_vec();
        let mut spec = self.fft.make_output_vec();
        let mut power = vec![0f32; bins];
        for f in 0..n_frames {
            let s = f * HOP;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = padded.get(s + i).copied().unwrap_or(0.0) * self.window[i];
            }
            if self.fft.process(&mut buf, &mut spec).is_err() {
                spec.iter_mut().for_each(|c| *c = Default::default());
            }
            for (p, c) in power.iter_mut().zip(&spec) {
                *p = c.norm_sqr();
            }
            for m in 0..N_MELS {
                let row = &self.filters[m * bins..(m + 1) * bins];
                out.push(row.iter().zip(&power).map(|(w, p)| w * p).sum());
            }
        }
        out
    }
}
