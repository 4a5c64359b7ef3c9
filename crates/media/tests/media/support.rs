//! Test signals and fixture writers (WAV via hound, FLAC via a tiny verbatim encoder), so
//! that the tests need no external tools.

use std::path::Path;

use debrief_media::{AudioSource, MediaError};

/// A deterministic xorshift generator: no dependency, same noise on every run.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in [-1, 1).
    pub(crate) fn noise(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

pub(crate) fn sine(freq: f32, amp: f32, rate: u32, frames: usize) -> Vec<f32> {
    // In f64: an f32 phase loses precision after a few seconds.
    let w = std::f64::consts::TAU * f64::from(freq) / f64::from(rate);
    (0..frames).map(|i| amp * (w * i as f64).sin() as f32).collect()
}

/// Interleaves per-channel signals of equal length.
pub(crate) fn interleave(channels: &[Vec<f32>]) -> Vec<f32> {
    let frames = channels[0].len();
    let mut out = Vec::with_capacity(frames * channels.len());
    for i in 0..frames {
        for c in channels {
            out.push(c[i]);
        }
    }
    out
}

/// Writes interleaved samples as 16-bit PCM WAV.
pub(crate) fn write_wav_i16(path: &Path, rate: u32, channels: u16, interleaved: &[f32]) {
    let spec =
        hound::WavSpec { channels, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for &x in interleaved {
        w.write_sample(to_i16(x)).expect("write sample");
    }
    w.finalize().expect("finalize wav");
}

/// Writes interleaved samples as 32-bit float WAV.
pub(crate) fn write_wav_f32(path: &Path, rate: u32, channels: u16, interleaved: &[f32]) {
    let spec =
        hound::WavSpec { channels, sample_rate: rate, bits_per_sample: 32, sample_format: hound::SampleFormat::Float };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for &x in interleaved {
        w.write_sample(x).expect("write sample");
    }
    w.finalize().expect("finalize wav");
}

pub(crate) fn to_i16(x: f32) -> i16 {
    (x * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16
}

/// Decodes a whole file through `AudioSource`, also returning the largest block seen.
pub(crate) fn decode_all(path: &Path) -> Result<(Vec<f32>, usize), MediaError> {
    let mut src = AudioSource::open(path)?;
    let mut out = Vec::new();
    let mut largest = 0;
    while let Some(block) = src.next_block()? {
        largest = largest.max(block.len());
        out.extend_from_slice(&block);
    }
    Ok((out, largest))
}

/// `round(n * 16000 / rate)`.
pub(crate) fn expected_len(n: u64, rate: u32) -> usize {
    ((n as f64 * 16_000.0 / rate as f64).round()) as usize
}

/// Writes 16-bit FLAC with VERBATIM subframes (a valid, uncompressed FLAC stream), blocks of
/// 4096 frames. Enough to exercise the FLAC demuxer/decoder without an encoder dependency.
pub(crate) fn write_flac_i16(path: &Path, rate: u32, channels: u16, interleaved: &[f32]) {
    assert!((1..=8).contains(&channels));
    let ch = channels as usize;
    let frames = interleaved.len() / ch;
    const BLOCK: usize = 4096;
    let mut out = Vec::new();
    out.extend_from_slice(b"fLaC");
    // STREAMINFO, marked as the last metadata block.
    out.push(0x80);
    out.extend_from_slice(&[0, 0, 34]);
    out.extend_from_slice(&(BLOCK as u16).to_be_bytes()); // min block size
    out.extend_from_slice(&(BLOCK as u16).to_be_bytes()); // max block size
    out.extend_from_slice(&[0; 6]); // min/max frame size unknown
                                    // 20 bits rate, 3 bits channels-1, 5 bits bps-1, 36 bits total samples.
    let packed: u64 =
        (u64::from(rate) << 44) | (((ch as u64) - 1) << 41) | (15u64 << 36) | (frames as u64 & 0xF_FFFF_FFFF);
    out.extend_from_slice(&packed.to_be_bytes());
    out.extend_from_slice(&[0; 16]); // MD5 unknown
    for (n, start) in (0..frames).step_by(BLOCK).enumerate() {
        let len = BLOCK.min(frames - start);
        let frame_start = out.len();
        out.extend_from_slice(&[0xFF, 0xF8]);
        // Block size from a 16-bit field at the end of the header; rate from STREAMINFO.
        out.push(0x70);
        out.push((((ch as u8) - 1) << 4) | (0b100 << 1));
        out.extend_from_slice(&utf8_number(n as u64));
        out.extend_from_slice(&((len - 1) as u16).to_be_bytes());
        let crc = crc8(&out[frame_start..]);
        out.push(crc);
        for c in 0..ch {
            out.push(0x02); // VERBATIM subframe, no wasted bits
            for i in start..start + len {
                out.extend_from_slice(&to_i16(interleaved[i * ch + c]).to_be_bytes());
            }
        }
        let crc = crc16(&out[frame_start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    std::fs::write(path, out).expect("write flac");
}

fn utf8_number(v: u64) -> Vec<u8> {
    if v < 0x80 {
        return vec![v as u8];
    }
    let n: u32 = match v {
        _ if v < 0x800 => 2,
        _ if v < 0x1_0000 => 3,
        _ if v < 0x20_0000 => 4,
        _ if v < 0x400_0000 => 5,
        _ if v < 0x8000_0000 => 6,
        _ => 7,
    };
    let lead = (0xFF00u16 >> n) as u8 | (v >> (6 * (n - 1))) as u8;
    let mut bytes = vec![lead];
    for i in 1..n {
        bytes.push(0x80 | ((v >> (6 * (n - 1 - i))) & 0x3F) as u8);
    }
    bytes
}

fn crc8(data: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &b in data {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 { (crc << 1) ^ 0x07 } else { crc << 1 };
        }
    }
    crc
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x8005 } else { crc << 1 };
        }
    }
    crc
}

#[test]
fn utf8_numbers_match_the_flac_spec() {
    assert_eq!(utf8_number(0), vec![0]);
    assert_eq!(utf8_number(0x7F), vec![0x7F]);
    assert_eq!(utf8_number(0x80), vec![0xC2, 0x80]);
    assert_eq!(utf8_number(0x7FF), vec![0xDF, 0xBF]);
    assert_eq!(utf8_number(0x800), vec![0xE0, 0xA0, 0x80]);
}
