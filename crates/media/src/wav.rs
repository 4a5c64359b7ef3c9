//! Crash-safe 16 kHz mono 16-bit WAV files for chunks, and reading them back.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;

use crate::error::{check_input_file, MediaError};
use crate::SAMPLE_RATE;

/// Samples handed to hound's fast 16-bit writer at a time.
const WRITE_BATCH: usize = 64 * 1024;

/// `f32` in [-1, 1] to 16-bit PCM (scale 32768, clamped, rounded; NaN becomes 0).
fn to_i16(x: f32) -> i16 {
    (x * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16
}

/// Writes `samples` as a 16 kHz mono 16-bit PCM WAV, crash-safely: to `path` + `.partial`
/// (created with mode 0600), fsynced, renamed to `path`, and the directory fsynced. After a
/// crash `path` is either absent or complete; a stale `.partial` may be left behind and is
/// overwritten by the next attempt. Samples outside [-1, 1] are clipped.
pub fn write_wav_atomic(path: &Path, samples: &[f32]) -> Result<(), MediaError> {
    write_atomic(path, 1, samples.len(), |i| to_i16(samples[i]))
}

/// Writes interleaved 16-bit samples with `channels` channels at 16 kHz, crash-safely as
/// [`write_wav_atomic`] does. Live recordings use it for their (microphone, system audio)
/// chunks; [`read_wav`] downmixes such files to mono.
pub fn write_wav_i16_atomic(path: &Path, channels: u16, interleaved: &[i16]) -> Result<(), MediaError> {
    write_atomic(path, channels.max(1), interleaved.len(), |i| interleaved[i])
}

fn write_atomic(path: &Path, channels: u16, len: usize, sample: impl Fn(usize) -> i16) -> Result<(), MediaError> {
    let mut file = debrief_config::AtomicFile::create(path).map_err(|e| MediaError::io(path, e))?;
    let tmp = file.partial().to_owned();
    let io_err = |e: io::Error| MediaError::io(&tmp, e);
    let hound_err = |e: hound::Error| match e {
        hound::Error::IoError(e) => MediaError::io(&tmp, e),
        other => MediaError::Io { path: tmp.clone(), source: io::Error::other(other.to_string()) },
    };
    {
        let mut out = BufWriter::with_capacity(256 * 1024, file.file());
        let spec = hound::WavSpec {
            channels,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::new(&mut out, spec).map_err(hound_err)?;
        for start in (0..len).step_by(WRITE_BATCH) {
            let end = (start + WRITE_BATCH).min(len);
            // Batches are at most WRITE_BATCH long, so the length fits a u32.
            let mut w = writer.get_i16_writer((end - start) as u32);
            for i in start..end {
                w.write_sample(sample(i));
            }
            w.flush().map_err(hound_err)?;
        }
        writer.finalize().map_err(hound_err)?;
        out.flush().map_err(io_err)?;
    }
    file.commit().map_err(|e| MediaError::io(path, e))
}

/// Reads a 16 kHz WAV (16-bit as written by [`write_wav_atomic`], or 8/24/32-bit
/// integer or 32-bit float) back to `f32` mono (16-bit samples are divided by 32768, so a
/// write/read round trip is exact to within 1/65536). Files with several channels (live
/// recordings keep the microphone and the system audio apart) are downmixed to the
/// average of their channels: sample `i` is frame `i`.
///
/// Errors: [`MediaError::Missing`], [`MediaError::Empty`], [`MediaError::NotAudio`] (not a
/// WAV), [`MediaError::Unsupported`] (not 16 kHz: decode those with
/// [`crate::AudioSource`]), [`MediaError::Truncated`] (fewer samples than the header
/// declares), [`MediaError::Io`]. Allocation is bounded by the file's real size, never by
/// what the header declares.
pub fn read_wav(path: &Path) -> Result<Vec<f32>, MediaError> {
    let (samples, channels) = read_wav_interleaved(path)?;
    Ok(downmix(samples, channels))
}

/// Reads a 16 kHz WAV like [`read_wav`], keeping its channels apart: one `Vec` per channel,
/// in file order (a recorded chunk: microphone, then system audio).
pub fn read_wav_channels(path: &Path) -> Result<Vec<Vec<f32>>, MediaError> {
    let (samples, channels) = read_wav_interleaved(path)?;
    Ok(split_channels(&samples, channels))
}

/// The mono mix of separate channels (what [`read_wav`] returns for the same file: the
/// average of the channels, frame by frame; one channel is returned as it is).
pub fn mix_channels(channels: &[Vec<f32>]) -> Vec<f32> {
    match channels {
        [] => Vec::new(),
        [one] => one.clone(),
        all => {
            let frames = all.iter().map(Vec::len).min().unwrap_or(0);
            (0..frames).map(|i| all.iter().map(|c| c[i]).sum::<f32>() / all.len() as f32).collect()
        }
    }
}

/// [`read_wav_channels`] of a WAV file's bytes read elsewhere (from the queue database,
/// say); `path` names the file in errors.
pub fn read_wav_channels_from_bytes(path: &Path, bytes: &[u8]) -> Result<Vec<Vec<f32>>, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty { path: path.to_owned(), what: "0 bytes".into() });
    }
    let (samples, channels) = read_wav_from(path, bytes, bytes.len() as u64, || {
        crate::error::describe_bytes(&bytes[..bytes.len().min(512)])
    })?;
    Ok(split_channels(&samples, channels))
}

