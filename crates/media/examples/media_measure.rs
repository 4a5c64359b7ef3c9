//! Measures decoding of one file: speed, decoded duration, and (with `--ref REF`) how the
//! 16 kHz output compares with decoding the reference file (e.g. the WAV it was encoded
//! from): timing offset, duration difference and SNR. With `--chunk` it also runs the
//! chunker and reports chunk lengths. Prints peak memory (VmHWM) at the end.
//!
//! `cargo run --release -p debrief-media --example media_measure -- FILE [--ref REF] [--chunk]`

use std::path::Path;
use std::time::Instant;

use debrief_media::{AudioSource, ChunkPlan, Chunker, MediaError};

fn decode(path: &Path, chunk: bool) -> Result<(Vec<f32>, f64, Vec<f64>), MediaError> {
    let started = Instant::now();
    let mut src = AudioSource::open(path)?;
    let mut chunker = chunk.then(|| Chunker::new(ChunkPlan::default()));
    let mut keep = Vec::new();
    let mut chunk_lens = Vec::new();
    while let Some(block) = src.next_block()? {
        if let Some(c) = chunker.as_mut() {
            chunk_lens.extend(c.push(&block).iter().map(|c| c.duration_s()));
        } else {
            keep.extend_from_slice(&block);
        }
    }
    if let Some(c) = chunker {
        chunk_lens.extend(c.finish().map(|c| c.duration_s()));
    }
    let secs = started.elapsed().as_secs_f64();
    let info = src.info();
    let audio_s = src.frames_decoded() as f64 / f64::from(info.sample_rate);
    println!(
        "{}: {} in {}, {} Hz x {}, declared {:?} s, decoded {:.4} s, {} samples out; {:.2} s wall, {:.0}x realtime",
        path.display(),
        info.codec,
        info.container,
        info.sample_rate,
        info.channels,
        info.duration_s,
        audio_s,
        src.samples_emitted(),
        secs,
        audio_s / secs
    );
    Ok((keep, audio_s, chunk_lens))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        eprintln!("usage: media_measure FILE [--ref REF] [--chunk]");
        std::process::exit(2);
    };
    let chunk = args.iter().any(|a| a == "--chunk");
    let reference = args.iter().position(|a| a == "--ref").and_then(|i| args.get(i + 1));
    let (out, dur, chunks) = match decode(Path::new(file), chunk) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if !chunks.is_empty() {
        let lens: Vec<String> = chunks.iter().map(|s| format!("{s:.1}")).collect();
        println!("chunks ({}): {}", chunks.len(), lens.join(" "));
    }
    if let Some(r) = reference {
        let (ref_out, ref_dur, _) = match decode(Path::new(r), false) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        };
        println!("duration difference: {:+.2} ms", (dur - ref_dur) * 1000.0);
        // Best lag over +-100 ms on a 20 s excerpt from the middle, then SNR at lag 0 and at
        // the best lag over the whole overlap.
        let mid = ref_out.len() / 2;
        let win = 16_000 * 20;
        let a = &ref_out[mid.saturating_sub(win / 2)..(mid + win / 2).min(ref_out.len())];
        let start = mid.saturating_sub(win / 2) as i64;
        let corr = |lag: i64| -> f64 {
            let mut dot = 0.0;
            for (i, &x) in a.iter().enumerate() {
                let j = start + i as i64 + lag;
                if j >= 0 && (j as usize) < out.len() {
                    dot += f64::from(x) * f64::from(out[j as usize]);
                }
            }
            dot
        };
        let best = (-1600i64..=1600).max_by(|&x, &y| corr(x).total_cmp(&corr(y))).unwrap_or(0);
        let snr = |lag: i64| -> f64 {
            let (mut s, mut n) = (0.0f64, 0.0f64);
            for (i, &x) in ref_out.iter().enumerate() {
                let j = i as i64 + lag;
                if j >= 0 && (j as usize) < out.len() {
                    let y = out[j as usize];
                    s += f64::from(x) * f64::from(x);
                    n += f64::from(x - y) * f64::from(x - y);
                }
            }
            10.0 * (s / n.max(1e-30)).log10()
        };
        println!(
            "offset of output vs reference: {best:+} samples ({:+.2} ms); SNR at lag 0: {:.1} dB; at best lag: {:.1} dB",
            best as f64 / 16.0,
            snr(0),
            snr(best)
        );
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(l) = status.lines().find(|l| l.starts_with("VmHWM")) {
            println!("peak memory: {}", l.trim_start_matches("VmHWM:").trim());
        }
    }
}
