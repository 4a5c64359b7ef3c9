//! The reduce phase's inputs: window notes rendered as text the model reads, grouped so
//! that each reduce call fits the context (hierarchically: groups are reduced to notes,
//! which are grouped again, until one call takes everything).

use crate::parse::Anchor;
use crate::{mmss, Item, Notes, Summary};

/// Picks one list out of notes.
type Pick = fn(&Notes) -> &Vec<Item>;

fn line(i: &Item) -> String {
    let mut s = format!("[{}] ", mmss(i.start_ms));
    if let Some(o) = &i.owner {
        s += &format!("{o}: ");
    }
    s += &i.text;
    if let Some(d) = &i.due {
        s += &format!(" (due {d})");
    }
    s
}

/// Notes as the reduce prompt shows them: a heading per non-empty list, one `[m:ss]`
/// line per item.
pub fn render(notes: &[Notes]) -> String {
    let mut out = String::new();
    let lists: [(&str, Pick); 4] = [
        ("Key points", |n| &n.key_points),
        ("Decisions", |n| &n.decisions),
        ("Action items", |n| &n.action_items),
        ("Open questions", |n| &n.open_questions),
    ];
    for (title, get) in lists {
        let items: Vec<&Item> = notes.iter().flat_map(get).collect();
        if items.is_empty() {
            continue;
        }
        out += &format!("{title}:\n");
        for i in items {
            out += &line(i);
            out.push('\n');
        }
    }
    out
}

/// Every item of `notes` as an anchor for the reduce answer's citations.
pub fn anchors(notes: &[Notes]) -> Vec<Anchor> {
    notes
        .iter()
        .flat_map(|n| n.items())
        .map(|(_, i)| Anchor { start_ms: i.start_ms, end_ms: i.end_ms, text: line(i) })
        .collect()
}

/// Drops items from the end of the longest lists until the rendering fits `budget`.
pub fn fit(mut n: Notes, budget: usize, count: &mut dyn FnMut(&str) -> usize) -> Notes {
    while count(&render(std::slice::from_ref(&n))) > budget && !n.is_empty() {
        let lists = [&mut n.key_points, &mut n.decisions, &mut n.action_items, &mut n.open_questions];
        if let Some(longest) = lists.into_iter().max_by_key(|l| l.len()) {
            longest.pop();
        }
    }
    n
}

/// Groups consecutive notes so that each group's rendering fits `budget`. Every note is
/// first fitted into half the budget, so groups hold at least two notes (except perhaps
/// the last) and each reduce level shrinks the list.
pub fn groups(notes: Vec<Notes>, budget: usize, count: &mut dyn FnMut(&str) -> usize) -> Vec<Vec<Notes>> {
    let mut out: Vec<Vec<Notes>> = Vec::new();
    let mut used = 0;
    for n in notes {
        let n = fit(n, budget / 2, count);
        let size = count(&render(std::slice::from_ref(&n)));
        match out.last_mut() {
            Some(g) if used + size <= budget => {
                g.push(n);
                used += size;
            }
            _ => {
                out.push(vec![n]);
                used = size;
            }
        }
    }
    out
}

/// An intermediate reduce result as notes for the next level: the overview becomes a
/// key point spanning the group.
pub fn as_notes(s: Summary, span: (i64, i64)) -> Notes {
    let mut key_points = Vec::new();
    if !s.overview.is_empty() {
        key_points.push(Item { text: s.overview, owner: None, due: None, start_ms: span.0, end_ms: span.1 });
    }
    Notes { key_points, decisions: s.decisions, action_items: s.action_items, open_questions: s.open_questions }
}

/// Completes a reduce answer so that it neither loses nor hides what the notes hold: a
/// list the model left empty while the notes have items gets the notes' items (merged,
/// in time order, at most `cap`), and a missing overview is written plainly from the
/// key points and decisions.
pub fn complete(mut s: Summary, group: &[Notes], cap: usize) -> Summary {
    fn merged(group: &[Notes], get: Pick, cap: usize) -> Vec<Item> {
        let mut all: Vec<Item> = group.iter().flat_map(|n| get(n).iter().cloned()).collect();
        all.sort_by_key(|i| i.start_ms);
        let mut seen = Vec::new();
        all.retain(|i| {
            let k: String = i.text.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect();
            let new = !seen.contains(&k);
            seen.push(k);
            new
        });
        all.truncate(cap);
        all
    }
    let lists: [(&mut Vec<Item>, Pick); 3] = [
        (&mut s.decisions, |n| &n.decisions),
        (&mut s.action_items, |n| &n.action_items),
        (&mut s.open_questions, |n| &n.open_questions),
    ];
    for (list, get) in lists {
        if list.is_empty() {
            *list = merged(group, get, cap);
        }
    }
    if s.overview.is_empty() {
        let bare = |i: &Item| i.text.trim_end_matches(['.', ' ']).to_owned();
        let points: Vec<String> = merged(group, |n| &n.key_points, 3).iter().map(bare).collect();
        let decided: Vec<String> = s.decisions.iter().take(2).map(bare).collect();
        let mut parts = Vec::new();
        if !points.is_empty() {
            parts.push(format!("Discussed: {}.", points.join("; ")));
        }
        if !decided.is_empty() {
            parts.push(format!("Decided: {}.", decided.join("; ")));
        }
        s.overview = parts.join(" ");
    }
    s
}
