//! Cutting at quiet points, overlaps, the last chunk, and determinism.

use debrief_media::{Chunk, ChunkPlan, Chunker, SAMPLE_RATE};

use crate::support::Rng;

const SR: u64 = SAMPLE_RATE as u64;

/// Ten minutes of "speech" (noise bursts with a syllable-rate envelope plus a voiced tone)
/// separated by pauses at a -60 dB noise floor. Returns the signal and the pauses.
fn meeting(seconds: f64, seed: u64) -> (Vec<f32>, Vec<(u64, u64)>) {
    let mut rng = Rng::new(seed);
    let total = (seconds * SR as f64) as usize;
    let mut x = Vec::with_capacity(total);
    let mut pauses = Vec::new();
    while x.len() < total {
        let talk = (rng.range(2.0, 12.0) * SR as f64) as usize;
        for _ in 0..talk {
            let t = x.len() as f32 / SR as f32;
            let env = 0.55 + 0.45 * (std::f32::consts::TAU * 4.0 * t).sin();
            x.push(env * (0.25 * rng.noise() + 0.15 * (std::f32::consts::TAU * 180.0 * t).sin()));
        }
        let start = x.len() as u64;
        let pause = (rng.range(0.5, 1.5) * SR as f64) as usize;
        for _ in 0..pause {
            x.push(0.001 * rng.noise());
        }
        pauses.push((start, x.len() as u64));
    }
    x.truncate(total);
    (x, pauses)
}

fn run(plan: ChunkPlan, input: &[f32], block: usize) -> Vec<Chunk> {
    let mut c = Chunker::new(plan);
    let mut out = Vec::new();
    for b in input.chunks(block.max(1)) {
        out.extend(c.push(b));
    }
    out.extend(c.finish());
    out
}

/// Checks the invariants every chunking must have, whatever the input.
fn check_invariants(plan: &ChunkPlan, input: &[f32], chunks: &[Chunk]) {
    let (min, max) = ((plan.min_s * SR as f64) as usize, (plan.max_s * SR as f64) as usize);
    let overlap = (plan.overlap_s * SR as f64).round() as u64;
    let mut rebuilt = Vec::with_capacity(input.len());
    for (i, c) in chunks.iter().enumerate() {
        assert_eq!(c.index as usize, i);
        if i == 0 {
            assert_eq!((c.start_sample, c.overlap_samples), (0, 0));
        } else {
            let prev = &chunks[i - 1];
            assert_eq!(c.overlap_samples, overlap, "chunk {i}");
            assert_eq!(c.start_sample, prev.end_sample() - overlap, "chunk {i}");
            let o = overlap as usize;
            assert_eq!(&c.samples[..o], &prev.samples[prev.samples.len() - o..], "chunk {i} overlap");
        }
        if i + 1 < chunks.len() {
            assert!((min..=max).contains(&c.samples.len()), "chunk {i} is {} samples", c.samples.len());
        }
        rebuilt.extend_from_slice(&c.samples[c.overlap_samples as usize..]);
    }
    let new_total: u64 = chunks.iter().map(|c| c.samples.len() as u64 - c.overlap_samples).sum();
    assert_eq!(new_total, input.len() as u64);
    assert!(rebuilt == input, "chunks minus overlaps do not reproduce the input");
}

#[test]
fn ten_minutes_cut_in_the_pauses() {
    let plan = ChunkPlan::default();
    let (input, pauses) = meeting(600.0, 42);
    let chunks = run(plan, &input, 16_000);
    check_invariants(&plan, &input, &chunks);
    assert!(chunks.len() >= 5, "{} chunks", chunks.len());
    for c in &chunks[..chunks.len() - 1] {
        let cut = c.end_sample();
        // Well inside a pause: at least 100 ms from speech on either side.
        let inside = pauses.iter().any(|&(s, e)| cut >= s + SR / 10 && cut + SR / 10 <= e);
        assert!(inside, "cut at {:.2} s is not in a pause", cut as f64 / SR as f64);
        let len_s = c.duration_s();
        // Pauses come every 3-13.5 s, so the chosen pause is near the 90 s target.
        assert!((75.0..=105.0).contains(&len_s), "chunk {} is {len_s:.1} s", c.index);
    }
}

