//! Grounding by construction: the model cites lines, the words come from the lines.
//!
//! The map step shows the model a window of numbered lines (`L12 [3:04] Ben: ...`) and
//! asks it to label each line that could carry an item: `decision`, `action`,
//! `question`, `point` or `none`. The grammar lists exactly those lines, and for each
//! line only the types its words can support ([`kinds`]: a decision needs words such as
//! "decided" or "agreed", an action a commitment such as "will" or "please", a question
//! a question mark). So even a 135M model can only choose and label what was said.
//!
//! What the user reads is then built from the cited line, never from the model's
//! words: the sentence of the line that carries the type's cue, the owner copied from
//! it (the name before "will", or the speaker of "I will", or the person addressed by
//! "Carol, please"), the due date as said in it ("by Friday") and as a date relative to
//! the meeting's day. With `prose` (a big model or a server) the model also writes a
//! short `text`; the item is kept only if the cited line supports that wording (most of
//! its content words occur in the line), and dropped otherwise.

use serde_json::{json, Value};

use crate::dates::{self, Day};
use crate::parse::{self, ParseError};
use crate::shape::{Answer, CHAR_RULE};
use crate::window::Line;
use crate::{Item, Notes};

/// What a cited line is noted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A main topic.
    Point,
    /// Something the meeting decided.
    Decision,
    /// Something a person will do.
    Action,
    /// A question asked and not answered.
    Question,
}

impl Kind {
    /// Every kind, in answer order.
    pub const ALL: [Kind; 4] = [Kind::Decision, Kind::Action, Kind::Question, Kind::Point];

    /// The name in the answer.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Point => "point",
            Kind::Decision => "decision",
            Kind::Action => "action",
            Kind::Question => "question",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Longest text shown for an item, in characters (a longer sentence is cut at a word).
pub const SHOWN_CHARS: usize = 200;
/// Longest `text` a prose model may write.
pub const PROSE_CHARS: usize = 120;

const DECISION_CUES: &[&str] = &[
    "decided",
    "decision",
    "agreed",
    "agree",
    "approved",
    "settled",
    "confirmed",
    "chose",
    "chosen",
    "go with",
    "going with",
    "go ahead",
    "goes ahead",
    "sign off",
    "signed off",
    "let's go",
    "we'll go",
    "final answer",
];
const ACTION_CUES: &[&str] = &[
    "will",
    "'ll",
    "going to",
    "need to",
    "needs to",
    "has to",
    "have to",
    "must",
    "please",
    "can you",
    "could you",
    "let me",
    "action item",
    "todo",
    "to do",
    "take care of",
    "in charge of",
];
/// Words that leave a question open without a question mark ("the price is still an open
/// question").
const OPEN_CUES: &[&str] = &[
    "open question",
    "still open",
    "remains open",
    "stays open",
    "undecided",
    "not decided",
    "don't know yet",
    "do not know yet",
    "to be decided",
    "still unclear",
];
/// Whether a sentence without a question mark leaves something open ("the price is
/// still an open question"), not just announces a question ("one open question remains").
fn open_about_something(sentence: &str, p: &str) -> bool {
    const CUE_WORDS: &[&str] = &[
        "one",
        "open",
        "question",
        "questions",
        "still",
        "remains",
        "remain",
        "stays",
        "undecided",
        "decided",
        "know",
        "yet",
        "unclear",
        "have",
        "has",
        "there",
    ];
    OPEN_CUES.iter().any(|c| has(p, c)) && parse::words(sentence).iter().any(|w| !CUE_WORDS.contains(&w.as_str()))
}

/// Words that make a decision explicit, not just an assent ("I agree").
const EXPLICIT_DECISION_CUES: &[&str] =
    &["decided", "agreed to", "agreed that", "we agreed", "the decision is", "approved", "signed off"];
/// Capitalised words that are not names (sentence starts, pronouns).
const NOT_NAMES: &[&str] = &[
    "i",
    "we",
    "you",
    "they",
    "he",
    "she",
    "it",
    "this",
    "that",
    "these",
    "those",
    "the",
    "a",
    "an",
    "everyone",
    "everybody",
    "someone",
    "somebody",
    "nobody",
    "anyone",
    "who",
    "what",
    "when",
    "where",
    "why",
    "how",
    "which",
    "yes",
    "no",
    "okay",
    "ok",
    "so",
    "and",
    "but",
    "then",
    "also",
    "good",
    "great",
    "well",
    "now",
    "today",
    "tomorrow",
    "our",
    "my",
    "your",
    "their",
    "team",
    "thanks",
    "thank",
];

/// Lower-case text with typographic apostrophes made plain, padded with spaces so that
/// cues match whole words.
fn padded(s: &str) -> String {
    let mut out = String::from(" ");
    for c in s.chars() {
        match c {
            '\u{2019}' | '\u{2018}' => out.push('\''),
            c if c.is_alphanumeric() || c == '\'' => out.extend(c.to_lowercase()),
            _ => out.push(' '),
        }
    }
    out.push(' ');
    out.split_whitespace().fold(String::from(" "), |acc, w| acc + w + " ")
}

fn has(p: &str, cue: &str) -> bool {
    if let Some(suffix) = cue.strip_prefix('\'') {
        // A contraction: "i'll", "we'll".
        return p.split(' ').any(|w| w.ends_with(&format!("'{suffix}")));
    }
    p.contains(&format!(" {cue} "))
}

fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '?' | '!') {
            let end = i + c.len_utf8();
            let next_is_space = text[end..].chars().next().is_none_or(char::is_whitespace);
            if next_is_space {
                out.push(text[start..end].trim());
                start = end;
            }
        }
    }
    out.push(text[start..].trim());
    out.retain(|s| s.chars().any(char::is_alphanumeric));
    out
}

