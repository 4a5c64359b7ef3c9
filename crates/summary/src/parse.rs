//! Reading a model's answer, and the content words the checks compare.
//!
//! The answer is read leniently: a server that ignored the schema may wrap the JSON in
//! prose or code fences. What the answer may say is checked elsewhere ([`crate::cite`]
//! for items, [`crate::reduce`] for an overview).

use serde_json::Value;

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
pub fn object(answer: &str) -> Result<serde_json::Map<String, Value>, ParseError> {
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

/// Whitespace collapsed to single spaces.
pub fn clean(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

const STOP: &[&str] = &[
    "the", "and", "for", "that", "this", "with", "will", "are", "was", "were", "has", "have", "had", "not", "but",
    "from", "our", "you", "your", "its", "his", "her", "they", "them", "then", "than", "there", "what", "who", "when",
    "which", "all", "any", "can", "one", "let", "lets", "yes", "also", "meeting",
];

/// Content words: lower-case, three letters or more, no stop words.
pub fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
        .collect()
}

/// How many of `a` occur in `b`.
pub fn overlap(a: &[String], b: &[String]) -> usize {
    a.iter().filter(|w| b.contains(w)).count()
}
