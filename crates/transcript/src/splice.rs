//! Joining neighbouring chunks where their audio overlaps.
//!
//! Chunk *k* starts `overlap` before its cut point, so both neighbours hear the audio in
//! between and both transcribe it. Each copy is weakest at its own chunk's edge: the
//! earlier chunk's audio stops at the cut (its last word may be cut in half), the later
//! one starts without the words before (its first word may be a fragment). Whisper's
//! token timestamps are also only roughly right: near an edge they drift by a second or
//! more (measured with `scripts/eval-asr`'s forced cuts), so a split by time alone keeps
//! some words twice and drops others.
//!
//! So the splice is found in the text, as chunked decoders commonly do: the longest run
//! of words that both copies wrote at about the same time is the audio they share. The
//! earlier chunk keeps the words before the middle of that run, the later chunk the rest,
//! and whatever either wrote beyond the run (fragments, half-heard words) is dropped in
//! favour of the other chunk's reading. Only when the copies share no word is the split
//! made by time, at the middle of the overlap, where both chunks still had context.

/// A word as the splice sees it: normalised text and its meeting-time midpoint.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) norm: String,
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
}

impl Token {
    fn mid(&self) -> i64 {
        (self.start_ms + self.end_ms) / 2
    }
}

/// Where the two chunks' audio overlaps, in meeting ms: the later chunk's first sample
/// and its cut point (the end of the earlier chunk's audio).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Overlap {
    pub(crate) start_ms: i64,
    pub(crate) cut_ms: i64,
}

/// Words of the earlier chunk that may still be in the overlap, by their (drifting)
/// timestamps: ending later than this much before the overlap starts.
const SEARCH_MS: i64 = 2_000;
/// How far a shared word's two copies may disagree on its time: one word alone (a
/// coincidence is likelier), a run of two or more.
const SHIFT_ONE_MS: i64 = 1_000;
const SHIFT_RUN_MS: i64 = 2_500;