/// Whether a decision cue of `p` (a [`padded`] sentence) is said without a negation in
/// the four words before it: "we decided to use the library and not the cluster" decides,
/// "we have not decided the venue" does not.
fn decided_unnegated(p: &str) -> bool {
    let words: Vec<&str> = p.split_whitespace().collect();
    let negation = |w: &str| matches!(w, "not" | "never" | "nobody" | "nothing") || w.ends_with("n't");
    DECISION_CUES.iter().any(|cue| {
        let cue: Vec<&str> = cue.split(' ').collect();
        (0..words.len()).any(|i| {
            words[i..].starts_with(&cue) && {
                let before = &words[i.saturating_sub(4)..i];
                !before.iter().any(|w| negation(w)) && !before.windows(2).any(|w| w == ["no", "one"])
            }
        })
    })
}

/// Whether one sentence can support `kind`.
fn supports(sentence: &str, kind: Kind) -> bool {
    let p = padded(sentence);
    match kind {
        // A question of a word or two ("Planner?", "And you?") asks nothing a reader
        // could act on.
        Kind::Question => {
            (sentence.contains('?') && sentence.split_whitespace().count() >= 3 && !parse::words(sentence).is_empty())
                || open_about_something(sentence, &p)
        }
        // An assent alone ("I agree.") decides nothing that could be listed.
        Kind::Decision => !sentence.contains('?') && decided_unnegated(&p) && parse::words(sentence).len() >= 3,
        Kind::Action => {
            let request = ["please", "can you", "could you"].iter().any(|c| has(&p, c));
            (request || !sentence.contains('?'))
                && ACTION_CUES.iter().any(|c| has(&p, c))
                && parse::words(sentence).len() >= 3
        }
        Kind::Point => parse::words(sentence).len() >= 3,
    }
}

/// Units a measured figure is said in: "under 200 milliseconds", "about $4,000 a month",
/// "in six weeks", "40 percent".
const UNITS: &[&str] = &[
    "ms",
    "millisecond",
    "milliseconds",
    "second",
    "seconds",
    "minute",
    "minutes",
    "hour",
    "hours",
    "day",
    "days",
    "week",
    "weeks",
    "month",
    "months",
    "year",
    "years",
    "percent",
    "dollars",
    "dollar",
    "euros",
    "euro",
    "pounds",
    "kb",
    "mb",
    "gb",
    "tb",
    "megabytes",
    "gigabytes",
    "terabytes",
    "users",
    "customers",
    "people",
    "seats",
    "licenses",
    "licences",
];
/// Number words that make a figure when a unit follows ("six weeks").
const FIGURE_WORDS: &[&str] = &[
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "fifteen",
    "twenty", "thirty", "forty", "fifty", "sixty", "hundred", "thousand", "million", "billion",
];

