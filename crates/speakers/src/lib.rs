//! Speakers for a whole meeting: the per-chunk analysis documents the audio worker stores,
//! one clustering of every embedding of the meeting, the turns (who spoke when) rebuilt
//! from it, and their storage. No engine: the analysis itself runs in `debrief-openvino`;
//! everything here is plain arithmetic over stored numbers, so re-clustering after a hint
//! changes runs no model.
//!
//! Why one clustering per meeting: chunks are transcribed independently, and labelling each
//! chunk's speakers on its own and chaining them (what peers do) splits one person into many
//! labels or merges everyone. Here every chunk only *measures* (segmentation frames and one
//! embedding per local speaker per 10 s window); the meeting's TRANSCRIPT job clusters all
//! the embeddings at once (average-linkage agglomerative clustering on cosine distance,
//! with the window's local speakers kept apart), then rebuilds frame-level activity from the
//! windows under the global labels.
#![deny(missing_docs)]

mod cluster;
mod store;

pub use cluster::{ahc_average, cut, Merge};
pub use store::{
    load_analyses, load_hints, load_speakers, load_turns, merge_speakers, rename_speaker, set_hints, store_analysis,
    store_diarization, SpeakerRow,
};

use serde::{Deserialize, Serialize};

/// Length of one segmentation window (pyannote segmentation-3.0 takes 10 s).
pub const WINDOW_MS: i64 = 10_000;
/// Frames the segmentation model outputs per window.
pub const FRAMES_PER_WINDOW: usize = 589;
/// Grid of the rebuilt activity (ms).
const CELL_MS: i64 = 10;

/// Which recorded channel a window was measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// The mix of everything (imported audio).
    Mix,
    /// The microphone of a recording: the local person.
    Mic,
    /// The system audio of a recording: the remote side.
    System,
}

/// One local speaker of one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalSpeaker {
    /// Its index among the window's local speakers (0-2).
    pub local: u8,
    /// How long it spoke alone in the window (ms): the audio its embedding is made of.
    pub solo_ms: i64,
    /// Its embedding (L2-normalised), when it spoke alone long enough for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
}

/// One segmentation window of a chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Start in meeting time (ms).
    pub start_ms: i64,
    /// Frames that hold real audio (the last window of a chunk may be padded).
    pub valid_frames: usize,
    /// One character per frame, `'0'`-`'7'`: bit *k* set when local speaker *k* speaks.
    pub activity: String,
    /// The channel it was measured on.
    pub channel: Channel,
    /// Its local speakers that spoke at all.
    pub speakers: Vec<LocalSpeaker>,
}

/// What a chunk's analysis found: its windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkAnalysis {
    /// The models that produced it.
    pub model: String,
    /// Window step (ms).
    pub step_ms: i64,
    /// The windows, in time order per channel.
    pub windows: Vec<Window>,
    /// Seconds the analysis took.
    #[serde(default)]
    pub seconds: f64,
}

impl Window {
    /// Meeting time (ms) of the start of frame `f`.
    pub fn frame_ms(&self, f: usize) -> i64 {
        self.start_ms + (f as i64 * WINDOW_MS) / FRAMES_PER_WINDOW as i64
    }

    /// Frame bits (bit *k*: local speaker *k*).
    pub fn bits(&self) -> impl Iterator<Item = u8> + '_ {
        self.activity.bytes().map(|b| b.wrapping_sub(b'0') & 7)
    }
}

/// Hints for the number of speakers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hints {
    /// Exactly this many (`--speakers N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num: Option<usize>,
    /// At least (`--min-speakers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<usize>,
    /// At most (`--max-speakers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<usize>,
}

impl Hints {
    /// Whether no hint is set.
    pub fn is_empty(&self) -> bool {
        self.num.is_none() && self.min.is_none() && self.max.is_none()
    }
}

/// Clustering parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Average-linkage cosine distance at which clusters stop merging (without a `num` hint).
    pub threshold: f32,
    /// Clusters with less solo speech than this (ms) are folded into the nearest bigger one.
    pub min_cluster_ms: i64,
}

impl Default for Params {
    fn default() -> Self {
        Self { threshold: GE2E_THRESHOLD, min_cluster_ms: 10_000 }
    }
}

