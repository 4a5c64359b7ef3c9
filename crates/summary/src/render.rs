//! A summary for people (Markdown) and programs (JSON).

use serde_json::{json, Value};

use crate::store::StoredSummary;
use crate::{mmss, Item};

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn stamp(i: &Item) -> String {
    if i.end_ms / 1000 > i.start_ms / 1000 {
        format!("[{}–{}]", mmss(i.start_ms), mmss(i.end_ms))
    } else {
        format!("[{}]", mmss(i.start_ms))
    }
}

/// The summary as Markdown sections (`## Summary`, then `###` lists), each item with its
/// `[m:ss–m:ss]` span; empty lists say so.
pub fn markdown(s: &StoredSummary) -> String {
    let sum = &s.summary;
    let mut out = String::from("## Summary\n\n");
    if !sum.overview.is_empty() {
        out += &format!("{}\n\n", one_line(&sum.overview));
    }
    let lists: [(&str, &Vec<Item>); 3] =
        [("Decisions", &sum.decisions), ("Action items", &sum.action_items), ("Open questions", &sum.open_questions)];
    for (title, items) in lists {
        out += &format!("### {title}\n\n");
        if items.is_empty() {
            out += "- none noted\n";
        }
        for i in items {
            let who = i.owner.as_deref().map(|o| format!("**{}**: ", one_line(o))).unwrap_or_default();
            let due = i.due.as_deref().map(|d| format!(" (due {})", one_line(d))).unwrap_or_default();
            out += &format!("- {} {who}{}{due}\n", stamp(i), one_line(&i.text));
        }
        out.push('\n');
    }
    out += &format!(
        "*Summary by {}, generated on this machine; check it against the transcript.*\n\n",
        one_line(&s.model)
    );
    out
}

/// The summary as a JSON object: the summary's fields plus `model` and `created_ms`.
pub fn json(s: &StoredSummary) -> Value {
    let mut v = serde_json::to_value(&s.summary).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut v {
        m.insert("model".into(), json!(s.model));
        m.insert("created_ms".into(), json!(s.created_at));
    }
    v
}
