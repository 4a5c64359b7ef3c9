//! Transcript windows for the map phase.
//!
//! Each transcript segment becomes one numbered line `L12 [m:ss] Speaker: text` (the
//! speaker only once diarization has labelled it; the number is what the model cites, see
//! [`crate::cite`]); each slide shown becomes a line `L13 [m:ss] Slide 2: text`
//! at the time it appeared ([`with_slides`]), so a decision written on a slide reaches
//! the window of the talk it was shown with. Lines are packed in order into windows whose token count,
//! under the caller's tokenizer, stays within a budget; a line longer than the budget is
//! split at word boundaries. Windows are deterministic for a given transcript and budget,
//! which is what lets a resumed job recognise its finished windows.

use debrief_transcript::Segment;
use sha2::{Digest, Sha256};

use crate::mmss;

/// One transcript line with its meeting-time span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Its number among the meeting's lines (from 1), as the model sees it (`L12`).
    pub n: usize,
    /// Start (ms).
    pub start_ms: i64,
    /// End (ms).
    pub end_ms: i64,
    /// `L12 [m:ss] Speaker: text`: what the model reads.
    pub text: String,
    /// What was said (or shown), without number, time or speaker.
    pub said: String,
    /// Who said it, once diarization or the recorder knows.
    pub speaker: Option<String>,
    /// The transcript segment it is (its index in the meeting's segments, as exported).
    pub segment: Option<usize>,
    /// The slide it is (its index in the meeting's slides, as exported).
    pub slide: Option<usize>,
    /// Whisper was unsure of its words (their mean probability is under
    /// [`MIN_LINE_CONFIDENCE`]): shown in the transcript, never cited by a summary item,
    /// since a misheard line says what nobody said.
    pub unsure: bool,
    /// Whisper's words located in `said`: (byte start, byte end, probability in percent),
    /// so that the sentence an item shows can be judged on its own words.
    pub word_p: Vec<(usize, usize, u8)>,
}

impl Line {
    /// Whether the words of `text` (a part of [`Line::said`]) were heard with a mean
    /// probability under [`MIN_LINE_CONFIDENCE`]: a sentence misheard inside a line that is
    /// otherwise clear ("Good. The release date is April 22nd. Omar, what am out in the
    /// Lord test?"). Text that is not part of the line is judged by the whole line.
    pub fn unsure_text(&self, text: &str) -> bool {
        let Some(at) = self.said.find(text) else { return self.unsure };
        let end = at + text.len();
        unsure(self.word_p.iter().filter(|(s, e, _)| *s < end && *e > at))
    }

    /// The mean probability (percent) of the words of `text` (a part of
    /// [`Line::said`], else the whole line); `None` without word probabilities.
    pub fn heard(&self, text: &str) -> Option<u8> {
        let (at, end) = self.said.find(text).map_or((0, self.said.len()), |at| (at, at + text.len()));
        let p: Vec<u32> =
            self.word_p.iter().filter(|(s, e, _)| *s < end && *e > at).map(|(_, _, p)| u32::from(*p)).collect();
        (!p.is_empty()).then(|| u8::try_from(p.iter().sum::<u32>() / p.len() as u32).unwrap_or(100))
    }
}

/// Where each of `words` (with a probability) is in `said`, in order.
fn word_spans(said: &str, words: &[debrief_transcript::Word]) -> Vec<(usize, usize, u8)> {
    let mut at = 0;
    let mut out = Vec::new();
    for w in words {
        let t = w.text.trim();
        if t.is_empty() || w.p <= 0.0 {
            continue;
        }
        if let Some(i) = said[at..].find(t) {
            let s = at + i;
            out.push((s, s + t.len(), (w.p.clamp(0.0, 1.0) * 100.0).round() as u8));
            at = s + t.len();
        }
    }
    out
}

/// The least mean word probability of a line (or of the sentence an item shows) that a
/// summary item may cite. In three runs of the planning and standup eval meetings
/// (tiny.en, espeak voices) every line under 0.63 was a mishearing ("Local data makes an
/// Everest", 0.27; "Leo Nip stores a", 0.51; "And you,", 0.63), while the lines that carry
/// the meetings' facts were at 0.7 or more.
pub const MIN_LINE_CONFIDENCE: f32 = 0.6;

/// Whether Whisper's probabilities for these located words (see [`Line::word_p`]) say
/// they are likely misheard: their mean is under [`MIN_LINE_CONFIDENCE`]. No words (a
/// segment without probabilities, such as one written by a test or an older database,
/// or a slide) is not unsure.
fn unsure<'a>(spans: impl Iterator<Item = &'a (usize, usize, u8)>) -> bool {
    let p: Vec<u32> = spans.map(|(_, _, p)| u32::from(*p)).collect();
    !p.is_empty() && (p.iter().sum::<u32>() as f32 / p.len() as f32) < MIN_LINE_CONFIDENCE * 100.0
}

