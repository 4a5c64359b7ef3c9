//! From the model's answer to checked notes and summaries.
//!
//! The answer is read leniently (a server that ignored the schema may wrap the JSON in
//! prose or code fences, or write plain strings for items), then repaired: items without
//! text, and items sharing no content word with their source (invented, or copied from
//! the prompt), are dropped; whitespace is collapsed, duplicates within a list merged,
//! owners that the source never mentions removed. Every item then gets a real time
//! range from its *anchors* (the window's transcript lines for map notes, the input
//! notes for a reduce): the anchor it cites by time if that anchor shares words with it,
//! else the anchor it shares most words with, else the cited anchor, else the whole
//! range. So no item carries a time outside what it summarises.

use serde_json::Value;

use crate::{parse_mmss, Item, Notes, Summary};

/// Something an item can be traced to: a transcript line or an input note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// Start (ms).
    pub start_ms: i64,
    /// End (ms).
    pub end_ms: i64,
    /// Its words.
    pub text: String,
}

/// An answer that is not JSON at all.
#[derive(Debug, thiserror::Error)]
#[error("the model's answer is not a JSON object ({reason}): {snippet:?}")]
pub struct ParseError {
    /// What failed.
    pub reason: String,
    /// The start of the answer.
    pub snippet: String,
}

/// The JSON object in `answer`: the whole text, or the span from its first `{` to its
/// last `}` (prose or code fences around it are ignored).
fn object(answer: &str) -> Result<serde_json::Map<String, Value>, ParseError> {
    let err = |reason: String| ParseError { reason, snippet: answer.chars().take(200).collect() };
    let candidates = [
        Some(answer.trim()),
        answer.find('{').zip(answer.rfind('}')).filter(|(a, b)| a < b).map(|(a, b)| &answer[a..=b]),
    ];
    let mut last = String::from("empty answer");
    for c in candidates.into_iter().flatten() {
        match serde_json::from_str::<Value>(c) {
            Ok(Value::Object(m)) => return Ok(m),
            Ok(other) => last = format!("a JSON {} instead of an object", kind(&other)),
            Err(e) => last = e.to_string(),
        }
    }
    Err(err(last))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn clean(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

const STOP: &[&str] = &[
    "the", "and", "for", "that", "this", "with", "will", "are", "was", "were", "has", "have", "had", "not", "but",
    "from", "our", "you", "your", "its", "his", "her", "they", "them", "then", "than", "there", "what", "who", "when",
    "which", "all", "any", "can", "one", "let", "lets", "yes", "also", "meeting",
];

/// Content words: lower-case, three letters or more, no stop words.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
        .collect()
}

fn overlap(a: &[String], b: &[String]) -> usize {
    a.iter().filter(|w| b.contains(w)).count()
}

/// Optional text fields: empty and "none"-like values mean absent; a name the source
/// never mentions is dropped (a small model invents owners).
fn optional(v: Option<&Value>, source_words: &[String], must_occur: bool) -> Option<String> {
    let s = clean(v.and_then(Value::as_str)?);
    let l = s.to_lowercase();
    if s.is_empty() || ["none", "unknown", "n/a", "na", "-", "tbd", "nobody", "null", "no one"].contains(&l.as_str()) {
        return None;
    }
    if must_occur && !words(&s).iter().all(|w| source_words.contains(w)) {
        return None;
    }
    Some(s)
}

/// The span of an item: see the module documentation.
fn ground(
    cited: Option<i64>,
    item_words: &[String],
    anchors: &[(Anchor, Vec<String>)],
    range: (i64, i64),
) -> (i64, i64) {
    let cited_anchor = cited.filter(|t| *t >= range.0 - 1000 && *t <= range.1 + 1000).and_then(|t| {
        anchors.iter().filter(|(a, _)| a.start_ms <= t + 999).max_by_key(|(a, _)| a.start_ms).or(anchors.first())
    });
    let best = anchors
        .iter()
        .map(|a| (overlap(item_words, &a.1), a))
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, a)| (*n, -a.0.start_ms));
    let pick = match (cited_anchor, best) {
        (Some(c), _) if overlap(item_words, &c.1) > 0 => Some(c),
        (_, Some((n, b))) if n >= 2.min(item_words.len()) => Some(b),
        (Some(c), _) => Some(c),
        _ => None,
    };
    pick.map_or(range, |(a, _)| {
        (a.start_ms.clamp(range.0, range.1), a.end_ms.clamp(range.0, range.1).max(a.start_ms.clamp(range.0, range.1)))
    })
}

