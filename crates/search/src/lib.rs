//! Search across every meeting: transcript lines, summary items and screen text. On
//! SQLite, FTS5 (`search_index`, kept by triggers in the schema, so the index is written
//! in the same transaction as the text it indexes); on PostgreSQL, full-text search over
//! the `search_entries` view of the same rows (`tsvector`, English stemming, GIN
//! indexes on the large tables).
//!
//! What a user types is never handed to either engine as syntax: [`fts_query`] and
//! [`ts_query`] turn it into terms (all must occur), keeping `"quoted phrases"` and
//! `prefix*`, so a query such as `Q3-budget` or `can't` searches for its words instead of
//! failing.

use std::collections::{HashMap, HashSet};

use debrief_jobq::{Db, MeetingId};
use rusqlite::named_params;
use serde::Serialize;

const SEARCH: &str = include_str!("../sql/search.sql");
const COUNT: &str = include_str!("../sql/count.sql");
const PG_SEARCH: &str = include_str!("../sql/pg/search.sql");
const PG_COUNT: &str = include_str!("../sql/pg/count.sql");

/// ts_headline's options: the match marks, and a fragment about as long as FTS5's.
const PG_HEADLINE: &str = "StartSel=\u{2}, StopSel=\u{3}, MinWords=6, MaxWords=14, MaxFragments=1, FragmentDelimiter=…";

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
    /// PostgreSQL said no.
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
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
    /// Rank, lower is better: bm25 on SQLite, minus `ts_rank_cd` on PostgreSQL.
    pub score: f64,
}

/// What a user typed as terms that must all occur: the words of a term in order (a
/// `"quoted phrase"` is one term), and whether its last word is a prefix (`pric*`).
fn terms(text: &str) -> Vec<(Vec<&str>, bool)> {
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
        let words = words(raw);
        if !words.is_empty() {
            terms.push((words, raw.ends_with('*')));
        }
    }
    terms
}

/// The FTS5 query for what a user typed: each word quoted (so punctuation is never
/// syntax), `"a phrase"` kept as a phrase, a trailing `*` kept as a prefix search.
/// `None` when there is no word at all.
pub fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = terms(text)
        .into_iter()
        .map(|(words, prefix)| format!("\"{}\"{}", words.join(" "), if prefix { "*" } else { "" }))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// The same as a PostgreSQL `tsquery`: terms joined by `&`, a phrase's words by `<->`,
/// a prefix as `:*`. Words are letters and digits only, so nothing is syntax.
pub fn ts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = terms(text)
        .into_iter()
        .map(|(words, prefix)| {
            let phrase = words.join(" <-> ");
            let term = if prefix { format!("{phrase}:*") } else { phrase };
            if words.len() > 1 {
                format!("({term})")
            } else {
                term
            }
        })
        .collect();
    (!terms.is_empty()).then(|| terms.join(" & "))
}

/// The words of `s` as FTS5's unicode61 tokenizer sees them (letters and digits; every
/// other character separates).
fn words(s: &str) -> Vec<&str> {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect()
}

/// Runs `q`. Slide hits are frames; near-duplicate frames of one slide come back as one
/// hit at the slide's first appearance.
pub fn search(db: &mut Db<'_>, q: &Query) -> Result<Vec<Hit>, SearchError> {
    let limit = q.limit.max(1);
    // Frames of one slide collapse into one hit, so ask for more than will be shown.
    let fetch = i64::try_from(limit.saturating_mul(4)).unwrap_or(i64::MAX);
    let hit = |meeting_id, kind: String, t_ms, speaker, reference: i64, text, snippet, score, title, created_at| Hit {
        meeting_id,
        segment: if kind == "line" { usize::try_from(reference).ok() } else { None },
        slide: None,
        t_ms,
        speaker,
        text,
        snippet,
        score,
        title,
        created_at,
        kind,
    };
    let raw: Vec<Hit> = match db {
        Db::Sqlite(conn) => {
            let fts = fts_query(&q.text).ok_or_else(|| SearchError::Empty(q.text.clone()))?;
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
                    Ok(hit(
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                    ))
                },
            )?;
            rows.collect::<rusqlite::Result<_>>()?
        }
        Db::Postgres(client) => {
            let ts = ts_query(&q.text).ok_or_else(|| SearchError::Empty(q.text.clone()))?;
            client
                .query(PG_SEARCH, &[&ts, &q.meeting.map(|m| m.0), &q.since_ms, &q.speaker, &fetch, &PG_HEADLINE])?
                .iter()
                .map(|r| {
                    hit(
                        MeetingId(r.get(0)),
                        r.get(1),
                        r.get(2),
                        r.get(3),
                        r.get(4),
                        r.get(5),
                        r.get(6),
                        r.get(7),
                        r.get(8),
                        r.get(9),
                    )
                })
                .collect()
        }
    };

    let mut hits = Vec::with_capacity(limit);
    let mut slides: HashMap<MeetingId, Vec<debrief_slides::Slide>> = HashMap::new();
    let mut seen_slides: HashSet<(MeetingId, usize)> = HashSet::new();
    let mut names: HashMap<MeetingId, Vec<debrief_speakers::SpeakerRow>> = HashMap::new();
    for mut hit in raw {
        if hit.kind == "slide" {
            let list = match slides.entry(hit.meeting_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(debrief_slides::slides(db, hit.meeting_id)?),
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
                    e.insert(debrief_speakers::load_speakers(db, hit.meeting_id)?)
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
pub fn entries(db: &mut Db<'_>, m: MeetingId) -> Result<i64, SearchError> {
    Ok(match db {
        Db::Sqlite(c) => c.prepare_cached(COUNT)?.query_row(named_params! { ":meeting_id": m }, |r| r.get(0))?,
        Db::Postgres(c) => c.query_one(PG_COUNT, &[&m.0])?.get(0),
    })
}

/// `snippet` with its match marks replaced by `start` and `end`.
pub fn highlight(snippet: &str, start: &str, end: &str) -> String {
    snippet.replace(MATCH_START, start).replace(MATCH_END, end)
}

#[cfg(test)]
mod tests;
