//! Issue 17: the queue on PostgreSQL, with real worker processes of two "hosts" and
//! SIGKILL. Each host's workers have their own folder (their logs) and share nothing
//! but the database URL; a worker on another host cannot check a pid here, so only the
//! lease takes back what a killed host held.

use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use debrief_jobq::{MeetingId, NewJob, PgServer, QueueConfig, Status, TaskType};
use serde_json::json;

use crate::common::*;

fn pg_worker(url: &str, log: &Path, host: &str) -> Child {
    test_worker()
        .args(["--database-url", url, "--log"])
        .arg(log)
        .args(["--lease-ms", "1000", "drain", "--heartbeat-ms", "200", "--host", host])
        .spawn()
        .expect("spawn test worker")
}

#[test]
fn issue17_two_hosts_on_one_postgres_complete_every_job_once_when_one_host_is_killed() {
    const JOBS: i64 = 240;
    let pg = PgServer::start().expect("PostgreSQL server");
    let cfg = QueueConfig {
        lease: Duration::from_millis(1_000),
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(160),
        ..QueueConfig::default()
    };
    let q = pg.queue_with(cfg).expect("connect");
    q.tx(|tx| {
        tx.batch_execute(
            "CREATE TABLE test_done (job_id BIGINT PRIMARY KEY, pid BIGINT NOT NULL, attempt BIGINT NOT NULL)",
        )?;
        Ok(())
    })
    .unwrap();
    let m = q.create_meeting(Some("two hosts"), None).unwrap();
    for i in 0..JOBS {
        q.enqueue(&NewJob::new(m, TaskType::Audio, i).payload(json!({"work_ms": 40}))).unwrap();
    }
    let (a_dir, b_dir) = (Scratch::new(), Scratch::new());
    let mut host_a: Vec<Child> =
        (0..3).map(|k| pg_worker(pg.url(), &a_dir.path(&format!("a{k}.log")), "host-a")).collect();
    let mut host_b: Vec<Child> =
        (0..3).map(|k| pg_worker(pg.url(), &b_dir.path(&format!("b{k}.log")), "host-b")).collect();
    // Host A dies mid-way, its workers inside jobs.
    eventually(Duration::from_secs(60), "host A to complete some jobs", || {
        (0..3)
            .map(|k| lines(&a_dir.path(&format!("a{k}.log"))).iter().filter(|l| l.starts_with("DONE ")).count())
            .sum::<usize>()
            >= 20
    });
    for c in &mut host_a {
        kill9(c);
    }
    for c in &mut host_b {
        assert!(wait_for(c, Duration::from_secs(120), "host B's worker").success());
    }

    // Every job COMPLETED, recorded once, by the process that completed it.
    let done: HashMap<i64, i64> = q
        .tx(|tx| Ok(tx.query("SELECT job_id, pid FROM test_done", &[])?.iter().map(|r| (r.get(0), r.get(1))).collect()))
        .unwrap();
    assert_eq!(done.len() as i64, JOBS, "one test_done row per job");
    let mut by_log: HashMap<i64, Vec<String>> = HashMap::new();
    for (dir, name) in [(&a_dir, "a"), (&b_dir, "b")] {
        for k in 0..3 {
            for l in lines(&dir.path(&format!("{name}{k}.log"))) {
                let f: Vec<&str> = l.split(' ').collect();
                if f[0] == "DONE" {
                    by_log.entry(f[1].parse().unwrap()).or_default().push(format!("{name}{k}:{}", f[2]));
                }
            }
        }
    }
    // A worker of host A killed between its commit and its log line completed a job
    // whose DONE line is missing: at most one per killed worker, and done by host A.
    let host_a_pids: Vec<i64> = host_a.iter().map(|c| i64::from(c.id())).collect();
    let unlogged: Vec<(&i64, &i64)> = done.iter().filter(|(id, _)| !by_log.contains_key(id)).collect();
    assert!(
        unlogged.len() <= 3 && unlogged.iter().all(|(_, pid)| host_a_pids.contains(pid)),
        "completed without a DONE line: {unlogged:?} (host A: {host_a_pids:?})"
    );
    let twice: Vec<_> = by_log.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(twice.is_empty(), "jobs completed twice: {twice:?}");
    let mut crashed = 0;
    for id in done.keys() {
        let rec = q.job(debrief_jobq::JobId(*id)).unwrap().unwrap();
        assert_eq!(rec.status, Status::Completed);
        if rec.crashes > 0 {
            crashed += 1;
            assert_eq!(rec.attempts, 1, "a crash is not an attempt");
            let err = rec.last_error.unwrap_or_default();
            assert!(err.contains("on host-a") && err.contains("stopped renewing its lease"), "{err}");
        }
    }
    // Host A's workers were inside jobs when killed (each logs START before its 40 ms of
    // work), so their claims were taken back by lease expiry.
    assert!((1..=3).contains(&crashed), "{crashed} jobs were taken back from host A");
}

