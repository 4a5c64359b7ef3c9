//! A summary for people (Markdown) and programs (JSON).

use serde_json::{json, Value};

use crate::store::StoredSummary;
use crate::{mmss, Item};

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where an item comes from: the time of the line it cites.
fn stamp(i: &Item) -> String {
    format!("[{}]", mmss(i.start_ms))
}

fn due(i: &Item) -> String {
    match (&i.due, &i.due_date) {
        (Some(d), Some(day)) => format!(" (due {}: {day})", one_line(d)),
        (Some(d), None) => format!(" (due {})", one_line(d)),
        _ => String::new(),
    }
}

/// The summary as Markdown sections (`## Summary`, then `###` lists), each item with the
/// `[m:ss]` time of the transcript line it cites; empty lists say so.
pub fn markdown(s: &StoredSummary) -> String {
    let sum = &s.summary;
    let mut out = String::from("## Summary\n\n");
    if !sum.overview.is_empty() {
        out += &format!("{}\n\n", one_line(&sum.overview));
    }
    let lists: [(&str, &Vec<Item>); 4] = [
        ("Decisions", &sum.decisions),
        ("Action items", &sum.action_items),
        ("Open questions", &sum.open_questions),
        ("Topics", &sum.key_points),
    ];
    for (title, items) in lists {
        if title == "Topics" && items.is_empty() {
            continue;
        }
        out += &format!("### {title}\n\n");
        if items.is_empty() {
            out += "- none noted\n";
        }
        for i in items {
            let who = i.owner.as_deref().map(|o| format!("**{}**: ", one_line(o))).unwrap_or_default();
            out += &format!("- {} {who}{}{}\n", stamp(i), one_line(&i.text), due(i));
        }
        out.push('\n');
    }
    out += &format!(
        "*Summary by {}, generated on this machine: each item is a transcript line, cited by its time.*\n\n",
        one_line(&s.model)
    );
    out
}

/// The summary as a JSON object: the summary's fields (each item with `lines`, the
/// indices of the transcript segments it cites) plus `model` and `created_ms`.
pub fn json(s: &StoredSummary) -> Value {
    let mut v = serde_json::to_value(&s.summary).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut v {
        m.insert("model".into(), json!(s.model));
        m.insert("created_ms".into(), json!(s.created_at));
    }
    v
}
