//! The reduce step: window notes merged into the meeting's summary, and its overview.
//!
//! Items are transcript lines, so merging needs no model: the lists are joined in time
//! order, a line cited twice (a long line split across windows) counts once, and a
//! list longer than its cap (10 items, 5 key points, per started ten minutes) keeps
//! items spread evenly over the meeting, except key points, which keep the most
//! informative lines (numbers, then content words; see [`informativeness`]). The overview
//! is written from the items ([`plain_overview`]: who spoke, for how long, the words
//! said most, how many items of each kind) unless a big model writes one from the
//! items, which is shown only if its words are the items' ([`checked_overview`]).

use std::collections::HashMap;

use crate::window::Line;
use crate::{mmss, parse, Item, Notes, Summary};

/// Most items per list in a summary, per started ten minutes of meeting.
pub const CAP: usize = 10;
/// Most key points in a summary, per started ten minutes of meeting; lines stating a
/// measured figure may add more, up to [`CAP`].
pub const KEY_POINTS: usize = 5;
/// The span [`CAP`] and [`KEY_POINTS`] are for: a longer meeting says more.
const CAP_SPAN_MS: i64 = 10 * 60_000;

/// Items in time order, each cited line (or slide) once.
fn dedup(mut items: Vec<Item>) -> Vec<Item> {
    items.sort_by_key(|i| (i.start_ms, i.lines.first().copied()));
    let mut seen: Vec<(Vec<usize>, Vec<usize>, String)> = Vec::new();
    items.retain(|i| {
        let key = if i.lines.is_empty() && i.slides.is_empty() { i.text.to_lowercase() } else { String::new() };
        let k = (i.lines.clone(), i.slides.clone(), key);
        let new = !seen.contains(&k);
        seen.push(k);
        new
    });
    items
}

fn spread(items: Vec<Item>, cap: usize) -> Vec<Item> {
    let items = dedup(items);
    if items.len() <= cap {
        return items;
    }
    let n = items.len();
    (0..cap).map(|j| items[j * n / cap].clone()).collect()
}

/// Words that say how many or how much, written out.
const NUMBER_WORDS: &[&str] = &[
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "twenty",
    "thirty", "forty", "fifty", "hundred", "thousand", "million", "billion", "percent", "half", "dozen", "double",
    "twice", "triple",
];

/// Short words that carry no content.
const FILLER: &[&str] = &[
    "that", "this", "with", "from", "have", "will", "what", "when", "then", "they", "them", "there", "their", "about",
    "would", "could", "should", "just", "also", "very", "really", "some", "into", "only", "been", "were", "yeah",
    "okay", "good", "thanks", "thank",
];

/// How much a key point tells: a figure (a digit or a number word) counts most, then
/// its content words (four letters or more, not fillers, at most eight); a question or a
/// reply that opens with yes, no, okay or good tells less. Key points past the cap are
/// chosen by it: on the design-review eval meeting the even spread kept "The old index is
/// deleted after a name." and left out "Our goal is under 200 milliseconds.".
pub fn informativeness(text: &str) -> i32 {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let figure = lower.chars().any(|c| c.is_ascii_digit()) || words.iter().any(|w| NUMBER_WORDS.contains(w));
    let content = words.iter().filter(|w| w.len() >= 4 && !FILLER.contains(w)).count().min(8) as i32;
    let reply = matches!(words.first(), Some(&("yes" | "no" | "okay" | "ok" | "good" | "right" | "so")));
    (if figure { 6 } else { 0 }) + content
        - if reply { 2 } else { 0 }
        - if text.trim_end().ends_with('?') { 3 } else { 0 }
}

/// How clearly (mean word probability, percent) a figure line must have been heard to
/// be listed past the key-point cap. A misheard number is the worst thing a summary can
/// show, and these lines are extras the ranking left out. In the eval meetings
/// (`scripts/eval-summary`, tiny.en, session 14) the misheard figure lines were heard at
/// 66-71 ("The largest $1,440 million per customer", "submit I April 15"), the figure
/// lines of the meetings' facts at 85 or more.
const MIN_EXTRA_HEARD: u8 = 75;