/// Whether a sentence states a measured figure: a number (in digits, or a number word)
/// followed within two words by a unit, or an amount of money ("$4,000"). A meeting's
/// figures (a latency goal, a price, a deadline in weeks) are what a reader looks up.
pub(crate) fn states_figure(sentence: &str) -> bool {
    if sentence.contains(['$', '€', '£', '%']) && sentence.chars().any(|c| c.is_ascii_digit()) {
        return true;
    }
    let p = padded(sentence);
    let words: Vec<&str> = p.split_whitespace().collect();
    words.iter().enumerate().any(|(i, w)| {
        let number = w.chars().all(|c| c.is_ascii_digit()) || FIGURE_WORDS.contains(w);
        number && words[i + 1..].iter().take(2).any(|u| UNITS.contains(u))
    })
}

/// The kind a sentence states so plainly that a summary must not miss it, whatever
/// the model labelled: a decision in explicit words ("we decided to", "we agreed to"),
/// a commitment with both an owner and a due date ("Priya will write the release notes
/// by April tenth", "I will fix it by Tuesday"), a question said to be open ("the
/// price is still an open question"), or a measured figure as a key point ("our goal is
/// under 200 milliseconds").
fn explicit(sentence: &str, speaker: Option<&str>) -> Option<Kind> {
    let p = padded(sentence);
    if supports(sentence, Kind::Decision) && EXPLICIT_DECISION_CUES.iter().any(|c| has(&p, c)) {
        return Some(Kind::Decision);
    }
    if supports(sentence, Kind::Action)
        && !sentence.contains('?')
        && owner(sentence, speaker).is_some()
        && dates::due(sentence, None).is_some()
    {
        return Some(Kind::Action);
    }
    if open_about_something(sentence, &p) {
        return Some(Kind::Question);
    }
    (supports(sentence, Kind::Point) && !sentence.contains('?') && states_figure(sentence)).then_some(Kind::Point)
}

/// The types a line's words can support.
pub fn kinds(said: &str) -> Vec<Kind> {
    Kind::ALL.into_iter().filter(|k| sentences(said).iter().any(|s| supports(s, *k))).collect()
}

