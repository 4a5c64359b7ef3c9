//! Issue 16: `foreman report` loaded in a real headless Chromium, and `foreman search`
//! across meetings, on the sample meeting processed by the real workers (Whisper, the
//! speaker analysis and SmolLM2's summary).

use std::path::{Path, PathBuf};
use std::time::Duration;

use debrief_jobq::{MeetingId, Queue, QueueConfig};
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::common::*;

/// Untrusted text where the page could go wrong: markup, quotes, an ampersand.
const TITLE: &str = "<script>window.pwned=1</script> Q3 \"plans\" & <b>budget</b>";
const NAME: &str = "<i>Carol</i> & 'co'";

fn foreman_ok(data: &Path, args: &[&str]) -> String {
    let (st, out, err) = run_out(debrief("foreman", data).args(args), Duration::from_secs(300));
    assert!(st.success(), "foreman {args:?}: {err}");
    out
}

fn search_json(data: &Path, args: &[&str]) -> Value {
    let mut all = vec!["search"];
    all.extend_from_slice(args);
    all.push("--json");
    serde_json::from_str(&foreman_ok(data, &all)).unwrap()
}

fn index_entries(q: &Queue, m: MeetingId) -> i64 {
    q.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM search_index WHERE meeting_id = ?1", [m], |r| r.get(0))?)).unwrap()
}

/// Rows the index should hold for an exported meeting: every line, item and overview.
fn expected_entries(export: &Value) -> i64 {
    let s = &export["summary"];
    let items: usize = ["key_points", "decisions", "action_items", "open_questions"]
        .iter()
        .map(|k| s[k].as_array().map_or(0, Vec::len))
        .sum();
    let overview = usize::from(!s["overview"].as_str().unwrap_or("").is_empty());
    (export["segments"].as_array().unwrap().len() + items + overview) as i64
}

fn process(data: &Path) {
    let (st, _, err) = run_out(
        debrief("foreman", data).args(["run", "--spawn", "--until-idle", "--interval", "0.2"]),
        Duration::from_secs(900),
    );
    assert!(st.success(), "{err}");
}

