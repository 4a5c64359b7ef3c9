//! Issue 5: the summary worker with the real SmolLM2-135M, in process (llama.cpp) and
//! through a real OpenAI-compatible server (llama.cpp's server from the xllamacpp wheel),
//! plus resume after SIGKILL and servers that are down or answer nonsense.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use debrief_jobq::{MeetingId, Queue, QueueConfig, TaskType, WorkerIdent};
use debrief_transcript::Segment;
use serde_json::Value;

use crate::common::*;

/// A scripted stand-up: (start s, speaker, text). Known: one decision (ship on May 3rd),
/// action items owned by Ben (release notes, Thursday) and Carol (login bug, Monday), one
/// open question (who updates the website).
pub(crate) const SCRIPT: &[(i64, &str, &str)] = &[
    (0, "Ana", "Good morning everyone. Let's plan the release."),
    (6, "Ben", "We decided to ship version two on May 3rd."),
    (12, "Ana", "Ben will write the release notes by Thursday."),
    (18, "Carol", "I will fix the login bug before Monday."),
    (24, "Dana", "Who will update the website? Nobody knows yet."),
    (30, "Ana", "Thanks everyone, meeting over."),
];

/// A closed meeting whose TRANSCRIPT job this test completes with `script` (standing in
/// for the audio worker), and whose SUMMARY job the foreman plans. Returns its id.
pub(crate) fn meeting_with_transcript(data: &Path, script: &[(i64, &str, &str)]) -> MeetingId {
    let q = Queue::open(&data.join("debrief.db"), QueueConfig::default()).unwrap();
    let end_ms = script.last().map_or(0, |l| l.0 * 1000 + 5000);
    let m = q.create_meeting(Some("Release planning"), None).unwrap();
    assert!(q.close_meeting(m, Some(end_ms)).unwrap());
    let (st, _, err) = run_out(debrief("foreman", data).args(["run", "--once"]), Duration::from_secs(60));
    assert!(st.success(), "{err}");
    let segments: Vec<Segment> = script
        .iter()
        .map(|(s, who, text)| Segment {
            start_ms: s * 1000,
            end_ms: s * 1000 + 5000,
            speaker: Some((*who).into()),
            text: (*text).into(),
            words: Vec::new(),
        })
        .collect();
    let claim =
        q.claim(&WorkerIdent::current("test-transcript"), TaskType::Transcript).unwrap().expect("the TRANSCRIPT job");
    q.complete_with(&claim, &serde_json::json!({}), |tx| {
        Ok(debrief_transcript::store_transcript(&mut debrief_jobq::Tx::Sqlite(tx), m, &segments)?)
    })
    .unwrap();
    m
}

pub(crate) fn summary_worker(data: &Path) -> Command {
    let mut c = Command::new(workspace_bin("summary-worker"));
    // One thread: the CI box has two cores shared with the test harness.
    c.args(["run", "--until-idle", "--no-tune", "--threads", "1", "--data-dir"]).arg(data);
    c
}

fn export(data: &Path, meeting: MeetingId, format: &str) -> String {
    let (st, out, err) = run_out(
        debrief("foreman", data).args(["export", &meeting.to_string(), "--format", format]),
        Duration::from_secs(60),
    );
    assert!(st.success(), "{err}");
    out
}

/// Checks the exported summary's structure and its grounding (issue 14): every item
/// cites a transcript line by index, carries that line's times, and (unless a prose
/// model worded it) shows that line's own words. Returns it.
fn checked_summary(
    data: &Path,
    meeting: MeetingId,
    script: &[(i64, &str, &str)],
    own_words: bool,
    need_items: bool,
) -> Value {
    let v: Value = serde_json::from_str(&export(data, meeting, "json")).unwrap();
    let s = v["summary"].clone();
    let segments = v["segments"].as_array().unwrap();
    assert_eq!(segments.len(), script.len());
    assert!(s["overview"].as_str().is_some_and(|o| !o.trim().is_empty()), "an overview: {s:#}");
    let mut items = 0;
    for list in ["key_points", "decisions", "action_items", "open_questions"] {
        for i in s[list].as_array().unwrap_or_else(|| panic!("{list} is a list: {s:#}")) {
            items += 1;
            let lines = i["lines"].as_array().unwrap_or_else(|| panic!("{list} item cites no line: {i}"));
            assert_eq!(lines.len(), 1, "{i}");
            let n = lines[0].as_u64().unwrap() as usize;
            let (at, _, said) = script[n];
            assert_eq!(
                (i["start_ms"].as_i64(), i["end_ms"].as_i64()),
                (Some(at * 1000), Some(at * 1000 + 5000)),
                "{i}"
            );
            let text = i["text"].as_str().unwrap();
            assert!(text.len() >= 3, "{i}");
            if own_words {
                assert!(said.contains(text), "{list} item {text:?} is not the words of line {n} ({said:?})");
            }
        }
    }
    assert!(items > 0 || !need_items, "the summary names something: {s:#}");
    s
}

