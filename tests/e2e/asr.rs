//! Issue 4: real speech through the whole pipeline with the real converted tiny.en.

use std::path::Path;
use std::time::Duration;

use debrief_jobq::{MeetingId, Queue, QueueConfig};

use crate::common::*;

pub(crate) fn sample() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/standup.flac")
}

/// Imports the sample meeting into `data` in short chunks (20-30 s), so that it has
/// several chunk boundaries; returns the meeting.
pub(crate) fn import_sample_in_short_chunks(data: &Path) -> MeetingId {
    let (st, out, err) = run_out(
        debrief("ingest", data).arg("import").arg(sample()).args([
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
    out.lines().last().unwrap().trim().parse().unwrap()
}

#[test]
fn issue4_sample_meeting_is_transcribed_through_import_foreman_worker_and_export() {
    let s = Scratch::new();
    let data = s.path("data");
    let meeting = import_sample_in_short_chunks(&data);
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

    let export = |fmt: &str| export_meeting(&data, meeting, fmt);
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
pub(crate) fn twenty_minutes(path: &Path) {
    sample_repeated(path, 16);
}

/// A 10-minute recording: the sample meeting 8 times, with pauses between.
pub(crate) fn ten_minutes(path: &Path) {
    sample_repeated(path, 8);
}

/// The sample meeting `times` times, with pauses of 1-3 s between.
fn sample_repeated(path: &Path, times: usize) {
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
    for i in 0..times {
        for s in &once {
            w.write_sample((s * 32767.0).round() as i16).unwrap();
        }
        for _ in 0..16_000 * (1 + i % 3) {
            w.write_sample(0i16).unwrap();
        }
    }
    w.finalize().unwrap();
}
