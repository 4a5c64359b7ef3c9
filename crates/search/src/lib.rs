//! Search across every meeting: SQLite FTS5 over transcript lines, summary items and
//! screen text (`search_index`, kept by triggers in the schema, so the index is written
//! in the same transaction as the text it indexes).
//!
//! What a user types is never handed to FTS5 as syntax: [`fts_query`] turns it into
//! quoted terms (all must occur), keeping `"quoted phrases"` and `prefix*`, so a query
//! such as `Q3-budget` or `can't` searches for its words instead of failing.

use std::collections::{HashMap, HashSet};

use debrief_jobq::MeetingId;
use rusqlite::{named_params, Connection};
use serde::Serialize;

const SEARCH: &str = include_str!("../sql/search.sql");
const COUNT: &str = include_str!("../sql/count.sql");

/// Marks around matched words in [`Hit::snippet`] (ASCII STX and ETX: they never occur
/// in stored text, so a caller can replace them with whatever highlighting it shows).
pub const MATCH_START: char = '\u{2}';
/// See [`MATCH_START`].
pub const MATCH_END: char = '\u{3}';

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query has no word to search for.
    #[error("the query {0:?} has no words to search for")]
    Empty(String),
    /// The database said no.
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    /// A store read while resolving hits (slides, speaker names) failed.
    #[error(transparent)]
    Store(#[from] debrief_jobq::QueueError),
}

/// What to look for.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// The words, as typed.
    pub text: String,
    /// Only this meeting.
    pub meeting: Option<MeetingId>,
    /// Only what this speaker said (a label such as `S2`, or a name given with
    /// `foreman speakers --rename`).
    pub speaker: Option<String>,
    /// Only meetings created at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// At most this many hits.
    pub limit: usize,
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// The meeting.
    pub meeting_id: MeetingId,
    /// Its title.
    pub title: Option<String>,
    /// When it was created (ms since the epoch).
    pub created_at: i64,
    /// `line`, `key point`, `decision`, `action item`, `open question`, `overview` or
    /// `slide`.
    pub kind: String,
    /// Where in the meeting (ms): the line's start, the item's cited line, the slide's
    /// first appearance.
    pub t_ms: i64,
    /// Who said it, names resolved (`None` for slides and the overview).
    pub speaker: Option<String>,
    /// The transcript segment (index into the export's `segments`) for lines.
    pub segment: Option<usize>,
    /// The slide (index into the export's `slides`) for slides.
    pub slide: Option<usize>,
    /// The matched text around the hit, matched words between [`MATCH_START`] and
    /// [`MATCH_END`].
    pub snippet: String,
    /// The whole indexed text.
    pub text: String,
    /// bm25 rank (lower is better).
    pub score: f64,
}

/// The FTS5 query for what a user typed: each word quoted (so punctuation is never
/// syntax), `"a phrase"` kept as a phrase, a trailing `*` kept as a prefix search.
/// `None` when there is no word at all.
pub fn fts_query(text: &str) -> Option<String> {
    let mut terms = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        rest = &rest[start..];
        let (raw, after) = if let Some(body) = rest.strip_prefix('"') {
            match body.find('"') {
                Some(end) => (&body[..end], &body[end + 1..]),
                None => (body, ""),
            }
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        rest = after;
        let prefix = raw.ends_with('*');
        let words = words(raw);
        if words.is_empty() {
            continue;
        }
        let mut term = format!("\"{}\"", words.join(" "));
        if prefix {
            term.push('*');
        }
        terms.push(term);
    }
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// The words of `s` as FTS5's unicode61 tokenizer sees them (letters and digits; every
/// other character separates).
fn words(s: &str) -> Vec<&str> {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect()
}

/// Runs `q`. Slide hits are frames; near-duplicate frames of one slide come back as one
/// hit at the slide's first appearance.
pub fn search(conn: &Connection, q: &Query) -> Result<Vec<Hit>, SearchError> {
    let Some(fts) = fts_query(&q.text) else {
        return Err(SearchError::Empty(q.text.clone()));
    };
    let limit = q.limit.max(1);
    // Frames of one slide collapse into one hit, so ask for more than will be shown.
    let fetch = i64::try_from(limit.saturating_mul(4)).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(SEARCH)?;
    let rows = stmt.query_map(
        named_params! {
            ":query": fts,
            ":meeting_id": q.meeting,
            ":since": q.since_ms,
            ":speaker": q.speaker,
            ":limit": fetch,
        },
        |r| {
            let kind: String = r.get(1)?;
            let reference: i64 = r.get(4)?;
            let index = usize::try_from(reference).ok();
            Ok(Hit {
                meeting_id: r.get(0)?,
                segment: if kind == "line" { index } else { None },
                slide: None,
                t_ms: r.get(2)?,
                speaker: r.get(3)?,
                text: r.get(5)?,
                snippet: r.get(6)?,
                score: r.get(7)?,
                title: r.get(8)?,
                created_at: r.get(9)?,
                kind,
            })
        },
    )?;
    let raw: Vec<Hit> = rows.collect::<rusqlite::Result<_>>()?;
    let mut hits = Vec::with_capacity(limit);
    let mut slides: HashMap<MeetingId, Vec<debrief_slides::Slide>> = HashMap::new();
    let mut seen_slides: HashSet<(MeetingId, usize)> = HashSet::new();
    let mut names: HashMap<MeetingId, Vec<debrief_speakers::SpeakerRow>> = HashMap::new();
    for mut hit in raw {
        if hit.kind == "slide" {
            let list = match slides.entry(hit.meeting_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(debrief_slides::slides(&mut debrief_jobq::Db::Sqlite(conn), hit.meeting_id)?)
                }
            };
            // The slide on screen at the frame's time.
            let Some(slide) = list.iter().rev().find(|s| s.start_ms <= hit.t_ms) else {
                continue;
            };
            if !seen_slides.insert((hit.meeting_id, slide.idx)) {
                continue;
            }
            hit.slide = Some(slide.idx);
            hit.t_ms = slide.start_ms;
        }
        if let Some(label) = hit.speaker.take() {
            let rows = match names.entry(hit.meeting_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(debrief_speakers::load_speakers(&mut debrief_jobq::Db::Sqlite(conn), hit.meeting_id)?)
                }
            };
            hit.speaker = Some(debrief_speakers::SpeakerRow::display(rows, &label));
        }
        hits.push(hit);
        if hits.len() == limit {
            break;
        }
    }
    Ok(hits)
}

/// How many index entries meeting `m` has (a consistency check for tests and tools).
pub fn entries(conn: &Connection, m: MeetingId) -> rusqlite::Result<i64> {
    conn.prepare_cached(COUNT)?.query_row(named_params! { ":meeting_id": m }, |r| r.get(0))
}

/// `snippet` with its match marks replaced by `start` and `end`.
pub fn highlight(snippet: &str, start: &str, end: &str) -> String {
    snippet.replace(MATCH_START, start).replace(MATCH_END, end)
}

#[cfg(test)]
mod tests;