/// The `cap` most informative key points (ties: the earlier), and past them the lines
/// that state a measured figure ("under 200 milliseconds", "$30,000 this year": what a
/// reader looks up) and were heard clearly ([`MIN_EXTRA_HEARD`]) up to `figures_cap` in
/// all, in time order.
fn most_informative(items: Vec<Item>, cap: usize, figures_cap: usize) -> Vec<Item> {
    let items = dedup(items);
    if items.len() <= cap {
        return items;
    }
    let mut ranked: Vec<(i32, usize)> = items.iter().enumerate().map(|(k, i)| (-informativeness(&i.text), k)).collect();
    ranked.sort();
    let mut keep: Vec<usize> = ranked.into_iter().take(cap).map(|(_, k)| k).collect();
    for (k, it) in items.iter().enumerate() {
        if keep.len() >= figures_cap.max(cap) {
            break;
        }
        if !keep.contains(&k) && crate::cite::states_figure(&it.text) && it.heard.unwrap_or(0) >= MIN_EXTRA_HEARD {
            keep.push(k);
        }
    }
    keep.sort_unstable();
    keep.into_iter().map(|k| items[k].clone()).collect()
}

/// The window notes as one summary (without an overview).
pub fn merge(notes: &[Notes]) -> Summary {
    let all = |get: fn(&Notes) -> &Vec<Item>| notes.iter().flat_map(|n| get(n).iter().cloned()).collect::<Vec<_>>();
    let end = notes.iter().flat_map(|n| n.items().map(|(_, i)| i.end_ms)).max().unwrap_or(0);
    let per = usize::try_from((end.max(1) + CAP_SPAN_MS - 1) / CAP_SPAN_MS).unwrap_or(1);
    Summary {
        overview: String::new(),
        key_points: most_informative(all(|n| &n.key_points), KEY_POINTS * per, CAP * per),
        decisions: spread(all(|n| &n.decisions), CAP * per),
        action_items: spread(all(|n| &n.action_items), CAP * per),
        open_questions: spread(all(|n| &n.open_questions), CAP * per),
    }
}

/// What the transcript itself tells about a meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// From the first line's start to the last line's end (ms).
    pub span_ms: i64,
    /// Speakers, in order of first words.
    pub speakers: Vec<String>,
    /// Words of the summary's items that the meeting said most (at least twice), most
    /// frequent first; no names or fillers.
    pub topics: Vec<String>,
}

/// Words said often in any meeting, never a topic.
const FILLERS: &[&str] = &[
    "good",
    "great",
    "okay",
    "yeah",
    "thanks",
    "thank",
    "morning",
    "everyone",
    "well",
    "right",
    "just",
    "like",
    "really",
    "going",
    "know",
    "think",
    "want",
    "need",
    "make",
    "take",
    "said",
    "say",
    "decided",
    "decide",
    "agreed",
    "agree",
    "week",
    "today",
    "tomorrow",
    "time",
    "now",
    "here",
    "sure",
    "maybe",
    "something",
    "people",
    "would",
    "could",
    "should",
    "about",
    "some",
    "more",
    "very",
    "into",
    "over",
    "only",
    "even",
    "might",
    "made",
    "been",
    "still",
    "much",
    "done",
    "doing",
    "does",
    "get",
    "got",
    "put",
    "yes",
    "one",
    "two",
];

/// Words written with a capital letter inside a sentence (names, mostly).
fn capitalised(lines: &[Line]) -> Vec<String> {
    let mut out = Vec::new();
    for l in lines {
        let mut start = true;
        for w in l.said.split_whitespace() {
            let bare: String = w.chars().filter(|c| c.is_alphanumeric()).collect();
            if !start && bare.chars().next().is_some_and(char::is_uppercase) && bare.chars().count() >= 3 {
                out.push(bare.to_lowercase());
            }
            start = w.ends_with(['.', '?', '!']);
        }
    }
    out
}