#[test]
fn issue17_foreman_migrate_to_copies_an_imported_meeting_into_postgres_verified_and_resumable() {
    let pg = PgServer::start().expect("PostgreSQL server");
    let s = Scratch::new();
    let data = s.path("data");
    let meeting = crate::asr::import_sample_in_short_chunks(&data).0;
    let (st, _, err) = run_out(debrief("foreman", &data).args(["run", "--once"]), Duration::from_secs(60));
    assert!(st.success(), "{err}");
    let lite = debrief_jobq::Queue::open(&data.join("debrief.db"), QueueConfig::default()).unwrap();
    let jobs = lite.meeting_jobs(debrief_jobq::MeetingId(meeting)).unwrap();
    let chunks: Vec<String> = jobs
        .iter()
        .filter(|j| j.task_type == TaskType::Audio)
        .map(|j| j.payload["path"].as_str().expect("chunk path").to_owned())
        .collect();
    assert!(chunks.len() >= 3, "{} chunks", chunks.len());

    let url = pg.create_database("moved").unwrap();
    let migrate = || {
        let (st, out, err) =
            run_out(debrief("foreman", &data).args(["migrate-to", &url, "--json"]), Duration::from_secs(120));
        assert!(st.success(), "{err}");
        serde_json::from_str::<serde_json::Value>(out.lines().last().unwrap()).unwrap()
    };
    let first = migrate();
    assert_eq!(first["tables"][0], json!(["meetings", 1]));
    assert_eq!(first["tables"][1], json!(["jobs", jobs.len()]), "{first}");
    assert_eq!(
        (first["files_copied"].as_u64(), first["verified_only"].as_bool()),
        (Some(chunks.len() as u64), Some(false))
    );
    let again = migrate();
    assert_eq!(
        (again["files_present"].as_u64(), again["verified_only"].as_bool()),
        (Some(chunks.len() as u64), Some(true))
    );

    // Every chunk is in PostgreSQL, byte for byte, and its jobs are claimable there.
    let q = debrief_jobq::PgQueue::connect(&url, QueueConfig::default()).unwrap();
    for rel in &chunks {
        let stored = q.get_blob(debrief_jobq::MeetingId(meeting), rel).unwrap().expect("stored chunk");
        assert_eq!(stored, std::fs::read(data.join(rel)).unwrap(), "{rel}");
    }
    let who = debrief_jobq::WorkerIdent::current("remote-audio-worker");
    let c = q.claim(&who, TaskType::Audio).unwrap().expect("an AUDIO job to claim");
    assert_eq!(c.payload["path"].as_str(), Some(chunks[0].as_str()));
    // A second data directory cannot be poured into the same database.
    let other = s.path("other");
    let (st, _, err) =
        run_out(debrief("ingest", &other).arg("import").arg(crate::asr::sample()), Duration::from_secs(120));
    assert!(st.success(), "{err}");
    let (st, _, err) = run_out(debrief("foreman", &other).args(["migrate-to", &url]), Duration::from_secs(60));
    assert!(!st.success() && err.contains("already holds a queue"), "{err}");
}

