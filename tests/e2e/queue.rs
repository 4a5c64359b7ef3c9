//! Issue 2: the durable job queue under real processes, contention and SIGKILL.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use debrief_jobq::{JobId, MeetingId, NewJob, Queue, Status, TaskType};
use serde_json::json;

use crate::common::*;

fn drain_worker(s: &Scratch, log: &Path, lease_ms: u64, task: &str, pipeline: bool) -> Child {
    let mut cmd = test_worker();
    cmd.arg("--db").arg(s.db()).arg("--log").arg(log).args([
        "--lease-ms",
        &lease_ms.to_string(),
        "drain",
        "--task",
        task,
    ]);
    if pipeline {
        cmd.arg("--pipeline");
    }
    cmd.spawn().expect("spawn test worker")
}

fn gpu_worker(s: &Scratch, log: &Path, lease_ms: u64, extra: &[&str]) -> Child {
    test_worker()
        .arg("--db")
        .arg(s.db())
        .arg("--log")
        .arg(log)
        .args(["--lease-ms", &lease_ms.to_string(), "gpu", "--marker"])
        .arg(s.path("gpu.marker"))
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn gpu worker")
}

fn enqueue_many(q: &Queue, meeting: MeetingId, task: TaskType, n: i64) -> Vec<JobId> {
    q.write(|tx| {
        (0..n)
            .map(|i| Queue::enqueue_in(tx, &NewJob::new(meeting, task, i)).map(|(id, _)| id))
            .collect::<Result<Vec<_>, _>>()
    })
    .expect("enqueue")
}

fn status_count(q: &Queue, status: Status) -> u64 {
    q.counts().unwrap().iter().filter(|(_, s, _)| *s == status).map(|(_, _, n)| n).sum()
}

#[test]
fn issue2_eight_processes_complete_ten_thousand_jobs_exactly_once() {
    const JOBS: i64 = 10_000;
    let s = Scratch::new();
    let q = s.queue(5_000);
    let m = q.create_meeting(Some("load"), None).unwrap();
    let ids = enqueue_many(&q, m, TaskType::Audio, JOBS);
    // Half complete-then-claim in two transactions, half in one.
    let logs: Vec<_> = (0..8).map(|i| s.path(&format!("w{i}.log"))).collect();
    let mut workers: Vec<Child> =
        logs.iter().enumerate().map(|(i, log)| drain_worker(&s, log, 5_000, "AUDIO", i % 2 == 0)).collect();
    for w in &mut workers {
        assert!(wait_for(w, Duration::from_secs(300), "worker").success());
    }

    let mut done: HashMap<JobId, usize> = HashMap::new();
    for log in &logs {
        for l in lines(log) {
            let mut f = l.split(' ');
            match f.next() {
                Some("DONE") => *done.entry(f.next().unwrap().parse().unwrap()).or_default() += 1,
                Some("LOST") => panic!("a claim was lost under plain contention: {l}"),
                _ => {}
            }
        }
    }
    assert_eq!(done.len(), ids.len(), "every job completed");
    assert!(done.values().all(|&n| n == 1), "a job completed twice");
    assert_eq!(status_count(&q, Status::Completed), JOBS.unsigned_abs());
    let (rows, distinct, first_attempts): (i64, i64, i64) = q
        .read(|c| {
            Ok(c.query_row("SELECT COUNT(*), COUNT(DISTINCT job_id), SUM(attempt = 1) FROM test_done", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?)
        })
        .unwrap();
    assert_eq!((rows, distinct, first_attempts), (JOBS, JOBS, JOBS));
}

#[test]
fn issue2_fresh_database_opened_by_eight_processes_at_once() {
    let s = Scratch::new();
    let mut ws: Vec<Child> =
        (0..8).map(|i| drain_worker(&s, &s.path(&format!("o{i}.log")), 2_000, "AUDIO", false)).collect();
    for w in &mut ws {
        assert!(wait_for(w, Duration::from_secs(60), "opener").success());
    }
    let q = s.queue(2_000);
    let v: i32 = q.read(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?)).unwrap();
    assert_eq!(v, debrief_jobq::SCHEMA_VERSION);
    let tables: i64 = q
        .read(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'jobs'", [], |r| {
                r.get(0)
            })?)
        })
        .unwrap();
    assert_eq!(tables, 1);
}