/// Reads one list of the answer.
fn list(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    anchors: &[(Anchor, Vec<String>)],
    source_words: &[String],
    range: (i64, i64),
    cap: usize,
) -> Vec<Item> {
    let Some(Value::Array(raw)) = obj.get(key) else { return Vec::new() };
    let mut out: Vec<Item> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for v in raw {
        let (text, time, owner, due) = match v {
            Value::String(s) => (clean(s), None, None, None),
            Value::Object(o) => {
                let text =
                    o.get("text").or_else(|| o.get("task")).and_then(Value::as_str).map(clean).unwrap_or_default();
                let time = o.get("time").and_then(Value::as_str).and_then(parse_mmss);
                (text, time, optional(o.get("owner"), source_words, true), optional(o.get("due"), source_words, false))
            }
            _ => continue,
        };
        if !text.chars().any(char::is_alphanumeric) || text.chars().count() < 3 {
            continue;
        }
        let key_text: String = text.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect();
        if seen.contains(&key_text) {
            continue;
        }
        seen.push(key_text);
        let mut item_words = words(&text);
        // Not grounded in the source (a small model copies examples or invents): dropped.
        if !item_words.iter().any(|w| source_words.contains(w)) {
            continue;
        }
        if let Some(o) = &owner {
            item_words.extend(words(o));
        }
        let (start_ms, end_ms) = ground(time, &item_words, anchors, range);
        out.push(Item { text, owner, due, start_ms, end_ms });
        if out.len() == cap {
            break;
        }
    }
    out
}

struct Source {
    anchors: Vec<(Anchor, Vec<String>)>,
    words: Vec<String>,
    range: (i64, i64),
}

fn source(anchors: &[Anchor]) -> Source {
    let anchors: Vec<(Anchor, Vec<String>)> = anchors.iter().map(|a| (a.clone(), words(&a.text))).collect();
    let words = anchors.iter().flat_map(|a| a.1.iter().cloned()).collect();
    let range = (
        anchors.iter().map(|a| a.0.start_ms).min().unwrap_or(0),
        anchors.iter().map(|a| a.0.end_ms).max().unwrap_or(0),
    );
    Source { anchors, words, range }
}

/// Window notes from a map answer; `anchors` are the window's lines.
pub fn notes(answer: &str, anchors: &[Anchor], cap: usize) -> Result<Notes, ParseError> {
    let obj = object(answer)?;
    let s = source(anchors);
    let l = |key| list(&obj, key, &s.anchors, &s.words, s.range, cap);
    Ok(Notes {
        key_points: l("key_points"),
        decisions: l("decisions"),
        action_items: l("action_items"),
        open_questions: l("open_questions"),
    })
}

/// A summary from a reduce answer; `anchors` are the input notes' items. An overview
/// that shares fewer than two content words with the notes, or keeps a template
/// placeholder (`[insert ...]`), is dropped (see [`crate::reduce::complete`]).
pub fn summary(answer: &str, anchors: &[Anchor], cap: usize) -> Result<Summary, ParseError> {
    let obj = object(answer)?;
    let s = source(anchors);
    let l = |key| list(&obj, key, &s.anchors, &s.words, s.range, cap);
    let overview = obj.get("overview").and_then(Value::as_str).map(clean).unwrap_or_default();
    let grounded = overlap(&words(&overview), &s.words) >= 2 && !overview.contains('[');
    Ok(Summary {
        overview: if grounded { overview } else { String::new() },
        decisions: l("decisions"),
        action_items: l("action_items"),
        open_questions: l("open_questions"),
    })
}
