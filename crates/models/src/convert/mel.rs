//! The mel filter bank whisper.cpp reads from the model file.
//!
//! Computed as `librosa.filters.mel(sr=16000, n_fft=400, n_mels=N)` (Slaney mel scale and
//! Slaney area normalisation, the defaults), which is what openai-whisper's `mel_filters.npz`
//! holds. librosa fills a float32 matrix with the triangle weights and then multiplies by the
//! normalisation in float64; the same two roundings are done here so the values match to
//! about 1e-7.

/// Sample rate Whisper's front end works at.
pub const SAMPLE_RATE: u32 = 16_000;
/// FFT size of Whisper's front end.
pub const N_FFT: usize = 400;

fn hz_to_mel(f: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if f >= min_log_hz {
        min_log_mel + (f / min_log_hz).ln() / logstep
    } else {
        f / f_sp
    }
}

fn mel_to_hz(m: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if m >= min_log_mel {
        min_log_hz * (logstep * (m - min_log_mel)).exp()
    } else {
        f_sp * m
    }
}

/// Mel filters for `n_mels` bands over the `n_fft / 2 + 1` FFT bins of a `sample_rate` signal,
/// row-major `[n_mels][n_fft / 2 + 1]`, frequencies 0 to `sample_rate / 2`.
pub fn mel_filters(n_mels: usize, n_fft: usize, sample_rate: u32) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    let sr = f64::from(sample_rate);
    // np.linspace(0, sr / 2, n_bins)
    let fft_freqs: Vec<f64> = (0..n_bins).map(|k| k as f64 * (sr / 2.0) / (n_bins - 1) as f64).collect();
    // mel_frequencies(n_mels + 2, fmin=0, fmax=sr/2)
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(sr / 2.0));
    let mel_f: Vec<f64> = (0..n_mels + 2).map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64)).collect();
    let mut out = vec![0f32; n_mels * n_bins];
    for i in 0..n_mels {
        let fdiff_lo = mel_f[i + 1] - mel_f[i];
        let fdiff_hi = mel_f[i + 2] - mel_f[i + 1];
        let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = -(mel_f[i] - f) / fdiff_lo;
            let upper = (mel_f[i + 2] - f) / fdiff_hi;
            let w = lower.min(upper).max(0.0) as f32;
            out[i * n_bins + k] = (f64::from(w) * enorm) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from openai-whisper's `whisper/assets/mel_filters.npz` (`mel_80`).
    #[test]
    fn matches_openai_whisper_mel_80() {
        let m = mel_filters(80, N_FFT, SAMPLE_RATE);
        assert_eq!(m.len(), 80 * 201);
        let known = [
            (0, 1, 0.024_862_594_902_515_41f64),
            (1, 1, 0.001_990_821_911_022_067),
            (1, 2, 0.022_871_771_827_340_126),
            (2, 2, 0.003_981_643_822_044_134),
            (79, 190, 0.002_232_054_946_944_117_5),
            (79, 197, 0.001_346_277_073_025_703_4),
            (79, 198, 0.000_897_518_009_878_695),
            (79, 199, 0.000_448_759_004_939_347_5),
            (0, 2, 0.0),
            (40, 60, 0.0),
        ];
        for (r, c, v) in known {
            let got = f64::from(m[r * 201 + c]);
            assert!((got - v).abs() < 1e-6, "mel[{r}][{c}] = {got}, want {v}");
        }
        let nonzero = m.iter().filter(|&&x| x != 0.0).count();
        assert_eq!(nonzero, 391, "openai-whisper's mel_80 has 391 non-zero weights");
    }
}
