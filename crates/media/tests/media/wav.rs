//! Crash-safe WAV writing and reading back.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use debrief_media::{read_wav, write_wav_atomic, write_wav_i16_atomic, AudioSource, MediaError};

use crate::support::*;

#[test]
fn round_trip_is_exact_to_16_bits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chunk-0001.wav");
    let mut rng = Rng::new(9);
    let samples: Vec<f32> = (0..100_003).map(|_| 0.9 * rng.noise()).collect();
    write_wav_atomic(&path, &samples).expect("write");
    let back = read_wav(&path).expect("read");
    assert_eq!(back.len(), samples.len());
    for (a, b) in samples.iter().zip(&back) {
        assert!((a - b).abs() <= 1.0 / 65_536.0 + f32::EPSILON, "{a} vs {b}");
    }
    // The crate's own decoder reads it identically.
    let (decoded, _) = decode_all(&path).expect("decode");
    assert_eq!(decoded, back);
    let src = AudioSource::open(&path).expect("open");
    assert_eq!((src.info().sample_rate, src.info().channels), (16_000, 1));
}

#[test]
fn file_is_private_complete_and_leaves_no_partial() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.wav");
    write_wav_atomic(&path, &[0.5; 1000]).expect("write");
    let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!dir.path().join("c.wav.partial").exists());
    assert_eq!(fs::metadata(&path).expect("meta").len(), 44 + 2000);

    // Overwriting replaces the file whole, even over a stale .partial from a crash.
    fs::write(dir.path().join("c.wav.partial"), b"stale junk").expect("write");
    write_wav_atomic(&path, &[-0.25; 10]).expect("overwrite");
    assert_eq!(read_wav(&path).expect("read"), vec![-0.25; 10]);
    assert!(!dir.path().join("c.wav.partial").exists());
}

#[test]
fn empty_chunk_writes_a_valid_empty_wav() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("e.wav");
    write_wav_atomic(&path, &[]).expect("write");
    assert_eq!(read_wav(&path).expect("read"), Vec::<f32>::new());
}

#[test]
fn write_into_missing_directory_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("no/such/dir/c.wav");
    let e = write_wav_atomic(&path, &[0.0; 10]).expect_err("must fail");
    assert!(e.to_string().contains("c.wav"), "{e}");
}

#[test]
fn read_wav_wants_16k_mono() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cd.wav");
    write_wav_i16(&path, 44_100, 2, &[0.0; 100]);
    let e = read_wav(&path).expect_err("must fail");
    assert!(matches!(e, MediaError::Unsupported { .. }), "{e:?}");
    assert!(e.to_string().contains("44100 Hz"), "{e}");

    // Float 16 kHz mono is fine.
    let path = dir.path().join("f.wav");
    write_wav_f32(&path, 16_000, 1, &[0.125, -0.5]);
    assert_eq!(read_wav(&path).expect("read"), vec![0.125, -0.5]);
}

#[test]
fn two_channel_chunks_are_written_private_and_read_as_their_average() {
    // Live recordings keep (microphone, system audio) apart; workers read the downmix.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chunk-00000.wav");
    write_wav_i16_atomic(&path, 2, &[16_384, 0, -8_192, 8_192, 100, 300]).expect("write");
    assert_eq!(fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
    assert!(!dir.path().join("chunk-00000.wav.partial").exists());
    let r = hound::WavReader::open(&path).expect("hound");
    assert_eq!((r.spec().channels, r.spec().sample_rate, r.len()), (2, 16_000, 6));
    assert_eq!(read_wav(&path).expect("read"), vec![0.25, 0.0, 200.0 / 32_768.0]);
}

#[test]
fn issue11_a_symlink_planted_at_the_partial_path_is_not_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let victim = dir.path().join("victim");
    fs::write(&victim, b"precious").expect("write");
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).expect("chmod");
    std::os::unix::fs::symlink(&victim, dir.path().join("c.wav.partial")).expect("symlink");
    write_wav_atomic(&dir.path().join("c.wav"), &[0.0; 160]).expect("write chunk");
    assert_eq!(fs::read(&victim).expect("read"), b"precious", "the link's target was written through");
    assert_eq!(fs::metadata(&victim).expect("stat").permissions().mode() & 0o777, 0o644, "the target was chmodded");
    assert_eq!(read_wav(&dir.path().join("c.wav")).expect("read back").len(), 160);
}