/// [`Facts`] of the meeting's lines; the topics are words of the summary's items, the
/// ones the whole meeting said most.
pub fn facts(lines: &[Line], s: &Summary) -> Facts {
    let mut speakers: Vec<String> = Vec::new();
    for l in lines {
        if let Some(s) = &l.speaker {
            if !speakers.contains(s) {
                speakers.push(s.clone());
            }
        }
    }
    let mut names: Vec<String> = speakers.iter().flat_map(|s| parse::words(s)).collect();
    names.extend(capitalised(lines));
    let in_items: Vec<String> = [&s.key_points, &s.decisions, &s.action_items, &s.open_questions]
        .iter()
        .flat_map(|l| l.iter())
        .flat_map(|i| parse::words(&i.text))
        .collect();
    let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
    let mut order = 0;
    for l in lines {
        for w in parse::words(&l.said) {
            if names.contains(&w)
                || FILLERS.contains(&w.as_str())
                || !in_items.contains(&w)
                || w.chars().any(|c| c.is_ascii_digit())
            {
                continue;
            }
            order += 1;
            counts.entry(w).or_insert((0, order)).0 += 1;
        }
    }
    let mut ranked: Vec<(String, (usize, usize))> = counts.into_iter().filter(|(_, (n, _))| *n >= 2).collect();
    ranked.sort_by_key(|(_, (n, first))| (std::cmp::Reverse(*n), *first));
    let span_ms =
        lines.iter().map(|l| l.end_ms).max().unwrap_or(0) - lines.iter().map(|l| l.start_ms).min().unwrap_or(0);
    Facts { span_ms, speakers, topics: ranked.into_iter().take(4).map(|(w, _)| w).collect() }
}

fn list(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// An overview that says only what is known: who spoke and for how long, the words said
/// most, and how many items of each kind the summary lists.
pub fn plain_overview(s: &Summary, f: &Facts) -> String {
    let mut parts = Vec::new();
    let span = mmss(f.span_ms);
    parts.push(match f.speakers.len() {
        0 => format!("{span} of speech."),
        1 => format!("{} spoke for {span}.", f.speakers[0]),
        n => format!("{n} speakers ({}) over {span}.", list(&f.speakers)),
    });
    if !f.topics.is_empty() {
        parts.push(format!("Words said most: {}.", f.topics.join(", ")));
    }
    let (d, a, q) = (s.decisions.len(), s.action_items.len(), s.open_questions.len());
    if d + a + q == 0 {
        parts.push("No decision, action item or open question was found in what was said.".into());
    } else {
        parts.push(format!(
            "Listed below with the lines they come from: {}, {} and {}.",
            count(d, "decision", "decisions"),
            count(a, "action item", "action items"),
            count(q, "open question", "open questions")
        ));
    }
    parts.join(" ")
}

fn line(kind: &str, i: &Item) -> String {
    let mut s = format!("{kind} [{}] ", mmss(i.start_ms));
    if let Some(o) = &i.owner {
        s += &format!("(owner {o}) ");
    }
    s += &i.text;
    if let Some(d) = &i.due {
        s += &format!(" (due {d})");
    }
    s
}

/// The summary's items as the overview prompt shows them, one line each.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let lists: [(&str, &Vec<Item>); 4] = [
        ("Topic", &s.key_points),
        ("Decision", &s.decisions),
        ("Action", &s.action_items),
        ("Open question", &s.open_questions),
    ];
    for (kind, items) in lists {
        for i in items {
            out += &line(kind, i);
            out.push('\n');
        }
    }
    out
}

/// `s` with items dropped (key points first, then from the longest list) until its
/// rendering fits `budget` tokens.
pub fn fit(mut s: Summary, budget: usize, count: &mut dyn FnMut(&str) -> usize) -> Summary {
    while count(&render(&s)) > budget {
        if s.key_points.pop().is_some() {
            continue;
        }
        let lists = [&mut s.decisions, &mut s.action_items, &mut s.open_questions];
        let Some(longest) = lists.into_iter().filter(|l| !l.is_empty()).max_by_key(|l| l.len()) else { break };
        longest.pop();
    }
    s
}

/// A model's overview, if what it says comes from the summary's items: no template
/// placeholder, and at least four in five of its content words occur in the items, the
/// speakers' names or the words said most. `None` otherwise (the caller writes
/// [`plain_overview`]).
pub fn checked_overview(answer: &str, s: &Summary, f: &Facts) -> Option<String> {
    let obj = parse::object(answer).ok()?;
    let text = parse::clean(obj.get("overview")?.as_str()?);
    if text.contains('[') || text.contains('{') {
        return None;
    }
    let mut source = parse::words(&render(s));
    source.extend(f.speakers.iter().flat_map(|n| parse::words(n)));
    source.extend(f.topics.iter().cloned());
    let stem = |w: &str| w.chars().take(5).collect::<String>();
    let source: Vec<String> = source.iter().map(|w| stem(w)).collect();
    let mine = parse::words(&text);
    let hits = mine.iter().filter(|w| source.contains(&stem(w))).count();
    (mine.len() >= 3 && hits * 5 >= mine.len() * 4).then_some(text)
}