/// (pid, start, end) of every critical section in the logs; OVERLAP lines fail the test.
fn critical_sections(logs: &[std::path::PathBuf]) -> Vec<(u32, i64, i64)> {
    let mut cs = Vec::new();
    for log in logs {
        for l in lines(log) {
            assert!(!l.starts_with("OVERLAP"), "two GPU holders at once: {l}");
            let f: Vec<&str> = l.split(' ').collect();
            if f[0] == "CS" {
                cs.push((f[1].parse().unwrap(), f[2].parse().unwrap(), f[3].parse().unwrap()));
            }
        }
    }
    cs.sort_by_key(|c| c.1);
    cs
}

#[test]
fn issue2_gpu_lease_never_has_two_holders_under_contention() {
    const PROCS: usize = 8;
    const ROUNDS: usize = 300;
    let s = Scratch::new();
    let _q = s.queue(5_000);
    let logs: Vec<_> = (0..PROCS).map(|i| s.path(&format!("g{i}.log"))).collect();
    let mut ws: Vec<Child> =
        logs.iter().map(|l| gpu_worker(&s, l, 5_000, &["--rounds", &ROUNDS.to_string(), "--hold-us", "200"])).collect();
    for w in &mut ws {
        assert!(wait_for(w, Duration::from_secs(300), "gpu contender").success());
    }
    let cs = critical_sections(&logs);
    assert_eq!(cs.len(), PROCS * ROUNDS);
    for pair in cs.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert!(b.1 >= a.2, "critical sections overlap: {a:?} and {b:?}");
    }
    let holders: std::collections::HashSet<u32> = cs.iter().map(|c| c.0).collect();
    assert_eq!(holders.len(), PROCS, "every contender got the GPU");
}

/// Starts a hog that takes the GPU and keeps it, then contenders; kills the hog and
/// returns how long after the kill the next holder entered.
fn gpu_takeover_after_kill(s: &Scratch, lease_ms: u64, hog_args: &[&str]) -> Duration {
    let hog_log = s.path("hog.log");
    let mut args = vec!["--hog", "--rounds", "1"];
    args.extend_from_slice(hog_args);
    let mut hog = gpu_worker(s, &hog_log, lease_ms, &args);
    let mut out = BufReader::new(hog.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "HOLDING");

    let logs: Vec<_> = (0..4).map(|i| s.path(&format!("c{i}.log"))).collect();
    let mut ws: Vec<Child> =
        logs.iter().map(|l| gpu_worker(s, l, lease_ms, &["--rounds", "20", "--hold-us", "100"])).collect();
    // While the hog lives and heartbeats, nobody else gets in, even past a lease period.
    std::thread::sleep(Duration::from_millis(lease_ms + lease_ms / 2));
    assert!(critical_sections(&logs).is_empty(), "someone entered while the hog held the GPU");

    let killed_at = monotonic_ns();
    kill9(&mut hog);
    for w in &mut ws {
        assert!(wait_for(w, Duration::from_secs(120), "contender").success());
    }
    let cs = critical_sections(&logs);
    assert_eq!(cs.len(), 80);
    for pair in cs.windows(2) {
        assert!(pair[1].1 >= pair[0].2, "overlap after takeover: {pair:?}");
    }
    Duration::from_nanos(u64::try_from(cs[0].1 - killed_at).expect("entered after the kill"))
}

#[test]
fn issue2_killed_gpu_holder_on_this_host_is_replaced_at_once() {
    let s = Scratch::new();
    let _q = s.queue(2_000);
    let took = gpu_takeover_after_kill(&s, 2_000, &[]);
    // Its pid is dead: the next acquirer reaps the lease without waiting for expiry.
    assert!(took < Duration::from_millis(2_000), "replaced after {took:?}");
}

#[test]
fn issue2_killed_gpu_holder_elsewhere_is_replaced_within_one_lease_period() {
    let s = Scratch::new();
    let _q = s.queue(1_500);
    // A holder whose pid cannot be checked (another host): only expiry frees the GPU.
    let took = gpu_takeover_after_kill(&s, 1_500, &["--host", "elsewhere"]);
    assert!(took <= Duration::from_millis(1_500 + 300), "replaced only after {took:?}, more than one lease period");
}

