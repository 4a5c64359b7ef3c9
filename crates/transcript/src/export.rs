//! Rendering a transcript: plain text, Markdown, SubRip, WebVTT and JSON.

use serde_json::json;

use crate::{Gap, Segment};

/// What the header of an export says about the meeting.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// Meeting id.
    pub meeting_id: debrief_jobq::MeetingId,
    /// Title.
    pub title: Option<String>,
    /// Audio length.
    pub duration_ms: Option<i64>,
    /// Created, as an ISO 8601 string.
    pub created: Option<String>,
    /// Markdown placed before the transcript in `md` (the meeting's summary).
    pub summary_md: Option<String>,
    /// JSON added as `"summary"` in `json`.
    pub summary_json: Option<serde_json::Value>,
    /// Spans no chunk transcribed: marked where they fall in `txt` and `md`, listed as
    /// `"gaps"` in `json` (subtitle formats leave them silent).
    pub gaps: Vec<Gap>,
    /// Markdown placed after the summary in `md` (the meeting's slides section).
    pub slides_md: Option<String>,
    /// JSON added as `"slides"` in `json`.
    pub slides_json: Option<serde_json::Value>,
    /// Where each slide appeared: marked at its time in `txt` and `md`.
    pub marks: Vec<Mark>,
    /// The meeting's speaker turns, names resolved (for `rttm`).
    pub turns: Vec<debrief_speakers::Turn>,
}

/// A note shown at its time in a transcript (a slide appearing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// When (ms).
    pub at_ms: i64,
    /// What it says (`Slide 2: Budget / ...`).
    pub text: String,
}

/// One line of a transcript in time order: a segment, a gap marker or a slide.
enum Line<'a> {
    Said(&'a Segment),
    Missing(&'a Gap),
    Shown(&'a Mark),
}

impl Line<'_> {
    /// Sort key: time, then gaps and slides before speech starting with them.
    fn key(&self) -> (i64, u8) {
        match self {
            Line::Missing(g) => (g.start_ms, 0),
            Line::Shown(m) => (m.at_ms, 1),
            Line::Said(s) => (s.start_ms, 2),
        }
    }
}

/// Segments, gaps and slide marks merged by start time (stable: segments keep their
/// order).
fn lines<'a>(segments: &'a [Segment], gaps: &'a [Gap], marks: &'a [Mark]) -> Vec<Line<'a>> {
    let mut out: Vec<Line<'a>> = segments.iter().map(Line::Said).collect();
    out.extend(gaps.iter().map(Line::Missing));
    out.extend(marks.iter().map(Line::Shown));
    out.sort_by_key(Line::key);
    out
}

/// What a gap marker says.
fn gap_text(g: &Gap) -> String {
    format!("not transcribed until {}: {}", clock(g.end_ms), one_line(&g.reason))
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `[hh:mm:ss] text` lines.
    Txt,
    /// A Markdown document.
    Md,
    /// SubRip subtitles.
    Srt,
    /// WebVTT subtitles.
    Vtt,
    /// JSON with every segment and word.
    Json,
    /// RTTM, the standard diarization format (one `SPEAKER` line per turn), for scoring.
    Rttm,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "txt" | "text" => Ok(Self::Txt),
            "md" | "markdown" => Ok(Self::Md),
            "srt" => Ok(Self::Srt),
            "vtt" | "webvtt" => Ok(Self::Vtt),
            "json" => Ok(Self::Json),
            "rttm" => Ok(Self::Rttm),
            other => Err(format!("unknown format {other:?} (txt, md, srt, vtt, json, rttm)")),
        }
    }
}

/// `h:mm:ss` for people.
pub fn clock(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `HH:MM:SS<sep>mmm` for subtitle formats.
fn stamp(ms: i64, sep: char) -> String {
    let ms = ms.max(0);
    format!("{:02}:{:02}:{:02}{sep}{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// One line of cue text: no line breaks (a blank line ends a cue) and no `-->`.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").replace("-->", "->")
}

fn vtt_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Cue times that players accept: end after start, and no cue ending after the next
/// one starts.
fn cue_times(segments: &[Segment]) -> Vec<(i64, i64)> {
    segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut end = s.end_ms.max(s.start_ms + 1);
            if let Some(next) = segments.get(i + 1) {
                if next.start_ms > s.start_ms {
                    end = end.min(next.start_ms);
                }
            }
            (s.start_ms, end)
        })
        .collect()
}