#[test]
fn same_cuts_whatever_the_block_sizes() {
    let plan = ChunkPlan::default();
    let (input, _) = meeting(600.0, 7);
    let reference = run(plan, &input, input.len());
    check_invariants(&plan, &input, &reference);
    for block in [1, 160, 1_000, 4_096, 12_345, 16_000 * 7 + 3] {
        let chunks = run(plan, &input, block);
        assert!(chunks == reference, "block size {block} changed the chunks");
    }
    // Irregular block sizes too.
    let mut rng = Rng::new(11);
    let mut c = Chunker::new(plan);
    let mut chunks = Vec::new();
    let mut rest = &input[..];
    while !rest.is_empty() {
        let n = ((rng.next_u64() % 50_000) as usize + 1).min(rest.len());
        chunks.extend(c.push(&rest[..n]));
        rest = &rest[n..];
    }
    chunks.extend(c.finish());
    assert!(chunks == reference, "irregular blocks changed the chunks");
}

#[test]
fn the_last_chunk_is_never_a_scrap() {
    let plan = ChunkPlan::default();
    let mut rng = Rng::new(1);
    let long: Vec<f32> = (0..16_000 * 400).map(|_| 0.2 * rng.noise()).collect();
    for total_s in [0.5, 30.0, 61.0, 119.0, 120.0, 121.0, 122.0, 149.9, 150.0, 151.0, 179.0, 181.0, 300.0, 301.3] {
        let input = &long[..(total_s * SR as f64) as usize];
        let chunks = run(plan, input, 8_000);
        check_invariants(&plan, input, &chunks);
        let last = chunks.last().expect("non-empty input gives a chunk");
        assert!(last.duration_s() <= plan.max_s + plan.min_s / 2.0, "{total_s}: last {:.1}", last.duration_s());
        if chunks.len() > 1 {
            assert!(
                last.duration_s() >= plan.min_s / 2.0 + plan.overlap_s - 1e-9,
                "{total_s}: last chunk is only {:.2} s",
                last.duration_s()
            );
        }
    }
}

#[test]
fn a_quiet_point_beats_the_target_but_the_target_breaks_ties() {
    // 5 s chunks wanted (3..=8 s); loud everywhere except two pauses, at 3.5 s and 7.5 s:
    // both allowed, the one nearer the 5 s target is no better than the other in energy,
    // so the distance decides; then a quieter pause far from target must win.
    let plan = ChunkPlan { target_s: 5.0, min_s: 3.0, max_s: 8.0, overlap_s: 0.0 };
    let mut rng = Rng::new(3);
    let mut input: Vec<f32> = (0..16_000 * 20).map(|_| 0.3 * rng.noise()).collect();
    let silence = |x: &mut Vec<f32>, from: f64, to: f64, level: f32, rng: &mut Rng| {
        for s in &mut x[(from * 16_000.0) as usize..(to * 16_000.0) as usize] {
            *s = level * rng.noise();
        }
    };
    silence(&mut input, 3.0, 4.0, 0.001, &mut rng);
    silence(&mut input, 7.0, 8.0, 0.001, &mut rng);
    let chunks = run(plan, &input, 4_000);
    let cut = chunks[0].end_sample() as f64 / 16_000.0;
    assert!((3.6..=4.0).contains(&cut), "cut at {cut}");

    // Now make the far pause 40 dB quieter: it wins despite the distance.
    silence(&mut input, 7.0, 8.0, 0.00001, &mut rng);
    let chunks = run(plan, &input, 4_000);
    let cut = chunks[0].end_sample() as f64 / 16_000.0;
    assert!((7.0..=8.0).contains(&cut), "cut at {cut}");
}
