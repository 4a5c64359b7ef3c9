//! [`Chunker`]: cuts a stream of 16 kHz mono samples into chunks at quiet points.
//!
//! # Where a cut goes
//!
//! Energy is measured on a fixed grid of 20 ms frames (320 samples, frame `f` covers samples
//! `320 f .. 320 f + 320` of the whole stream): `ms(f)` = mean square of the frame. A candidate
//! cut is a frame boundary `b` (sample `320 b`); its energy `E(b)` is the mean of `ms` over the
//! 16 frames around it (`b - 8 .. b + 8`, i.e. 320 ms centred on the cut). A chunk that starts
//! at sample `s` ends at the candidate `b` with `320 b` in `[s + min, s + max]` that minimises
//!
//! ```text
//! score(b) = 10 log10(E(b) + 1e-10) + 6 dB * ((320 b - (s + target)) / span)^2,
//! span     = max(target - min, max - target)
//! ```
//!
//! so a cut at the edge of the allowed range costs 6 dB: any pause clearly quieter than speech
//! wins wherever it is, and among equally quiet places the one closest to `target` wins.
//! Ties go to the earliest candidate. Everything is computed from the samples on the fixed
//! grid, so the cuts do not depend on how the stream was split into blocks.
//!
//! # Overlap
//!
//! Each chunk after the first starts `overlap` before the previous chunk's cut: its first
//! `overlap_samples` samples repeat the end of the previous chunk. Chunk lengths (including
//! that overlap) are within `[min, max]`, except the last.
//!
//! # The last chunk
//!
//! A cut is only decided once at least `max + min/2` samples past the chunk start have
//! arrived, so every cut leaves at least `min/2` of new audio after it. Whatever remains at
//! [`Chunker::finish`] (less than `max + min/2`) becomes the last chunk, whole: it is between
//! `min/2 + overlap` and `max + min/2` long (31 s to 150 s with the default plan), unless the
//! whole input was shorter than that. A slightly long last chunk is better for transcription
//! than a two-second scrap.

use crate::SAMPLE_RATE;

/// Samples per energy frame (20 ms).
const FRAME: u64 = 320;
/// Frames on each side of a candidate cut that make up its energy window (8 x 20 ms).
const HALF_WINDOW: u64 = 8;
/// Penalty, in dB, for a cut at the edge of the allowed range rather than at the target.
const EDGE_PENALTY_DB: f64 = 6.0;
/// Floor added to energies before taking the log: -100 dBFS, well below any real pause.
const ENERGY_FLOOR: f64 = 1e-10;

/// How to cut: chunks of `min_s..=max_s` seconds, cut at the quietest point near `target_s`,
/// and each chunk after the first starts `overlap_s` before its cut point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkPlan {
    /// Preferred chunk length, seconds. Must lie within `[min_s, max_s]`.
    pub target_s: f64,
    /// Shortest chunk (except possibly the last), seconds. Must be > 0.
    pub min_s: f64,
    /// Longest chunk (except possibly the last), seconds. Must be >= `min_s`.
    pub max_s: f64,
    /// How much of the previous chunk each chunk repeats at its start, seconds.
    /// Must be >= 0 and < `min_s`.
    pub overlap_s: f64,
}

impl Default for ChunkPlan {
    /// 90 s chunks, 60 to 120 s, 1 s overlap.
    fn default() -> Self {
        ChunkPlan { target_s: 90.0, min_s: 60.0, max_s: 120.0, overlap_s: 1.0 }
    }
}

/// A [`ChunkPlan`] whose numbers do not make sense together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid chunk plan: {0}")]
pub struct InvalidPlan(pub String);

