//! Search latency over a year of meetings, for `scripts/bench-search`.
//!
//! `search-bench --data DIR --pool FILE [--meetings 500] [--runs 40] [--foreman PATH]`
//! builds a data directory of N meetings from real transcript lines (FILE: one line of
//! real speech per line), written through the real stores (transcripts, speakers,
//! summaries: the schema's triggers index them), spread over a year, with 2-6 speakers
//! and 300-700 lines each. One meeting also says a planted sentence, which the rare
//! query must rank first. Then each query runs `--runs` times through
//! `debrief_search::search` (what `foreman search` calls), beside a baseline in the same
//! run: the same words found by `LIKE '%word%'` over the transcript table (what a tool
//! without a full-text index does). With `--foreman`, `foreman search` is also timed as
//! a whole process. The last stdout line is JSON.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use debrief_jobq::{MeetingId, Queue, QueueConfig, QueueError};
use debrief_search::Query;
use debrief_transcript::Segment;
use serde_json::json;

#[derive(Parser)]
struct Cli {
    /// Data directory to create (must not exist).
    #[arg(long)]
    data: PathBuf,
    /// Real transcript lines, one per line.
    #[arg(long)]
    pool: PathBuf,
    #[arg(long, default_value_t = 500)]
    meetings: usize,
    #[arg(long, default_value_t = 40)]
    runs: usize,
    /// Also time `foreman search` as a process.
    #[arg(long)]
    foreman: Option<PathBuf>,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// (name, query, speaker, since, the words a LIKE scan looks for).
type Case<'a> = (&'a str, &'a str, Option<&'a str>, Option<i64>, &'a [&'a str]);

const PLANTED: &str = "Our zebrafish pricing proposal goes to the legal team on Tuesday.";
const DAY_MS: i64 = 86_400_000;