/// Lower-case letters and digits only, so "Man." and "man," match.
pub(crate) fn normalise(word: &str) -> String {
    word.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Where to join `prev` (the earlier chunk's words, in order) and `next` (the later
/// chunk's): returns `(keep_prev, skip_next)`, meaning the transcript takes
/// `prev[..keep_prev]` followed by `next[skip_next..]`.
pub(crate) fn splice(prev: &[Token], next: &[Token], ov: Overlap) -> (usize, usize) {
    if ov.cut_ms <= ov.start_ms {
        // No shared audio: a word both wrote was said twice.
        return (prev.len(), 0);
    }
    let tail = prev.iter().position(|t| t.end_ms > ov.start_ms - SEARCH_MS).unwrap_or(prev.len());
    let head = next.iter().position(|t| t.start_ms >= ov.cut_ms + SEARCH_MS).unwrap_or(next.len());
    // Best run: longest, then the two copies closest in time.
    let mut best: Option<(usize, usize, usize, i64)> = None;
    for i in tail..prev.len() {
        for j in 0..head {
            let run =
                prev[i..].iter().zip(&next[j..]).take_while(|(a, b)| !a.norm.is_empty() && a.norm == b.norm).count();
            if run == 0 {
                continue;
            }
            let shift = (prev[i].mid() - next[j].mid()).abs();
            let plausible = if run == 1 {
                // One shared word must lie in the overlap in both copies, close in time,
                // and be more than a particle ("a", "of") that any two sentences share.
                shift <= SHIFT_ONE_MS
                    && prev[i].norm.chars().count() >= 3
                    && prev[i].end_ms > ov.start_ms - SHIFT_ONE_MS / 2
                    && next[j].start_ms < ov.cut_ms + SHIFT_ONE_MS / 2
            } else {
                shift <= SHIFT_RUN_MS
            };
            if plausible && best.is_none_or(|(_, _, r, s)| run > r || (run == r && shift < s)) {
                best = Some((i, j, run, shift));
            }
        }
    }
    match best {
        Some((i, j, run, _)) => {
            // The middle of the shared run; a lone shared word is taken from the copy
            // farther from its chunk's edge.
            let from_prev = if run == 1 {
                usize::from(ov.cut_ms - prev[i].end_ms >= next[j].start_ms - ov.start_ms)
            } else {
                run.div_ceil(2)
            };
            (i + from_prev, j + from_prev)
        }
        None => {
            let split = ov.start_ms + (ov.cut_ms - ov.start_ms) / 2;
            (prev.iter().take_while(|t| t.mid() < split).count(), next.iter().take_while(|t| t.mid() < split).count())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(words: &[(&str, i64, i64)]) -> Vec<Token> {
        words.iter().map(|&(w, a, b)| Token { norm: normalise(w), start_ms: a, end_ms: b }).collect()
    }

    fn join(prev: &[(&str, i64, i64)], next: &[(&str, i64, i64)], ov: Overlap) -> Vec<String> {
        let (p, n) = (toks(prev), toks(next));
        let (k, s) = splice(&p, &n, ov);
        p[..k].iter().chain(&n[s..]).map(|t| t.norm.clone()).collect()
    }

    const OV: Overlap = Overlap { start_ms: 96_000, cut_ms: 97_000 };

    #[test]
    fn shared_run_is_found_despite_drifting_timestamps() {
        // Measured: the later chunk heard "...disposed" as "That's supposed" and put
        // "young man" 1.5 s later than the earlier chunk did.
        let prev = [
            ("not", 95_090, 95_240),
            ("an", 95_320, 95_420),
            ("ill-disposed", 95_420, 96_190),
            ("young", 96_200, 96_530),
            ("man.", 96_530, 96_870),
        ];
        let next = [
            ("That's", 96_000, 96_730),
            ("supposed", 96_730, 97_340),
            ("young", 97_720, 98_340),
            ("man.", 98_710, 99_120),
            ("Unless", 99_120, 99_520),
        ];
        assert_eq!(join(&prev, &next, OV), ["not", "an", "illdisposed", "young", "man", "unless"]);
    }

    #[test]
    fn half_heard_last_word_gives_way_to_the_next_chunk() {
        let ov = Overlap { start_ms: 80_000, cut_ms: 81_000 };
        let prev = [
            ("how", 79_410, 79_440),
            ("much", 79_440, 79_690),
            ("there", 79_750, 79_980),
            ("might", 80_010, 80_310),
            ("be", 80_310, 80_470),
            ("prudence.", 80_470, 81_000),
        ];
        let next = [
            ("there", 80_000, 80_390),
            ("might", 80_400, 80_790),
            ("be", 80_800, 80_950),
            ("prudently", 81_000, 81_680),
            ("in", 81_680, 81_840),
        ];
        assert_eq!(join(&prev, &next, ov), ["how", "much", "there", "might", "be", "prudently", "in"]);
    }

    #[test]
    fn one_shared_word_is_taken_from_the_copy_with_more_context() {
        let ov = Overlap { start_ms: 16_000, cut_ms: 17_000 };
        let prev = [("made", 15_550, 15_920), ("amiable", 16_150, 16_480), ("himself.", 16_610, 16_990)];
        let next = [
            ("me", 16_000, 16_170),
            ("a", 16_270, 16_270),
            ("bull", 16_270, 16_640),
            ("himself.", 16_640, 17_430),
            ("Seven", 17_600, 19_030),
        ];
        let (p, n) = (toks(&prev), toks(&next));
        assert_eq!(
            splice(&p, &n, ov),
            (2, 3),
            "the later chunk's copy starts 640 ms into its audio, the earlier's ends 10 ms before its cut"
        );
        assert_eq!(join(&prev, &next, ov), ["made", "amiable", "himself", "seven"]);
    }

    #[test]
    fn a_particle_or_a_word_far_from_the_overlap_is_no_match() {
        // "of" is shared by chance; the split falls back to the overlap's middle.
        let prev = [("queen", 95_000, 95_400), ("of", 95_400, 95_600), ("hearts", 95_600, 96_200)];
        let next = [("seven", 96_700, 97_200), ("of", 97_200, 97_400), ("clubs", 97_400, 97_900)];
        assert_eq!(join(&prev, &next, OV), ["queen", "of", "hearts", "seven", "of", "clubs"]);
        // A word repeated by the speaker across a pause at the cut is said twice.
        let prev = [("okay", 93_000, 93_500)];
        let next = [("okay", 98_000, 98_400), ("so", 98_400, 98_600)];
        assert_eq!(join(&prev, &next, OV), ["okay", "okay", "so"]);
    }

    #[test]
    fn chunks_without_overlap_keep_every_word() {
        let ov = Overlap { start_ms: 60_000, cut_ms: 60_000 };
        let prev = [("thank", 58_900, 59_300), ("you.", 59_300, 59_800)];
        let next = [("thank", 60_100, 60_500), ("you.", 60_500, 60_900)];
        assert_eq!(join(&prev, &next, ov), ["thank", "you", "thank", "you"]);
    }

    #[test]
    fn without_a_shared_word_the_overlap_is_split_in_the_middle() {
        let prev = [("close", 95_360, 96_120), ("seven", 96_360, 97_000)];
        let next = [("of", 96_000, 96_540), ("clothes", 96_540, 98_690)];
        assert_eq!(join(&prev, &next, OV), ["close", "clothes"]);
        assert_eq!(join(&[], &next, OV), ["clothes"]);
        assert_eq!(join(&prev, &[], OV), ["close"]);
    }
}