fn split_channels(samples: &[f32], channels: usize) -> Vec<Vec<f32>> {
    let channels = channels.max(1);
    let frames = samples.len() / channels;
    (0..channels).map(|c| (0..frames).map(|f| samples[f * channels + c]).collect()).collect()
}

fn read_wav_interleaved(path: &Path) -> Result<(Vec<f32>, usize), MediaError> {
    let file_len = check_input_file(path)?;
    let file = File::open(path).map_err(|e| MediaError::io(path, e))?;
    read_wav_from(path, BufReader::new(file), file_len, || crate::error::describe_unknown_file(path))
}

/// Reads interleaved samples from `input` (`file_len` bytes long), named `path` in errors;
/// `describe` says what the input looks like when it is not a WAV file.
fn read_wav_from<R: io::Read>(
    path: &Path,
    input: R,
    file_len: u64,
    describe: impl Fn() -> String,
) -> Result<(Vec<f32>, usize), MediaError> {
    let mut reader = hound::WavReader::new(input).map_err(|e| match e {
        hound::Error::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            MediaError::Truncated { path: path.to_owned(), detail: "the file ends inside its WAV header".into() }
        }
        hound::Error::IoError(e) => MediaError::io(path, e),
        hound::Error::Unsupported => {
            MediaError::Unsupported { path: path.to_owned(), what: "a WAV sample format hound cannot read".into() }
        }
        other => MediaError::NotAudio { path: path.to_owned(), found: format!("{} ({other})", describe()) },
    })?;
    let spec = reader.spec();
    if spec.sample_rate != SAMPLE_RATE || spec.channels == 0 {
        return Err(MediaError::Unsupported {
            path: path.to_owned(),
            what: format!(
                "read_wav reads 16 kHz only; this is {} Hz with {} channel(s)",
                spec.sample_rate, spec.channels
            ),
        });
    }
    let declared = u64::from(reader.len());
    let bytes_per_sample = u64::from(spec.bits_per_sample.div_ceil(8)).max(1);
    let capacity = declared.min(file_len / bytes_per_sample);
    let mut out = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    let path_buf = path.to_owned();
    let fail = |e: hound::Error, got: usize| match e {
        // hound reports a short read as a plain I/O error; with samples still owed, that
        // is a file cut short.
        hound::Error::IoError(e) if (got as u64) < declared => MediaError::Truncated {
            path: path_buf.clone(),
            detail: format!("header declares {declared} samples but the file holds only {got} ({e})"),
        },
        hound::Error::IoError(e) => MediaError::io(&path_buf, e),
        other => MediaError::Corrupt { path: path_buf.clone(), at_s: None, detail: other.to_string() },
    };
    match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, _) => {
            for s in reader.samples::<f32>() {
                let got = out.len();
                out.push(s.map_err(|e| fail(e, got))?);
            }
        }
        (hound::SampleFormat::Int, bits) => {
            let scale = 1.0 / (1u64 << (bits.clamp(1, 32) - 1)) as f32;
            for s in reader.samples::<i32>() {
                let got = out.len();
                out.push(s.map_err(|e| fail(e, got))? as f32 * scale);
            }
        }
    }
    Ok((out, usize::from(spec.channels)))
}

/// Averages interleaved frames of `channels` samples into mono, in place (a trailing
/// partial frame is dropped).
fn downmix(mut samples: Vec<f32>, channels: usize) -> Vec<f32> {
    if channels <= 1 {
        return samples;
    }
    let frames = samples.len() / channels;
    for f in 0..frames {
        let sum: f32 = samples[f * channels..(f + 1) * channels].iter().sum();
        samples[f] = sum / channels as f32;
    }
    samples.truncate(frames);
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_conversion_clips_and_rounds() {
        assert_eq!(to_i16(0.0), 0);
        assert_eq!(to_i16(1.0), 32_767);
        assert_eq!(to_i16(-1.0), -32_768);
        assert_eq!(to_i16(5.0), 32_767);
        assert_eq!(to_i16(f32::NAN), 0);
        assert_eq!(to_i16(0.5), 16_384);
    }

    #[test]
    fn mixing_separate_channels_equals_downmixing_interleaved_ones() {
        let interleaved = vec![0.5, -0.5, 1.0, 0.0, 0.3, 0.1];
        let apart = vec![vec![0.5, 1.0, 0.3], vec![-0.5, 0.0, 0.1]];
        assert_eq!(mix_channels(&apart), downmix(interleaved, 2));
        assert_eq!(mix_channels(&[vec![0.25, 0.5]]), vec![0.25, 0.5]);
    }

    #[test]
    fn downmix_averages_frames() {
        assert_eq!(downmix(vec![0.5, -0.5, 1.0, 0.0, 0.25], 2), vec![0.0, 0.5]);
        assert_eq!(downmix(vec![0.1, 0.2], 1), vec![0.1, 0.2]);
    }
}