/// The sentences of `said` that carry `kind`'s cue (all of it for a point), cut to
/// [`SHOWN_CHARS`].
fn shown(said: &str, kind: Kind) -> String {
    let picked: Vec<&str> = match kind {
        Kind::Point => vec![said.trim()],
        k => sentences(said).into_iter().filter(|s| supports(s, k)).collect(),
    };
    let text = parse::clean(&picked.join(" "));
    if text.chars().count() <= SHOWN_CHARS {
        return text;
    }
    let mut out = String::new();
    for w in text.split_whitespace() {
        if out.chars().count() + w.chars().count() + 1 > SHOWN_CHARS - 1 {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out += w;
    }
    out + "…"
}

fn name_like(w: &str) -> bool {
    let mut cs = w.chars();
    cs.next().is_some_and(char::is_uppercase)
        && w.chars().all(|c| c.is_alphabetic() || c == '-' || c == '\'')
        && !NOT_NAMES.contains(&w.to_lowercase().as_str())
}

/// Who does what `sentence` commits to: a name said before the commitment ("Ben will
/// send"), the speaker of a first-person one ("I will fix"), or the person addressed
/// ("Carol, please read"). Copied from the line; `None` when it says no one ("We will").
pub fn owner(sentence: &str, speaker: Option<&str>) -> Option<String> {
    let words: Vec<String> = sentence
        .split(|c: char| c.is_whitespace() || matches!(c, '.' | '!' | '?' | ';' | ':'))
        .filter(|w| !w.is_empty())
        .map(|w| w.replace('\u{2019}', "'"))
        .collect();
    let bare = |w: &str| w.trim_end_matches(',').to_owned();
    let low: Vec<String> = words.iter().map(|w| bare(w).to_lowercase()).collect();
    let commits = |i: usize| -> bool {
        let w = low.get(i).map(String::as_str).unwrap_or("");
        let next = low.get(i + 1).map(String::as_str).unwrap_or("");
        matches!(w, "will" | "can" | "must" | "should" | "shall")
            || (matches!(w, "is" | "are") && next == "going")
            || (matches!(w, "needs" | "has") && next == "to")
    };
    for i in 0..words.len() {
        let w = bare(&words[i]);
        let l = &low[i];
        // First person.
        if l == "i" && (commits(i + 1) || low.get(i + 1).is_some_and(|n| n == "am" || n == "need" || n == "have")) {
            return speaker.map(str::to_owned);
        }
        if l == "i'll" || l == "i'm" || (l == "let" && low.get(i + 1).is_some_and(|n| n == "me")) {
            return speaker.map(str::to_owned);
        }
        // "Ben will", "Ben'll", "Ben and Carol will".
        if let Some(name) = w.strip_suffix("'ll").filter(|n| name_like(n)) {
            return Some(name.to_owned());
        }
        if name_like(&w) && !words[i].ends_with(',') {
            if commits(i + 1) {
                return Some(w);
            }
            if low.get(i + 1).is_some_and(|n| n == "and")
                && low.get(i + 2).is_some()
                && name_like(&bare(&words[i + 2]))
                && commits(i + 3)
            {
                return Some(format!("{w} and {}", bare(&words[i + 2])));
            }
        }
        // "Carol, please ...", "Carol, can you ...".
        if i == 0 && words[i].ends_with(',') && name_like(&w) {
            let rest = low.get(1).map(String::as_str).unwrap_or("");
            if matches!(rest, "please" | "can" | "could" | "would") {
                return Some(w);
            }
        }
        // "..., please, Carol" / "can you do it, Carol".
        if i + 1 == words.len() && i > 0 && words[i - 1].ends_with(',') && name_like(&w) {
            let p = padded(sentence);
            if ["please", "can you", "could you"].iter().any(|c| has(&p, c)) {
                return Some(w);
            }
        }
    }
    None
}

/// The citable lines of a window: (line number, the types it supports).
pub fn citable(lines: &[Line]) -> Vec<(usize, Vec<Kind>)> {
    let mut out: Vec<(usize, Vec<Kind>)> = Vec::new();
    for l in lines {
        let k = if l.unsure { Vec::new() } else { kinds(&l.said) };
        if k.is_empty() || out.iter().any(|(n, _)| *n == l.n) {
            continue;
        }
        out.push((l.n, k));
    }
    out
}

/// Answer tokens per citable line (its label, and with prose its wording), at a
/// pessimistic 1.5 characters per token: what the caller adds to each line's size when
/// it packs windows, so that the answer always fits the context too.
pub fn answer_tokens_per_line(prose: bool) -> usize {
    (40 + if prose { PROSE_CHARS + 12 } else { 0 }) * 2 / 3
}

/// The map answer's shape for a window's lines: the model labels every line that can
/// carry an item, in order, with one of the types its words support or `none`. The
/// grammar names each such line and only its types; the JSON schema for servers is
/// looser (the same check runs on what they answer). A labelling, not a choice of a
/// few: a small model asked to pick lines stops after the first two.
pub fn answer(lines: &[Line], prose: bool) -> Answer {
    let cands = citable(lines);
    let text = if prose { r#" "," ws "\"text\":" ws text"# } else { "" };
    let label = |(n, ks): &(usize, Vec<Kind>)| {
        let kinds = ks.iter().map(|k| format!(r#""\"{}\"""#, k.as_str())).collect::<Vec<_>>().join(" | ");
        format!(r#""{{" ws "\"line\": {n}," ws "\"type\":" ws ("\"none\"" | ({kinds}){text}) ws "}}""#)
    };
    let body = cands.iter().map(label).collect::<Vec<_>>().join(r#" "," ws "#);
    let gbnf = format!(
        r#"root ::= "{{" ws "\"lines\":" ws "[" ws {body} ws "]" ws "}}"
text ::= "\"" char{{1,{PROSE_CHARS}}} "\""
{CHAR_RULE}
ws ::= [ \t\n]{{0,2}}
"#
    );
    // For servers: one object shape per line, its type limited to what the line
    // supports (or none).
    let shapes: Vec<Value> = cands
        .iter()
        .map(|(n, ks)| {
            let mut types: Vec<&str> = ks.iter().map(|k| k.as_str()).collect();
            types.push("none");
            let mut props = serde_json::Map::new();
            props.insert("line".into(), json!({"type": "integer", "enum": [n]}));
            props.insert("type".into(), json!({"type": "string", "enum": types}));
            let mut required = vec!["line", "type"];
            if prose {
                props.insert("text".into(), json!({"type": "string", "maxLength": PROSE_CHARS}));
                required.push("text");
            }
            json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
        })
        .collect();
    let schema = json!({
        "type": "object",
        "properties": {"lines": {"type": "array", "maxItems": cands.len(), "items": {"anyOf": shapes}}},
        "required": ["lines"],
        "additionalProperties": false,
    });
    Answer { name: "line_labels", gbnf, schema, max_tokens: cands.len() * answer_tokens_per_line(prose) + 30 }
}

/// Whether `text` (a prose model's wording) is supported by `said`: at least three
/// quarters of its content words, and at least two, occur in the line.
pub fn supported(text: &str, said: &str) -> bool {
    let mine = parse::words(text);
    let theirs = parse::words(said);
    let stem = |w: &str| w.chars().take(5).collect::<String>();
    let theirs: Vec<String> = theirs.iter().map(|w| stem(w)).collect();
    let hits = mine.iter().filter(|w| theirs.contains(&stem(w))).count();
    hits >= 2.min(mine.len()) && hits * 4 >= mine.len() * 3 && !mine.is_empty()
}

/// One cited line as an item of `kind`.
pub fn item(line: &Line, kind: Kind, prose: Option<&str>, meeting: Option<Day>) -> Item {
    let sentence = shown(&line.said, kind);
    let text = match prose.map(parse::clean) {
        Some(t) if supported(&t, &line.said) => t,
        _ => sentence.clone(),
    };
    let (owner, due) = if kind == Kind::Action {
        let o = owner(&sentence, line.speaker.as_deref());
        (o, dates::due(&sentence, meeting))
    } else {
        (None, None)
    };
    Item {
        text,
        owner,
        due: due.as_ref().map(|d| d.said.clone()),
        due_date: due.and_then(|d| d.day).map(Day::iso),
        start_ms: line.start_ms,
        end_ms: line.end_ms,
        lines: line.segment.into_iter().collect(),
        slides: line.slide.into_iter().collect(),
        speaker: line.speaker.clone(),
        heard: line.heard(&sentence),
    }
}

/// Window notes from a map answer: each line of `lines` labelled with a type its words
/// support becomes an item (see the module documentation); anything else (`none`, a
/// line not in the window, a line that supports no type, a repeat, a prose wording the
/// line does not support) is dropped.
pub fn notes(answer: &str, lines: &[Line], prose: bool, meeting: Option<Day>) -> Result<Notes, ParseError> {
    let obj = parse::object(answer)?;
    let mut out = Notes::default();
    let raw = match obj.get("lines").or_else(|| obj.get("items")) {
        Some(Value::Array(raw)) => raw.as_slice(),
        _ => &[],
    };
    let mut seen: Vec<(usize, Kind)> = Vec::new();
    for v in raw.iter().take(lines.len() * 2) {
        let Some(n) =
            v.get("line").and_then(|n| n.as_u64().or_else(|| n.as_str()?.trim_start_matches('L').parse().ok()))
        else {
            continue;
        };
        let Some(kind) = v.get("type").and_then(Value::as_str).and_then(Kind::parse) else { continue };
        let Some(line) = lines.iter().find(|l| l.n as u64 == n && !l.unsure) else { continue };
        let can = kinds(&line.said);
        // The model chose the line; its words say what it is. A type they do not
        // support (a server that ignored the schema) gives way to the first they do,
        // and so does `point` for a line that decides, commits or asks.
        let Some(first) = can.first().copied() else { continue };
        let kind = if kind == Kind::Point || !can.contains(&kind) { first } else { kind };
        if seen.contains(&(line.n, kind)) {
            continue;
        }
        let prose_text =
            if prose { v.get("text").and_then(Value::as_str).filter(|t| !t.trim().is_empty()) } else { None };
        // A prose model's item says what its wording says: wording the cited line does not
        // support is a claim nobody made, and the item is dropped (the line stays free
        // for another label that the line does support).
        if prose_text.is_some_and(|t| !supported(&parse::clean(t), &line.said)) {
            continue;
        }
        let it = item(line, kind, prose_text, meeting);
        // The sentence shown must be heard clearly, not only its line on average.
        if line.unsure_text(&it.text) {
            continue;
        }
        seen.push((line.n, kind));
        out.push(kind, it);
    }
    // A small model skips lines; what a line states plainly is listed all the same, in
    // the line's own words (a line the model labelled keeps its label).
    for line in lines {
        if line.unsure || seen.iter().any(|(n, _)| *n == line.n) {
            continue;
        }
        if let Some(kind) = sentences(&line.said).into_iter().find_map(|s| explicit(s, line.speaker.as_deref())) {
            let it = item(line, kind, None, meeting);
            if !line.unsure_text(&it.text) {
                seen.push((line.n, kind));
                out.push(kind, it);
            }
        }
    }
    Ok(out)
}

impl Notes {
    fn push(&mut self, kind: Kind, it: Item) {
        match kind {
            Kind::Point => self.key_points.push(it),
            Kind::Decision => self.decisions.push(it),
            Kind::Action => self.action_items.push(it),
            Kind::Question => self.open_questions.push(it),
        }
    }
}
