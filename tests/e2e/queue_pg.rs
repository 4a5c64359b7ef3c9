//! Issue 17: the queue on PostgreSQL, with real worker processes of two "hosts" and
//! SIGKILL. Each host's workers have their own folder (their logs) and share nothing
//! but the database URL; a worker on another host cannot check a pid here, so only the
//! lease takes back what a killed host held.

use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use debrief_jobq::{NewJob, PgServer, QueueConfig, Status, TaskType};
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
    assert_eq!(by_log.len() as i64, JOBS);
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