/// Renders `segments` in `format`.
pub fn render(format: Format, meta: &Meta, segments: &[Segment]) -> String {
    let speaker = |s: &Segment| s.speaker.as_deref().map(|v| format!("{v}: ")).unwrap_or_default();
    match format {
        Format::Txt => lines(segments, &meta.gaps, &meta.marks)
            .into_iter()
            .map(|l| match l {
                Line::Said(s) => format!("[{}] {}{}\n", clock(s.start_ms), speaker(s), one_line(&s.text)),
                Line::Missing(g) => format!("[{}] [{}]\n", clock(g.start_ms), gap_text(g)),
                Line::Shown(m) => format!("[{}] [{}]\n", clock(m.at_ms), one_line(&m.text)),
            })
            .collect(),
        Format::Md => {
            let title = meta.title.clone().unwrap_or_else(|| format!("Meeting {}", meta.meeting_id));
            let mut out = format!("# {}\n\n", one_line(&title));
            let mut facts = Vec::new();
            if let Some(c) = &meta.created {
                facts.push(c.clone());
            }
            if let Some(d) = meta.duration_ms {
                facts.push(format!("{} long", clock(d)));
            }
            if !facts.is_empty() {
                out += &format!("*{}*\n\n", facts.join(", "));
            }
            if let Some(summary) = &meta.summary_md {
                out += summary;
            }
            if let Some(slides) = &meta.slides_md {
                out += slides;
            }
            out += "## Transcript\n\n";
            if !meta.gaps.is_empty() {
                let missing: i64 = meta.gaps.iter().map(|g| g.end_ms - g.start_ms).sum();
                out += &format!(
                    "> {} of audio could not be transcribed ({} gap(s), marked below).\n\n",
                    clock(missing),
                    meta.gaps.len()
                );
            }
            for l in lines(segments, &meta.gaps, &meta.marks) {
                match l {
                    Line::Said(s) => {
                        let who = s.speaker.as_deref().map(|v| format!(" **{v}:**")).unwrap_or_default();
                        out += &format!("**[{}]**{} {}\n\n", clock(s.start_ms), who, one_line(&s.text));
                    }
                    Line::Missing(g) => out += &format!("**[{}]** *[{}]*\n\n", clock(g.start_ms), gap_text(g)),
                    Line::Shown(m) => out += &format!("> **[{}]** {}\n\n", clock(m.at_ms), one_line(&m.text)),
                }
            }
            out
        }
        Format::Srt => {
            let mut out = String::new();
            for (i, (s, (a, b))) in segments.iter().zip(cue_times(segments)).enumerate() {
                out += &format!(
                    "{}\n{} --> {}\n{}{}\n\n",
                    i + 1,
                    stamp(a, ','),
                    stamp(b, ','),
                    speaker(s),
                    one_line(&s.text)
                );
            }
            out
        }
        Format::Vtt => {
            let mut out = String::from("WEBVTT\n\n");
            for (s, (a, b)) in segments.iter().zip(cue_times(segments)) {
                let voice =
                    s.speaker.as_deref().map(|v| format!("<v {}>", vtt_escape(&one_line(v)))).unwrap_or_default();
                out += &format!(
                    "{} --> {}\n{}{}\n\n",
                    stamp(a, '.'),
                    stamp(b, '.'),
                    voice,
                    vtt_escape(&one_line(&s.text))
                );
            }
            out
        }
        Format::Json => {
            let mut v = json!({
                "meeting": { "meeting_id": meta.meeting_id, "title": meta.title, "duration_ms": meta.duration_ms, "created": meta.created },
                "segments": segments,
                "gaps": meta.gaps,
            });
            if let Some(summary) = &meta.summary_json {
                v["summary"] = summary.clone();
            }
            if let Some(slides) = &meta.slides_json {
                v["slides"] = slides.clone();
            }
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
        }
        Format::Rttm => {
            // The meeting's turns when given (overlaps kept), else one line per segment.
            let turns: Vec<debrief_speakers::Turn> = if meta.turns.is_empty() {
                segments
                    .iter()
                    .filter_map(|s| {
                        Some(debrief_speakers::Turn {
                            start_ms: s.start_ms,
                            end_ms: s.end_ms,
                            speaker: s.speaker.clone()?,
                        })
                    })
                    .collect()
            } else {
                meta.turns.clone()
            };
            let id = format!("meeting{}", meta.meeting_id);
            debrief_speakers::rttm(&id, &turns, &|l| l.to_string())
        }
    }
}
