//! `foreman search`: ranked hits across every meeting (transcript lines, summary items,
//! slide text), from the FTS5 index the schema's triggers keep, or PostgreSQL's
//! full-text search on a shared queue (`crates/search`).

use std::io::IsTerminal;

use anyhow::{bail, Result};
use debrief_jobq::{AnyQueue, MeetingId};
use debrief_search::{highlight, Hit, Query};
use debrief_summary::dates::Day;

use crate::status::for_terminal;

/// What `foreman search` was asked.
pub(crate) struct Args<'a> {
    pub query: &'a str,
    pub meeting: Option<MeetingId>,
    pub speaker: Option<&'a str>,
    pub since: Option<&'a str>,
    pub limit: usize,
    pub json: bool,
}

pub(crate) fn search(q: &AnyQueue, a: &Args<'_>) -> Result<()> {
    let since_ms = a.since.map(|s| since(s, debrief_jobq::now_ms())).transpose()?;
    let query = Query {
        text: a.query.to_string(),
        meeting: a.meeting,
        speaker: a.speaker.map(str::to_string),
        since_ms,
        limit: a.limit,
    };
    let started = std::time::Instant::now();
    let hits =
        q.read(|db| debrief_search::search(db, &query).map_err(|e| debrief_jobq::QueueError::Invalid(e.to_string())))?;
    let took = started.elapsed();
    if a.json {
        let doc = serde_json::json!({
            "query": a.query,
            "took_ms": took.as_secs_f64() * 1000.0,
            "hits": hits.iter().map(|h| {
                let mut v = serde_json::to_value(h).unwrap_or_default();
                v["snippet"] = highlight(&h.snippet, "«", "»").into();
                v["time"] = debrief_transcript::export::clock(h.t_ms).into();
                v
            }).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    if hits.is_empty() {
        println!("no match for {:?}", a.query);
        return Ok(());
    }
    let bold = std::io::stdout().is_terminal();
    let (on, off) = if bold { ("\x1b[1m", "\x1b[0m") } else { ("[", "]") };
    for h in &hits {
        println!("{}", line(h, on, off));
    }
    eprintln!("{} hit(s) in {:.1} ms", hits.len(), took.as_secs_f64() * 1000.0);
    Ok(())
}

/// `meeting 12 "Pricing review" 2026-11-03 [0:04:12] S2 (line): ...the [pricing] page...`
fn line(h: &Hit, on: &str, off: &str) -> String {
    let title = h.title.as_deref().map(|t| format!(" \"{}\"", for_terminal(t))).unwrap_or_default();
    let who = h.speaker.as_deref().map(|s| format!(" {}", for_terminal(s))).unwrap_or_default();
    let what = match (h.kind.as_str(), h.slide) {
        ("line", _) => String::new(),
        ("slide", Some(n)) => format!(" (slide {})", n + 1),
        (k, _) => format!(" ({k})"),
    };
    // Marks first become the terminal's highlighting; every other control character
    // from the stored text is shown escaped.
    let snippet = for_terminal(&h.snippet.replace('\n', " ")).replace("\\u{2}", on).replace("\\u{3}", off);
    format!(
        "meeting {}{title} {} [{}]{who}{what}: {snippet}",
        h.meeting_id,
        Day::of_ms(h.created_at).iso(),
        debrief_transcript::export::clock(h.t_ms)
    )
}

/// `--since`: a day (`2026-11-01`, UTC midnight) or a span back from now (`7d`, `4w`).
fn since(s: &str, now_ms: i64) -> Result<i64> {
    let t = s.trim();
    if let Some(n) = t.strip_suffix('d').or_else(|| t.strip_suffix('w')).and_then(|n| n.parse::<i64>().ok()) {
        let days = if t.ends_with('w') { n * 7 } else { n };
        return Ok(now_ms - days * 86_400_000);
    }
    let parts: Vec<&str> = t.split('-').collect();
    if let [y, m, d] = parts.as_slice() {
        if let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i64>(), m.parse::<u32>(), d.parse::<u32>()) {
            if (1..=12).contains(&m) && (1..=31).contains(&d) {
                return Ok(Day::from_ymd(y, m, d).0 * 86_400_000);
            }
        }
    }
    bail!("--since {s:?}: expected a day such as 2026-11-01, or a span such as 7d or 4w")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_days_and_spans() {
        assert_eq!(since("1970-01-02", 0).unwrap(), 86_400_000);
        assert_eq!(since("7d", 10 * 86_400_000).unwrap(), 3 * 86_400_000);
        assert_eq!(since("1w", 7 * 86_400_000).unwrap(), 0);
        assert!(since("yesterday", 0).is_err() && since("2026-13-01", 0).is_err());
    }

    #[test]
    fn hit_lines_escape_stored_text_and_mark_matches() {
        let h = Hit {
            meeting_id: MeetingId(3),
            title: Some("Q3 \x1b[31mreview".into()),
            created_at: 0,
            kind: "decision".into(),
            t_ms: 65_000,
            speaker: Some("Dana".into()),
            segment: None,
            slide: None,
            snippet: "we \u{2}ship\u{3} in May\x07".into(),
            text: String::new(),
            score: -1.0,
        };
        assert_eq!(
            line(&h, "[", "]"),
            "meeting 3 \"Q3 \\u{1b}[31mreview\" 1970-01-01 [0:01:05] Dana (decision): we [ship] in May\\u{7}"
        );
    }
}
