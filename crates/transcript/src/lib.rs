//! A meeting's words: storing each chunk's recognised segments, assembling the meeting
//! transcript from overlapping chunks, and rendering it for people and programs.
//!
//! Overlap resolution: chunk *k* starts `overlap_samples` before its cut point *c_k*
//! (usually a quiet point; mid-speech when the talk never pauses). Both neighbours
//! transcribe the overlap; the two copies are joined where their words agree, so each
//! word is kept exactly once even when the cut falls inside a word (`splice`). The
//! assembly reads every chunk's stored result at once, so it does not depend on the
//! order in which chunks finished.
#![deny(missing_docs)]

pub mod export;
mod splice;
mod store;

pub use store::{load_chunks, load_gaps, load_transcript, store_chunk, store_gaps, store_transcript};

use debrief_jobq::JobId;
use serde::{Deserialize, Serialize};

/// Samples per second of chunk geometry.
const RATE: i64 = 16_000;

/// One word with its meeting-time span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    /// The word, with its leading space as Whisper writes it.
    pub text: String,
    /// Start (ms of meeting time).
    pub start_ms: i64,
    /// End (ms of meeting time).
    pub end_ms: i64,
    /// Confidence (mean token probability).
    #[serde(default)]
    pub p: f32,
    /// Speaker label, once diarization provides one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
}

/// One segment of speech in meeting time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Start (ms of meeting time).
    pub start_ms: i64,
    /// End (ms of meeting time).
    pub end_ms: i64,
    /// Speaker label, once diarization provides one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    /// The text.
    pub text: String,
    /// Its words (may be empty when the engine gave none).
    #[serde(default)]
    pub words: Vec<Word>,
}

/// A chunk's recognised segments and where the chunk sits in the meeting.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Its AUDIO job.
    pub job_id: JobId,
    /// Its position.
    pub seq: i64,
    /// Meeting time of its first sample (16 kHz samples).
    pub start_sample: i64,
    /// How many leading samples repeat the previous chunk.
    pub overlap_samples: i64,
    /// Its length (16 kHz samples).
    pub samples: i64,
    /// Its segments, in meeting time.
    pub segments: Vec<Segment>,
    /// Why it was not transcribed, if its AUDIO job FAILED for good (its span is a gap).
    pub failed: Option<String>,
}

/// A span of the meeting that no chunk transcribed: its chunk failed for good (a damaged
/// file, a chunk that kept killing its worker) and no neighbour's overlap covers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// Start (ms of meeting time).
    pub start_ms: i64,
    /// End (ms of meeting time).
    pub end_ms: i64,
    /// The failed AUDIO job (the first, when neighbours' gaps merged).
    pub job_id: Option<JobId>,
    /// Its error.
    pub reason: String,
}

impl Chunk {
    /// Meeting time (ms) where this chunk's own audio starts: its cut point.
    pub fn cut_ms(&self) -> i64 {
        (self.start_sample + self.overlap_samples) * 1000 / RATE
    }
}

/// Gives every word the speaker of the meeting's turns at its time, and splits segments
/// where the speaker changes between words (a Whisper segment often spans two people). A
/// word no turn covers keeps the speaker of the words around it.
pub fn assign_speakers(segments: Vec<Segment>, turns: &[debrief_speakers::Turn]) -> Vec<Segment> {
    let mut out = Vec::with_capacity(segments.len());
    for mut seg in segments {
        if seg.words.is_empty() {
            seg.speaker = debrief_speakers::speaker_at(turns, seg.start_ms, seg.end_ms).map(str::to_owned);
            out.push(seg);
            continue;
        }
        for w in seg.words.iter_mut() {
            w.speaker = debrief_speakers::speaker_at(turns, w.start_ms, w.end_ms).map(str::to_owned);
        }
        // Fill words without a speaker from the one before (or after, at the start).
        let first = seg.words.iter().find_map(|w| w.speaker.clone());
        let mut cur = first;
        for w in seg.words.iter_mut() {
            match &w.speaker {
                Some(s) => cur = Some(s.clone()),
                None => w.speaker = cur.clone(),
            }
        }
        let mut runs: Vec<Vec<Word>> = Vec::new();
        for w in seg.words.drain(..) {
            match runs.last_mut() {
                Some(r) if r[0].speaker == w.speaker => r.push(w),
                _ => runs.push(vec![w]),
            }
        }
        // A run of one or two words shorter than a second between runs of others is
        // boundary jitter (a turn edge a few frames off), not a new speaker: it joins
        // the run before it (or after it, at the start).
        let mut i = 0;
        while runs.len() > 1 && i < runs.len() {
            let r = &runs[i];
            let short = r.len() <= 2 && r[r.len() - 1].end_ms - r[0].start_ms < 1_000;
            if short {
                let run = runs.remove(i);
                let to = if i > 0 { i - 1 } else { 0 };
                let who = runs[to][0].speaker.clone();
                let mut run: Vec<Word> = run.into_iter().map(|w| Word { speaker: who.clone(), ..w }).collect();
                if to < i {
                    runs[to].append(&mut run);
                } else {
                    run.append(&mut runs[to]);
                    runs[to] = run;
                }
                // Neighbours of one speaker now touch: join them.
                let mut j = 1;
                while j < runs.len() {
                    if runs[j][0].speaker == runs[j - 1][0].speaker {
                        let mut next = runs.remove(j);
                        runs[j - 1].append(&mut next);
                    } else {
                        j += 1;
                    }
                }
                i = 0;
            } else {
                i += 1;
            }
        }
        if runs.len() == 1 {
            let words = runs.pop().expect("one run");
            seg.speaker = words[0].speaker.clone();
            seg.words = words;
            out.push(seg);
            continue;
        }
        let n = runs.len();
        for (i, words) in runs.into_iter().enumerate() {
            let text: String = words.iter().map(|w| w.text.as_str()).collect();
            out.push(Segment {
                start_ms: if i == 0 { seg.start_ms } else { words[0].start_ms },
                end_ms: if i + 1 == n { seg.end_ms } else { words[words.len() - 1].end_ms },
                speaker: words[0].speaker.clone(),
                text: format!(" {}", text.trim()),
                words,
            });
        }
    }
    out
}

