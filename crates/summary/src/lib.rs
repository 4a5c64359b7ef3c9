//! Meeting summaries without an inference engine: everything around the model.
//!
//! Nothing is shown that was not said: every item of a summary cites the transcript
//! line (or slide) it comes from, and its words are that line's.
//!
//! - [`window`]: the transcript as numbered `L12 [m:ss] Speaker: text` lines, packed into
//!   windows that fit the model's context (the caller counts tokens with the model's
//!   tokenizer).
//! - [`cite`]: the map step. The model cites lines and labels them (decision, action,
//!   question, point) under a grammar that admits only the window's lines and the types
//!   their words support; items are built from the cited lines (owner and due date
//!   copied from the words, [`dates`] turning "by Friday" into a date).
//! - [`prompts`]: the map and overview prompts, embedded from `prompts/*.txt` and
//!   overridable file by file from a directory.
//! - [`shape`]: the overview answer's shape as a GBNF grammar and a JSON schema.
//! - [`parse`]: reading a model's JSON leniently, and the content words checks use.
//! - [`reduce`]: window notes merged into the summary, and the overview: written from
//!   the items (counts, speakers, the words said most), or by a big model from the
//!   items and checked against them.
//! - [`store`]: `summary_windows` (map checkpoints) and `summaries` rows.
//! - [`render`]: the summary as Markdown and as JSON, for `foreman export`.
//!
//! The map-reduce loop itself lives in `summary-worker`, which owns the model. This crate
//! links no engine, so the foreman can render summaries without llama.cpp.
#![deny(missing_docs)]

pub mod cite;
pub mod dates;
pub mod parse;
pub mod prompts;
pub mod reduce;
pub mod render;
pub mod shape;
pub mod store;
pub mod window;

use serde::{Deserialize, Serialize};

/// One note: a key point, decision, action item or open question, with the transcript
/// line it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// What was said, decided, asked or is to be done: the cited line's words (or a big
    /// model's wording that the line supports).
    pub text: String,
    /// Who does it (action items): a name said in the line, or the speaker of "I will".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// By when (action items), as said ("by Friday").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// That due date as a day (`YYYY-MM-DD`), relative to the meeting's day, when the
    /// words name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    /// Start of the cited line (ms of meeting time).
    pub start_ms: i64,
    /// End of the cited line.
    pub end_ms: i64,
    /// The cited transcript lines: indices into the meeting's segments (as exported).
    #[serde(default)]
    pub lines: Vec<usize>,
    /// The cited slides: indices into the meeting's slides (as exported).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slides: Vec<usize>,
    /// Who said the cited line, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    /// How clearly Whisper heard the item's own sentence: its words' mean probability,
    /// in percent (absent for slides and for text without word probabilities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heard: Option<u8>,
}

/// The notes of one window (map output), or of a group of windows (an intermediate
/// reduce level).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notes {
    /// Main topics.
    pub key_points: Vec<Item>,
    /// Decisions made.
    pub decisions: Vec<Item>,
    /// Tasks with owner and due date.
    pub action_items: Vec<Item>,
    /// Questions left open.
    pub open_questions: Vec<Item>,
}

impl Notes {
    /// Every item, with the name of its list.
    pub fn items(&self) -> impl Iterator<Item = (&'static str, &Item)> {
        self.key_points
            .iter()
            .map(|i| ("key point", i))
            .chain(self.decisions.iter().map(|i| ("decision", i)))
            .chain(self.action_items.iter().map(|i| ("action item", i)))
            .chain(self.open_questions.iter().map(|i| ("open question", i)))
    }

    /// Whether no list holds anything.
    pub fn is_empty(&self) -> bool {
        self.items().next().is_none()
    }
}

/// A meeting's final summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// A few sentences on the whole meeting.
    pub overview: String,
    /// Main topics (cited lines).
    #[serde(default)]
    pub key_points: Vec<Item>,
    /// Decisions made.
    pub decisions: Vec<Item>,
    /// Tasks with owner and due date.
    pub action_items: Vec<Item>,
    /// Questions left open.
    pub open_questions: Vec<Item>,
}

/// `m:ss` (minutes may exceed 59), the time format of transcript lines and citations.
pub fn mmss(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

/// Parses `m:ss` or `h:mm:ss` (optionally in brackets) to ms.
pub fn parse_mmss(s: &str) -> Option<i64> {
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    let parts: Vec<&str> = s.split(':').collect();
    let nums: Option<Vec<i64>> = parts.iter().map(|p| p.trim().parse::<i64>().ok().filter(|n| *n >= 0)).collect();
    let nums = nums?;
    let secs = match nums.as_slice() {
        [m, s] if *s < 60 => m * 60 + s,
        [h, m, s] if *s < 60 && *m < 60 => h * 3600 + m * 60 + s,
        _ => return None,
    };
    Some(secs * 1000)
}

#[cfg(test)]
mod tests;
