//! Files that are missing, empty, not audio, lying about their size, or cut short.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use debrief_media::{read_wav, AudioSource, MediaError};

use crate::support::*;

fn open_err(path: &Path) -> MediaError {
    match AudioSource::open(path) {
        Ok(src) => panic!("{} opened: {:?}", path.display(), src.info()),
        Err(e) => e,
    }
}

/// Opens and decodes to the end; returns the error and how many samples came out before it.
fn decode_err(path: &Path) -> (MediaError, usize) {
    let mut src = AudioSource::open(path).expect("open succeeds, the problem is later");
    let mut n = 0;
    loop {
        match src.next_block() {
            Ok(Some(b)) => n += b.len(),
            Ok(None) => panic!("{} decoded to the end without error ({n} samples)", path.display()),
            Err(e) => {
                // Finished after an error.
                assert!(matches!(src.next_block(), Ok(None)));
                return (e, n);
            }
        }
    }
}

fn assert_names(e: &MediaError, path: &Path) {
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "message does not name the file: {msg}");
    assert_eq!(e.path(), path);
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nope.wav");
    let e = open_err(&path);
    assert!(matches!(e, MediaError::Missing { .. }), "{e:?}");
    assert_names(&e, &path);
    assert!(matches!(read_wav(&path), Err(MediaError::Missing { .. })));
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.mp3");
    fs::write(&path, b"").expect("write");
    let e = open_err(&path);
    assert!(matches!(e, MediaError::Empty { .. }), "{e:?}");
    assert_names(&e, &path);
    assert!(matches!(read_wav(&path), Err(MediaError::Empty { .. })));
}

#[test]
fn wav_with_no_samples_is_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nosamples.wav");
    write_wav_i16(&path, 44_100, 2, &[]);
    let e = open_err(&path);
    assert!(matches!(e, MediaError::Empty { .. }), "{e:?}");
    assert_names(&e, &path);
}

#[test]
fn text_renamed_to_wav_is_not_audio() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["notes.wav", "notes.mp3", "notes.m4a"] {
        let path = dir.path().join(name);
        fs::write(&path, "Meeting notes\n- ship it\n".repeat(50)).expect("write");
        let e = open_err(&path);
        assert!(matches!(e, MediaError::NotAudio { .. }), "{name}: {e:?}");
        assert_names(&e, &path);
        assert!(e.to_string().contains("text"), "{e}");
    }
    let path = dir.path().join("notes.wav");
    assert!(matches!(read_wav(&path), Err(MediaError::NotAudio { .. })));
}

#[test]
fn random_bytes_are_not_audio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("random.wav");
    let mut rng = Rng::new(99);
    let bytes: Vec<u8> = (0..100_000).map(|_| (rng.next_u64() >> 56) as u8).collect();
    fs::write(&path, bytes).expect("write");
    let e = open_err(&path);
    assert!(matches!(e, MediaError::NotAudio { .. }), "{e:?}");
    assert_names(&e, &path);
}

#[test]
fn wav_cut_inside_its_header_is_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("head.wav");
    write_wav_i16(&path, 16_000, 1, &[0.1; 1000]);
    let bytes = fs::read(&path).expect("read");
    fs::write(&path, &bytes[..20]).expect("write");
    let e = open_err(&path);
    assert!(matches!(e, MediaError::Truncated { .. }), "{e:?}");
    assert_names(&e, &path);
}

