//! Issue 13 item 3: slides described by a vision-language model, and the GPU lease
//! between the VLM and the LLM. No VLM can be downloaded here, so the VLM is a stub
//! server (`vlm_stub.py`) that checks the image it receives and describes it by its size
//! and sha256; the LLM is llama.cpp's real server (xllamacpp) with the embedded
//! SmolLM2, reached through the stub (which forwards and logs every request). Both
//! workers run with `--device cuda`, so each holds the one GPU lease while it works; the
//! log of requests shows that no image request ever ran while a text request did.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use debrief_contracts::{DataPath, Screenshot};
use debrief_jobq::{JobId, MeetingId, NewJob, Queue, QueueConfig, TaskType};
use serde_json::Value;

use crate::common::*;
use crate::slides::{draw_slide, SLIDES};
use crate::summary::{free_port, meeting_with_transcript, smollm2, summary_worker, xllamacpp_python, SCRIPT};

/// A closed meeting with three VISUAL jobs: slide 1 at 0 s, the same image again at
/// 4 s, slide 2 at 8 s. Returns the meeting, the jobs and each frame's sha256.
fn meeting_with_frames(data: &Path, q: &Queue) -> (MeetingId, Vec<JobId>, Vec<String>) {
    let m = q.create_meeting(Some("Slides with pictures"), None).unwrap();
    let dir = data.join(format!("meetings/{m}/screens"));
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    let mut sums = Vec::new();
    for (seq, (slide, t_ms)) in [(0usize, 0u64), (0, 4_000), (1, 8_000)].into_iter().enumerate() {
        let (title, bullets) = SLIDES[slide];
        draw_slide(tmp.path(), slide, title, bullets);
        let rel = format!("meetings/{m}/screens/shot-{seq}.png");
        std::fs::copy(tmp.path().join(format!("slide-{slide}.png")), data.join(&rel)).unwrap();
        sums.push(sha256_hex(&std::fs::read(data.join(&rel)).unwrap()));
        let shot = Screenshot { path: DataPath::new(&rel).unwrap(), t_ms, width: 1280, height: 720 };
        let (id, _) = q.enqueue(&NewJob::new(m, TaskType::Visual, seq as i64).payload(&shot)).unwrap();
        jobs.push(id);
    }
    assert!(q.close_meeting(m, Some(12_000)).unwrap());
    (m, jobs, sums)
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    out.stdin.as_ref().unwrap().write_all(bytes).unwrap();
    let o = out.wait_with_output().unwrap();
    String::from_utf8(o.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

/// Plans the meetings' remaining jobs and assembles their transcripts (none for a
/// meeting of screens only), so that they can be exported.
fn assemble_transcripts(data: &Path) {
    let (st, _, err) = run_out(debrief("foreman", data).args(["run", "--once"]), Duration::from_secs(60));
    assert!(st.success(), "{err}");
    let (st, _, err) = run_out(
        Command::new(workspace_bin("audio-worker")).args(["run", "--until-idle", "--no-tune", "--data-dir"]).arg(data),
        Duration::from_secs(120),
    );
    assert!(st.success(), "{err}");
}

/// Starts a loopback server script and waits for its "ready URL" line.
fn start(cmd: &mut Command) -> (KillOnDrop, String) {
    let mut child = KillOnDrop(cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap());
    let mut ready = String::new();
    BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    let url = ready.trim().strip_prefix("ready ").unwrap_or_else(|| panic!("not ready: {ready:?}")).to_owned();
    (child, url)
}

#[test]
fn issue13_a_vlm_describes_new_slides_under_the_gpu_lease_and_the_llm_waits_for_it() {
    let s = Scratch::new();
    let data = s.dir.path().to_path_buf();
    let q = Queue::open(&data.join("debrief.db"), QueueConfig::default()).unwrap();
    let talk = meeting_with_transcript(&data, SCRIPT);
    let (slides, frames, sums) = meeting_with_frames(&data, &q);

    let llm_port = free_port();
    let (_llm, llm_url) = start(
        Command::new(xllamacpp_python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/llm_server.py"))
            .arg(smollm2(&data))
            .args([&llm_port.to_string(), "4096"]),
    );
    let log = s.path("requests.jsonl");
    let (_stub, stub_url) = start(
        Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/vlm_stub.py"))
            .arg(free_port().to_string())
            .arg(&log)
            .arg(&llm_url)
            // Each description takes a while, so that a missing lock would show as
            // requests at the same time.
            .arg("1.5"),
    );
    let api = format!("{stub_url}/v1");

    // Both workers at once, both on the one GPU.
    let mut visual = Command::new(workspace_bin("visual-worker"));
    visual.args(["run", "--until-idle", "--no-tune", "--device", "cuda", "--vlm-url", &api, "--data-dir"]).arg(&data);
    let mut summary = summary_worker(&data);
    summary.args(["--device", "cuda", "--backend", "openai", "--server-url", &api, "--timeout", "300"]);
    let (mut v, v_err) = spawn_drained(visual.stdout(Stdio::null()));
    let (mut w, w_err) = spawn_drained(summary.stdout(Stdio::null()));
    // Who holds the GPU, sampled while they run.
    let mut holders: Vec<u32> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while v.try_wait().unwrap().is_none() || w.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the workers did not finish");
        let leases = q.device_leases().unwrap();
        assert!(leases.len() <= 1, "two leases on one GPU at once: {leases:?}");
        if let Some(l) = leases.first() {
            if holders.last() != Some(&l.pid) {
                holders.push(l.pid);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (v_log, w_log) = (v_err.join().unwrap(), w_err.join().unwrap());
    assert!(v.wait().unwrap().success(), "{v_log}");
    assert!(w.wait().unwrap().success(), "{w_log}");
    assert!(holders.contains(&v.id()) && holders.contains(&w.id()), "both held the GPU: {holders:?}");
    // Each let go of the GPU once idle, after dropping what it had loaded.
    for (name, l, unloaded) in [("visual", &v_log, "Tesseract unloaded"), ("summary", &w_log, "model unloaded")] {
        let (took, gone, released) = (l.find("took gpu lease"), l.find(unloaded), l.rfind("released gpu lease"));
        assert!(took.is_some() && gone.is_some() && released.is_some(), "{name}: {l}");
        assert!(gone < released, "{name} released the lease before unloading: {l}");
    }

    // The requests: two images (the repeated frame was not sent again), text requests
    // for the summary, and never an image and a text request at the same time.
    let reqs: Vec<Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of = |kind: &str| reqs.iter().filter(|r| r["kind"] == kind).collect::<Vec<_>>();
    let (images, texts) = (of("image"), of("text"));
    assert_eq!(images.len(), 2, "{reqs:#?}");
    assert!(!texts.is_empty(), "{reqs:#?}");
    let span = |r: &Value| (r["start"].as_i64().unwrap(), r["end"].as_i64().unwrap());
    for i in &images {
        for t in &texts {
            let ((a, b), (c, d)) = (span(i), span(t));
            assert!(b <= c || d <= a, "an image request {a}..{b} ran during a text request {c}..{d}");
        }
    }
    let first = |v: &[&Value]| v.iter().map(|r| r["start"].as_i64().unwrap()).min().unwrap();
    let last = |v: &[&Value]| v.iter().map(|r| r["end"].as_i64().unwrap()).max().unwrap();
    eprintln!(
        "GPU lease holders in turn: {holders:?} (visual-worker {}, summary-worker {}); {} image requests over {} ms, {} text requests over {} ms",
        v.id(),
        w.id(),
        images.len(),
        last(&images) - first(&images),
        texts.len(),
        last(&texts) - first(&texts)
    );
    let got: Vec<&str> = images.iter().map(|r| r["sha256"].as_str().unwrap()).collect();
    assert_eq!(got, [sums[0].as_str(), sums[2].as_str()], "the server received each new frame's exact bytes");
    assert!(
        images[0]["prompt"].as_str().unwrap().contains("Quarterly budget review"),
        "the prompt carries what OCR read: {}",
        images[0]
    );

    // The descriptions reach the frames, the slides and the export.
    assemble_transcripts(&data);
    let described = |j: JobId| q.job(j).unwrap().unwrap().result.unwrap()["description"].clone();
    assert!(described(frames[0])["vlm_ms"].is_u64(), "{}", described(frames[0]));
    assert_eq!(described(frames[1])["reused_from_job"], frames[0].0, "{}", described(frames[1]));
    let (st, md, err) = run_out(
        debrief("foreman", &data).args(["export", &slides.to_string(), "--format", "md"]),
        Duration::from_secs(60),
    );
    assert!(st.success(), "{err}");
    for sum in [&sums[0], &sums[2]] {
        let want = format!("*A picture of 1280x720 pixels, sha256 {}.*", &sum[..16]);
        assert!(md.contains(&want), "{want} in:\n{md}");
    }
    let (st, json, err) = run_out(
        debrief("foreman", &data).args(["export", &slides.to_string(), "--format", "json"]),
        Duration::from_secs(60),
    );
    assert!(st.success(), "{err}");
    let v: Value = serde_json::from_str(&json).unwrap();
    let slides_json = v["slides"].as_array().unwrap();
    assert_eq!(slides_json.len(), 2, "{json}");
    assert!(slides_json.iter().all(|s| s["description"].as_str().is_some_and(|d| d.starts_with("A picture of"))));
    // The other meeting was summarised through the same server.
    let model =
        q.read(|c| debrief_summary::store::summary(&mut debrief_jobq::Db::Sqlite(c), talk)).unwrap().unwrap().model;
    assert!(model.contains(&api), "{model}");
}

#[test]
fn issue13_when_the_vlm_server_refuses_the_slides_keep_their_ocr_text() {
    let s = Scratch::new();
    let data = s.dir.path().to_path_buf();
    let q = Queue::open(&data.join("debrief.db"), QueueConfig::default()).unwrap();
    let (m, frames, _) = meeting_with_frames(&data, &q);
    // A path the stub does not serve: every request is refused with HTTP 404 (as a
    // server without image support refuses), so each attempt fails, and the last one
    // keeps the frame with its OCR text (partial results).
    let log = s.path("requests.jsonl");
    let (_stub, stub_url) = start(
        Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/vlm_stub.py"))
            .arg(free_port().to_string())
            .arg(&log),
    );
    let url = format!("{stub_url}/nowhere");
    let mut visual = Command::new(workspace_bin("visual-worker"));
    visual.args(["run", "--until-idle", "--no-tune", "--vlm-url", &url, "--data-dir"]).arg(&data);
    let (st, _, err) = run_out(&mut visual, Duration::from_secs(300));
    assert!(st.success(), "{err}");
    assemble_transcripts(&data);
    for j in &frames {
        let job = q.job(*j).unwrap().unwrap();
        assert_eq!((job.status.as_str(), job.attempts), ("COMPLETED", 3), "{job:?}");
        let e = job.result.unwrap()["description"]["error"].as_str().unwrap_or_default().to_owned();
        assert!(e.contains(&format!("the VLM server at {url} answered HTTP 404")), "{e}");
    }
    let (st, md, err) =
        run_out(debrief("foreman", &data).args(["export", &m.to_string(), "--format", "md"]), Duration::from_secs(60));
    assert!(st.success(), "{err}");
    assert!(md.contains("Quarterly budget review") && md.contains("Product roadmap"), "{md}");
    assert!(!md.contains("A picture of"), "{md}");
}