/// Where test artifacts go: `target/test-artifacts` beside the test binaries.
fn artifacts() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).and_then(Path::parent).unwrap().join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn issue16_report_in_a_real_browser_and_search_across_meetings() {
    let s = Scratch::new();
    let data = s.path("data");
    let (st, out, err) = run_out(
        debrief("ingest", &data).arg("import").arg(crate::asr::sample()).args(["--title", TITLE]),
        Duration::from_secs(120),
    );
    assert!(st.success(), "{err}");
    let m: MeetingId = out.lines().last().unwrap().trim().parse().unwrap();
    process(&data);
    let q = Queue::open(&data.join("debrief.db"), QueueConfig::default()).unwrap();
    assert_eq!(q.meeting(m).unwrap().unwrap().status.as_str(), "DONE");
    foreman_ok(&data, &["speakers", &m.to_string(), "--rename", &format!("S2={NAME}")]);
    let export: Value = serde_json::from_str(&export_meeting(&data, m, "json")).unwrap();
    let segments = export["segments"].as_array().unwrap().clone();
    let summary = &export["summary"];
    let items: Vec<Value> = ["decisions", "action_items", "open_questions", "key_points"]
        .iter()
        .flat_map(|k| summary[k].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(items.len() >= 3 && segments.len() >= 10, "a real summary and transcript: {export}");
    assert!(segments.iter().any(|s| s["speaker"] == NAME), "the renamed speaker speaks");

    // The page, its audio beside it.
    let page = s.path("out/report.html");
    std::fs::create_dir_all(page.parent().unwrap()).unwrap();
    foreman_ok(&data, &["report", &m.to_string(), "--out", page.to_str().unwrap()]);
    let files = s.path("out/report_files");
    assert!(files.join("audio.wav").is_file());
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script>window") && !html.contains("<i>Carol"), "untrusted text is escaped");
    assert!(!html.contains("http://") && !html.contains("https://"), "no network address in the page");

    let b = Browser::start(&s.path("chromium-profile"));
    b.open(&format!("file://{}", page.display()));
    b.wait_until("return document.readyState === 'complete'", Duration::from_secs(30), "the page");
    // The title is shown as text; its script never ran.
    let v = b.eval(
        "return [document.title, document.getElementById('title').textContent, typeof window.pwned, \
         document.scripts.length, document.querySelectorAll('h1 b, #transcript i, .who i').length]",
    );
    assert_eq!(v, json!([TITLE, TITLE, "undefined", 1, 0]));
    // Every transcript line, in order, with its speaker's name (as text).
    let lines = b.eval(
        "return Array.from(document.querySelectorAll('#transcript li.line')).map(l => \
         [l.querySelector('.text').textContent, (l.querySelector('.who') || {}).textContent || null, l.id])",
    );
    let lines = lines.as_array().unwrap();
    assert_eq!(lines.len(), segments.len());
    for (i, (l, seg)) in lines.iter().zip(&segments).enumerate() {
        assert_eq!(l[0].as_str().unwrap(), seg["text"].as_str().unwrap().trim(), "line {i}");
        assert_eq!(l[1], seg["speaker"], "line {i}");
        assert_eq!(l[2], json!(format!("l{i}")));
    }
    // Summary items with their words and citation times.
    let shown = b.eval(
        "return Array.from(document.querySelectorAll('#summary li.item')).map(li => \
         [li.querySelector('.text').textContent, parseFloat(li.querySelector('button.t').dataset.t)])",
    );
    let shown = shown.as_array().unwrap();
    assert_eq!(shown.len(), items.len());
    for (s, i) in shown.iter().zip(&items) {
        assert_eq!(s[0], i["text"]);
        let t = i["start_ms"].as_f64().unwrap() / 1000.0;
        assert!((s[1].as_f64().unwrap() - t).abs() < 0.01, "{s} vs {i}");
    }
    // The speaker timeline: one bar per turn, a talk-time row per speaker.
    let turns: i64 = q
        .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM speaker_turns WHERE meeting_id = ?1", [m], |r| r.get(0))?))
        .unwrap();
    let v = b.eval(
        "return [document.querySelectorAll('#timeline rect').length, \
         Array.from(document.querySelectorAll('table.talk tbody td:first-child')).map(td => td.textContent)]",
    );
    assert_eq!(v[0], json!(turns));
    assert!(v[1].as_array().unwrap().iter().any(|n| n.as_str().unwrap().starts_with(NAME)), "{v}");

    // The audio loads (the page's security policy lets the local file in).
    b.wait_until(
        "const a = document.getElementById('player'); return a.readyState >= 1 && a.duration > 0",
        Duration::from_secs(30),
        "the audio's metadata",
    );
    let duration = b.eval("return document.getElementById('player').duration").as_f64().unwrap();
    assert!((duration - 76.0).abs() < 1.5, "the meeting's audio: {duration} s");

    // Clicking an item's time plays from the line it cites, which is then highlighted.
    let item = items.iter().rev().find(|i| i["start_ms"].as_i64().unwrap() > 5_000).expect("an item after 0:05");
    let t = item["start_ms"].as_f64().unwrap() / 1000.0;
    let line = item["lines"][0].as_u64().unwrap();
    let button = b.find(&format!("#summary li.item button.t[data-t=\"{t:.2}\"]"));
    let before = b.eval("return document.getElementById('player').currentTime").as_f64().unwrap();
    assert!(before < 1.0);
    b.click(&button);
    b.wait_until(
        &format!(
            "const a = document.getElementById('player'); return !a.seeking && Math.abs(a.currentTime - {t}) < 1.5"
        ),
        Duration::from_secs(10),
        "the audio at the cited time",
    );
    let v = b.eval(
        "const a = document.getElementById('player'); a.pause(); \
         const p = document.querySelectorAll('#transcript li.playing'); return [a.currentTime, p.length, p[0] && p[0].id]");
    let now = v[0].as_f64().unwrap();
    assert!(now >= t - 0.05 && now < t + 1.5, "clicked {t}, playing at {now}");
    assert_eq!((v[1].clone(), v[2].clone()), (json!(1), json!(format!("l{line}"))), "the cited line is highlighted");
    // Clicking a transcript line plays from it.
    let target = &segments[segments.len() / 2];
    let lt = target["start_ms"].as_f64().unwrap() / 1000.0;
    b.click(&b.find(&format!("#l{} .text", segments.len() / 2)));
    b.wait_until(
        &format!(
            "const a = document.getElementById('player'); return !a.seeking && Math.abs(a.currentTime - {lt}) < 1.5"
        ),
        Duration::from_secs(10),
        "the audio at the clicked line",
    );

    // Find in meeting: lines without the word are hidden, the word is marked.
    let with_budget = segments.iter().filter(|s| s["text"].as_str().unwrap().to_lowercase().contains("budget")).count();
    assert!(with_budget >= 1);
    b.type_into(&b.find("#find"), "budget");
    let v = b.eval(
        "return [document.querySelectorAll('#transcript li.line:not(.hidden)').length, \
         document.querySelectorAll('#transcript mark').length, document.getElementById('found').textContent]",
    );
    assert_eq!(v[0], json!(with_budget), "{v}");
    assert!(v[1].as_u64().unwrap() >= with_budget as u64, "{v}");
    let png = b.screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let shot = artifacts().join("report.png");
    std::fs::write(&shot, &png).unwrap();
    eprintln!("screenshot: {}", shot.display());

    // One file to send: the audio inside the page.
    let single = s.path("single/one.html");
    std::fs::create_dir_all(single.parent().unwrap()).unwrap();
    foreman_ok(&data, &["report", &m.to_string(), "--audio", "embed", "--out", single.to_str().unwrap()]);
    assert!(!s.path("single/one_files").exists(), "nothing beside an embedded report");
    b.open(&format!("file://{}", single.display()));
    b.wait_until(
        "const a = document.getElementById('player'); return a.readyState >= 1 && Math.abs(a.duration - 76) < 1.5",
        Duration::from_secs(30),
        "the embedded audio",
    );
    drop(b);

    // Search: lines, items, speakers by their new name.
    let hits = search_json(&data, &["budget"]);
    let hits = hits["hits"].as_array().unwrap().clone();
    assert!(hits.iter().filter(|h| h["kind"] == "line").count() >= with_budget, "{hits:?}");
    assert!(hits.iter().all(|h| h["meeting_id"] == json!(m.0) && h["snippet"].as_str().unwrap().contains("«")));
    let by_name = search_json(&data, &["dashwood", "--speaker", NAME]);
    let by_name = by_name["hits"].as_array().unwrap();
    assert!(!by_name.is_empty() && by_name.iter().all(|h| h["speaker"] == NAME), "{by_name:?}");
    assert!(search_json(&data, &["budget", "--speaker", NAME])["hits"].as_array().unwrap().is_empty());
    assert_eq!(index_entries(&q, m), expected_entries(&export), "one index row per line and item");

    // A re-run (re-clustering re-runs the TRANSCRIPT job, then the summary) replaces
    // its rows: no duplicate hits.
    foreman_ok(&data, &["speakers", &m.to_string(), "--num", "2"]);
    process(&data);
    let again: Value = serde_json::from_str(&export_meeting(&data, m, "json")).unwrap();
    assert_eq!(index_entries(&q, m), expected_entries(&again), "after the re-run");
    let lines_again =
        search_json(&data, &["budget"])["hits"].as_array().unwrap().iter().filter(|h| h["kind"] == "line").count();
    assert_eq!(lines_again, hits.iter().filter(|h| h["kind"] == "line").count());

    // Cancelled: not shown. Deleted: nothing left, files gone.
    foreman_ok(&data, &["cancel", &m.to_string()]);
    assert!(search_json(&data, &["budget"])["hits"].as_array().unwrap().is_empty());
    foreman_ok(&data, &["delete", &m.to_string()]);
    assert_eq!(index_entries(&q, m), 0);
    let total: i64 = q.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM search_index", [], |r| r.get(0))?)).unwrap();
    assert_eq!(total, 0);
    assert!(!data.join("meetings").join(m.to_string()).exists());
    // A delete interrupted between its transaction and the files: a second one finishes.
    let leftover = data.join("meetings").join(m.to_string()).join("audio");
    std::fs::create_dir_all(&leftover).unwrap();
    foreman_ok(&data, &["delete", &m.to_string()]);
    assert!(!data.join("meetings").join(m.to_string()).exists());
    let (st, _, _) = run_out(debrief("foreman", &data).args(["delete", &m.to_string()]), Duration::from_secs(60));
    assert!(!st.success(), "nothing left to delete");
    let (st, _, _) = run_out(debrief("foreman", &data).args(["export", &m.to_string()]), Duration::from_secs(60));
    assert!(!st.success());
}