/// A run of consecutive lines that fits the model's context with its prompt and answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Position among the meeting's windows.
    pub idx: usize,
    /// Start of its first line (ms).
    pub start_ms: i64,
    /// End of its last line (ms).
    pub end_ms: i64,
    /// Its lines.
    pub lines: Vec<Line>,
}

impl Window {
    /// The lines as the model reads them, one per line.
    pub fn text(&self) -> String {
        self.lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n")
    }

    /// sha256 over everything that determines this window's notes: its text and the
    /// caller's `context` (prompt, grammar, model), so that a changed transcript, prompt
    /// or model never reuses stale notes.
    pub fn input_hash(&self, context: &[&str]) -> String {
        let mut h = Sha256::new();
        for part in context.iter().copied().chain([self.text().as_str()]) {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The transcript as lines, numbered from 1; empty segments are skipped.
pub fn lines(segments: &[Segment]) -> Vec<Line> {
    let out = segments
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let said = s.text.split_whitespace().collect::<Vec<_>>().join(" ");
            if said.is_empty() {
                return None;
            }
            let speaker = s.speaker.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
            let word_p = word_spans(&said, &s.words);
            Some(Line {
                n: 0,
                start_ms: s.start_ms,
                end_ms: s.end_ms.max(s.start_ms),
                text: String::new(),
                unsure: unsure(word_p.iter()),
                word_p,
                said,
                speaker,
                segment: Some(i),
                slide: None,
            })
        })
        .collect();
    numbered(out)
}

fn numbered(mut lines: Vec<Line>) -> Vec<Line> {
    for (i, l) in lines.iter_mut().enumerate() {
        l.n = i + 1;
        let who = l.speaker.as_deref().map(|v| format!("{v}: ")).unwrap_or_default();
        l.text = format!("L{} [{}] {who}{}", l.n, mmss(l.start_ms), l.said);
    }
    lines
}

/// `lines` with a line per slide, `(appeared at ms, "Slide 2: its text")` (the slide
/// at that index of the meeting's slides), merged in at its time (before speech
/// starting at the same moment) and numbered again.
pub fn with_slides(lines: Vec<Line>, slides: &[(i64, String)]) -> Vec<Line> {
    let mut out: Vec<(i64, u8, Line)> = lines.into_iter().map(|l| (l.start_ms, 1, l)).collect();
    for (i, (at, text)) in slides.iter().enumerate() {
        let said = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !said.is_empty() {
            let l = Line {
                n: 0,
                start_ms: *at,
                end_ms: *at,
                text: String::new(),
                said,
                speaker: None,
                segment: None,
                slide: Some(i),
                unsure: false,
                word_p: Vec::new(),
            };
            out.push((*at, 0, l));
        }
    }
    out.sort_by_key(|(at, kind, _)| (*at, *kind));
    numbered(out.into_iter().map(|(_, _, l)| l).collect())
}

/// Packs `lines` into windows of at most `budget` tokens each (`count` counts the
/// tokens of a text, newline included). A line over the budget is split into pieces
/// that fit, each keeping the line's time stamp and span.
pub fn windows(lines: &[Line], budget: usize, count: &mut dyn FnMut(&str) -> usize) -> Vec<Window> {
    let budget = budget.max(16);
    let mut pieces: Vec<(Line, usize)> = Vec::new();
    for l in lines {
        let n = count(&format!("{}\n", l.text));
        if n <= budget {
            pieces.push((l.clone(), n));
            continue;
        }
        let stamp = format!("L{} [{}]", l.n, mmss(l.start_ms));
        let mut cur = stamp.clone();
        for word in l.text.split_whitespace().skip(2) {
            let next = format!("{cur} {word}");
            if count(&format!("{next}\n")) > budget && cur != stamp {
                let n = count(&format!("{cur}\n"));
                pieces.push((Line { text: std::mem::replace(&mut cur, format!("{stamp} {word}")), ..l.clone() }, n));
            } else {
                cur = next;
            }
        }
        let n = count(&format!("{cur}\n"));
        pieces.push((Line { text: cur, ..l.clone() }, n));
    }
    let mut out: Vec<Window> = Vec::new();
    let mut used = 0usize;
    for (line, n) in pieces {
        let fits = out.last().is_some_and(|_| used + n <= budget);
        if !fits {
            out.push(Window { idx: out.len(), start_ms: line.start_ms, end_ms: line.end_ms, lines: Vec::new() });
            used = 0;
        }
        let w = out.last_mut().expect("a window was just pushed");
        w.end_ms = w.end_ms.max(line.end_ms);
        w.lines.push(line);
        used += n;
    }
    out
}
