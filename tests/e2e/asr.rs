//! Issue 4: real speech through the whole pipeline with the real converted tiny.en.

use std::path::Path;
use std::time::Duration;

use debrief_jobq::{MeetingId, Queue, QueueConfig};

use crate::common::*;

fn sample() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/standup.flac")
}

#[test]
fn issue4_sample_meeting_is_transcribed_through_import_foreman_worker_and_export() {
    let s = Scratch::new();
    let data = s.path("data");
    // Short chunks, so the meeting has several chunk boundaries to resolve.
    let (st, out, err) = run_out(
        debrief("ingest", &data).arg("import").arg(sample()).args([
            "--chunk-target",
            "25",
            "--chunk-min",
            "20",
            "--chunk-max",
            "30",
        ]),
        Duration::from_secs(120),
    );
    assert!(st.success(), "{err}");
    let meeting: MeetingId = out.lines().last().unwrap().trim().parse().unwrap();
    let q = Queue::open(&data.join("debrief.db"), QueueConfig::default()).unwrap();
    let chunks = q.meeting_jobs(meeting).unwrap().len();
    assert!(chunks >= 3, "{chunks} chunks");

    let (st, _, err) = run_out(debrief("foreman", &data).args(["run", "--once"]), Duration::from_secs(60));
    assert!(st.success(), "{err}");
    let worker = || {
        let mut c = std::process::Command::new(workspace_bin("audio-worker"));
        c.args(["run", "--until-idle", "--data-dir"]).arg(&data);
        c
    };
    let (st, _, err) = run_out(&mut worker(), Duration::from_secs(600));
    assert!(st.success(), "{err}");
    assert!(err.contains("model unloaded"), "the model is unloaded before exit: {err}");

    let export = |fmt: &str| {
        let (st, out, err) = run_out(
            debrief("foreman", &data).args(["export", &meeting.to_string(), "--format", fmt]),
            Duration::from_secs(60),
        );
        assert!(st.success(), "{err}");
        out
    };
    let txt = export("txt").to_lowercase();
    for words in [
        "planning meeting",
        "budget",
        "march",
        "friday",
        "roadmap",
        "dashwood",
        "young man",
        "amiable himself",
        "wednesday",
        "adjourned",
    ] {
        assert!(txt.contains(words), "{words:?} missing from the transcript:\n{txt}");
    }
    // Nothing doubled or dropped at chunk boundaries: each of these is said once.
    for once in ["dashwood", "roadmap", "adjourned", "wednesday", "friday", "book"] {
        assert_eq!(txt.matches(once).count(), 1, "{once:?} in:\n{txt}");
    }
    // Timestamps are meeting time and in order.
    let v: serde_json::Value = serde_json::from_str(&export("json")).unwrap();
    let segs = v["segments"].as_array().unwrap();
    let starts: Vec<i64> = segs.iter().map(|s| s["start_ms"].as_i64().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    let last_end = segs.last().unwrap()["end_ms"].as_i64().unwrap();
    assert!((60_000..=77_000).contains(&last_end), "last segment ends at {last_end} ms of a 76 s meeting");
    let adjourned = segs.iter().find(|s| s["text"].as_str().unwrap().to_lowercase().contains("adjourned")).unwrap();
    assert!(adjourned["start_ms"].as_i64().unwrap() > 65_000, "{adjourned}");
    let srt = export("srt");
    assert!(srt.starts_with("1\n00:00:0") && srt.contains(" --> "), "{srt}");

    // Re-running every AUDIO job and the transcript replaces their rows: no duplicates.
    let rows = |q: &Queue| -> i64 {
        q.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM asr_segments WHERE meeting_id = ?1", [meeting], |r| r.get(0))?))
            .unwrap()
    };
    let before = rows(&q);
    q.read(|c| {
        Ok(c.execute(
            "UPDATE jobs SET status = 'PENDING', attempts = 0 WHERE meeting_id = ?1 AND task_type IN ('AUDIO', 'TRANSCRIPT')",
            [meeting],
        )?)
    })
    .unwrap();
    let (st, _, err) = run_out(&mut worker(), Duration::from_secs(600));
    assert!(st.success(), "{err}");
    assert_eq!(rows(&q), before, "a re-run replaced the chunk rows");
    assert_eq!(export("txt").to_lowercase(), txt, "the same text again");
}

/// A 20-minute recording: the sample meeting 16 times, with pauses between.
fn twenty_minutes(path: &Path) {
    let mut src = debrief_media::AudioSource::open(&sample()).unwrap();
    let mut once = Vec::new();
    while let Some(b) = src.next_block().unwrap() {
        once.extend(b);
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..16 {
        for s in &once {
            w.write_sample((s * 32767.0).round() as i16).unwrap();
        }
        for _ in 0..16_000 * (1 + i % 3) {
            w.write_sample(0i16).unwrap();
        }
    }
    w.finalize().unwrap();
}

fn chaos_config(s: &Scratch) -> std::path::PathBuf {
    let aw = workspace_bin("audio-worker");
    let tw = env!("CARGO_BIN_EXE_test-worker");
    let text = format!(
        "[[worker]]\nname = \"audio\"\ncommand = [{aw:?}, \"run\", \"--threads\", \"1\"]\ntasks = [\"AUDIO\", \"TRANSCRIPT\"]\ncount = 2\n\n\
         [[worker]]\nname = \"rest\"\ncommand = [{tw:?}, \"run\", \"--tasks\", \"VISUAL,SUMMARY\"]\ntasks = [\"VISUAL\", \"SUMMARY\"]\n"
    );
    let p = s.path("chaos.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn import_and_transcript(data: &Path, wav: &Path, cfg: &Path, chaos: bool) -> (String, u32) {
    let (st, out, err) = run_out(debrief("ingest", data).arg("import").arg(wav), Duration::from_secs(300));
    assert!(st.success(), "{err}");
    let meeting: MeetingId = out.lines().last().unwrap().trim().parse().unwrap();
    let (mut f, log) = spawn_drained(
        debrief("foreman", data)
            .arg("--config")
            .arg(cfg)
            .args(["run", "--spawn", "--until-idle", "--interval", "0.3"])
            .stdout(std::process::Stdio::null()),
    );
    let q = Queue::open(&data.join("debrief.db"), QueueConfig::default()).unwrap();
    let mut kills = 0;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let deadline = std::time::Instant::now() + Duration::from_secs(1_500);
    while f.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "the meeting did not finish");
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(3_000 + rng % 4_000));
        if !chaos || kills >= 10 {
            continue;
        }
        // Kill a worker in the middle of a chunk (one whose job still has attempts to
        // spare: this test is about correctness after crashes, not about poison jobs).
        let running: Vec<_> = q
            .meeting_jobs(meeting)
            .unwrap()
            .into_iter()
            .filter(|j| j.status == "PROCESSING" && j.task_type == "AUDIO" && j.attempts < 2)
            .collect();
        if let Some(j) = running.get((rng % 7) as usize % running.len().max(1)) {
            let pid = j.worker_pid.unwrap();
            if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).is_ok()
            {
                kills += 1;
            }
        }
    }
    let ok = f.wait().unwrap().success();
    let err = log.join().unwrap();
    assert!(ok, "{err}");
    assert_eq!(q.meeting(meeting).unwrap().unwrap().status, "DONE", "{err}");
    let (st, json, err) = run_out(
        debrief("foreman", data).args(["export", &meeting.to_string(), "--format", "json"]),
        Duration::from_secs(60),
    );
    assert!(st.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    (serde_json::to_string_pretty(&v["segments"]).unwrap(), kills)
}

#[test]
fn issue4_chaos_sigkill_of_audio_workers_leaves_the_transcript_unchanged() {
    let s = Scratch::new();
    let wav = s.path("twenty.wav");
    twenty_minutes(&wav);
    let cfg = chaos_config(&s);
    let (calm, _) = import_and_transcript(&s.path("calm"), &wav, &cfg, false);
    let (chaos, kills) = import_and_transcript(&s.path("chaos"), &wav, &cfg, true);
    assert!(kills >= 3, "only {kills} workers were killed");
    assert!(calm.len() > 10_000, "a 20-minute transcript");
    assert_eq!(chaos, calm, "after {kills} SIGKILLs the transcript differs");
    eprintln!("identical transcripts after {kills} SIGKILLs");
}