#[test]
fn issue2_worker_killed_mid_job_is_recovered_as_a_crash_not_an_attempt() {
    let s = Scratch::new();
    let q = s.queue(3_000);
    let m = q.create_meeting(None, None).unwrap();
    let (long, _) =
        q.enqueue(&NewJob::new(m, TaskType::Audio, 0).priority(10).payload(json!({"work_ms": 60_000}))).unwrap();
    for i in 1..=5 {
        q.enqueue(&NewJob::new(m, TaskType::Audio, i)).unwrap();
    }
    let log_a = s.path("a.log");
    let mut a = drain_worker(&s, &log_a, 3_000, "AUDIO", false);
    eventually(Duration::from_secs(30), "the long job to start", || {
        lines(&log_a).iter().any(|l| l.starts_with(&format!("START {long} ")))
    });
    kill9(&mut a);
    let rec = q.job(long).unwrap().unwrap();
    assert_eq!(rec.status, Status::Processing, "still claimed by the dead worker");

    // The long job would take a minute; make the retry quick so the test is short.
    q.read(|c| Ok(c.execute("UPDATE jobs SET payload = '{\"work_ms\": 50}' WHERE job_id = ?1", [long])?)).unwrap();
    let log_b = s.path("b.log");
    let mut b = drain_worker(&s, &log_b, 3_000, "AUDIO", false);
    assert!(wait_for(&mut b, Duration::from_secs(60), "worker b").success());

    let rec = q.job(long).unwrap().unwrap();
    assert_eq!(rec.status, Status::Completed);
    assert_eq!((rec.attempts, rec.crashes), (1, 1), "the kill is a crash, not an attempt");
    let err = rec.last_error.unwrap_or_default();
    assert!(err.contains("died while running this job") && err.contains("crash 1, will retry"), "{err}");
    let (pid, attempt): (u32, u32) = q
        .read(|c| {
            Ok(c.query_row("SELECT pid, attempt FROM test_done WHERE job_id = ?1", [long], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?)
        })
        .unwrap();
    assert_eq!((pid, attempt), (b.id(), 1));
    assert_eq!(status_count(&q, Status::Completed), 6);
}

#[test]
fn issue18_job_that_always_crashes_its_worker_is_quarantined_while_others_complete() {
    let s = Scratch::new();
    let q = s.queue(3_000);
    let m = q.create_meeting(None, None).unwrap();
    let (poison, _) =
        q.enqueue(&NewJob::new(m, TaskType::Audio, 0).priority(10).payload(json!({"crash": true}))).unwrap();
    for i in 1..=20 {
        q.enqueue(&NewJob::new(m, TaskType::Audio, i).payload(json!({"work_ms": 5}))).unwrap();
    }
    // A worker may end in exactly two ways: cleanly once nothing is left, or SIGKILLed by
    // the poison job, in which case the last thing it logged is starting that job.
    let check_exit = |st: ExitStatus, log: &Path| {
        if st.success() {
            return;
        }
        let last = lines(log).pop().unwrap_or_default();
        assert!(
            st.signal() == Some(nix::sys::signal::Signal::SIGKILL as i32)
                && last.starts_with(&format!("START {poison} ")),
            "worker ({}) ended {st:?}, not by the poison job; its last log line: {last:?}",
            log.display()
        );
    };
    // A supervisor in miniature: keep two workers running, restarting the dead, until
    // there is nothing left to do.
    let mut running: Vec<(Child, PathBuf)> = Vec::new();
    let mut starts = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while q.outstanding(TaskType::Audio).unwrap() > 0 {
        assert!(Instant::now() < deadline, "the queue did not drain");
        running.retain_mut(|(c, log)| match c.try_wait().unwrap() {
            None => true,
            Some(st) => {
                check_exit(st, log);
                false
            }
        });
        while running.len() < 2 {
            starts += 1;
            assert!(starts < 30, "too many restarts");
            let log = s.path(&format!("p{starts}.log"));
            running.push((drain_worker(&s, &log, 3_000, "AUDIO", false), log));
        }
        // Workers recover the dead one's claim; so does this loop, as a foreman would.
        q.recover().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    // The queue can drain between two passes of the loop, so a worker the poison job
    // killed (its last attempt) may still be in `running`, unreaped: it is judged like
    // the others, not expected to exit cleanly.
    for (c, log) in &mut running {
        let st = wait_for(c, Duration::from_secs(30), "worker");
        check_exit(st, log);
    }
    // Exactly four workers died: four crashes at the same point (before any progress)
    // while other jobs completed set it aside. Crashes cost no attempt: each start was
    // attempt 1.
    let mut poison_starts: Vec<u32> = (1..=starts)
        .flat_map(|i| lines(&s.path(&format!("p{i}.log"))))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() == 4 && f[0] == "START" && f[1] == poison.to_string()).then(|| f[2].parse().unwrap())
        })
        .collect();
    poison_starts.sort_unstable();
    assert_eq!(poison_starts, [1, 1, 1, 1], "attempts of the poison job");
    let rec = q.job(poison).unwrap().unwrap();
    assert_eq!((rec.status, rec.attempts, rec.crashes), (Status::Failed, 0, 4));
    assert!(rec.quarantined_at.is_some());
    let err = rec.last_error.unwrap_or_default();
    assert!(err.contains("killed its worker 4 times (the last 4 before its first step)"), "{err}");
    assert!(err.contains("set aside as poison"), "{err}");
    assert_eq!(status_count(&q, Status::Completed), 20);
}