impl ChunkPlan {
    /// Checks the plan: finite numbers, `0 < min_s <= target_s <= max_s`,
    /// `0 <= overlap_s < min_s`, and chunks at least one energy frame (20 ms) long.
    pub fn validate(&self) -> Result<(), InvalidPlan> {
        let ChunkPlan { target_s, min_s, max_s, overlap_s } = *self;
        let all = [target_s, min_s, max_s, overlap_s];
        if all.iter().any(|v| !v.is_finite()) {
            return Err(InvalidPlan(format!("non-finite value in {self:?}")));
        }
        if min_s < FRAME as f64 / f64::from(SAMPLE_RATE) {
            return Err(InvalidPlan(format!("min_s {min_s} is shorter than 20 ms")));
        }
        if !(min_s <= target_s && target_s <= max_s) {
            return Err(InvalidPlan(format!("need min_s <= target_s <= max_s, got {min_s} / {target_s} / {max_s}")));
        }
        if !(0.0..min_s).contains(&overlap_s) {
            return Err(InvalidPlan(format!("overlap_s {overlap_s} must be >= 0 and < min_s {min_s}")));
        }
        if max_s * f64::from(SAMPLE_RATE) > 1e12 {
            return Err(InvalidPlan(format!("max_s {max_s} is absurdly long")));
        }
        Ok(())
    }
}

/// One chunk of the meeting's 16 kHz mono audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// 0, 1, 2...
    pub index: u32,
    /// Meeting time of `samples[0]`, in 16 kHz samples.
    pub start_sample: u64,
    /// How many leading samples repeat the previous chunk's tail (0 for the first).
    pub overlap_samples: u64,
    /// The audio.
    pub samples: Vec<f32>,
}

impl Chunk {
    /// Meeting time of the first sample that is new in this chunk (after the overlap).
    pub fn new_start_sample(&self) -> u64 {
        self.start_sample + self.overlap_samples
    }

    /// Meeting time just past the last sample.
    pub fn end_sample(&self) -> u64 {
        self.start_sample + self.samples.len() as u64
    }

    /// Length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(SAMPLE_RATE)
    }
}

/// Streaming chunker: push blocks, get chunks as soon as they are decided. Deterministic:
/// the same input gives the same cuts whatever block sizes it was pushed in. Holds at most
/// `max + min/2` seconds of audio (plus the block being pushed). See the module docs of
/// [`crate::chunk`] for the quiet-point and last-chunk rules.
#[derive(Debug)]
pub struct Chunker {
    min: u64,
    max: u64,
    target: u64,
    overlap: u64,
    /// Samples past the chunk start needed before a cut is decided.
    decide_at: u64,
    /// Samples of the current chunk so far; `buf[0]` is sample `buf_start` of the stream.
    buf: Vec<f32>,
    buf_start: u64,
    /// Where the current chunk's new audio starts (the previous cut), >= `buf_start`.
    prev_cut: u64,
    /// Samples pushed in total.
    total: u64,
    /// Mean square of each complete frame from frame `frames_base` on.
    frames: Vec<f64>,
    frames_base: u64,
    /// Sum of squares and count of the frame in progress.
    partial_sum: f64,
    partial_len: u64,
    next_index: u32,
}

fn secs_to_samples(s: f64) -> u64 {
    (s * f64::from(SAMPLE_RATE)).round() as u64
}

