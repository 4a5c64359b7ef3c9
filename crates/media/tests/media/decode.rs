//! Decoding, downmixing and resampling real files.

use std::f32::consts::TAU;

use debrief_media::{AudioSource, SAMPLE_RATE};

use crate::support::*;

/// Normalised cross-correlation of `a` against `b` shifted by `lag`.
fn correlation(a: &[f32], b: &[f32], lag: i64) -> f64 {
    let mut dot = 0.0f64;
    let (mut ea, mut eb) = (0.0f64, 0.0f64);
    for (i, &x) in a.iter().enumerate() {
        let j = i as i64 + lag;
        if j < 0 || j >= b.len() as i64 {
            continue;
        }
        let y = b[j as usize];
        dot += f64::from(x) * f64::from(y);
        ea += f64::from(x) * f64::from(x);
        eb += f64::from(y) * f64::from(y);
    }
    dot / (ea.sqrt() * eb.sqrt()).max(1e-30)
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

#[test]
fn output_length_is_rounded_ratio_for_44k1_and_48k_stereo() {
    let dir = tempfile::tempdir().expect("tempdir");
    for &(rate, frames) in &[(44_100u32, 44_100 * 3 + 17), (48_000, 48_000 * 2 + 1), (22_050, 999), (8_000, 12_345)] {
        let l = sine(440.0, 0.3, rate, frames);
        let r = sine(660.0, 0.3, rate, frames);
        let path = dir.path().join(format!("len-{rate}.wav"));
        write_wav_i16(&path, rate, 2, &interleave(&[l, r]));
        let (out, largest) = decode_all(&path).expect("decode");
        assert_eq!(out.len(), expected_len(frames as u64, rate), "rate {rate}");
        assert!(largest <= 2 * SAMPLE_RATE as usize, "blocks stay small: {largest}");
    }
}

#[test]
fn a_1khz_tone_stays_1khz_keeps_its_amplitude_and_is_not_delayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    for &rate in &[44_100u32, 48_000] {
        let frames = rate as usize * 3;
        let tone = sine(1_000.0, 0.5, rate, frames);
        let path = dir.path().join(format!("tone-{rate}.wav"));
        write_wav_f32(&path, rate, 2, &interleave(&[tone.clone(), tone]));
        let (out, _) = decode_all(&path).expect("decode");
        assert_eq!(out.len(), 48_000);
        let reference = sine(1_000.0, 0.5, SAMPLE_RATE, out.len());

        // Alignment: the correlation peak is at lag 0 (checked over -8..=8).
        let best = (-8i64..=8)
            .max_by(|&a, &b| correlation(&out, &reference, a).total_cmp(&correlation(&out, &reference, b)))
            .expect("lags");
        assert_eq!(best, 0, "rate {rate}: output is shifted by {best} samples");
        let c0 = correlation(&out, &reference, 0);
        assert!(c0 > 0.999, "rate {rate}: correlation {c0}");

        // Amplitude, away from the edges where the tone starts/stops abruptly.
        let mid = &out[800..out.len() - 800];
        let gain = rms(mid) / rms(&reference[800..reference.len() - 800]);
        assert!((gain - 1.0).abs() < 0.01, "rate {rate}: gain {gain}");

        // Per-sample error against the ideal 16 kHz sine in the middle: < -60 dB.
        let err: Vec<f32> = mid.iter().zip(&reference[800..]).map(|(a, b)| a - b).collect();
        let snr_db = 20.0 * (rms(&reference[800..reference.len() - 800]) / rms(&err)).log10();
        assert!(snr_db > 60.0, "rate {rate}: SNR {snr_db:.1} dB");
    }
}

#[test]
fn content_above_8khz_is_filtered_out() {
    // A 12 kHz tone at 48 kHz cannot exist at 16 kHz: a band-limited resampler removes it
    // instead of aliasing it to 4 kHz.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("alias.wav");
    write_wav_f32(&path, 48_000, 1, &sine(12_000.0, 0.5, 48_000, 48_000 * 2));
    let (out, _) = decode_all(&path).expect("decode");
    let level = rms(&out[1_000..out.len() - 1_000]);
    assert!(level < 0.5 * 0.707 * 1e-3, "aliasing residue {level}");
}