fn owners(s: &Value) -> Vec<String> {
    s["action_items"].as_array().unwrap().iter().filter_map(|i| i["owner"].as_str().map(str::to_owned)).collect()
}

#[test]
fn issue5_smollm2_summarises_a_scripted_meeting_with_times_and_owners() {
    let s = Scratch::new();
    let data = s.dir.path().to_path_buf();
    let m = meeting_with_transcript(&data, SCRIPT);
    let (st, _, err) = run_out(&mut summary_worker(&data), Duration::from_secs(600));
    assert!(st.success(), "{err}");
    assert!(err.contains("model unloaded"), "the model is unloaded before exit: {err}");
    let sum = checked_summary(&data, m, SCRIPT, true, true);
    let owners = owners(&sum);
    assert!(
        owners.iter().any(|o| o.contains("Ben") || o.contains("Carol")),
        "a known action item's owner is named: {owners:?} in {sum:#}\n{err}"
    );
    // Owners and due dates are copied from the cited line, the date relative to the
    // meeting's day; the summary says how its items were made.
    for a in sum["action_items"].as_array().unwrap() {
        if a["owner"] == "Ben" {
            assert_eq!(a["due"], "by Thursday", "{a}");
            let day = a["due_date"].as_str().unwrap();
            assert!(day.len() == 10 && day.starts_with("20"), "{a}");
        }
    }
    assert!(sum["model"].as_str().unwrap().contains("the cited lines' own words"), "{sum:#}");
    let md = export(&data, m, "md");
    let (summary_at, transcript_at) = (md.find("## Summary").expect(&md), md.find("## Transcript").expect(&md));
    assert!(summary_at < transcript_at, "summary first:\n{md}");
    assert!(md[summary_at..transcript_at].contains("### Action items\n\n- [0:"), "timestamped items:\n{md}");
    // The foreman sees the meeting through.
    let (st, _, err) = run_out(debrief("foreman", &data).args(["run", "--once"]), Duration::from_secs(60));
    assert!(st.success(), "{err}");
    let q = Queue::open(&data.join("debrief.db"), QueueConfig::default()).unwrap();
    assert_eq!(q.meeting(m).unwrap().unwrap().status, "DONE");
}

/// The embedded default (Gemma 3 270M, joined from its four pinned PyPI wheels) on the
/// scripted meeting: every item is a line's own words with its citation, the known
/// decision and commitments are found, and the summary says which model wrote it.
#[test]
fn issue14_the_default_model_summarises_a_scripted_meeting_from_its_own_lines() {
    let s = Scratch::new();
    let data = s.dir.path().to_path_buf();
    let m = meeting_with_transcript(&data, SCRIPT);
    let (st, _, err) = run_out(summary_worker(&data).env_remove("DEBRIEF_LLM_MODEL"), Duration::from_secs(900));
    assert!(st.success(), "{err}");
    assert!(err.contains("gemma-3-270m"), "the default model is Gemma 3 270M: {err}");
    let sum = checked_summary(&data, m, SCRIPT, true, true);
    assert!(sum["model"].as_str().unwrap().contains("gemma-3-270m"), "{sum:#}");
    let all = |list: &str| -> Vec<String> {
        sum[list].as_array().unwrap().iter().map(|i| i["text"].as_str().unwrap().to_string()).collect()
    };
    let decisions = all("decisions");
    assert!(decisions.iter().any(|d| d.contains("May 3rd")), "the release decision: {sum:#}");
    let owners = owners(&sum);
    assert!(owners.iter().any(|o| o == "Ben") && owners.iter().any(|o| o == "Carol"), "{owners:?} in {sum:#}");
    assert!(all("open_questions").iter().any(|q| q.contains("website")), "{sum:#}");
}

