//! Issue 12: speakers for the whole meeting, from real recorded voices.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use debrief_jobq::MeetingId;

use crate::common::*;

/// Builds the evaluation meeting (three real voices from Debian's asterisk prompts, turns
/// of 2-30 s, some overlap, 11 minutes) into `dir`.
fn build_meeting(dir: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/make_diarization_meeting.py");
    let (st, _, err) = run_out(
        std::process::Command::new("python3").arg(script).arg("--out").arg(dir).args([
            "--minutes",
            "11",
            "--speakers",
            "3",
        ]),
        Duration::from_secs(300),
    );
    assert!(st.success(), "{err}");
    serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap()
}

/// The truth speakers talking at `t` seconds.
fn truth_at(turns: &[serde_json::Value], t: f64) -> Vec<String> {
    turns
        .iter()
        .filter(|x| x["start"].as_f64().unwrap() <= t && t < x["end"].as_f64().unwrap())
        .map(|x| x["speaker"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn issue12_three_voices_over_eleven_minutes_get_three_labels_on_the_right_words_and_names_show_everywhere() {
    let s = Scratch::new();
    let data = s.path("data");
    let eval = s.path("eval");
    let truth = build_meeting(&eval);
    let turns = truth["turns"].as_array().unwrap().clone();

    let (st, out, err) =
        run_out(debrief("ingest", &data).arg("import").arg(eval.join("meeting.wav")), Duration::from_secs(120));
    assert!(st.success(), "{err}");
    let meeting: MeetingId = out.lines().last().unwrap().trim().parse().unwrap();
    let (st, _, err) = run_out(debrief("foreman", &data).args(["run", "--once"]), Duration::from_secs(60));
    assert!(st.success(), "{err}");
    let (st, _, err) = run_out(
        std::process::Command::new(workspace_bin("audio-worker"))
            .args(["run", "--until-idle", "--data-dir"])
            .arg(&data),
        Duration::from_secs(1200),
    );
    assert!(st.success(), "{err}");
    assert!(err.contains("loaded speaker models on OpenVINO cpu"), "{err}");

    let export = |fmt: &str| export_meeting(&data, meeting, fmt);
    // Every word has a speaker; three labels in all; each label is one real voice on at
    // least 90% of the words said by one person alone.
    let json: serde_json::Value = serde_json::from_str(&export("json")).unwrap();
    let mut votes: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut words = 0;
    let mut labels = std::collections::BTreeSet::new();
    for seg in json["segments"].as_array().unwrap() {
        for w in seg["words"].as_array().unwrap() {
            let hyp = w["speaker"].as_str().unwrap_or_else(|| panic!("a word without a speaker: {w}")).to_string();
            labels.insert(hyp.clone());
            let mid = (w["start_ms"].as_f64().unwrap() + w["end_ms"].as_f64().unwrap()) / 2000.0;
            let who = truth_at(&turns, mid);
            if who.len() == 1 {
                words += 1;
                *votes.entry((hyp, who[0].clone())).or_default() += 1;
            }
        }
    }
    assert_eq!(labels.len(), 3, "labels {labels:?}");
    // Each label stands for the voice it was most often heard as; one voice, one label.
    let mut best: BTreeMap<&str, (&str, usize)> = BTreeMap::new();
    for ((h, t), n) in &votes {
        let e = best.entry(h).or_insert((t, 0));
        if *n > e.1 {
            *e = (t, *n);
        }
    }
    let voices: std::collections::BTreeSet<&str> = best.values().map(|v| v.0).collect();
    assert_eq!(voices.len(), 3, "two labels for one voice: {best:?}");
    let right: usize = best.values().map(|v| v.1).sum();
    assert!(words > 300, "{words} words");
    assert!(right * 100 >= words * 90, "right speaker on {right} of {words} words: {votes:?}");

    // The speakers' list, a rename and a merge-free re-export: the name is in every format.
    let (st, out, err) =
        run_out(debrief("foreman", &data).args(["speakers", &meeting.to_string()]), Duration::from_secs(60));
    assert!(st.success(), "{err}");
    for l in ["S1", "S2", "S3"] {
        assert!(out.contains(l), "{out}");
    }
    let (st, _, err) = run_out(
        debrief("foreman", &data).args(["speakers", &meeting.to_string(), "--rename", "S2=Dana <Lee>"]),
        Duration::from_secs(60),
    );
    assert!(st.success(), "{err}");
    for fmt in ["txt", "md", "srt", "json"] {
        let out = export(fmt);
        assert!(out.contains("Dana <Lee>") || out.contains("Dana \\u003cLee\\u003e"), "{fmt}: no name in {out:.300}");
        assert!(!out.contains("S2:") && !out.contains("\"S2\""), "{fmt} still shows S2");
    }
    assert!(export("vtt").contains("<v Dana &lt;Lee&gt;>"));
    let rttm = export("rttm");
    assert!(rttm.lines().count() > 20 && rttm.contains(" Dana_<Lee> "), "{rttm:.300}");

    // A count hint re-clusters the stored embeddings (the TRANSCRIPT job runs again; no
    // chunk is analysed again) and the transcript then has two labels.
    let (st, _, err) = run_out(
        debrief("foreman", &data).args(["speakers", &meeting.to_string(), "--num", "2"]),
        Duration::from_secs(60),
    );
    assert!(st.success(), "{err}");
    let (st, _, err) = run_out(
        std::process::Command::new(workspace_bin("audio-worker"))
            .args(["run", "--until-idle", "--data-dir"])
            .arg(&data),
        Duration::from_secs(300),
    );
    assert!(st.success(), "{err}");
    let json: serde_json::Value = serde_json::from_str(&export("json")).unwrap();
    let labels: std::collections::BTreeSet<String> =
        json["segments"].as_array().unwrap().iter().filter_map(|s| s["speaker"].as_str().map(str::to_owned)).collect();
    assert_eq!(labels.len(), 2, "{labels:?}");
}

/// Runs a meeting through import and the audio-worker; with `kill`, the worker is
/// SIGKILLed once while it is analysing speakers (its AUDIO job's progress says so) and
/// started again. Returns the JSON export and the RTTM.
fn run_meeting(s: &Scratch, name: &str, wav: &Path, kill: bool) -> (serde_json::Value, String) {
    let data = s.path(name);
    let (st, out, err) = run_out(
        debrief("ingest", &data).arg("import").arg(wav).args([
            "--chunk-target",
            "40",
            "--chunk-min",
            "30",
            "--chunk-max",
            "50",
        ]),
        Duration::from_secs(120),
    );
    assert!(st.success(), "{err}");
    let meeting: MeetingId = out.lines().last().unwrap().trim().parse().unwrap();
    let (st, _, err) = run_out(debrief("foreman", &data).args(["run", "--once"]), Duration::from_secs(60));
    assert!(st.success(), "{err}");
    let worker = || {
        let mut c = std::process::Command::new(workspace_bin("audio-worker"));
        c.args(["run", "--until-idle", "--threads", "2", "--data-dir"]).arg(&data);
        c
    };
    if kill {
        let (mut child, _log) = spawn_drained(&mut worker());
        let db = rusqlite::Connection::open(data.join("debrief.db")).unwrap();
        eventually(Duration::from_secs(300), "an AUDIO job in its speaker analysis", || {
            db.query_row(
                "SELECT COUNT(*) FROM jobs WHERE task_type = 'AUDIO' AND status = 'PROCESSING' AND progress >= 1000000000",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
                > 0
        });
        kill9(&mut child);
        let _ = child.wait();
        // The reaper gives the job back (its worker is dead) on the next pass.
        let (st, _, err) = run_out(debrief("foreman", &data).args(["run", "--once"]), Duration::from_secs(60));
        assert!(st.success(), "{err}");
        let crashed: i64 = db
            .query_row("SELECT COALESCE(SUM(crashes), 0) FROM jobs WHERE task_type = 'AUDIO'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(crashed, 1, "the kill is recorded as one crash");
    }
    let (st, _, err) = run_out(&mut worker(), Duration::from_secs(900));
    assert!(st.success(), "{err}");
    let export = |fmt: &str| export_meeting(&data, meeting, fmt);
    let json: serde_json::Value = serde_json::from_str(&export("json")).unwrap();
    let db = rusqlite::Connection::open(data.join("debrief.db")).unwrap();
    let count = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    let (rows, chunks) =
        (count("SELECT COUNT(*) FROM chunk_speakers"), count("SELECT COUNT(*) FROM jobs WHERE task_type = 'AUDIO'"));
    assert!(chunks >= 3 && rows == chunks, "one analysis per chunk: {rows} for {chunks} chunks");
    (json["segments"].clone(), export("rttm"))
}

#[test]
fn issue12_sigkill_during_the_speaker_analysis_changes_nothing_in_the_result() {
    let s = Scratch::new();
    let eval = s.path("eval");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/make_diarization_meeting.py");
    let (st, _, err) = run_out(
        std::process::Command::new("python3").arg(script).arg("--out").arg(&eval).args([
            "--minutes",
            "3",
            "--speakers",
            "3",
            "--min-minutes",
            "2",
        ]),
        Duration::from_secs(300),
    );
    assert!(st.success(), "{err}");
    let wav = eval.join("meeting.wav");
    let calm = run_meeting(&s, "calm", &wav, false);
    let killed = run_meeting(&s, "killed", &wav, true);
    assert!(calm.1.lines().count() > 3, "{}", calm.1);
    assert_eq!(calm.0, killed.0, "the transcript with its speakers is the same");
    assert_eq!(calm.1, killed.1, "the turns are the same");
}