#[test]
fn issue2_dependencies_hold_jobs_back_and_failed_ones_block_visibly() {
    let s = Scratch::new();
    let q = s.queue(3_000);
    let ok = q.create_meeting(Some("ok"), None).unwrap();
    let bad = q.create_meeting(Some("bad"), None).unwrap();
    let mut audio_ok = Vec::new();
    for i in 0..8 {
        let (id, _) = q.enqueue(&NewJob::new(ok, TaskType::Audio, i).payload(json!({"work_ms": 30}))).unwrap();
        audio_ok.push(id);
    }
    let (t_ok, _) = q.enqueue(&NewJob::new(ok, TaskType::Transcript, 0).depends_on(audio_ok.clone())).unwrap();
    let (a_bad, _) = q
        .enqueue(&NewJob::new(bad, TaskType::Audio, 0).max_attempts(2).payload(json!({"fail": "chunk 0 is not audio"})))
        .unwrap();
    let (a_bad2, _) = q.enqueue(&NewJob::new(bad, TaskType::Audio, 1)).unwrap();
    let (t_bad, _) = q.enqueue(&NewJob::new(bad, TaskType::Transcript, 0).depends_on([a_bad, a_bad2])).unwrap();
    let (s_bad, _) = q.enqueue(&NewJob::new(bad, TaskType::Summary, 0).depends_on([t_bad])).unwrap();

    // The transcript worker starts first and polls the whole time.
    let mut t = drain_worker(&s, &s.path("t.log"), 3_000, "TRANSCRIPT", false);
    std::thread::sleep(Duration::from_millis(200));
    let mut a1 = drain_worker(&s, &s.path("a1.log"), 3_000, "AUDIO", false);
    let mut a2 = drain_worker(&s, &s.path("a2.log"), 3_000, "AUDIO", true);
    for c in [&mut a1, &mut a2, &mut t] {
        assert!(wait_for(c, Duration::from_secs(60), "worker").success());
    }

    let t_rec = q.job(t_ok).unwrap().unwrap();
    assert_eq!(t_rec.status, Status::Completed);
    for id in &audio_ok {
        let a = q.job(*id).unwrap().unwrap();
        assert!(
            t_rec.started_at.unwrap() >= a.finished_at.unwrap(),
            "transcript started before audio job {id} finished"
        );
    }
    assert_eq!(q.job(a_bad).unwrap().unwrap().status, Status::Failed);
    assert_eq!(q.job(t_bad).unwrap().unwrap().status, Status::Pending);
    let blocked = q.blocked().unwrap();
    let view: Vec<(JobId, JobId)> = blocked.iter().map(|b| (b.job_id, b.failed_dependency)).collect();
    assert_eq!(view, vec![(t_bad, a_bad), (s_bad, a_bad)]);
    assert_eq!(blocked[0].failed_error.as_deref(), Some("chunk 0 is not audio"));
}
