//! Property-style tests: real WAV and FLAC files whose header bytes are mutated (the
//! declared rate, channels and bits set to hostile values, and random bytes changed)
//! must decode under a bound or be refused with an error naming the file: never a
//! panic, never memory or output driven by what the header declares.
//!
//! One test function, so that the allocation counter below measures one case at a time.
//! (The counter is the only unsafe code: a `GlobalAlloc` must be.)
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use debrief_media::AudioSource;

/// Counts live heap bytes and refuses any single allocation over 1 GiB (the process
/// then aborts, failing the test, instead of swapping the machine to death).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
const REFUSE_OVER: usize = 1 << 30;

fn grew(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.size() > REFUSE_OVER {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > REFUSE_OVER {
            return std::ptr::null_mut();
        }
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            LIVE.fetch_sub(l.size(), Ordering::Relaxed);
            grew(new);
        }
        q
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Peak heap growth allowed while opening and decoding one 32 KB file.
const PEAK_LIMIT: usize = 256 << 20;

/// What decoding `path` did: `Ok(samples out)` or the error text.
fn decode(path: &Path) -> Result<u64, String> {
    let mut src = AudioSource::open(path).map_err(|e| e.to_string())?;
    let info = src.info().clone();
    assert!((1_000..=384_000).contains(&info.sample_rate), "{}: accepted rate {}", path.display(), info.sample_rate);
    assert!((1..=32).contains(&info.channels), "{}: accepted {} channels", path.display(), info.channels);
    let mut out = 0u64;
    let cap = 64 * std::fs::metadata(path).unwrap().len() + 64_000;
    while let Some(b) = src.next_block().map_err(|e| e.to_string())? {
        out += b.len() as u64;
        assert!(out <= cap, "{}: {out} samples out of a {} byte file", path.display(), cap);
    }
    Ok(out)
}

fn check(path: &Path, what: &str) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = std::panic::catch_unwind(|| decode(path));
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    match r {
        Err(_) => panic!("{what}: decoding {} panicked", path.display()),
        Ok(Err(e)) => {
            let name = path.file_name().unwrap().to_string_lossy();
            assert!(e.contains(&*name), "{what}: the error does not name the file: {e}");
        }
        Ok(Ok(_)) => {}
    }
    assert!(peak < PEAK_LIMIT, "{what}: {} MB of heap for a 32 KB file", peak >> 20);
}

/// A real file: 1 s of a tone, 16-bit mono 16 kHz (32 KB), as WAV (hound) and FLAC (ffmpeg).
fn originals(dir: &Path) -> Vec<PathBuf> {
    let wav = dir.join("tone.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    for i in 0..16_000 {
        w.write_sample(((i as f32 * 0.07).sin() * 8_000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    let mut out = vec![wav.clone()];
    let flac = dir.join("tone.flac");
    let made =
        std::process::Command::new("ffmpeg").args(["-loglevel", "error", "-y", "-i"]).arg(&wav).arg(&flac).status();
    if made.is_ok_and(|s| s.success()) {
        out.push(flac);
    } else {
        eprintln!("ffmpeg not available: FLAC cases skipped");
    }
    out
}

/// Byte offsets of the fmt fields in a canonical 44-byte WAV header.
const WAV_CHANNELS: usize = 22;
const WAV_RATE: usize = 24;
const WAV_BITS: usize = 34;

#[test]
fn mutated_headers_error_or_decode_within_bounds_and_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let files = originals(dir.path());
    for f in &files {
        check(f, "the original");
        assert!(decode(f).is_ok(), "{} must decode", f.display());
    }
    let wav = std::fs::read(&files[0]).unwrap();
    let mut n = 0;
    let mut case = |what: String, bytes: &[u8], ext: &str| {
        n += 1;
        let p = dir.path().join(format!("case-{n}.{ext}"));
        std::fs::write(&p, bytes).unwrap();
        check(&p, &what);
        std::fs::remove_file(&p).unwrap();
    };
    // The values reported, and the edges of what is accepted.
    for rate in [0u32, 1, 999, 1_000, 8_000, 384_000, 384_001, 100_000_007, 4_294_967_291, u32::MAX] {
        let mut b = wav.clone();
        b[WAV_RATE..WAV_RATE + 4].copy_from_slice(&rate.to_le_bytes());
        case(format!("WAV rate {rate} Hz"), &b, "wav");
    }
    for ch in [0u16, 2, 32, 33, 255, 65_535] {
        let mut b = wav.clone();
        b[WAV_CHANNELS..WAV_CHANNELS + 2].copy_from_slice(&ch.to_le_bytes());
        case(format!("WAV {ch} channels"), &b, "wav");
    }
    for bits in [0u16, 1, 7, 8, 24, 32, 33, 64, 65_535] {
        let mut b = wav.clone();
        b[WAV_BITS..WAV_BITS + 2].copy_from_slice(&bits.to_le_bytes());
        case(format!("WAV {bits} bits"), &b, "wav");
    }
    // Random mutations of the header bytes (fixed seeds: reproducible).
    for f in &files {
        let orig = std::fs::read(f).unwrap();
        let ext = f.extension().unwrap().to_str().unwrap().to_owned();
        let head = orig.len().min(if ext == "flac" { 128 } else { 64 });
        for seed in 0..300u64 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut b = orig.clone();
            for _ in 0..rng.usize(1..=4) {
                let i = rng.usize(..head);
                b[i] = match rng.u8(..4) {
                    0 => 0,
                    1 => 0xff,
                    _ => rng.u8(..),
                };
            }
            case(format!("{ext} seed {seed}"), &b, &ext);
        }
    }
}