/// The transcript rows of meeting `m`, as both backends store them: (start, end,
/// speaker, text, words JSON).
type Rows = Vec<(i64, i64, Option<String>, String, String)>;

/// Issue 17's two-host simulation with real Whisper: the sample meeting is imported on
/// one machine and moved to PostgreSQL (`foreman migrate-to`); then two "hosts", each an
/// audio-worker with its own empty data directory and host name (`DEBRIEF_HOST`) and
/// nothing but the database URL, transcribe it, reading the chunks from the database.
/// Host A is SIGKILLed inside a chunk; host B cannot check a pid of host A, so the
/// chunk comes back when its lease runs out, and B finishes the meeting. The transcript,
/// speakers included, must equal the one a single machine makes on SQLite.
/// `export --format json` without what differs between two runs of the same meeting:
/// creation times, and meeting and job ids (another machine's queue numbers its own;
/// an import interleaves audio and video jobs as they come).
fn comparable(json: &str) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for k in ["created", "created_ms", "meeting_id", "job_id"] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(json).expect("export json");
    strip(&mut v);
    v
}

/// Every worker with the same arguments on both sides, so that only the queue differs.
fn worker_cmd(bin: &str, data: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(workspace_bin(bin));
    c.args(["run", "--until-idle", "--threads", "1", "--no-tune", "--data-dir"]).arg(data);
    c
}

