//! Slides in the outputs: a Markdown section, a JSON array, and one-line notes for
//! transcripts and summary windows.

use serde_json::{json, Value};

use crate::Slide;

/// `m:ss` (or `h:mm:ss` past an hour).
fn clock(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The slide's text on one line (lines joined with " / ").
pub fn one_line(s: &Slide) -> String {
    let text = s.text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" / ");
    match (&s.description, text.is_empty()) {
        (Some(d), true) => d.split_whitespace().collect::<Vec<_>>().join(" "),
        (Some(d), false) => format!("{text} ({})", d.split_whitespace().collect::<Vec<_>>().join(" ")),
        (None, true) => "(no text)".to_owned(),
        (None, false) => text,
    }
}

/// What a transcript shows where a slide appears: `Slide 3: Budget / ...`.
pub fn mark(s: &Slide) -> String {
    format!("Slide {}: {}", s.idx + 1, one_line(s))
}

/// The `## Slides` section of a Markdown export (empty without slides).
pub fn markdown(slides: &[Slide]) -> String {
    if slides.is_empty() {
        return String::new();
    }
    let mut out = String::from("## Slides\n\n");
    for s in slides {
        let until = s.end_ms.map(|e| format!("-{}", clock(e))).unwrap_or_else(|| "-end".to_owned());
        let title = s.title.clone().unwrap_or_else(|| format!("Slide {}", s.idx + 1));
        out += &format!("### {}. {} ({}{})\n\n", s.idx + 1, title.trim(), clock(s.start_ms), until);
        if !s.text.is_empty() {
            out += "```text\n";
            out += &s.text.replace("```", "'''");
            out += "\n```\n\n";
        }
        if let Some(d) = &s.description {
            out += &format!("*{}*\n\n", d.trim());
        }
        out += &format!("![slide {}]({})\n\n", s.idx + 1, s.path);
    }
    out
}

/// The `slides` array of a JSON export.
pub fn json(slides: &[Slide]) -> Value {
    Value::Array(
        slides
            .iter()
            .map(|s| {
                json!({
                    "idx": s.idx,
                    "start_ms": s.start_ms,
                    "end_ms": s.end_ms,
                    "job_id": s.job_id,
                    "path": s.path,
                    "title": s.title,
                    "text": s.text,
                    "lines": s.lines,
                    "frames": s.frames,
                    "description": s.description,
                })
            })
            .collect(),
    )
}