/// The cut for GE2E embeddings (tuned on the eval meeting: 0.15 over-splits, 0.25 merges).
const GE2E_THRESHOLD: f32 = 0.20;
/// The cut for WeSpeaker ResNet34 embeddings (tuned on the same meeting with
/// `diarize-file --threshold`; see ARCHITECTURE.md).
const WESPEAKER_THRESHOLD: f32 = 0.45;

impl Params {
    /// The parameters for analyses made by `model` (a [`ChunkAnalysis::model`] id, which
    /// names the speaker encoder): each encoder's embeddings need their own cut.
    pub fn for_model(model: &str) -> Self {
        let threshold = if model.contains("+wespeaker-") { WESPEAKER_THRESHOLD } else { GE2E_THRESHOLD };
        Self { threshold, ..Self::default() }
    }
}

/// The model most of `chunks` were analysed with (the first such among ties); `None` for
/// none. Embeddings of one encoder are only comparable with each other: [`diarize`] uses
/// only those of this model.
pub fn main_model(chunks: &[ChunkAnalysis]) -> Option<&str> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for c in chunks {
        match counts.iter_mut().find(|(m, _)| *m == c.model) {
            Some(e) => e.1 += 1,
            None => counts.push((&c.model, 1)),
        }
    }
    counts
        .iter()
        .fold(None, |best: Option<(&str, usize)>, &(m, n)| match best {
            Some((_, b)) if b >= n => best,
            _ => Some((m, n)),
        })
        .map(|(m, _)| m)
}

/// Who spoke from `start_ms` to `end_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// Start (ms of meeting time).
    pub start_ms: i64,
    /// End (ms of meeting time).
    pub end_ms: i64,
    /// Speaker label (`S1`, `S2`, ...).
    pub speaker: String,
}

/// One speaker the clustering found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speaker {
    /// Label (`S1`, ... in order of first speech).
    pub label: String,
    /// Talk time (ms).
    pub talk_ms: i64,
    /// The recording's microphone: the local person.
    pub local: bool,
}

/// The meeting's speakers and turns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diarization {
    /// Speakers, in label order.
    pub speakers: Vec<Speaker>,
    /// Turns, by start time (overlapping turns of different speakers are both kept).
    pub turns: Vec<Turn>,
    /// How many embeddings were clustered.
    pub embeddings: usize,
}

fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        return 1.0;
    }
    1.0 - dot / (na * nb)
}

/// Most embeddings clustered by full AHC; beyond it an even subsample is clustered and the
/// rest join their nearest centroid (bounds memory to ~64 MB and time to seconds).
const MAX_AHC: usize = 4_000;