#[test]
fn issue5_sigkill_in_the_map_phase_resumes_from_the_finished_windows() {
    let s = Scratch::new();
    let data = s.dir.path().to_path_buf();
    // The script twice over, so that small windows give several of them.
    let long: Vec<(i64, &str, &str)> =
        (0..2).flat_map(|k| SCRIPT.iter().map(move |(t, w, x)| (t + 36 * k, *w, *x))).collect();
    let m = meeting_with_transcript(&data, &long);
    let q = Queue::open(&data.join("debrief.db"), QueueConfig::default()).unwrap();
    let rows = || q.read(|c| debrief_summary::store::windows(&mut debrief_jobq::Db::Sqlite(c), m)).unwrap();
    let (mut child, _err) = spawn_drained(summary_worker(&data).args(["--window-tokens", "60"]));
    eventually(Duration::from_secs(300), "the first window's notes", || !rows().is_empty());
    kill9(&mut child);
    let before = rows();
    assert!(
        q.read(|c| debrief_summary::store::summary(&mut debrief_jobq::Db::Sqlite(c), m)).unwrap().is_none(),
        "killed before the summary"
    );

    let (st, _, err) = run_out(summary_worker(&data).args(["--window-tokens", "60"]), Duration::from_secs(600));
    assert!(st.success(), "{err}");
    let after = rows();
    assert!(after.len() > before.len() && after.len() >= 3, "{} windows after, {} before", after.len(), before.len());
    for b in &before {
        let a = &after[b.idx];
        assert_eq!(
            (a.window_id, a.created_at, &a.input_sha256),
            (b.window_id, b.created_at, &b.input_sha256),
            "window {} was reused, not recomputed",
            b.idx
        );
    }
    assert_eq!(err.matches("reusing the notes").count(), before.len(), "{err}");
    let idx: Vec<usize> = after.iter().map(|w| w.idx).collect();
    assert_eq!(idx, (0..after.len()).collect::<Vec<_>>());
    // One or two lines per window: SmolLM2 may label them all `none`; the point here
    // is the resume, and that whatever it lists is grounded.
    checked_summary(&data, m, &long, true, false);
    let job = q.meeting_jobs(m).unwrap().into_iter().find(|j| j.task_type == "SUMMARY").unwrap();
    assert_eq!(
        (job.status.as_str(), job.result.as_ref().unwrap()["reused_windows"].as_u64()),
        ("COMPLETED", Some(before.len() as u64))
    );
}

/// A loopback port nobody listens on (the OS just handed it out).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The GGUF the worker fetched by default (`smollm2-135m`).
pub(crate) fn smollm2(data: &Path) -> PathBuf {
    let (st, out, err) =
        run_out(debrief("foreman", data).args(["models", "fetch", "smollm2-135m"]), Duration::from_secs(300));
    assert!(st.success(), "{err}");
    PathBuf::from(out.trim().rsplit('\t').next().unwrap())
}

/// The Python of the xllamacpp virtualenv that scripts/setup creates.
pub(crate) fn xllamacpp_python() -> PathBuf {
    let cache = std::env::var_os("DEBRIEF_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/debrief"));
    let py = cache.join("venv-xllamacpp/bin/python");
    assert!(py.is_file(), "{} is missing: run scripts/setup (it installs the pinned xllamacpp wheel)", py.display());
    py
}

