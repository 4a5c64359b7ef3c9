//! Streaming mono resampling to [`SAMPLE_RATE`] with rubato's FFT resampler, with the
//! resampler's delay removed and the tail flushed, so that output sample `i` is source time
//! `i / 16000` and the total length is `round(n_in * 16000 / rate)`.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, ResampleError, Resampler};

use crate::SAMPLE_RATE;

/// Output frames per FFT block we aim for; the input block follows from the ratio. About
/// 64 ms at 16 kHz: long enough for a sharp anti-aliasing filter, small enough to stream.
const TARGET_FFT_OUT: usize = 1024;

/// Resamples one channel from `source_rate` to 16 kHz, block by block (used by file
/// decoding and by live capture).
pub struct MonoResampler {
    source_rate: u32,
    /// `None` when the source is already at 16 kHz.
    fft: Option<Fft<f32>>,
    /// Input not yet consumed: always less than one FFT block after `process`.
    pending: Vec<f32>,
    scratch: Vec<f32>,
    /// Leading output frames still to drop (the resampler's delay).
    to_skip: usize,
    frames_in: u64,
    frames_out: u64,
}

impl std::fmt::Debug for MonoResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonoResampler")
            .field("source_rate", &self.source_rate)
            .field("frames_in", &self.frames_in)
            .field("frames_out", &self.frames_out)
            .finish_non_exhaustive()
    }
}

/// `round(frames * 16000 / rate)`, in integers.
pub(crate) fn output_len_for(frames: u64, rate: u32) -> u64 {
    let num = u128::from(frames) * u128::from(SAMPLE_RATE) * 2 + u128::from(rate);
    u64::try_from(num / (2 * u128::from(rate))).unwrap_or(u64::MAX)
}

impl MonoResampler {
    /// A resampler from `source_rate` (must be > 0) to 16 kHz.
    pub fn new(source_rate: u32) -> Result<Self, String> {
        if source_rate == 0 {
            return Err("sample rate 0".into());
        }
        let fft = if source_rate == SAMPLE_RATE {
            None
        } else {
            // With FixedSync::Both the input block is a multiple of rate_in / gcd; pick the
            // multiple that makes the output block about TARGET_FFT_OUT frames.
            let rate_in = source_rate as usize;
            let rate_out = SAMPLE_RATE as usize;
            let g = gcd(rate_in, rate_out);
            let (min_in, min_out) = (rate_in / g, rate_out / g);
            // Both FFT sizes must be even: with an odd size the filter is centred half an
            // input sample off, which `output_delay` does not account for.
            let mult = TARGET_FFT_OUT.div_ceil(min_out).max(1).next_multiple_of(2);
            let fft = Fft::<f32>::new(rate_in, rate_out, min_in * mult, 1, FixedSync::Both)
                .map_err(|e| format!("cannot resample from {source_rate} Hz: {e}"))?;
            Some(fft)
        };
        let to_skip = fft.as_ref().map_or(0, |f| f.output_delay());
        Ok(MonoResampler {
            source_rate,
            fft,
            pending: Vec::new(),
            scratch: Vec::new(),
            to_skip,
            frames_in: 0,
            frames_out: 0,
        })
    }

    /// Feeds `input` (source-rate mono) and appends whatever 16 kHz output is ready to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), ResampleError> {
        self.frames_in += input.len() as u64;
        let Some(fft) = self.fft.as_mut() else {
            out.extend_from_slice(input);
            self.frames_out += input.len() as u64;
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        let need = fft.input_frames_next();
        let mut offset = 0;
        while self.pending.len() - offset >= need {
            let indexing = Indexing::new().input_offset(offset);
            let n = run_block(fft, &self.pending, &mut self.scratch, &indexing)?;
            offset += n.0;
            emit(&self.scratch[..n.1], &mut self.to_skip, u64::MAX, &mut self.frames_out, out);
        }
        self.pending.drain(..offset);
        Ok(())
    }