/// A 1 MB WAV whose data chunk claims 0xFFFFFFF0 bytes: no huge allocation, no hang, and a
/// Truncated error saying what was declared and what was there. Two variants: the RIFF size
/// lies too (rejected while parsing the header), or the RIFF size is "unknown" (0xFFFFFFFF,
/// as ffmpeg writes to a pipe) so decoding runs to the end and then finds the shortfall.
#[test]
fn absurd_declared_size_is_truncated_quickly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng::new(5);
    let samples: Vec<f32> = (0..500_000).map(|_| 0.3 * rng.noise()).collect();
    for (name, riff_len) in [("lying-riff.wav", 0xFFFF_FFF0u32), ("unknown-riff.wav", u32::MAX)] {
        let path = dir.path().join(name);
        write_wav_i16(&path, 16_000, 1, &samples);
        let mut bytes = fs::read(&path).expect("read");
        assert_eq!(&bytes[36..40], b"data");
        bytes[40..44].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        bytes[4..8].copy_from_slice(&riff_len.to_le_bytes());
        fs::write(&path, &bytes).expect("write");

        let started = Instant::now();
        let e = match AudioSource::open(&path) {
            Err(e) => e,
            Ok(mut src) => {
                assert_eq!(src.info().declared_frames, Some(0xFFFF_FFF0 / 2));
                let mut n = 0;
                loop {
                    match src.next_block() {
                        Ok(Some(b)) => n += b.len(),
                        Ok(None) => panic!("{name}: no error"),
                        // The last, partial packet is lost with the truncation.
                        Err(e) => break (assert!(n >= 499_000, "{n}"), e).1,
                    }
                }
            }
        };
        assert!(started.elapsed() < Duration::from_secs(20));
        assert!(matches!(e, MediaError::Truncated { .. }), "{name}: {e:?}");
        assert_names(&e, &path);
        assert!(e.to_string().contains("declares"), "{e}");
        assert!(
            e.to_string().contains(&0xFFFF_FFF0u32.to_string())
                || e.to_string().contains(&(0xFFFF_FFF0u32 / 2).to_string()),
            "{e}"
        );

        let e = read_wav(&path).expect_err("read_wav must fail");
        assert!(matches!(e, MediaError::Truncated { .. }), "{name}: {e:?}");
        assert_names(&e, &path);
    }
}

#[test]
fn wav_cut_at_60_percent_is_truncated_at_the_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    for &(rate, ch) in &[(48_000u32, 2u16), (16_000, 1)] {
        let path = dir.path().join(format!("cut-{rate}.wav"));
        let frames = rate as usize * 4;
        let tone = sine(500.0, 0.4, rate, frames);
        let chans = vec![tone; ch as usize];
        write_wav_i16(&path, rate, ch, &interleave(&chans));
        let bytes = fs::read(&path).expect("read");
        fs::write(&path, &bytes[..bytes.len() * 6 / 10]).expect("write");
        let (e, n) = decode_err(&path);
        assert!(matches!(e, MediaError::Truncated { .. }), "{e:?}");
        assert_names(&e, &path);
        assert!(n > 16_000 * 2, "the part that is there came out first ({n})");
        if rate == 16_000 {
            let e = read_wav(&path).expect_err("read_wav must fail");
            assert!(matches!(e, MediaError::Truncated { .. }), "{e:?}");
        }
    }
}

#[test]
fn flac_cut_at_60_percent_is_truncated_at_the_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cut.flac");
    let rate = 44_100;
    let frames = rate as usize * 4;
    let tone = sine(500.0, 0.4, rate, frames);
    write_flac_i16(&path, rate, 2, &interleave(&[tone.clone(), tone]));
    let bytes = fs::read(&path).expect("read");
    fs::write(&path, &bytes[..bytes.len() * 6 / 10]).expect("write");
    let (e, _) = decode_err(&path);
    assert!(matches!(e, MediaError::Truncated { .. }), "{e:?}");
    assert_names(&e, &path);
}

#[test]
fn flac_with_a_damaged_frame_in_the_middle_is_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("damaged.flac");
    let rate = 44_100;
    let tone = sine(500.0, 0.4, rate, rate as usize * 4);
    write_flac_i16(&path, rate, 1, &tone);
    let mut bytes = fs::read(&path).expect("read");
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5A;
    }
    fs::write(&path, &bytes).expect("write");
    let mut src = AudioSource::open(&path).expect("open");
    let result = loop {
        match src.next_block() {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    // Symphonia's FLAC reader resyncs past a bad frame (CRC mismatch); either it reports
    // the damage, or the frame count comes out short.
    match result {
        Err(e @ (MediaError::Corrupt { .. } | MediaError::Truncated { .. })) => assert_names(&e, &path),
        other => panic!("damage went unnoticed: {other:?}"),
    }
}

/// An M4A whose index (moov, written last by ffmpeg and most recorders) was cut off.
#[test]
fn mp4_without_its_index_is_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cut.m4a");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&20u32.to_be_bytes());
    bytes.extend_from_slice(b"ftypM4A \0\0\0\0M4A ");
    bytes.extend_from_slice(&1_000_000u32.to_be_bytes());
    bytes.extend_from_slice(b"mdat");
    bytes.extend(std::iter::repeat_n(0x21u8, 5_000));
    fs::write(&path, &bytes).expect("write");
    let e = open_err(&path);
    assert!(matches!(e, MediaError::Truncated { .. }), "{e:?}");
    assert_names(&e, &path);
    assert!(e.to_string().contains("moov"), "{e}");
}