/// Joins chunks into one transcript, each word once: where neighbours overlap, the
/// splice is found in the words both wrote (see [`splice`]). The result depends only on
/// the stored chunk results, not on the order in which chunks finished. Segments that
/// lose all their words to a neighbour disappear; segments that lose some are trimmed.
/// FAILED chunks are left out (their spans are [`gaps`]).
pub fn assemble(chunks: &[Chunk]) -> Vec<Segment> {
    let mut sorted: Vec<&Chunk> = chunks.iter().filter(|c| c.failed.is_none()).collect();
    sorted.sort_by_key(|c| c.seq);
    // Each chunk's words in order: their (segment, word) positions and the tokens the
    // splice compares, built once. A segment without words stands as one token that
    // never matches text.
    type Places = Vec<Vec<(usize, Option<usize>)>>;
    let (places, tokens): (Places, Vec<Vec<splice::Token>>) = sorted
        .iter()
        .map(|c| {
            let mut v = Vec::new();
            for (si, s) in c.segments.iter().enumerate() {
                if s.words.is_empty() {
                    v.push(((si, None), splice::Token { norm: String::new(), start_ms: s.start_ms, end_ms: s.end_ms }));
                }
                for (wi, w) in s.words.iter().enumerate() {
                    v.push((
                        (si, Some(wi)),
                        splice::Token { norm: splice::normalise(&w.text), start_ms: w.start_ms, end_ms: w.end_ms },
                    ));
                }
            }
            v.into_iter().unzip()
        })
        .unzip();
    // keep[k] = range of chunk k's tokens that make it into the transcript.
    let mut keep: Vec<std::ops::Range<usize>> = tokens.iter().map(|t| 0..t.len()).collect();
    for k in 1..sorted.len() {
        let next = sorted[k];
        let ov = splice::Overlap { start_ms: next.start_sample * 1000 / RATE, cut_ms: next.cut_ms() };
        let (keep_prev, skip_next) = splice::splice(&tokens[k - 1], &tokens[k], ov);
        keep[k - 1].end = keep[k - 1].end.min(keep_prev);
        keep[k].start = skip_next;
    }
    let mut out = Vec::new();
    for (k, c) in sorted.iter().enumerate() {
        let range = keep[k].clone();
        if range.start >= range.end {
            continue;
        }
        let mut kept: Vec<(usize, Vec<usize>, bool)> = Vec::new();
        for (si, wi) in &places[k][range] {
            if kept.last().is_none_or(|(s, _, _)| s != si) {
                kept.push((*si, Vec::new(), wi.is_none()));
            }
            if let (Some(wi), Some(last)) = (wi, kept.last_mut()) {
                last.1.push(*wi);
            }
        }
        for (si, wis, wordless) in kept {
            let s = &c.segments[si];
            if wordless || wis.len() == s.words.len() {
                out.push(s.clone());
                continue;
            }
            let words: Vec<Word> = wis.iter().map(|&i| s.words[i].clone()).collect();
            let text: String = words.iter().map(|w| w.text.as_str()).collect();
            out.push(Segment {
                start_ms: words[0].start_ms,
                end_ms: words[words.len() - 1].end_ms,
                speaker: s.speaker.clone(),
                text: text.trim().to_owned(),
                words,
            });
        }
    }
    out
}

/// The spans of the meeting that failed chunks leave untranscribed: each failed chunk's
/// span less what completed neighbours cover (their overlaps), touching gaps merged.
/// (Whatever segments a failed chunk has from an earlier run, [`assemble`] leaves out.)
pub fn gaps(chunks: &[Chunk]) -> Vec<Gap> {
    let ms = |samples: i64| samples * 1000 / RATE;
    let span = |c: &Chunk| (ms(c.start_sample), ms(c.start_sample + c.samples));
    let mut covered: Vec<(i64, i64)> = chunks.iter().filter(|c| c.failed.is_none()).map(span).collect();
    covered.sort_unstable();
    let mut failed: Vec<&Chunk> = chunks.iter().filter(|c| c.failed.is_some()).collect();
    failed.sort_by_key(|c| c.seq);
    let mut out: Vec<Gap> = Vec::new();
    for c in failed {
        // Subtract every covered interval from this chunk's span.
        let (mut from, end) = span(c);
        let mut pieces = Vec::new();
        for &(a, b) in &covered {
            if b <= from || a >= end {
                continue;
            }
            if a > from {
                pieces.push((from, a));
            }
            from = from.max(b);
        }
        if from < end {
            pieces.push((from, end));
        }
        for (a, b) in pieces {
            match out.last_mut() {
                Some(g) if g.end_ms >= a => g.end_ms = g.end_ms.max(b),
                _ => out.push(Gap {
                    start_ms: a,
                    end_ms: b,
                    job_id: Some(c.job_id),
                    reason: c.failed.clone().unwrap_or_default(),
                }),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