    /// Flushes the tail: appends the remaining output to `out`, so that the total is exactly
    /// `round(frames_in * 16000 / source_rate)`.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), ResampleError> {
        let total = output_len_for(self.frames_in, self.source_rate);
        let Some(fft) = self.fft.as_mut() else {
            return Ok(());
        };
        // The last partial block, padded with silence by rubato, then silence until the
        // delayed tail has come out.
        let mut partial = self.pending.len();
        while self.frames_out < total {
            let indexing = Indexing::new().partial_len(partial);
            let n = run_block(fft, &self.pending, &mut self.scratch, &indexing)?;
            emit(&self.scratch[..n.1], &mut self.to_skip, total, &mut self.frames_out, out);
            self.pending.clear();
            partial = 0;
        }
        Ok(())
    }
}

fn run_block(
    fft: &mut Fft<f32>,
    input: &[f32],
    scratch: &mut Vec<f32>,
    indexing: &Indexing,
) -> Result<(usize, usize), ResampleError> {
    scratch.resize(fft.output_frames_next(), 0.0);
    let frames_out = scratch.len();
    let in_adapter = InterleavedSlice::new(input, 1, input.len())
        .map_err(|_| ResampleError::InsufficientInputBufferSize { expected: 1, actual: 0 })?;
    let mut out_adapter = InterleavedSlice::new_mut(scratch.as_mut_slice(), 1, frames_out)
        .map_err(|_| ResampleError::InsufficientOutputBufferSize { expected: 1, actual: 0 })?;
    fft.process_into_buffer(&in_adapter, &mut out_adapter, Some(indexing))
}

/// Appends `block` to `out`, first dropping `to_skip` leading frames and never letting the
/// running total pass `cap`.
fn emit(block: &[f32], to_skip: &mut usize, cap: u64, frames_out: &mut u64, out: &mut Vec<f32>) {
    let skip = (*to_skip).min(block.len());
    *to_skip -= skip;
    let rest = &block[skip..];
    let room = usize::try_from(cap.saturating_sub(*frames_out)).unwrap_or(usize::MAX);
    let take = rest.len().min(room);
    out.extend_from_slice(&rest[..take]);
    *frames_out += take as u64;
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resample_all(input: &[f32], rate: u32, block: usize) -> Vec<f32> {
        let mut r = MonoResampler::new(rate).expect("valid rate");
        let mut out = Vec::new();
        for b in input.chunks(block.max(1)) {
            r.process(b, &mut out).expect("resample");
        }
        r.finish(&mut out).expect("finish");
        out
    }

    #[test]
    fn length_is_rounded_ratio_for_many_rates_and_lengths() {
        for &rate in &[8_000u32, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 96_000, 44_056] {
            for &n in &[0usize, 1, 2, 7, 100, 999, 4_410, 48_000, 100_003] {
                let input = vec![0.25f32; n];
                let out = resample_all(&input, rate, 777);
                assert_eq!(out.len() as u64, output_len_for(n as u64, rate), "rate {rate} n {n}");
            }
        }
    }

    #[test]
    fn output_does_not_depend_on_block_sizes() {
        let input: Vec<f32> = (0..50_000).map(|i| ((i as f32) * 0.01).sin()).collect();
        let a = resample_all(&input, 44_100, 1);
        let b = resample_all(&input, 44_100, 4_096);
        let c = resample_all(&input, 44_100, 50_000);
        assert_eq!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn an_impulse_comes_out_at_its_source_time() {
        for &rate in &[44_100u32, 48_000, 22_050, 8_000] {
            // Impulse at exactly 0.5 s.
            let mut input = vec![0.0f32; rate as usize];
            input[rate as usize / 2] = 1.0;
            let out = resample_all(&input, rate, 1000);
            let peak = out
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .map(|(i, _)| i)
                .expect("non-empty");
            assert!((peak as i64 - 8_000).abs() <= 1, "rate {rate}: peak at {peak}");
        }
    }

    #[test]
    fn rounding_formula() {
        assert_eq!(output_len_for(44_100, 44_100), 16_000);
        assert_eq!(output_len_for(1, 44_100), 0); // 0.36 rounds down
        assert_eq!(output_len_for(2, 44_100), 1); // 0.73 rounds up
        assert_eq!(output_len_for(3, 48_000), 1);
        assert_eq!(output_len_for(5, 8_000), 10);
    }
}
