//! Meeting summaries without an inference engine: everything around the model.
//!
//! - [`window`]: the transcript as `[m:ss] Speaker: text` lines, packed into windows that
//!   fit the model's context (the caller counts tokens with the model's tokenizer).
//! - [`prompts`]: the map and reduce prompts, embedded from `prompts/*.txt` and
//!   overridable file by file from a directory.
//! - [`shape`]: the answer's shape as a GBNF grammar (llama.cpp) and as a JSON schema
//!   (OpenAI-compatible servers), with capped list and string lengths so that even a
//!   135M-parameter model returns complete, valid JSON.
//! - [`parse`]: the model's answer to [`Notes`] or [`Summary`]: invalid items are dropped,
//!   duplicates merged, and every item gets a real time range (the transcript line it
//!   cites or best matches, never a time outside its window).
//! - [`store`]: `summary_windows` (map checkpoints) and `summaries` rows.
//! - [`reduce`]: window notes rendered for the reduce prompt, grouped hierarchically
//!   when they do not fit one context.
//! - [`render`]: the summary as Markdown and as JSON, for `foreman export`.
//!
//! The map-reduce loop itself lives in `summary-worker`, which owns the model. This crate
//! links no engine, so the foreman can render summaries without llama.cpp.
#![deny(missing_docs)]

pub mod parse;
pub mod prompts;
pub mod reduce;
pub mod render;
pub mod shape;
pub mod store;
pub mod window;

use serde::{Deserialize, Serialize};

/// One note: a key point, decision, action item or open question, with the span of the
/// meeting it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// What was said, decided, asked or is to be done.
    pub text: String,
    /// Who does it (action items, when said).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// By when (action items, when said), as said ("Friday").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// Start of the transcript span it comes from (ms of meeting time).
    pub start_ms: i64,
    /// End of that span.
    pub end_ms: i64,
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