#[test]
fn issue5_openai_backend_summarises_through_a_real_llama_cpp_server() {
    let s = Scratch::new();
    let data = s.dir.path().to_path_buf();
    let m = meeting_with_transcript(&data, SCRIPT);
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/llm_server.py");
    let mut server = KillOnDrop(
        Command::new(xllamacpp_python())
            .arg(script)
            .arg(smollm2(&data))
            .args([&port.to_string(), "4096"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut ready = String::new();
    BufReader::new(server.0.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert!(ready.starts_with("ready http://127.0.0.1:"), "{ready:?}");
    let url = format!("http://127.0.0.1:{port}/v1");
    let (st, _, err) = run_out(
        summary_worker(&data).args(["--backend", "openai", "--server-url", &url, "--timeout", "300"]),
        Duration::from_secs(600),
    );
    assert!(st.success(), "{err}");
    assert!(err.contains("counted by the server (/tokenize)"), "{err}");
    let sum = checked_summary(&data, m, SCRIPT, false, true);
    let q = Queue::open(&data.join("debrief.db"), QueueConfig::default()).unwrap();
    let model =
        q.read(|c| debrief_summary::store::summary(&mut debrief_jobq::Db::Sqlite(c), m)).unwrap().unwrap().model;
    assert!(model.contains(&url), "{model}");
    // Stop the server: closing its stdin ends it.
    drop(server.0.stdin.take());
    let st = wait_for(&mut server.0, Duration::from_secs(30), "the server");
    assert!(st.success() || st.code().is_none(), "{st:?}");
    assert!(!sum["overview"].as_str().unwrap().is_empty());
}

/// Runs the worker against `url` with fast retries and returns the SUMMARY job after
/// the worker gave up on it, with the worker's log.
fn failed_summary(data: &Path, url: &str) -> (debrief_jobq::JobRecord, String) {
    let m = meeting_with_transcript(data, SCRIPT);
    let started = std::time::Instant::now();
    let (st, _, err) = run_out(
        summary_worker(data).args([
            "--backend",
            "openai",
            "--server-url",
            url,
            "--timeout",
            "5",
            "--retries",
            "1",
            "--retry-pause-ms",
            "50",
        ]),
        Duration::from_secs(120),
    );
    assert!(st.success(), "the worker itself does not fail: {err}");
    assert!(started.elapsed() < Duration::from_secs(90), "no hang: {:?}", started.elapsed());
    let q = Queue::open(&data.join("debrief.db"), QueueConfig::default()).unwrap();
    let job = q.meeting_jobs(m).unwrap().into_iter().find(|j| j.task_type == "SUMMARY").unwrap();
    assert_eq!((job.status.as_str(), job.attempts, job.max_attempts), ("FAILED", 3, 3), "{job:?}\n{err}");
    (job, err)
}

#[test]
fn issue5_a_server_that_is_down_fails_the_job_after_retries_with_a_clear_error() {
    let s = Scratch::new();
    let url = format!("http://127.0.0.1:{}/v1", free_port());
    let (job, log) = failed_summary(s.dir.path(), &url);
    let e = job.last_error.unwrap();
    assert!(
        e.contains(&format!("cannot reach the LLM server at {url}"))
            && e.contains("is it running?")
            && e.contains("after 2 tries"),
        "{e}"
    );
    assert!(log.contains("retrying in 50 ms"), "{log}");
}

#[test]
fn issue5_a_server_answering_invalid_json_fails_the_job_with_its_answer() {
    let s = Scratch::new();
    // A stub on loopback: 200 to everything, with a body that is not JSON.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 65536];
            let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = c.read(&mut buf);
            let body = "<html>surprise, not JSON</html>";
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let (job, _) = failed_summary(s.dir.path(), &url);
    let e = job.last_error.unwrap();
    assert!(
        e.contains(&format!("the LLM server at {url} answered with invalid JSON")) && e.contains("surprise, not JSON"),
        "{e}"
    );
}

#[test]
fn issue15_sigterm_while_the_llm_server_hangs_hands_the_job_back_at_once() {
    let s = Scratch::new();
    let data = s.dir.path();
    let m = meeting_with_transcript(data, SCRIPT);
    // A stub that accepts every connection, reads the request and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let (seen_tx, seen) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.set_read_timeout(Some(Duration::from_millis(500)));
            let n = c.read(&mut buf).unwrap_or(0);
            let _ = seen_tx.send(String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned());
            held.push(c);
        }
    });
    let mut cmd = summary_worker(data);
    cmd.args(["--backend", "openai", "--server-url", &url, "--timeout", "300", "--retries", "5"]);
    let (mut w, log) = spawn_drained(cmd.stdout(Stdio::null()));
    let first = seen.recv_timeout(Duration::from_secs(60)).expect("the worker asks the server");
    assert!(first.starts_with("GET /v1/models"), "{first}");
    std::thread::sleep(Duration::from_millis(300));
    let asked = std::time::Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(w.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let st = wait_for(&mut w, Duration::from_secs(30), "summary-worker");
    let took = asked.elapsed();
    let err = log.join().unwrap();
    assert!(st.success(), "{err}");
    assert!(took < Duration::from_secs(5), "stopped only after {took:?} (the request timeout is 300 s): {err}");
    let q = Queue::open(&data.join("debrief.db"), QueueConfig::default()).unwrap();
    let job = q.meeting_jobs(m).unwrap().into_iter().find(|j| j.task_type == "SUMMARY").unwrap();
    assert_eq!((job.status.as_str(), job.attempts, job.crashes), ("PENDING", 0, 0), "{job:?}\n{err}");
    eprintln!("summary-worker stopped {took:?} after SIGTERM with its request hanging");
}

/// An OpenAI-compatible stub on loopback: `GET /models` lists one model, chat
/// completions are answered with the JSON `answer` returns for the request body, and
/// anything else (`/tokenize`, `/props`) is 404. Returns its base URL.
fn llm_stub(answer: fn(&Value) -> Value) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let mut req = Vec::new();
            let mut buf = [0u8; 65536];
            let head_end = loop {
                if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&req[..head_end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while req.len() < head_end + len {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let first = head.lines().next().unwrap_or_default().to_owned();
            let (status, body) = if first.starts_with("get /v1/models") {
                ("200 OK", serde_json::json!({"object": "list", "data": [{"id": "stub", "object": "model"}]}))
            } else if first.starts_with("post /v1/chat/completions") {
                let request: Value = serde_json::from_slice(&req[head_end..]).unwrap_or(Value::Null);
                let content = answer(&request).to_string();
                (
                    "200 OK",
                    serde_json::json!({"choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content}}]}),
                )
            } else {
                ("404 Not Found", serde_json::json!({"error": "not here"}))
            };
            let body = body.to_string();
            let _ = write!(
                c,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// The number the map prompt gives the line that contains `words` (`L3 [0:12] Ben: ...`).
fn line_number(request: &Value, words: &str) -> u64 {
    let user = request["messages"].as_array().unwrap().iter().find(|m| m["role"] == "user").unwrap();
    let text = user["content"].as_str().unwrap();
    let line = text.lines().find(|l| l.contains(words)).unwrap_or_else(|| panic!("no line says {words:?}:\n{text}"));
    line.trim_start().trim_start_matches('L').split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

/// A prose model that invents: of its five map items two are what the cited lines say,
/// one rewords a line into a claim nobody made, one cites a greeting for a decision, one
/// cites a line that does not exist; its overview adds a decision nobody took.
fn inventing_model(request: &Value) -> Value {
    match request["response_format"]["json_schema"]["name"].as_str() {
        Some("line_labels") => {
            let n = |w: &str| line_number(request, w);
            serde_json::json!({"items": [
                {"line": n("ship version two"), "type": "decision", "text": "We decided to ship version two on May 3rd"},
                {"line": n("release notes"), "type": "action", "text": "Ben will rewrite the whole company strategy"},
                {"line": n("Good morning"), "type": "decision", "text": "The team decided to hire ten engineers"},
                {"line": 99, "type": "action", "text": "Dana will buy a new office"},
                {"line": n("login bug"), "type": "action", "text": "Carol will fix the login bug before Monday"},
            ]})
        }
        Some("meeting_overview") => {
            serde_json::json!({"overview": "The team decided to hire ten engineers and to ship version two on May 3rd."})
        }
        other => panic!("unexpected answer shape {other:?}: {request}"),
    }
}

#[test]
fn issue14_items_and_overviews_their_cited_lines_do_not_support_are_dropped() {
    let s = Scratch::new();
    let data = s.dir.path();
    let m = meeting_with_transcript(data, SCRIPT);
    let url = llm_stub(inventing_model);
    let (st, _, err) = run_out(
        summary_worker(data).args(["--backend", "openai", "--server-url", &url, "--grounding", "prose"]),
        Duration::from_secs(120),
    );
    assert!(st.success(), "{err}");
    let sum = checked_summary(data, m, SCRIPT, false, true);
    let texts = |list: &str| -> Vec<String> {
        sum[list].as_array().unwrap().iter().map(|i| i["text"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(texts("decisions"), ["We decided to ship version two on May 3rd"], "{sum:#}");
    // The reworded line is still listed, in its own words: it commits Ben to something by
    // a day, which a summary must not miss whatever the model said of it.
    assert_eq!(
        texts("action_items"),
        ["Ben will write the release notes by Thursday.", "Carol will fix the login bug before Monday"],
        "{sum:#}"
    );
    assert!(texts("key_points").is_empty() && texts("open_questions").is_empty(), "{sum:#}");
    let cited: Vec<u64> = ["decisions", "action_items"]
        .iter()
        .flat_map(|l| sum[*l].as_array().unwrap().iter().map(|i| i["lines"][0].as_u64().unwrap()))
        .collect();
    assert_eq!(cited, [1, 2, 3], "each kept item cites the line it came from: {sum:#}");
    assert_eq!(sum["action_items"][1]["owner"], "Carol", "{sum:#}");
    // Nothing the transcript does not say reaches any export.
    for format in ["json", "md", "txt"] {
        let out = export(data, m, format).to_lowercase();
        for invented in ["strategy", "hire", "engineers", "office"] {
            assert!(!out.contains(invented), "{format} export shows {invented:?}:\n{out}");
        }
    }
    assert!(err.contains("says more than the items"), "the invented overview was refused: {err}");
}