#[test]
fn issue17_two_hosts_process_a_meeting_from_postgres_exactly_as_one_machine_does() {
    let s = Scratch::new();
    let video = crate::slides::screen_recording(&s.path(""), "call.mp4");
    let import = |data: &Path, extra: &[&str]| -> (MeetingId, String) {
        let (st, out, err) = run_out(
            debrief("ingest", data)
                .arg("import")
                .arg(&video)
                .args(["--chunk-target", "25", "--chunk-min", "20", "--chunk-max", "30"])
                .args(extra),
            Duration::from_secs(300),
        );
        assert!(st.success() && err.contains("changed frame(s) of video queued"), "{err}");
        (out.lines().last().unwrap().trim().parse().unwrap(), err)
    };
    let finish = |cmd: &mut std::process::Command, what: &str| {
        let (st, _, err) = run_out(cmd, Duration::from_secs(600));
        assert!(st.success(), "{what}: {err}");
        err
    };
    // One machine, SQLite: speech, slides and summary.
    let one = s.path("one");
    let (m1, _) = import(&one, &[]);
    finish(debrief("foreman", &one).args(["run", "--once"]), "plan");
    for bin in ["audio-worker", "visual-worker", "summary-worker"] {
        finish(&mut worker_cmd(bin, &one), bin);
    }
    finish(debrief("foreman", &one).args(["run", "--once"]), "finish");
    let db = rusqlite::Connection::open(one.join("debrief.db")).unwrap();
    let alone: Rows = db
        .prepare(
            "SELECT start_ms, end_ms, speaker, text, words FROM transcript_segments WHERE meeting_id = ?1 ORDER BY idx",
        )
        .unwrap()
        .query_map([m1.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(alone.len() >= 5 && alone.iter().any(|r| r.2.is_some()), "a transcript with speakers: {alone:?}");
    let alone_json = export_meeting(&one, m1, "json");
    let reference = comparable(&alone_json);
    assert_eq!(reference["slides"].as_array().map(Vec::len), Some(4), "{alone_json}");
    assert!(reference["summary"]["overview"].is_string(), "{alone_json}");

    // The same recording imported on a laptop and pushed to the team's PostgreSQL
    // (chunks and screenshots into blobs), which already holds a meeting, so the ids
    // there differ from the laptop's; a foreman on a third machine plans it.
    let pg = PgServer::start().expect("PostgreSQL server");
    let q = pg.queue_with(QueueConfig::default()).unwrap();
    q.create_meeting(Some("another team member's"), None).unwrap();
    let src = s.path("src");
    let (m, out) = import(&src, &["--database", pg.url()]);
    assert_eq!(m, MeetingId(2), "the id it has in PostgreSQL: {out}");
    assert!(out.contains("meeting 1 pushed to"), "{out}");
    // Pushed once: `ingest push` (of every closed meeting) finds it there.
    let (st, pushed, err) =
        run_out(debrief("ingest", &src).args(["push", "--database", pg.url()]), Duration::from_secs(60));
    assert!(st.success() && pushed.trim() == "1 2" && err.contains("pushed before"), "{pushed} {err}");
    let count = |sql: &str| -> i64 { q.tx(|tx| Ok(tx.query_one(sql, &[])?.get(0))).unwrap() };
    let chunks = count("SELECT COUNT(*) FROM jobs WHERE task_type = 'AUDIO'");
    let frames = count("SELECT COUNT(*) FROM jobs WHERE task_type = 'VISUAL'");
    assert!(chunks >= 3 && frames == 4, "{chunks} chunks, {frames} frames");
    assert_eq!(count("SELECT COUNT(*) FROM blobs"), chunks + frames, "every input file in the database: {out}");
    assert_eq!(count("SELECT COUNT(*) FROM jobs WHERE task_type IN ('TRANSCRIPT', 'SUMMARY')"), 0, "not planned yet");
    let plan = || {
        let (st, _, err) = run_out(
            debrief("foreman", &s.path("planner")).args(["--database", pg.url(), "run", "--once"]),
            Duration::from_secs(60),
        );
        assert!(st.success(), "{err}");
        err
    };
    let err = plan();
    assert!(err.contains("all input is in; transcript and summary planned"), "{err}");
    assert_eq!(count("SELECT COUNT(*) FROM jobs WHERE task_type IN ('TRANSCRIPT', 'SUMMARY')"), 2, "{err}");

    // Workers of three hosts with empty data directories and only the URL.
    let host = |bin: &str, name: &str| {
        let data = s.path(name);
        let mut c = worker_cmd(bin, &data);
        c.env("DEBRIEF_DATABASE_URL", pg.url()).env("DEBRIEF_HOST", name);
        (data, c)
    };
    let (a_dir, mut a_cmd) = host("audio-worker", "host-a");
    let (b_dir, mut b_cmd) = host("audio-worker", "host-b");
    let (mut a, a_log) = spawn_drained(&mut a_cmd);
    // Host A is killed inside its second chunk; B starts then (so that both hosts do
    // some of the work).
    eventually(Duration::from_secs(300), "host A to finish a chunk and start another", || {
        count("SELECT COUNT(*) FROM jobs WHERE worker_host = 'host-a' AND status = 'COMPLETED'") >= 1
            && count("SELECT COUNT(*) FROM jobs WHERE worker_host = 'host-a' AND status = 'PROCESSING'") == 1
    });
    let (mut b, b_log) = spawn_drained(&mut b_cmd);
    kill9(&mut a);
    let _ = a.wait();
    let _ = a_log.join();
    let taken: i64 = count("SELECT job_id FROM jobs WHERE worker_host = 'host-a' AND status = 'PROCESSING'");
    // Host C reads the slides meanwhile, then summarises once the transcript is in.
    let (c_dir, mut c_cmd) = host("visual-worker", "host-c");
    finish(&mut c_cmd, "host C's visual-worker");
    let st = wait_for(&mut b, Duration::from_secs(600), "host B's audio-worker");
    let b_err = b_log.join().unwrap();
    assert!(st.success(), "{b_err}");
    finish(&mut host("summary-worker", "host-c").1, "host C's summary-worker");
    let err = plan();
    assert!(err.contains(&format!("meeting {m}: DONE")), "{err}");

    // Every job completed; the killed chunk was taken back by lease (a crash, not an
    // attempt) and finished by host B.
    assert_eq!(count("SELECT COUNT(*) FROM jobs WHERE status <> 'COMPLETED'"), 0, "{b_err}");
    let rec = q.job(debrief_jobq::JobId(taken)).unwrap().unwrap();
    assert_eq!((rec.status, rec.attempts, rec.crashes), (Status::Completed, 1, 1), "{:?}", rec.last_error);
    assert_eq!(rec.worker_host.as_deref(), Some("host-b"));
    assert!(count("SELECT COUNT(*) FROM jobs WHERE worker_host = 'host-a' AND status = 'COMPLETED'") >= 1);
    assert_eq!(
        count("SELECT COUNT(*) FROM jobs WHERE task_type IN ('VISUAL', 'SUMMARY') AND worker_host <> 'host-c'"),
        0
    );
    // No shared files: the hosts' data directories hold no chunk or screenshot.
    for d in [&a_dir, &b_dir, &c_dir] {
        assert!(!d.join("meetings").exists(), "{} has input files", d.display());
    }
    let moved: Rows = q
        .tx(|tx| {
            Ok(tx
                .query(
                    "SELECT start_ms, end_ms, speaker, text, words FROM transcript_segments WHERE meeting_id = $1 ORDER BY idx",
                    &[&m.0],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                .collect())
        })
        .unwrap();
    assert_eq!(moved, alone, "the transcript of two hosts on PostgreSQL equals one machine's on SQLite");
    // The whole export (transcript, speakers, slides, summary) is the same, read by a
    // foreman that has only the URL; and so are status and the HTML report's content.
    let elsewhere = s.path("elsewhere");
    let (st, pg_json, err) = run_out(
        debrief("foreman", &elsewhere).args(["--database", pg.url(), "export", &m.to_string(), "--format", "json"]),
        Duration::from_secs(60),
    );
    assert!(st.success(), "{err}");
    assert_eq!(comparable(&pg_json), reference, "the export from PostgreSQL equals one machine's");
    let (st, status, err) = run_out(
        debrief("foreman", &elsewhere).args(["--database", pg.url(), "status", "--json"]),
        Duration::from_secs(60),
    );
    assert!(st.success(), "{err}");
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["meetings"][1]["meeting_id"], m.0, "{status:#}");
    assert_eq!(status["meetings"][1]["status"], "DONE", "{status:#}");
    assert_eq!(status["database"], pg.url(), "{status:#}");
    let report = elsewhere.join("meeting.html");
    let (st, _, err) = run_out(
        debrief("foreman", &elsewhere)
            .args(["--database", pg.url(), "report", &m.to_string(), "--audio", "embed", "--out"])
            .arg(&report),
        Duration::from_secs(60),
    );
    assert!(st.success() && !err.contains("warning"), "{err}");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.contains("data:audio/wav;base64,") && html.contains("data:image/png;base64,"),
        "the audio and slide pictures come from the database"
    );

    // Names given from any machine show in the export; a delete takes the stored files too.
    let label = moved.iter().find_map(|r| r.2.clone()).unwrap();
    let foreman_pg = |args: &[&str]| {
        let (st, out, err) =
            run_out(debrief("foreman", &elsewhere).args(["--database", pg.url()]).args(args), Duration::from_secs(60));
        assert!(st.success(), "{args:?}: {err}");
        out
    };
    foreman_pg(&["speakers", &m.to_string(), "--rename", &format!("{label}=Ann Example")]);
    let named = foreman_pg(&["export", &m.to_string(), "--format", "txt"]);
    assert!(named.contains("Ann Example"), "{named}");
    // Search from any machine: the spoken line and the slide.
    let found: serde_json::Value = serde_json::from_str(&foreman_pg(&["search", "budget", "--json"])).unwrap();
    let hits = found["hits"].as_array().unwrap();
    let kinds: Vec<&str> = hits.iter().filter_map(|h| h["kind"].as_str()).collect();
    assert!(kinds.contains(&"line") && kinds.contains(&"slide"), "{found:#}");
    assert!(hits.iter().all(|h| h["meeting_id"] == m.0), "{found:#}");
    assert!(hits.iter().any(|h| h["snippet"].as_str().unwrap().to_lowercase().contains("«budget»")), "{found:#}");
    foreman_pg(&["delete", &m.to_string()]);
    assert_eq!(count("SELECT COUNT(*) FROM blobs") + count("SELECT COUNT(*) FROM jobs"), 0);
}
