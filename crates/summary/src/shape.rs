//! The shape of the model's answers, as a GBNF grammar for llama.cpp and as a JSON schema
//! for OpenAI-compatible servers (`response_format`), both built from one description.
//!
//! Lists and strings are capped, so a constrained answer always ends within
//! [`Shape::max_tokens`] tokens, and a small model cannot loop forever. Times are `m:ss`.

use serde_json::{json, Value};

/// Longest item text, in characters.
pub const TEXT_CHARS: usize = 100;
/// Longest owner or due date.
pub const NAME_CHARS: usize = 20;
/// Longest overview.
pub const OVERVIEW_CHARS: usize = 300;

/// Which answer: window notes (map) or the meeting summary (reduce).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Name in the JSON schema.
    pub name: &'static str,
    /// Whether the answer opens with an overview.
    pub overview: bool,
    /// Whether it has a key_points list.
    pub key_points: bool,
    /// Most items per list.
    pub max_items: usize,
    /// Whether it has the decisions, action_items and open_questions lists.
    pub lists: bool,
    /// Whether every list must hold an item. A very small model otherwise answers with
    /// empty lists; what it is pushed to invent is dropped by [`crate::parse`] unless the
    /// source says it.
    pub at_least_one: bool,
}

/// Map: notes of one transcript window.
pub const MAP: Shape =
    Shape { name: "window_notes", overview: false, key_points: true, max_items: 3, lists: true, at_least_one: true };
/// Reduce: the summary (also each intermediate level of a hierarchical reduce).
pub const REDUCE: Shape = Shape {
    name: "meeting_summary",
    overview: true,
    key_points: false,
    max_items: 5,
    lists: true,
    at_least_one: false,
};
/// Only the overview: a reduce of a single window's notes, whose lists need no merging.
pub const OVERVIEW: Shape = Shape {
    name: "meeting_overview",
    overview: true,
    key_points: false,
    max_items: 0,
    lists: false,
    at_least_one: false,
};

impl Shape {
    /// The lists, in answer order: (key, whether items are action items).
    pub fn lists(&self) -> Vec<(&'static str, bool)> {
        let mut v = Vec::new();
        if self.key_points {
            v.push(("key_points", false));
        }
        if self.lists {
            v.extend([("decisions", false), ("action_items", true), ("open_questions", false)]);
        }
        v
    }

    /// Tokens that always suffice for a complete answer: every list full and every string
    /// at its cap, at a pessimistic 1.5 characters per token (numbers and repeats tokenize
    /// badly), plus the JSON around them.
    pub fn max_tokens(&self) -> usize {
        let item = TEXT_CHARS + 2 * NAME_CHARS + 40;
        let chars = self.lists().len() * self.max_items * item + if self.overview { OVERVIEW_CHARS } else { 0 } + 80;
        chars * 2 / 3
    }

    /// The GBNF grammar (root rule `root`).
    pub fn gbnf(&self) -> String {
        let mut fields = Vec::new();
        if self.overview {
            fields.push(r#""\"overview\":" ws overview"#.to_owned());
        }
        for (key, action) in self.lists() {
            fields.push(format!(r#""\"{key}\":" ws {}"#, if action { "actions" } else { "points" }));
        }
        let more = |item: &str| match self.max_items {
            0 | 1 => String::new(),
            n => format!(r#" ("," ws {item}){{0,{}}}"#, n - 1),
        };
        format!(
            r#"root ::= "{{" ws {fields} ws "}}"
points ::= {empty}"[" ws point{} ws "]"
point ::= "{{" ws "\"time\":" ws time "," ws "\"text\":" ws text ws "}}"
actions ::= {empty}"[" ws action{} ws "]"
action ::= "{{" ws "\"time\":" ws time "," ws "\"owner\":" ws owner "," ws "\"task\":" ws text "," ws "\"due\":" ws name ws "}}"
owner ::= "\"" (word (" " word)?)? "\""
word ::= [A-Z] [a-zA-Z'-]{{0,15}}
time ::= "\"" [0-9] [0-9]? [0-9]? ":" [0-5] [0-9] "\""
text ::= "\"" char{{1,{TEXT_CHARS}}} "\""
name ::= "\"" char{{0,{NAME_CHARS}}} "\""
overview ::= "\"" char{{1,{OVERVIEW_CHARS}}} "\""
char ::= [^"\\\x00-\x1F\x7F] | "\\" ["\\/nt]
ws ::= [ \t\n]{{0,3}}
"#,
            more("point"),
            more("action"),
            fields = fields.join(r#" "," ws "#),
            empty = if self.at_least_one { "" } else { r#""[" ws "]" | "# },
        )
    }

    /// The same shape as a JSON schema.
    pub fn json_schema(&self) -> Value {
        let time = json!({"type": "string", "pattern": "^[0-9]{1,3}:[0-5][0-9]$"});
        let text = json!({"type": "string", "minLength": 1, "maxLength": TEXT_CHARS});
        let name = json!({"type": "string", "maxLength": NAME_CHARS});
        let owner = json!({"type": "string", "pattern": "^([A-Z][A-Za-z'-]{0,15}( [A-Z][A-Za-z'-]{0,15})?)?$"});
        let point = json!({
            "type": "object",
            "properties": {"time": time, "text": text},
            "required": ["time", "text"],
            "additionalProperties": false,
        });
        let action = json!({
            "type": "object",
            "properties": {"time": time, "owner": owner, "task": text, "due": name},
            "required": ["time", "owner", "task", "due"],
            "additionalProperties": false,
        });
        let mut props = serde_json::Map::new();
        let mut required = Vec::new();
        if self.overview {
            props.insert("overview".into(), json!({"type": "string", "minLength": 1, "maxLength": OVERVIEW_CHARS}));
            required.push("overview");
        }
        for (key, is_action) in self.lists() {
            let items = if is_action { action.clone() } else { point.clone() };
            props.insert(key.into(), json!({"type": "array", "minItems": usize::from(self.at_least_one), "maxItems": self.max_items, "items": items}));
            required.push(key);
        }
        json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
    }
}