fn main() -> Result<()> {
    let cli = Cli::parse();
    ensure!(!cli.data.exists(), "{} exists; give a new directory", cli.data.display());
    let pool: Vec<String> = std::fs::read_to_string(&cli.pool)
        .with_context(|| format!("reading {}", cli.pool.display()))?
        .lines()
        .map(str::trim)
        .filter(|l| l.split_whitespace().count() >= 3)
        .map(str::to_string)
        .collect();
    ensure!(pool.len() >= 100, "{}: only {} usable lines", cli.pool.display(), pool.len());
    std::fs::create_dir_all(&cli.data)?;
    let q = Queue::open(&cli.data.join("debrief.db"), QueueConfig::default())?;
    let mut rng = fastrand::Rng::with_seed(cli.seed);
    let now = debrief_jobq::now_ms();
    let planted_in = cli.meetings * 2 / 3;
    let names = ["Ana", "Ben", "Carol", "Dana", "Eve", "Femi"];
    let started = Instant::now();
    let mut lines_total = 0usize;
    for k in 0..cli.meetings {
        let title = pool[rng.usize(..pool.len())].split_whitespace().take(5).collect::<Vec<_>>().join(" ");
        let m = q.create_meeting(Some(&title), Some("bench"))?;
        let speakers = rng.usize(2..=6);
        let n = rng.usize(300..=700);
        let mut t = 0i64;
        let mut segments: Vec<Segment> = (0..n)
            .map(|_| {
                let text = pool[rng.usize(..pool.len())].clone();
                let len = 1_500 + 350 * text.split_whitespace().count() as i64;
                let s = Segment {
                    start_ms: t,
                    end_ms: t + len,
                    speaker: Some(format!("S{}", rng.usize(1..=speakers))),
                    text,
                    words: Vec::new(),
                };
                t += len + rng.i64(200..2_000);
                s
            })
            .collect();
        if k == planted_in {
            let at = n / 2;
            segments[at].text = PLANTED.into();
        }
        lines_total += segments.len();
        // Spread over the last year, oldest first.
        let created = now - (cli.meetings - k) as i64 * 365 * DAY_MS / cli.meetings as i64;
        let d = debrief_speakers::Diarization {
            speakers: (1..=speakers)
                .map(|i| debrief_speakers::Speaker { label: format!("S{i}"), talk_ms: 1, local: false })
                .collect(),
            turns: Vec::new(),
            embeddings: 0,
        };
        let items: Vec<debrief_summary::Item> = (0..rng.usize(3..=8))
            .map(|_| {
                let i = rng.usize(..segments.len());
                let s = &segments[i];
                debrief_summary::Item {
                    text: s.text.clone(),
                    owner: None,
                    due: None,
                    due_date: None,
                    start_ms: s.start_ms,
                    end_ms: s.end_ms,
                    lines: vec![i],
                    slides: Vec::new(),
                    speaker: s.speaker.clone(),
                    heard: None,
                }
            })
            .collect();
        let summary = debrief_summary::Summary {
            overview: format!("{speakers} speakers over {} minutes.", t / 60_000),
            key_points: items,
            ..Default::default()
        };
        q.write(|tx| {
            debrief_transcript::store_transcript(&mut debrief_jobq::Tx::Sqlite(tx), m, &segments)?;
            debrief_speakers::store_diarization(&mut debrief_jobq::Tx::Sqlite(tx), m, &d)?;
            debrief_speakers::rename_speaker(&mut debrief_jobq::Tx::Sqlite(tx), m, "S1", Some(names[k % names.len()]))?;
            debrief_summary::store::put_summary(&mut debrief_jobq::Tx::Sqlite(tx), m, &summary, "bench", 1)?;
            tx.execute(
                "UPDATE meetings SET created_at = ?2, status = 'DONE', duration_ms = ?3 WHERE meeting_id = ?1",
                rusqlite::params![m, created, t],
            )?;
            Ok::<_, QueueError>(())
        })?;
    }
    let build_s = started.elapsed().as_secs_f64();
    let planted_meeting = MeetingId(i64::try_from(planted_in).unwrap_or(0) + 1);
    let db_bytes = std::fs::metadata(cli.data.join("debrief.db"))?.len();
    eprintln!(
        "built {} meetings, {lines_total} lines in {build_s:.1} s; database {:.1} MB",
        cli.meetings,
        db_bytes as f64 / 1e6
    );

    let conn = rusqlite::Connection::open(cli.data.join("debrief.db"))?;
    let month_ago = now - 30 * DAY_MS;
    let cases: [Case<'_>; 6] = [
        ("rare", "zebrafish pricing", None, None, &["zebrafish", "pricing"]),
        ("common", "conference", None, None, &["conference"]),
        ("phrase", "\"personal identification number\"", None, None, &["personal identification number"]),
        ("prefix", "particip*", None, None, &["particip"]),
        ("speaker", "conference", Some("Carol"), None, &["conference"]),
        ("since", "conference", None, Some(month_ago), &["conference"]),
    ];
    let mut results = Vec::new();
    eprintln!(
        "{:<8} {:>8} {:>10} {:>10} {:>6} {:>13} {:>8}",
        "query", "matches", "median ms", "p95 ms", "hits", "LIKE scan ms", "ratio"
    );
    for (name, text, speaker, since, like) in cases {
        let query = Query {
            text: text.into(),
            meeting: None,
            speaker: speaker.map(str::to_string),
            since_ms: since,
            limit: 20,
        };
        let mut times = Vec::with_capacity(cli.runs);
        let mut hits = Vec::new();
        for _ in 0..cli.runs {
            let t = Instant::now();
            hits = debrief_search::search(&mut debrief_jobq::Db::Sqlite(&conn), &query)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        if name == "rare" {
            let top = hits.first().context("the planted sentence was not found")?;
            ensure!(top.meeting_id == planted_meeting, "top hit is meeting {}, not {planted_meeting}", top.meeting_id);
        }
        let (median, p95) = stats(&mut times);
        // How many index rows the words match (the ranking's work).
        let matches: i64 = conn.query_row(
            "SELECT COUNT(*) FROM search_index WHERE search_index MATCH ?1",
            [debrief_search::fts_query(text).unwrap_or_default()],
            |r| r.get(0),
        )?;
        let like_sql = format!(
            "SELECT COUNT(*) FROM transcript_segments WHERE {}",
            like.iter().map(|_| "text LIKE ?").collect::<Vec<_>>().join(" AND ")
        );
        let params: Vec<String> = like.iter().map(|w| format!("%{w}%")).collect();
        let mut base = Vec::new();
        for _ in 0..cli.runs.clamp(1, 10) {
            let t = Instant::now();
            let _: i64 = conn.query_row(&like_sql, rusqlite::params_from_iter(params.iter()), |r| r.get(0))?;
            base.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let (base_median, _) = stats(&mut base);
        eprintln!(
            "{name:<8} {matches:>8} {median:>10.2} {p95:>10.2} {:>6} {base_median:>13.1} {:>8.3}",
            hits.len(),
            median / base_median
        );
        results.push(json!({
            "query": name, "text": text, "matches": matches, "median_ms": median, "p95_ms": p95, "hits": hits.len(),
            "like_scan_median_ms": base_median, "ratio_vs_like": median / base_median,
        }));
    }
    let mut process = serde_json::Value::Null;
    if let Some(foreman) = &cli.foreman {
        let mut times = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            let out = std::process::Command::new(foreman)
                .arg("--data-dir")
                .arg(&cli.data)
                .args(["search", "zebrafish pricing", "--json"])
                .output()?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            ensure!(out.status.success(), "foreman search: {}", String::from_utf8_lossy(&out.stderr));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            ensure!(v["hits"][0]["meeting_id"] == json!(planted_meeting.0), "foreman search's top hit: {v}");
        }
        let (median, p95) = stats(&mut times);
        eprintln!("foreman search as a process: median {median:.1} ms, p95 {p95:.1} ms (start, open, query, print)");
        process = json!({"median_ms": median, "p95_ms": p95});
    }
    println!(
        "{}",
        json!({
            "meetings": cli.meetings, "lines": lines_total, "db_mb": db_bytes as f64 / 1e6, "build_s": build_s,
            "planted_top_hit": true, "queries": results, "foreman_process": process, "goal_median_ms": 50,
        })
    );
    Ok(())
}

/// (median, 95th percentile).
fn stats(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.95))
}
