//! Property-style tests: real WAV, FLAC, MP3, Ogg Vorbis and MP4 (AAC) files whose header
//! bytes are mutated (the declared rate, channels and bits set to hostile values, the
//! MP4 boxes' sizes made to lie, and random bytes changed in the headers and in the
//! frames) must decode under a bound or be refused with an error naming the file: never
//! a panic, never memory or output driven by what the header declares.
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

/// Real files: 1 s of a tone, 16-bit mono 16 kHz (32 KB), as WAV (hound), and encoded
/// by ffmpeg as FLAC, MP3 (LAME), Ogg Vorbis and MP4/AAC with its index (`moov`) first
/// and last.
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
    let encodings: [(&str, &[&str]); 5] = [
        ("tone.flac", &[]),
        ("tone.mp3", &["-c:a", "libmp3lame", "-b:a", "32k"]),
        ("tone.ogg", &["-c:a", "libvorbis", "-q:a", "2"]),
        ("tone.m4a", &["-c:a", "aac", "-b:a", "32k", "-movflags", "+faststart"]),
        ("tone-moov-last.m4a", &["-c:a", "aac", "-b:a", "32k"]),
    ];
    for (name, args) in encodings {
        let f = dir.join(name);
        let made = std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-i"])
            .arg(&wav)
            .args(args)
            .arg(&f)
            .status();
        // ffmpeg is installed by scripts/setup; a file it cannot make is a broken setup,
        // not a case to skip.
        assert!(made.is_ok_and(|s| s.success()), "ffmpeg could not encode {name}");
        out.push(f);
    }
    out
}

/// The byte ranges of a file's structure that a mutation should hit: the MP4 boxes
/// that describe the audio (`moov`, wherever it is), or the first bytes of the others
/// (RIFF/fmt, the FLAC STREAMINFO, the ID3 tag and first MP3 frames, the Ogg
/// identification and setup headers).
fn header_range(bytes: &[u8], ext: &str) -> std::ops::Range<usize> {
    if ext == "m4a" {
        let moov = boxes(bytes, 0..bytes.len()).into_iter().find(|b| &bytes[b.start + 4..b.start + 8] == b"moov");
        return moov.expect("an MP4 file has a moov box");
    }
    let n = match ext {
        "wav" => 64,
        "flac" => 128,
        _ => 512,
    };
    0..bytes.len().min(n)
}

/// The MP4 boxes directly inside `within` (each range from its size field to its end).
fn boxes(bytes: &[u8], within: std::ops::Range<usize>) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut at = within.start;
    while at + 8 <= within.end {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if size < 8 || at + size > within.end {
            break;
        }
        out.push(at..at + size);
        at += size;
    }
    out
}

/// Every box of an MP4 file, depth first, descending into the containers that hold the
/// audio's description.
fn all_boxes(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut todo = boxes(bytes, 0..bytes.len());
    while let Some(b) = todo.pop() {
        let kind = &bytes[b.start + 4..b.start + 8];
        if [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta"].iter().any(|k| kind == *k) {
            todo.extend(boxes(bytes, b.start + 8..b.end));
        }
        out.push(b);
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
    // MP4 boxes whose size lies: zero, one (a 64-bit size follows), past the end, and
    // the largest value, for every box of the audio's description.
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "m4a")) {
        let orig = std::fs::read(f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let found = all_boxes(&orig);
        assert!(found.len() >= 8, "{name}: only {} boxes found", found.len());
        for b in found {
            let kind = String::from_utf8_lossy(&orig[b.start + 4..b.start + 8]).into_owned();
            for size in [0u32, 1, 7, (b.len() + 1) as u32, 0x7fff_ffff, u32::MAX] {
                let mut m = orig.clone();
                m[b.start..b.start + 4].copy_from_slice(&size.to_be_bytes());
                case(format!("{name}: box {kind} at {} sized {size}", b.start), &m, "m4a");
            }
        }
    }
    // Random mutations (fixed seeds: reproducible): of the header bytes, and of bytes
    // anywhere in the file (the frames' own headers in MP3, Ogg pages, AAC frames).
    for f in &files {
        let orig = std::fs::read(f).unwrap();
        let ext = f.extension().unwrap().to_str().unwrap().to_owned();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let head = header_range(&orig, &ext);
        for seed in 0..400u64 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut b = orig.clone();
            let anywhere = seed % 4 == 3;
            for _ in 0..rng.usize(1..=4) {
                let i = if anywhere { rng.usize(..b.len()) } else { rng.usize(head.clone()) };
                b[i] = match rng.u8(..4) {
                    0 => 0,
                    1 => 0xff,
                    _ => rng.u8(..),
                };
            }
            case(format!("{name} seed {seed}"), &b, &ext);
        }
    }
}