impl Chunker {
    /// A chunker for `plan`.
    ///
    /// # Panics
    ///
    /// If the plan is invalid (see [`ChunkPlan::validate`]); use [`Chunker::try_new`] for
    /// plans that come from users.
    pub fn new(plan: ChunkPlan) -> Self {
        match Self::try_new(plan) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    /// A chunker for `plan`, or why the plan is invalid.
    pub fn try_new(plan: ChunkPlan) -> Result<Self, InvalidPlan> {
        plan.validate()?;
        let min = secs_to_samples(plan.min_s);
        let max = secs_to_samples(plan.max_s).max(min);
        let target = secs_to_samples(plan.target_s).clamp(min, max);
        let overlap = secs_to_samples(plan.overlap_s).min(min.saturating_sub(1));
        let decide_at = max + (min / 2).max((HALF_WINDOW + 1) * FRAME);
        Ok(Chunker {
            min,
            max,
            target,
            overlap,
            decide_at,
            // The buffer never holds more than `decide_at` samples: reserving that much
            // up front (for sane plans) keeps growth from doubling it; pages are only
            // touched as they are used.
            buf: Vec::with_capacity(usize::try_from(decide_at.min(u64::from(SAMPLE_RATE) * 600)).unwrap_or(0)),
            buf_start: 0,
            prev_cut: 0,
            total: 0,
            frames: Vec::new(),
            frames_base: 0,
            partial_sum: 0.0,
            partial_len: 0,
            next_index: 0,
        })
    }

    /// Samples pushed so far.
    pub fn samples_pushed(&self) -> u64 {
        self.total
    }

    /// Where the chunk in progress starts (meeting sample) and how many of its leading
    /// samples repeat the previous chunk: what its [`Chunk`] will say once it is cut.
    /// Live recording uses it to journal the chunk in progress.
    pub fn pending_start(&self) -> (u64, u64) {
        (self.buf_start, self.prev_cut - self.buf_start)
    }

    /// Adds `block` (16 kHz mono) and returns the chunks that are now decided (usually none
    /// or one).
    pub fn push(&mut self, block: &[f32]) -> Vec<Chunk> {
        let mut chunks = Vec::new();
        let mut rest = block;
        // Feed at most up to the next decision point at a time, so the buffer never holds
        // much more than `decide_at` samples even when a huge block is pushed.
        while !rest.is_empty() {
            let room = (self.buf_start + self.decide_at).saturating_sub(self.total).max(1);
            let take = rest.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            let (now, later) = rest.split_at(take);
            self.append(now);
            rest = later;
            while self.total >= self.buf_start + self.decide_at {
                let cut = self.choose_cut();
                chunks.push(self.cut_at(cut));
            }
        }
        chunks
    }

    /// Ends the stream: returns the last chunk (everything after the last cut, with its
    /// overlap), or `None` if nothing is left.
    pub fn finish(mut self) -> Option<Chunk> {
        if self.total <= self.prev_cut {
            return None;
        }
        let end = self.total;
        Some(self.cut_at(end))
    }

    fn append(&mut self, block: &[f32]) {
        self.buf.extend_from_slice(block);
        self.total += block.len() as u64;
        for &x in block {
            let x = f64::from(x);
            self.partial_sum += x * x;
            self.partial_len += 1;
            if self.partial_len == FRAME {
                self.frames.push(self.partial_sum / FRAME as f64);
                self.partial_sum = 0.0;
                self.partial_len = 0;
            }
        }
    }

    /// `E(b)`: mean of the frame energies around boundary `b`. Only called for boundaries
    /// whose whole window has arrived.
    fn energy_at(&self, b: u64) -> f64 {
        let lo = b.saturating_sub(HALF_WINDOW).max(self.frames_base);
        let hi = (b + HALF_WINDOW).min(self.frames_base + self.frames.len() as u64);
        if hi <= lo {
            return 0.0;
        }
        let slice = &self.frames[(lo - self.frames_base) as usize..(hi - self.frames_base) as usize];
        slice.iter().sum::<f64>() / slice.len() as f64
    }

    /// The best cut for the current chunk (see the module docs).
    fn choose_cut(&self) -> u64 {
        let s = self.buf_start;
        let lo = s + self.min;
        let hi = s + self.max;
        let target = (s + self.target) as f64;
        let span = (self.target - self.min).max(self.max - self.target).max(1) as f64;
        let mut best: Option<(f64, u64)> = None;
        for b in lo.div_ceil(FRAME)..=hi / FRAME {
            let pos = b * FRAME;
            let dist = (pos as f64 - target) / span;
            let score = 10.0 * (self.energy_at(b) + ENERGY_FLOOR).log10() + EDGE_PENALTY_DB * dist * dist;
            if best.is_none_or(|(best_score, _)| score < best_score) {
                best = Some((score, pos));
            }
        }
        // No frame boundary in range (only when max - min < 20 ms): cut at the target.
        best.map_or(s + self.target, |(_, pos)| pos)
    }

    /// Emits `[buf_start, cut)` as a chunk and starts the next one `overlap` before `cut`.
    fn cut_at(&mut self, cut: u64) -> Chunk {
        let len = (cut - self.buf_start) as usize;
        let chunk = Chunk {
            index: self.next_index,
            start_sample: self.buf_start,
            overlap_samples: self.prev_cut - self.buf_start,
            samples: self.buf[..len].to_vec(),
        };
        self.next_index += 1;
        let next_start = cut.saturating_sub(self.overlap).max(self.buf_start);
        self.buf.drain(..(next_start - self.buf_start) as usize);
        self.buf_start = next_start;
        self.prev_cut = cut;
        // Keep the frames that the next chunk's candidate windows can reach.
        let keep_from = (next_start / FRAME).saturating_sub(HALF_WINDOW).max(self.frames_base);
        self.frames.drain(..(keep_from - self.frames_base) as usize);
        self.frames_base = keep_from;
        chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(target: f64, min: f64, max: f64, overlap: f64) -> ChunkPlan {
        ChunkPlan { target_s: target, min_s: min, max_s: max, overlap_s: overlap }
    }

    #[test]
    fn validate_rejects_nonsense() {
        assert!(ChunkPlan::default().validate().is_ok());
        assert!(plan(90.0, 60.0, 50.0, 1.0).validate().is_err());
        assert!(plan(30.0, 60.0, 120.0, 1.0).validate().is_err());
        assert!(plan(90.0, 60.0, 120.0, 60.0).validate().is_err());
        assert!(plan(90.0, 60.0, 120.0, -1.0).validate().is_err());
        assert!(plan(f64::NAN, 60.0, 120.0, 1.0).validate().is_err());
        assert!(plan(0.0, 0.0, 0.0, 0.0).validate().is_err());
        assert!(Chunker::try_new(plan(90.0, 60.0, 50.0, 1.0)).is_err());
    }

    #[test]
    fn short_input_is_one_chunk_and_empty_input_none() {
        let mut c = Chunker::new(ChunkPlan::default());
        assert!(c.push(&[0.1; 16_000]).is_empty());
        let last = c.finish().expect("one chunk");
        assert_eq!((last.index, last.start_sample, last.overlap_samples), (0, 0, 0));
        assert_eq!(last.samples.len(), 16_000);
        assert!(Chunker::new(ChunkPlan::default()).finish().is_none());
    }

    #[test]
    fn memory_stays_bounded_over_a_long_stream() {
        // Half an hour pushed in 1 s blocks, and once in one huge block: the buffer never
        // holds more than `decide_at` samples (max + min/2) and the frame list stays small.
        let mut c = Chunker::new(ChunkPlan::default());
        let second = vec![0.1f32; 16_000];
        let mut emitted = 0;
        for _ in 0..1_800 {
            emitted += c.push(&second).len();
            assert!(c.buf.len() as u64 <= c.decide_at);
            assert!(c.frames.len() as u64 <= c.decide_at / FRAME + 2 * HALF_WINDOW);
        }
        assert!(emitted >= 18);
        let mut c = Chunker::new(ChunkPlan::default());
        let huge = vec![0.1f32; 16_000 * 1_800];
        c.push(&huge);
        assert!(c.buf.len() as u64 <= c.decide_at);
    }

    #[test]
    fn constant_signal_cuts_at_target() {
        // No quiet point anywhere: the distance penalty alone picks the target.
        let p = plan(9.0, 6.0, 12.0, 0.5);
        let mut c = Chunker::new(p);
        let mut chunks = c.push(&vec![0.3; 16_000 * 40]);
        chunks.extend(c.finish());
        assert_eq!(chunks[0].samples.len(), 9 * 16_000);
        assert_eq!(chunks[1].start_sample, 9 * 16_000 - 8_000);
        assert_eq!(chunks[1].overlap_samples, 8_000);
        assert_eq!(chunks[1].samples.len(), 9 * 16_000);
    }
}