/// Clusters every embedding of `chunks` at once and rebuilds who spoke when.
///
/// 1. Embeddings of the mix and system channels are clustered (average linkage on cosine
///    distance), cut at `params.threshold`, or at exactly `hints.num` clusters, the count
///    kept within `hints.min`..`hints.max`; clusters with little speech fold into the
///    nearest big one.
/// 2. In each window, local speakers are matched to distinct clusters (two voices heard at
///    once in one window are never one person) by the best total similarity to the
///    clusters' centroids.
/// 3. Activity is rebuilt on a 10 ms grid: each cell takes as many speakers as the windows
///    covering it heard on average (overlap kept), the ones with the most votes.
///    Microphone windows give the local person, one label, without clustering.
///
/// Only embeddings of [`main_model`] are clustered: a chunk analysed with another speaker
/// encoder (the user switched encoders part-way) keeps its activity but none of its
/// embeddings, whose space differs.
pub fn diarize(chunks: &[ChunkAnalysis], hints: &Hints, params: &Params) -> Diarization {
    // Every embedding: (chunk, window, speaker index).
    let mut ids: Vec<(usize, usize, usize)> = Vec::new();
    let mut embs: Vec<&[f32]> = Vec::new();
    let mut weight: Vec<i64> = Vec::new();
    let main = main_model(chunks);
    for (c, ch) in chunks.iter().enumerate() {
        if Some(ch.model.as_str()) != main {
            continue;
        }
        for (w, win) in ch.windows.iter().enumerate() {
            if win.channel == Channel::Mic {
                continue;
            }
            for (s, sp) in win.speakers.iter().enumerate() {
                if let Some(e) = &sp.embedding {
                    ids.push((c, w, s));
                    embs.push(e);
                    weight.push(sp.solo_ms);
                }
            }
        }
    }
    let n = embs.len();
    let mut labels = vec![0usize; n];
    let mut k = 0usize;
    if n > 0 {
        let stride = n.div_ceil(MAX_AHC);
        let sample: Vec<usize> = (0..n).step_by(stride).collect();
        let sub: Vec<&[f32]> = sample.iter().map(|&i| embs[i]).collect();
        let merges = ahc_average(&sub, |a, b| cosine_distance(a, b));
        let at_threshold = sub.len() - merges.iter().filter(|m| m.distance <= params.threshold).count();
        let mut target = hints.num.unwrap_or(at_threshold);
        if let Some(lo) = hints.min {
            target = target.max(lo);
        }
        if let Some(hi) = hints.max {
            target = target.min(hi);
        }
        let target = target.clamp(1, sub.len());
        // Cut at the threshold, or finer when the hints ask for more clusters than that.
        let sub_labels = cut(sub.len(), &merges, at_threshold.max(target));
        let kk = sub_labels.iter().max().map_or(0, |m| m + 1);
        let mut cents = centroids(&sub_labels, &sub, kk);
        for (i, e) in embs.iter().enumerate() {
            labels[i] = nearest(&cents, e);
        }
        let total_solo: i64 = weight.iter().sum();
        let min_talk = params.min_cluster_ms.max(total_solo / 50);
        let floor = hints.num.or(hints.min).unwrap_or(1);
        // Fold clusters with little speech, then (to meet the hints) the closest pairs of
        // centroids, into one another: a diffuse cluster of noisy embeddings is far from
        // everything by average linkage, yet its centroid sits near its true speaker.
        loop {
            let mut talk = vec![0i64; cents.len()];
            for (i, &l) in labels.iter().enumerate() {
                talk[l] += weight[i];
            }
            let alive: Vec<usize> = (0..cents.len()).filter(|&c| talk[c] > 0).collect();
            let small = if alive.len() > floor {
                alive.iter().copied().filter(|&c| talk[c] < min_talk).min_by_key(|&c| talk[c])
            } else {
                None
            };
            let (from, into) = if let Some(c) = small {
                let into = nearest_of(&cents, &cents[c], alive.iter().copied().filter(|&o| o != c));
                (c, into.expect("more clusters alive than the floor"))
            } else if alive.len() > target {
                let mut best = (f32::INFINITY, 0, 0);
                for (i, &a) in alive.iter().enumerate() {
                    for &b in &alive[i + 1..] {
                        let d = cosine_distance(&cents[a], &cents[b]);
                        if d < best.0 {
                            best = (d, b, a);
                        }
                    }
                }
                (best.1, best.2)
            } else {
                break;
            };
            for l in labels.iter_mut() {
                if *l == from {
                    *l = into;
                }
            }
            cents = centroids(&labels, &embs, cents.len());
        }
        // Renumber densely.
        let mut map = vec![usize::MAX; cents.len()];
        for l in labels.iter_mut() {
            if map[*l] == usize::MAX {
                map[*l] = k;
                k += 1;
            }
            *l = map[*l];
        }
    }
    let cents = centroids(&labels, &embs, k);

    // Per window: local speaker -> cluster (distinct within the window).
    let mut assign: Vec<Vec<Vec<Option<usize>>>> =
        chunks.iter().map(|ch| ch.windows.iter().map(|w| vec![None; w.speakers.len()]).collect()).collect();
    let mut by_window: std::collections::BTreeMap<(usize, usize), Vec<usize>> = Default::default();
    for (i, &(c, w, _)) in ids.iter().enumerate() {
        by_window.entry((c, w)).or_default().push(i);
    }
    for ((c, w), members) in by_window {
        let sims: Vec<Vec<f32>> =
            members.iter().map(|&i| cents.iter().map(|ct| 1.0 - cosine_distance(embs[i], ct)).collect()).collect();
        let best = best_distinct(&sims);
        for (j, &i) in members.iter().enumerate() {
            assign[c][w][ids[i].2] = best[j];
        }
    }

    // The local person (microphone windows) is one more cluster.
    let has_mic = chunks.iter().any(|ch| ch.windows.iter().any(|w| w.channel == Channel::Mic));
    let local = has_mic.then_some(k);
    let total = k + usize::from(has_mic);
    let end_ms =
        chunks.iter().flat_map(|ch| ch.windows.iter().map(|w| w.frame_ms(w.valid_frames))).max().unwrap_or(0).max(0);
    let cells = usize::try_from(end_ms / CELL_MS + 1).unwrap_or(0);
    let mut active = vec![vec![false; cells]; total];
    for channel in [Channel::Mix, Channel::System, Channel::Mic] {
        let mut cover = vec![0u16; cells];
        let mut count = vec![0u16; cells];
        let mut votes = vec![vec![0u16; cells]; total];
        let mut any = false;
        for (c, ch) in chunks.iter().enumerate() {
            for (w, win) in ch.windows.iter().enumerate() {
                if win.channel != channel {
                    continue;
                }
                any = true;
                let local_of: Vec<Option<usize>> = (0..3u8)
                    .map(|b| {
                        if channel == Channel::Mic {
                            return local;
                        }
                        win.speakers.iter().position(|s| s.local == b).and_then(|s| assign[c][w][s])
                    })
                    .collect();
                for (f, bits) in win.bits().enumerate().take(win.valid_frames) {
                    let (a, b) = (win.frame_ms(f), win.frame_ms(f + 1));
                    let (ca, cb) = (cell(a), cell(b).min(cells));
                    for x in ca..cb {
                        cover[x] += 1;
                        count[x] += bits.count_ones() as u16;
                        for (bit, who) in local_of.iter().enumerate() {
                            if bits & (1 << bit) != 0 {
                                if let Some(who) = who {
                                    votes[*who][x] += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        if !any {
            continue;
        }
        for x in 0..cells {
            if cover[x] == 0 {
                continue;
            }
            let mut want = (f32::from(count[x]) / f32::from(cover[x])).round() as usize;
            if channel == Channel::Mic {
                want = want.min(1);
            }
            let mut order: Vec<usize> = (0..total).filter(|&s| votes[s][x] > 0).collect();
            order.sort_by_key(|&s| std::cmp::Reverse(votes[s][x]));
            for &s in order.iter().take(want) {
                active[s][x] = true;
            }
        }
    }

    // Turns per speaker: runs of active cells, short gaps bridged, blips dropped.
    let mut turns: Vec<(usize, i64, i64)> = Vec::new();
    for (s, row) in active.iter().enumerate() {
        let mut runs: Vec<(i64, i64)> = Vec::new();
        let mut x = 0;
        while x < cells {
            if !row[x] {
                x += 1;
                continue;
            }
            let start = x;
            while x < cells && row[x] {
                x += 1;
            }
            let (a, b) = (start as i64 * CELL_MS, x as i64 * CELL_MS);
            match runs.last_mut() {
                Some(last) if a - last.1 <= 250 => last.1 = b,
                _ => runs.push((a, b)),
            }
        }
        turns.extend(runs.into_iter().filter(|(a, b)| b - a >= 200).map(|(a, b)| (s, a, b)));
    }
    turns.sort_by_key(|t| (t.1, t.0));
    // Labels in order of first speech.
    let mut label = vec![usize::MAX; total];
    let mut next = 0;
    for t in &turns {
        if label[t.0] == usize::MAX {
            label[t.0] = next;
            next += 1;
        }
    }
    let mut speakers: Vec<Speaker> = (0..total)
        .filter(|&s| label[s] != usize::MAX)
        .map(|s| Speaker {
            label: format!("S{}", label[s] + 1),
            talk_ms: turns.iter().filter(|t| t.0 == s).map(|t| t.2 - t.1).sum(),
            local: Some(s) == local,
        })
        .collect();
    speakers.sort_by_key(|s| s.label[1..].parse::<usize>().unwrap_or(0));
    let turns = turns
        .into_iter()
        .map(|(s, a, b)| Turn { start_ms: a, end_ms: b, speaker: format!("S{}", label[s] + 1) })
        .collect();
    Diarization { speakers, turns, embeddings: n }
}

fn cell(ms: i64) -> usize {
    usize::try_from(ms.max(0) / CELL_MS).unwrap_or(0)
}

fn centroids(labels: &[usize], embs: &[&[f32]], k: usize) -> Vec<Vec<f32>> {
    let dim = embs.first().map_or(0, |e| e.len());
    let mut out = vec![vec![0f32; dim]; k];
    for (i, &l) in labels.iter().enumerate() {
        for (o, v) in out[l].iter_mut().zip(embs[i]) {
            *o += v;
        }
    }
    for c in out.iter_mut() {
        let n = c.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n > 0.0 {
            c.iter_mut().for_each(|x| *x /= n);
        }
    }
    out
}

fn nearest(cents: &[Vec<f32>], e: &[f32]) -> usize {
    nearest_of(cents, e, 0..cents.len()).unwrap_or(0)
}

/// The centroid among `candidates` closest to `e`.
fn nearest_of(cents: &[Vec<f32>], e: &[f32], candidates: impl Iterator<Item = usize>) -> Option<usize> {
    candidates.min_by(|&a, &b| cosine_distance(e, &cents[a]).total_cmp(&cosine_distance(e, &cents[b])))
}

/// Assigns each row (a window's local speaker) a distinct column (cluster) maximising the
/// total similarity; rows beyond the number of columns get none. Rows are at most three.
fn best_distinct(sims: &[Vec<f32>]) -> Vec<Option<usize>> {
    let k = sims.first().map_or(0, |r| r.len());
    let mut best: (f32, Vec<Option<usize>>) = (f32::NEG_INFINITY, vec![None; sims.len()]);
    fn go(
        sims: &[Vec<f32>],
        k: usize,
        row: usize,
        used: &mut Vec<bool>,
        cur: &mut Vec<Option<usize>>,
        score: f32,
        best: &mut (f32, Vec<Option<usize>>),
    ) {
        if row == sims.len() {
            if score > best.0 {
                *best = (score, cur.clone());
            }
            return;
        }
        let mut any = false;
        for c in 0..k {
            if !used[c] {
                any = true;
                used[c] = true;
                cur[row] = Some(c);
                go(sims, k, row + 1, used, cur, score + sims[row][c], best);
                used[c] = false;
            }
        }
        if !any {
            cur[row] = None;
            go(sims, k, row + 1, used, cur, score, best);
        }
    }
    go(sims, k, 0, &mut vec![false; k], &mut vec![None; sims.len()], 0.0, &mut best);
    best.1
}

/// The speaker of a span: the turn overlapping it most, else the nearest turn within 1 s.
pub fn speaker_at(turns: &[Turn], start_ms: i64, end_ms: i64) -> Option<&str> {
    let mut best: Option<(i64, &Turn)> = None;
    for t in turns {
        let ov = t.end_ms.min(end_ms) - t.start_ms.max(start_ms);
        if ov > 0 && best.is_none_or(|(b, _)| ov > b) {
            best = Some((ov, t));
        }
    }
    if let Some((_, t)) = best {
        return Some(&t.speaker);
    }
    let mid = (start_ms + end_ms) / 2;
    turns
        .iter()
        .map(|t| ((t.start_ms - mid).max(mid - t.end_ms).max(0), t))
        .filter(|(d, _)| *d <= 1_000)
        .min_by_key(|(d, _)| *d)
        .map(|(_, t)| t.speaker.as_str())
}

/// RTTM lines (the standard diarization format: `SPEAKER file 1 start dur <NA> <NA> name
/// <NA> <NA>`), one per turn, names resolved by `name`.
pub fn rttm(file_id: &str, turns: &[Turn], name: &dyn Fn(&str) -> String) -> String {
    let id: String = file_id.chars().map(|c| if c.is_whitespace() { '_' } else { c }).collect();
    let mut out = String::new();
    for t in turns {
        let who: String = name(&t.speaker).chars().map(|c| if c.is_whitespace() { '_' } else { c }).collect();
        out.push_str(&format!(
            "SPEAKER {id} 1 {:.3} {:.3} <NA> <NA> {who} <NA> <NA>\n",
            t.start_ms as f64 / 1000.0,
            (t.end_ms - t.start_ms) as f64 / 1000.0
        ));
    }
    out
}

#[cfg(test)]
mod tests;