#[test]
fn downmix_is_the_average_of_the_channels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rate = 48_000;
    let frames = rate as usize * 2;
    // Left: a tone; right: silence -> half the amplitude.
    let tone = sine(1_000.0, 0.8, rate, frames);
    let path = dir.path().join("half.wav");
    write_wav_f32(&path, rate, 2, &interleave(&[tone.clone(), vec![0.0; frames]]));
    let (out, _) = decode_all(&path).expect("decode");
    let reference = sine(1_000.0, 0.4, SAMPLE_RATE, out.len());
    let gain = rms(&out[800..out.len() - 800]) / rms(&reference[800..out.len() - 800]);
    assert!((gain - 1.0).abs() < 0.01, "gain {gain}");

    // Opposite phases cancel.
    let inverted: Vec<f32> = tone.iter().map(|x| -x).collect();
    let path = dir.path().join("cancel.wav");
    write_wav_f32(&path, rate, 2, &interleave(&[tone, inverted]));
    let (out, _) = decode_all(&path).expect("decode");
    assert!(out.iter().all(|x| x.abs() < 1e-6));
}

#[test]
fn sixteen_khz_mono_passes_through_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng::new(7);
    let input: Vec<f32> = (0..40_001).map(|_| 0.5 * rng.noise()).collect();
    let path = dir.path().join("16k.wav");
    write_wav_i16(&path, SAMPLE_RATE, 1, &input);
    let (out, _) = decode_all(&path).expect("decode");
    let expected: Vec<f32> = input.iter().map(|&x| f32::from(to_i16(x)) / 32_768.0).collect();
    assert_eq!(out, expected);
}

#[test]
fn info_describes_the_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("info.wav");
    write_wav_i16(&path, 44_100, 2, &vec![0.1; 44_100 * 2 * 2]);
    let src = AudioSource::open(&path).expect("open");
    let info = src.info();
    assert_eq!(info.path, path);
    assert_eq!(info.codec, "pcm_s16le");
    assert_eq!(info.container, "wave");
    assert_eq!((info.sample_rate, info.channels), (44_100, 2));
    assert_eq!(info.declared_frames, Some(88_200));
    assert!((info.duration_s.expect("duration") - 2.0).abs() < 1e-9);
}

#[test]
fn flac_decodes_like_the_same_wav() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rate = 48_000;
    let frames = rate as usize * 5 + 123;
    let mut rng = Rng::new(3);
    let l: Vec<f32> =
        (0..frames).map(|i| 0.3 * (TAU * 300.0 * i as f32 / rate as f32).sin() + 0.05 * rng.noise()).collect();
    let r = sine(1_000.0, 0.2, rate, frames);
    let both = interleave(&[l, r]);
    let flac = dir.path().join("a.flac");
    let wav = dir.path().join("a.wav");
    write_flac_i16(&flac, rate, 2, &both);
    write_wav_i16(&wav, rate, 2, &both);
    let src = AudioSource::open(&flac).expect("open flac");
    assert_eq!(src.info().codec, "flac");
    assert_eq!(src.info().declared_frames, Some(frames as u64));
    let (from_flac, _) = decode_all(&flac).expect("decode flac");
    let (from_wav, _) = decode_all(&wav).expect("decode wav");
    assert_eq!(from_flac.len(), expected_len(frames as u64, rate));
    assert_eq!(from_flac, from_wav);
}

#[test]
fn odd_sample_rates_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    for &rate in &[11_025u32, 32_000, 44_056, 96_000] {
        let frames = rate as usize + 77;
        let path = dir.path().join(format!("odd-{rate}.wav"));
        write_wav_i16(&path, rate, 1, &sine(1_000.0, 0.5, rate, frames));
        let (out, _) = decode_all(&path).expect("decode");
        assert_eq!(out.len(), expected_len(frames as u64, rate), "rate {rate}");
        let reference = sine(1_000.0, 0.5, SAMPLE_RATE, out.len());
        assert!(correlation(&out, &reference, 0) > 0.999, "rate {rate}");
    }
}
