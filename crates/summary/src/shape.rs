//! The shape of a model's answer, as a GBNF grammar for llama.cpp and as a JSON schema
//! for OpenAI-compatible servers (`response_format`).
//!
//! Lists and strings are capped, so a constrained answer always ends within
//! [`Answer::max_tokens`] tokens, and a small model cannot loop forever. The map answer
//! is built per window ([`crate::cite::answer`]); the overview's is fixed.

use serde_json::{json, Value};

/// Longest overview, in characters.
pub const OVERVIEW_CHARS: usize = 400;

/// What a model must answer: the grammar llama.cpp enforces, the schema a server is
/// given (the same checks run on what either answers).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Name in the JSON schema.
    pub name: &'static str,
    /// GBNF (root rule `root`).
    pub gbnf: String,
    /// JSON schema.
    pub schema: Value,
    /// Tokens that always suffice for a complete answer (a pessimistic 1.5 characters
    /// per token).
    pub max_tokens: usize,
}

/// Characters any string may hold in a grammar: no quote, backslash or control
/// character unless escaped.
pub(crate) const CHAR_RULE: &str = r#"char ::= [^"\\\x00-\x1F\x7F] | "\\" ["\\/nt]"#;

/// The overview a big model writes from the grounded items.
pub fn overview() -> Answer {
    let gbnf = format!(
        r#"root ::= "{{" ws "\"overview\":" ws overview ws "}}"
overview ::= "\"" char{{1,{OVERVIEW_CHARS}}} "\""
{CHAR_RULE}
ws ::= [ \t\n]{{0,3}}
"#
    );
    let schema = json!({
        "type": "object",
        "properties": {"overview": {"type": "string", "minLength": 1, "maxLength": OVERVIEW_CHARS}},
        "required": ["overview"],
        "additionalProperties": false,
    });
    Answer { name: "meeting_overview", gbnf, schema, max_tokens: (OVERVIEW_CHARS + 40) * 2 / 3 }
}
