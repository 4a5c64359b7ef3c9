//! Single-process tests of the queue's semantics. Multi-process contention and crash
//! tests drive real processes in the workspace's `tests/` crate.

use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use serde_json::json;

use super::*;
use crate::jobs::Crash;

pub(crate) fn fast_cfg() -> QueueConfig {
    QueueConfig {
        lease: Duration::from_millis(300),
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(4),
        // The rule's unit tests were written for streaks of three.
        poison_streak: 3,
        ..QueueConfig::default()
    }
}

fn fresh(cfg: QueueConfig) -> (tempfile::TempDir, Queue) {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(&dir.path().join("debrief.db"), cfg).unwrap();
    (dir, q)
}

pub(crate) fn me() -> WorkerIdent {
    WorkerIdent::current("test")
}

fn status_of(q: &Queue, id: JobId) -> Status {
    q.job(id).unwrap().unwrap().status
}

/// A value for every named parameter, so each statement can run on a fresh schema.
fn sample_param(name: &str) -> SqlValue {
    match name {
        ":task_type" => SqlValue::Text("AUDIO".into()),
        ":device" => SqlValue::Text("gpu".into()),
        ":payload" | ":result" => SqlValue::Text("{}".into()),
        ":title" | ":source" | ":error" | ":worker_id" | ":holder" | ":host" => SqlValue::Text("x".into()),
        ":depends_on" => SqlValue::Integer(1),
        ":need" => SqlValue::Text("SETTLED".into()),
        ":crash_log" => SqlValue::Text("[]".into()),
        ":job_id" => SqlValue::Integer(2),
        ":budget_mb" | ":vram_mb" => SqlValue::Integer(100),
        _ => SqlValue::Integer(1),
    }
}

#[test]
fn every_statement_runs_against_a_fresh_schema() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(Some("t"), None).unwrap();
    q.enqueue(&NewJob::new(m, TaskType::Audio, 0)).unwrap();
    q.enqueue(&NewJob::new(m, TaskType::Audio, 1)).unwrap();
    let conn = q.conn().unwrap();
    for (file, text) in sql::ALL {
        let mut stmt =
            conn.prepare(text).unwrap_or_else(|e| panic!("sql/{file} does not prepare against schema.sql: {e}"));
        for i in 1..=stmt.parameter_count() {
            let name = stmt.parameter_name(i).unwrap_or_else(|| panic!("sql/{file}: unnamed parameter"));
            stmt.raw_bind_parameter(i, sample_param(name)).unwrap();
        }
        let mut rows = stmt.raw_query();
        while let Some(_row) = rows.next().unwrap_or_else(|e| panic!("sql/{file} fails on a fresh schema: {e}")) {}
    }
}

#[test]
fn open_is_idempotent_private_and_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("debrief.db");
    let q = Queue::open(&path, fast_cfg()).unwrap();
    let m = q.create_meeting(None, None).unwrap();
    drop(q);
    let q = Queue::open(&path, fast_cfg()).unwrap();
    let (v, mode, sync, fk): (i32, String, i64, i64) = q
        .read(|c| {
            Ok((
                c.pragma_query_value(None, "user_version", |r| r.get(0))?,
                c.pragma_query_value(None, "journal_mode", |r| r.get(0))?,
                c.pragma_query_value(None, "synchronous", |r| r.get(0))?,
                c.pragma_query_value(None, "foreign_keys", |r| r.get(0))?,
            ))
        })
        .unwrap();
    assert_eq!((v, mode.as_str(), sync, fk), (SCHEMA_VERSION, "wal", 2, 1));
    assert!(q.enqueue(&NewJob::new(m, TaskType::Audio, 0)).unwrap().1);
    use std::os::unix::fs::PermissionsExt;
    for f in ["debrief.db", "debrief.db-wal", "debrief.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
}

#[test]
fn a_released_v1_database_migrates_to_exactly_the_fresh_schema() {
    fn objects(path: &std::path::Path) -> Vec<(String, String, Option<String>)> {
        let c = rusqlite::Connection::open(path).unwrap();
        let mut st = c
            .prepare("SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
    }
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("v1.db");
    {
        let c = rusqlite::Connection::open(&old).unwrap();
        c.execute_batch(schema::RELEASED_V1_SQL).unwrap();
        c.execute_batch("INSERT INTO meetings (title, created_at, updated_at) VALUES ('kept', 0, 0)").unwrap();
        // A live lease: schema 7 rebuilds device_leases and must keep it.
        c.execute_batch(
            "INSERT INTO device_leases (lease_id, device, holder, pid, host, vram_mb, token, acquired_at, expires_at)
             VALUES (7, 'npu', 'w', 1, 'h', 6144, 42, 0, 99)",
        )
        .unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
    }
    let q = Queue::open(&old, fast_cfg()).unwrap();
    let fresh_path = dir.path().join("fresh.db");
    drop(Queue::open(&fresh_path, fast_cfg()).unwrap());
    assert_eq!(objects(&old), objects(&fresh_path));
    assert!(objects(&old).iter().any(|o| o.1 == "summary_windows"));
    let (v, title): (i32, String) = q
        .read(|c| {
            Ok((
                c.pragma_query_value(None, "user_version", |r| r.get(0))?,
                c.query_row("SELECT title FROM meetings", [], |r| r.get(0))?,
            ))
        })
        .unwrap();
    assert_eq!((v, title.as_str()), (SCHEMA_VERSION, "kept"));
    let lease: (i64, String, i64) = q
        .read(|c| {
            Ok(c.query_row("SELECT lease_id, device, token FROM device_leases", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?)
        })
        .unwrap();
    assert_eq!(lease, (7, "npu".to_string(), 42));
    // The rebuilt table takes the Intel GPU's leases.
    q.acquire_device(&me(), DeviceRequest::exclusive(Device::IntelGpu)).unwrap().unwrap();
}

#[test]
fn fenced_writes_within_a_claim_succeed_only_while_it_is_held() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    q.enqueue(&NewJob::new(m, TaskType::Summary, 0)).unwrap();
    let who = WorkerIdent::current("t");
    let c = q.claim(&who, TaskType::Summary).unwrap().unwrap();
    let put = |q: &Queue, title: &str| {
        q.write_fenced(&c.fence, |tx| {
            tx.execute("UPDATE meetings SET title = ?1 WHERE meeting_id = ?2", rusqlite::params![title, m])?;
            Ok::<_, QueueError>(())
        })
    };
    put(&q, "held").unwrap();
    q.hand_back(&c).unwrap();
    assert!(matches!(put(&q, "stale"), Err(QueueError::LostClaim { .. })));
    assert_eq!(q.meeting(m).unwrap().unwrap().title.as_deref(), Some("held"));
}

#[test]
fn concurrent_opens_of_a_fresh_file_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("debrief.db");
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let p = path.clone();
            std::thread::spawn(move || Queue::open(&p, fast_cfg()).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
}

#[test]
fn foreign_and_newer_databases_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE notes (x); INSERT INTO notes VALUES (42);").unwrap();
    }
    let err = Queue::open(&other, fast_cfg()).unwrap_err().to_string();
    assert!(err.contains("not a Debrief database") && err.contains("other.db"), "{err}");
    let c = rusqlite::Connection::open(&other).unwrap();
    let x: i64 = c.query_row("SELECT x FROM notes", [], |r| r.get(0)).unwrap();
    assert_eq!(x, 42);

    let newer = dir.path().join("newer.db");
    drop(Queue::open(&newer, fast_cfg()).unwrap());
    rusqlite::Connection::open(&newer).unwrap().pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    let err = Queue::open(&newer, fast_cfg()).unwrap_err().to_string();
    assert!(err.contains("newer than this build") && err.contains("newer.db"), "{err}");

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 8192]).unwrap();
    let err = Queue::open(&garbage, fast_cfg()).unwrap_err().to_string();
    assert!(err.contains("garbage.db"), "{err}");
    assert_eq!(std::fs::read(&garbage).unwrap(), vec![b'x'; 8192]);
}

#[test]
fn schema_rejects_bad_enumerations_and_json() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let conn = q.conn().unwrap();
    let bad = [
        format!("INSERT INTO jobs (meeting_id, task_type, created_at) VALUES ({m}, 'VIDEO', 0)"),
        format!("INSERT INTO jobs (meeting_id, task_type, status, created_at) VALUES ({m}, 'AUDIO', 'DONE', 0)"),
        format!("INSERT INTO jobs (meeting_id, task_type, payload, created_at) VALUES ({m}, 'AUDIO', '{{nope', 0)"),
        format!("INSERT INTO jobs (meeting_id, task_type, status, created_at) VALUES ({m}, 'AUDIO', 'PROCESSING', 0)"),
        "INSERT INTO jobs (meeting_id, task_type, created_at) VALUES (999, 'AUDIO', 0)".to_owned(),
        "INSERT INTO device_leases (device, holder, pid, host, vram_mb, token, acquired_at, expires_at) VALUES ('tpu', 'h', 1, 'h', 1, 1, 0, 0)".to_owned(),
    ];
    for stmt in bad {
        assert!(conn.execute(&stmt, []).is_err(), "schema accepted: {stmt}");
    }
}

#[test]
fn enqueue_is_idempotent_per_meeting_type_and_seq() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let (a, created) = q.enqueue(&NewJob::new(m, TaskType::Audio, 3).payload(json!({"f": 1}))).unwrap();
    assert!(created);
    let (b, created) = q.enqueue(&NewJob::new(m, TaskType::Audio, 3).payload(json!({"f": 2}))).unwrap();
    assert!(!created);
    assert_eq!(a, b);
    assert_eq!(q.job(a).unwrap().unwrap().payload, json!({"f": 1}));
    let (c, _) = q.enqueue(&NewJob::new(m, TaskType::Visual, 3)).unwrap();
    assert_ne!(a, c);
    let err = q.enqueue(&NewJob::new(MeetingId(12345), TaskType::Audio, 0)).unwrap_err().to_string();
    assert!(err.contains("meeting 12345 does not exist"), "{err}");
}

#[test]
fn claims_follow_priority_then_age_and_only_their_type() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let (low, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0)).unwrap();
    let (high, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 1).priority(5)).unwrap();
    let (low2, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 2)).unwrap();
    q.enqueue(&NewJob::new(m, TaskType::Visual, 0).priority(100)).unwrap();
    let w = me();
    let order: Vec<JobId> = std::iter::from_fn(|| q.claim(&w, TaskType::Audio).unwrap()).map(|c| c.job_id).collect();
    assert_eq!(order, vec![high, low, low2]);
    let rec = q.job(high).unwrap().unwrap();
    assert_eq!(rec.status, Status::Processing);
    assert_eq!((rec.attempts, rec.worker_pid), (1, Some(std::process::id())));
    assert!(rec.lease_expires_at.is_some());
}

#[test]
fn complete_stores_the_result_in_the_same_transaction_and_is_fenced() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    q.read(|c| Ok(c.execute_batch("CREATE TABLE out (job_id INTEGER PRIMARY KEY, v TEXT)")?)).unwrap();
    let (id, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0)).unwrap();
    let w = me();
    let claim = q.claim(&w, TaskType::Audio).unwrap().unwrap();

    // A failing store rolls back the completion; the claim is still held.
    let err = q
        .complete_with(&claim, &json!({"n": 1}), |tx| {
            tx.execute("INSERT INTO out VALUES (?1, 'half')", [claim.job_id])?;
            Err("disk full".into())
        })
        .unwrap_err();
    assert!(matches!(err, QueueError::Store(_)), "{err}");
    assert_eq!(status_of(&q, id), Status::Processing);
    let rows: i64 = q.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM out", [], |r| r.get(0))?)).unwrap();
    assert_eq!(rows, 0);

    // A forged token is refused.
    let mut forged = claim.clone();
    forged.fence.token ^= 1;
    assert!(matches!(q.complete(&forged, &json!(null)), Err(QueueError::LostClaim { .. })));
    assert!(matches!(q.heartbeat(&forged.fence), Err(QueueError::LostClaim { .. })));

    q.complete_with(&claim, &json!({"n": 2}), |tx| {
        tx.execute("INSERT INTO out VALUES (?1, 'done')", [claim.job_id])?;
        Ok(())
    })
    .unwrap();
    let rec = q.job(id).unwrap().unwrap();
    assert_eq!((rec.status, rec.result), (Status::Completed, Some(json!({"n": 2}))));
    // Completing twice is a lost claim, not a second write.
    assert!(matches!(q.complete(&claim, &json!(3)), Err(QueueError::LostClaim { .. })));
    assert!(matches!(q.heartbeat(&claim.fence), Err(QueueError::LostClaim { .. })));
}

#[test]
fn failures_back_off_then_fail_for_good_keeping_the_error() {
    let cfg =
        QueueConfig { backoff_base: Duration::from_millis(200), backoff_max: Duration::from_millis(200), ..fast_cfg() };
    let (_d, q) = fresh(cfg);
    let m = q.create_meeting(None, None).unwrap();
    let (id, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0).max_attempts(2)).unwrap();
    let w = me();
    let c = q.claim(&w, TaskType::Audio).unwrap().unwrap();
    let out = q.fail(&c, "decoder exploded", Retry::Yes).unwrap();
    let FailOutcome::Retrying { run_after, attempts: 1, max_attempts: 2 } = out else { panic!("{out:?}") };
    assert!(run_after >= now_ms() + 50, "backoff too short");
    // Not claimable during its backoff.
    assert!(q.claim(&w, TaskType::Audio).unwrap().is_none());
    assert_eq!(q.job(id).unwrap().unwrap().last_error.as_deref(), Some("decoder exploded"));
    std::thread::sleep(Duration::from_millis(210));
    let c = q.claim(&w, TaskType::Audio).unwrap().expect("claimable after its backoff");
    assert_eq!(c.attempt, 2);
    assert_eq!(q.fail(&c, "again", Retry::Yes).unwrap(), FailOutcome::Failed);
    let rec = q.job(id).unwrap().unwrap();
    assert_eq!((rec.status, rec.last_error.as_deref()), (Status::Failed, Some("again")));
    assert!(rec.finished_at.is_some());

    // A permanent error fails at once.
    let (id2, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 1)).unwrap();
    let c = q.claim(&w, TaskType::Audio).unwrap().unwrap();
    assert_eq!(q.fail(&c, "not audio", Retry::No).unwrap(), FailOutcome::Failed);
    assert_eq!(status_of(&q, id2), Status::Failed);
}

#[test]
fn backoff_grows_exponentially_with_jitter_and_a_cap() {
    let cfg = QueueConfig {
        backoff_base: Duration::from_millis(1000),
        backoff_max: Duration::from_millis(60_000),
        ..QueueConfig::default()
    };
    for attempt in 1..=10u32 {
        let full = (1000i64 << (attempt - 1)).min(60_000);
        for _ in 0..50 {
            let d = cfg.backoff_ms(attempt);
            assert!((full / 2..=full).contains(&d), "attempt {attempt}: {d} not in [{}, {full}]", full / 2);
        }
    }
    let distinct: std::collections::HashSet<i64> = (0..50).map(|_| cfg.backoff_ms(3)).collect();
    assert!(distinct.len() > 10, "no jitter");
}

#[test]
fn hand_back_does_not_count_an_attempt() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let (id, _) = q.enqueue(&NewJob::new(m, TaskType::Summary, 0).max_attempts(1)).unwrap();
    let w = me();
    for _ in 0..3 {
        let c = q.claim(&w, TaskType::Summary).unwrap().unwrap();
        q.hand_back(&c).unwrap();
        assert!(matches!(q.hand_back(&c), Err(QueueError::LostClaim { .. })));
    }
    let rec = q.job(id).unwrap().unwrap();
    assert_eq!((rec.status, rec.attempts), (Status::Pending, 0));
    assert!(q.claim(&w, TaskType::Summary).unwrap().is_some());
}

#[test]
fn dependencies_gate_claims_and_failed_ones_show_as_blocked() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let (a0, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0)).unwrap();
    let (a1, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 1).max_attempts(1)).unwrap();
    let (t, _) = q.enqueue(&NewJob::new(m, TaskType::Transcript, 0).priority(100).depends_on([a0, a1])).unwrap();
    let (s, _) = q.enqueue(&NewJob::new(m, TaskType::Summary, 0).depends_on([t])).unwrap();
    assert_eq!(q.dependencies(t).unwrap(), vec![a0, a1]);
    let w = me();
    assert!(q.claim(&w, TaskType::Transcript).unwrap().is_none());
    let c0 = q.claim(&w, TaskType::Audio).unwrap().unwrap();
    q.complete(&c0, &json!({})).unwrap();
    assert!(q.claim(&w, TaskType::Transcript).unwrap().is_none(), "a1 is not done yet");
    let c1 = q.claim(&w, TaskType::Audio).unwrap().unwrap();
    q.fail(&c1, "chunk file is corrupt", Retry::Yes).unwrap();
    assert_eq!(status_of(&q, a1), Status::Failed);
    assert!(q.claim(&w, TaskType::Transcript).unwrap().is_none());

    assert_eq!(q.outstanding(TaskType::Transcript).unwrap(), 0, "blocked is not outstanding");
    assert_eq!(q.outstanding(TaskType::Summary).unwrap(), 0);
    let blocked = q.blocked().unwrap();
    let ids: Vec<(JobId, JobId)> = blocked.iter().map(|b| (b.job_id, b.failed_dependency)).collect();
    assert_eq!(ids, vec![(t, a1), (s, a1)], "transitively blocked: {blocked:?}");
    assert_eq!(blocked[0].failed_error.as_deref(), Some("chunk file is corrupt"));

    // Dependencies may only point at older jobs: no cycles by construction.
    let err = q.enqueue(&NewJob::new(m, TaskType::Visual, 0).depends_on([JobId(s.0 + 100)])).unwrap_err().to_string();
    assert!(err.contains("cannot depend on job"), "{err}");
    assert!(q.job(JobId(s.0 + 1)).unwrap().is_none(), "the refused job was not inserted");
}

/// A worker identity whose pid is a dead child of ours.
pub(crate) fn ghost() -> WorkerIdent {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    WorkerIdent { pid: child.id(), ..WorkerIdent::current("ghost") }
}

/// Claims `id` as a ghost, reports progress `point` (if any) and lets the reaper find it dead.
fn crash_at(q: &Queue, id: JobId, point: Option<i64>) -> Recovered {
    // The crash backoff (1-4 ms here) must pass before the job is claimable again.
    std::thread::sleep(Duration::from_millis(10));
    let c = q.claim(&ghost(), TaskType::Audio).unwrap().unwrap();
    assert_eq!(c.job_id, id);
    if let Some(p) = point {
        q.progress(&c.fence, p).unwrap();
    }
    q.recover().unwrap()
}

#[test]
fn a_dead_worker_costs_a_crash_not_an_attempt() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let (id, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0).max_attempts(2)).unwrap();
    let c = q.claim(&ghost(), TaskType::Audio).unwrap().unwrap();
    q.progress(&c.fence, 40).unwrap();
    let r = q.recover().unwrap();
    assert_eq!((r.requeued, r.quarantined), (vec![id], vec![]));
    let rec = q.job(id).unwrap().unwrap();
    assert_eq!((rec.status, rec.attempts, rec.crashes), (Status::Pending, 0, 1));
    assert_eq!(rec.crash_log.iter().map(|k| k.point).collect::<Vec<_>>(), vec![Some(40)]);
    let err = rec.last_error.unwrap();
    assert!(err.contains("died while running this job") && err.contains("at step 40"), "{err}");
    assert!(err.contains("crash 1, will retry"), "{err}");
    // The ghost's late write is fenced off.
    assert!(matches!(q.complete(&c, &json!({})), Err(QueueError::LostClaim { .. })));
    assert!(matches!(q.progress(&c.fence, 41), Err(QueueError::LostClaim { .. })));

    // Far more deaths than max_attempts, at random points and with nothing else
    // completing: still retried (an OOM-killing neighbour or a flaky machine is not the
    // job's fault).
    for point in [Some(3), None, Some(77), Some(12)] {
        let r = crash_at(&q, id, point);
        assert_eq!(r.requeued, vec![id]);
    }
    let rec = q.job(id).unwrap().unwrap();
    assert_eq!((rec.status, rec.attempts, rec.crashes), (Status::Pending, 0, 5));
    // A normal completion still works, and its attempts are the handler's own.
    std::thread::sleep(Duration::from_millis(10));
    let c = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    assert_eq!(c.crashes, 5);
    q.complete(&c, &json!({})).unwrap();
    assert_eq!(q.job(id).unwrap().unwrap().attempts, 1);
}

#[test]
fn a_job_that_kills_its_worker_at_the_same_step_while_others_complete_is_quarantined() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let (bad, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0)).unwrap();

    // Three crashes at the same step, but nothing else has completed: the workers may be
    // broken, not the job. Not quarantined.
    for _ in 0..3 {
        assert_eq!(crash_at(&q, bad, Some(250)).quarantined, vec![]);
    }
    let err = q.job(bad).unwrap().unwrap().last_error.unwrap();
    assert!(err.contains("no other AUDIO job completed meanwhile"), "{err}");

    // Another chunk completes, then the bad one crashes at step 250 again: now the
    // evidence points at the job.
    let w = me();
    let (ok1, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 1).priority(9)).unwrap();
    let c = q.claim(&w, TaskType::Audio).unwrap().unwrap();
    assert_eq!(c.job_id, ok1);
    q.complete(&c, &json!({})).unwrap();
    let r = crash_at(&q, bad, Some(250));
    assert_eq!(r.quarantined, vec![bad]);
    let rec = q.job(bad).unwrap().unwrap();
    assert_eq!(rec.status, Status::Failed);
    assert!(rec.quarantined_at.is_some());
    let err = rec.last_error.unwrap();
    assert!(err.contains("killed its worker 4 times (the last 4 at step 250)"), "{err}");
    assert!(err.contains("1 other AUDIO jobs completed") && err.contains(&format!("foreman retry {bad}")), "{err}");
    // It blocks nothing else of its type.
    let (ok2, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 2)).unwrap();
    let c = q.claim(&w, TaskType::Audio).unwrap().unwrap();
    assert_eq!(c.job_id, ok2);
    q.complete(&c, &json!({})).unwrap();

    // `foreman retry` takes it out of quarantine with a clean slate.
    let retried = q.retry_failed(Some(bad)).unwrap();
    assert_eq!(retried.jobs, vec![bad]);
    let rec = q.job(bad).unwrap().unwrap();
    assert_eq!((rec.status, rec.crashes, rec.quarantined_at), (Status::Pending, 0, None));
    assert!(rec.crash_log.is_empty());
}

/// Moves every recorded time `ms` into the past, as if that long went by.
fn age(q: &Queue, ms: i64) {
    q.write(|tx| {
        for col in ["created_at", "started_at", "finished_at", "quarantined_at"] {
            tx.execute(&format!("UPDATE jobs SET {col} = {col} - ?1 WHERE {col} IS NOT NULL"), [ms])?;
        }
        tx.execute("UPDATE worker_deaths SET at = at - ?1", [ms])?;
        let logs: Vec<(i64, String)> = tx
            .prepare("SELECT job_id, crash_log FROM jobs WHERE crashes > 0")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (id, log) in logs {
            let mut log: Vec<Crash> = serde_json::from_str(&log).unwrap();
            for k in &mut log {
                k.at -= ms;
            }
            tx.execute(
                "UPDATE jobs SET crash_log = ?1 WHERE job_id = ?2",
                rusqlite::params![serde_json::to_string(&log).unwrap(), id],
            )?;
        }
        Ok::<(), QueueError>(())
    })
    .unwrap();
}

/// [`crash_at`] for a claim that ran `ran_ms` before its worker died.
fn crash_after(q: &Queue, id: JobId, point: Option<i64>, ran_ms: i64) -> Recovered {
    std::thread::sleep(Duration::from_millis(10));
    let c = q.claim(&ghost(), TaskType::Audio).unwrap().unwrap();
    assert_eq!(c.job_id, id);
    if let Some(p) = point {
        q.progress(&c.fence, p).unwrap();
    }
    age(q, ran_ms);
    q.recover().unwrap()
}

/// Claims the best ready job as a live worker (asserting it is `id`), lets it run
/// `ran_ms` and completes it.
fn complete_after(q: &Queue, id: JobId, ran_ms: i64) {
    std::thread::sleep(Duration::from_millis(10));
    let c = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    assert_eq!(c.job_id, id);
    age(q, ran_ms);
    q.complete(&c, &json!({})).unwrap();
}

#[test]
fn crashes_at_different_points_quarantine_only_at_the_crash_limit() {
    let cfg = QueueConfig { max_crashes: 5, ..fast_cfg() };
    let (_d, q) = fresh(cfg);
    let m = q.create_meeting(None, None).unwrap();
    let (bad, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0)).unwrap();
    // It kills its worker a second into every run, at a different step each time...
    assert_eq!(crash_after(&q, bad, Some(1), 1_000).quarantined, vec![]);
    // ...while another chunk runs for ten minutes and completes (five crashes are
    // little evidence: the others must have run far longer without dying).
    let (ok, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 1).priority(9)).unwrap();
    complete_after(&q, ok, 600_000);
    for (i, point) in [Some(2), None, Some(4)].into_iter().enumerate() {
        assert_eq!(crash_after(&q, bad, point, 1_000).quarantined, vec![], "crash {}", i + 2);
    }
    assert_eq!(crash_after(&q, bad, Some(9), 1_000).quarantined, vec![bad]);
    let err = q.job(bad).unwrap().unwrap().last_error.unwrap();
    assert!(err.contains("5 times (at different points) in 5 s of running"), "{err}");
    assert!(err.contains("1 other AUDIO jobs completed and, in 600 s of running, none of their workers died"), "{err}");
}

#[test]
fn a_slow_chunk_left_alone_under_a_killer_of_busy_workers_is_no_poison() {
    // The chaos harness's tail: two workers, a killer that hits a busy one every few
    // seconds; at the end one slow chunk is the only job running and takes every kill.
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let (slow, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0).priority(5)).unwrap();
    let (other, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 1)).unwrap();
    // Side by side: each dies about as often as the other, and the other completes.
    for _ in 0..2 {
        assert_eq!(crash_after(&q, slow, Some(3), 12_000).quarantined, vec![]);
        set_priority(&q, other, 9);
        assert_eq!(crash_after(&q, other, Some(5), 12_000).requeued, vec![other]);
        set_priority(&q, other, 0);
    }
    set_priority(&q, other, 9);
    complete_after(&q, other, 20_000);
    // Then alone: killed 30 times, a few seconds into each run.
    for i in 0..30 {
        let r = crash_after(&q, slow, Some(i), 4_000 + i * 300);
        let err = q.job(slow).unwrap().unwrap().last_error.unwrap();
        assert_eq!(r.quarantined, vec![], "crash {}: {err}", i + 3);
        if i == 9 {
            // At the crash limit, the window still holds the other job's deaths and run.
            assert!(err.contains("crash 12, will retry; 2 other AUDIO worker(s) died meanwhile"), "{err}");
            assert!(err.contains("in 44 s of running against this job's 78 s"), "{err}");
            assert!(err.contains("so its crashes fit workers killed from outside"), "{err}");
        }
    }
    let rec = q.job(slow).unwrap().unwrap();
    assert_eq!((rec.status, rec.crashes), (Status::Pending, 32));
}

#[test]
fn a_job_that_kills_its_worker_at_random_points_is_poison_once_others_ran_long_without_dying() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let (bad, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0).priority(5)).unwrap();
    // It dies 2-6 s into each run (an allocation that fails when memory is short, say),
    // while the other worker completes a 30 s chunk between two of its crashes.
    for i in 0..12 {
        let r = crash_after(&q, bad, Some(i * 7), 2_000 + (i % 5) * 1_000);
        if i < 11 {
            assert_eq!(r.quarantined, vec![], "crash {}", i + 1);
        } else {
            assert_eq!(r.quarantined, vec![bad], "{:?}", q.job(bad).unwrap().unwrap().last_error);
        }
        let (ok, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, i + 1).priority(9)).unwrap();
        complete_after(&q, ok, 30_000);
    }
    let err = q.job(bad).unwrap().unwrap().last_error.unwrap();
    assert!(err.contains("killed its worker 12 times (at different points)"), "{err}");
}

#[test]
fn binomial_tails() {
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.max(1e-300);
    assert_eq!(recover::binomial_tail(5, 0, 0.3), 1.0);
    assert!(close(recover::binomial_tail(12, 12, 0.5), 0.5f64.powi(12)));
    // P(X >= 2), X ~ B(3, 0.5) = 4/8.
    assert!(close(recover::binomial_tail(3, 2, 0.5), 0.5));
    assert_eq!(recover::binomial_tail(3, 4, 0.5), 0.0);
    assert_eq!(recover::binomial_tail(3, 1, 1.0), 1.0);
}

fn set_priority(q: &Queue, id: JobId, priority: i32) {
    q.write(|tx| {
        tx.execute("UPDATE jobs SET priority = ?1 WHERE job_id = ?2", rusqlite::params![priority, id])
            .map_err(QueueError::from)
    })
    .unwrap();
}

/// Claims the best ready job as a live worker (asserting it is `id`) and completes it.
fn complete_next(q: &Queue, id: JobId) {
    let c = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    assert_eq!(c.job_id, id);
    q.complete(&c, &json!({})).unwrap();
}

#[test]
fn same_step_crashes_are_not_poison_while_other_jobs_lose_their_workers_too() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let (j, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0).priority(5)).unwrap();
    let (k, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 1)).unwrap();
    let (ok, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 2)).unwrap();
    // A killer hits whatever runs: j at a long step, then k, while a third job
    // completes; then j twice more at the same step. Not poison: k's worker died too.
    assert_eq!(crash_at(&q, j, Some(1000)).quarantined, vec![]);
    set_priority(&q, j, -10);
    assert_eq!(crash_at(&q, k, Some(7)).requeued, vec![k]);
    set_priority(&q, k, -5);
    complete_next(&q, ok);
    set_priority(&q, j, 5);
    for _ in 0..2 {
        assert_eq!(crash_at(&q, j, Some(1000)).quarantined, vec![]);
    }
    let rec = q.job(j).unwrap().unwrap();
    assert_eq!((rec.status, rec.crashes), (Status::Pending, 3));
    let err = rec.last_error.unwrap();
    assert!(err.contains("1 other AUDIO worker(s) died meanwhile"), "{err}");

    // The window is the last three crashes: once it no longer holds k's crash, nothing
    // has completed inside it either...
    assert_eq!(crash_at(&q, j, Some(1000)).quarantined, vec![]);
    let err = q.job(j).unwrap().unwrap().last_error.unwrap();
    assert!(err.contains("no other AUDIO job completed meanwhile"), "{err}");
    // ...until k completes: calm workers, a job dying at one step: poison.
    set_priority(&q, j, -10);
    complete_next(&q, k);
    set_priority(&q, j, 5);
    assert_eq!(crash_at(&q, j, Some(1000)).quarantined, vec![j]);
    let err = q.job(j).unwrap().unwrap().last_error.unwrap();
    assert!(err.contains("5 times (the last 5 at step 1000)") && err.contains("completed and none crashed"), "{err}");
}

#[test]
fn workers_that_die_together_are_evidence_about_each_other() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let (a, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0).priority(9)).unwrap();
    let (b, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 1).priority(8)).unwrap();
    let (ok, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 2)).unwrap();
    assert_eq!(crash_at(&q, a, Some(40)).quarantined, vec![]);
    set_priority(&q, a, -10);
    set_priority(&q, b, -10);
    complete_next(&q, ok);
    set_priority(&q, a, 9);
    set_priority(&q, b, 8);
    assert_eq!(crash_at(&q, a, Some(40)).quarantined, vec![]);
    // Then a power cut (or the foreman killed with its children) takes both workers at
    // once, a at step 40 for the third time. b's death, found in the same pass, is
    // evidence that the workers were killed, not that a is poison.
    std::thread::sleep(Duration::from_millis(10));
    for (id, point) in [(a, 40), (b, 90)] {
        let c = q.claim(&ghost(), TaskType::Audio).unwrap().unwrap();
        assert_eq!(c.job_id, id);
        q.progress(&c.fence, point).unwrap();
    }
    let r = q.recover().unwrap();
    assert_eq!((r.requeued.len(), r.quarantined), (2, vec![]));
    let err = q.job(a).unwrap().unwrap().last_error.unwrap();
    assert!(err.contains("worker(s) died meanwhile"), "{err}");
}

#[test]
fn the_crash_limit_is_no_verdict_while_the_other_jobs_die_as_often() {
    // A slow chunk under a steady killer: it dies at many points, but so do the others.
    let cfg = QueueConfig { max_crashes: 4, ..fast_cfg() };
    let (_d, q) = fresh(cfg);
    let m = q.create_meeting(None, None).unwrap();
    let (slow, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0).priority(5)).unwrap();
    let (other, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 1)).unwrap();
    let (ok, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 2)).unwrap();
    // Every run lasts a second (set, not measured: runs of well under a millisecond
    // on a fast disk rounded the slow job's running time to 0, which made its deaths
    // look implausible and convicted it in a CI run).
    assert_eq!(crash_after(&q, slow, Some(1), 1_000).quarantined, vec![]);
    set_priority(&q, slow, -10);
    assert_eq!(crash_after(&q, other, Some(1), 1_000).requeued, vec![other]);
    set_priority(&q, other, -5);
    complete_after(&q, ok, 1_000);
    set_priority(&q, slow, 5);
    for point in [2, 3, 4] {
        assert_eq!(crash_after(&q, slow, Some(point), 1_000).quarantined, vec![], "crash at {point}");
    }
    let err = q.job(slow).unwrap().unwrap().last_error.unwrap();
    assert!(err.contains("crash 4, will retry; 1 other AUDIO worker(s) died meanwhile"), "{err}");
}

#[test]
fn a_dead_workers_breadcrumb_gives_its_exact_last_step() {
    let (d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let (id, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0)).unwrap();
    let c = q.claim(&ghost(), TaskType::Audio).unwrap().unwrap();
    q.progress(&c.fence, 5).unwrap();
    let crumb = q.crumb(&c.fence).unwrap();
    let file = d.path().join("run/crumbs").join(id.0.to_string());
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions()) & 0o777,
        0o600
    );
    for step in 6..=77 {
        crumb.mark(step).unwrap();
    }
    q.recover().unwrap();
    let rec = q.job(id).unwrap().unwrap();
    assert_eq!(rec.crash_log.iter().map(|k| k.point).collect::<Vec<_>>(), vec![Some(77)]);
    assert!(!file.exists(), "the reaper removes what it read");
    // A crumb of another claim (or a torn one) is not believed: the database's step is.
    std::thread::sleep(Duration::from_millis(10));
    let c2 = q.claim(&ghost(), TaskType::Audio).unwrap().unwrap();
    q.progress(&c2.fence, 9).unwrap();
    q.crumb(&c.fence).unwrap().mark(1234).unwrap();
    q.recover().unwrap();
    let rec = q.job(id).unwrap().unwrap();
    assert_eq!(rec.crash_log.last().unwrap().point, Some(9));
}

#[test]
fn an_idle_worker_that_dies_is_evidence_that_workers_are_being_killed() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let (last, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0).priority(5)).unwrap();
    let (ok, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 1)).unwrap();
    // The last chunk of a meeting: the other worker has nothing to do, and the killer
    // hits it once while the chunk dies three times at the same step.
    assert_eq!(crash_at(&q, last, Some(1000)).quarantined, vec![]);
    set_priority(&q, last, -10);
    complete_next(&q, ok);
    set_priority(&q, last, 5);
    let idle = ghost();
    q.register_worker(&idle, &[TaskType::Transcript, TaskType::Audio]).unwrap();
    // A worker that exits cleanly is no evidence.
    let clean = ghost();
    q.register_worker(&clean, &[TaskType::Audio]).unwrap();
    q.unregister_worker(&clean).unwrap();
    for _ in 0..2 {
        assert_eq!(crash_at(&q, last, Some(1000)).quarantined, vec![]);
    }
    let err = q.job(last).unwrap().unwrap().last_error.unwrap();
    assert!(err.contains("1 other AUDIO worker(s) died meanwhile"), "{err}");
    // A worker of another type dying says nothing about AUDIO jobs.
    let (_d2, q2) = fresh(fast_cfg());
    let m2 = q2.create_meeting(None, None).unwrap();
    let (bad, _) = q2.enqueue(&NewJob::new(m2, TaskType::Audio, 0).priority(5)).unwrap();
    let (ok2, _) = q2.enqueue(&NewJob::new(m2, TaskType::Audio, 1)).unwrap();
    assert_eq!(crash_at(&q2, bad, Some(7)).quarantined, vec![]);
    set_priority(&q2, bad, -10);
    complete_next(&q2, ok2);
    set_priority(&q2, bad, 5);
    q2.register_worker(&ghost(), &[TaskType::Summary]).unwrap();
    assert_eq!(crash_at(&q2, bad, Some(7)).quarantined, vec![]);
    assert_eq!(crash_at(&q2, bad, Some(7)).quarantined, vec![bad]);
}

#[test]
fn recovery_takes_back_expired_leases_of_other_hosts() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let (id, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0)).unwrap();
    // On another host the pid cannot be checked: only the lease expiry counts.
    let remote = WorkerIdent { host: "elsewhere".into(), pid: 1, ..WorkerIdent::current("remote") };
    let c = q.claim(&remote, TaskType::Audio).unwrap().unwrap();
    assert!(q.recover().unwrap().is_empty(), "lease still live");
    q.heartbeat(&c.fence).unwrap();
    std::thread::sleep(Duration::from_millis(350));
    let r = q.recover().unwrap();
    assert_eq!(r.requeued, vec![id]);
    assert!(q.job(id).unwrap().unwrap().last_error.unwrap().contains("stopped renewing its lease"));
    assert!(matches!(q.heartbeat(&c.fence), Err(QueueError::LostClaim { .. })));
}

#[test]
fn device_budget_is_shared_by_declared_vram_and_full_leases_exclude() {
    let (_d, q) = fresh(fast_cfg());
    let (a, b, c) = (me(), me(), me());
    let full = q.acquire_device(&a, DeviceRequest::exclusive(Device::Gpu)).unwrap().unwrap();
    assert_eq!(full.vram_mb, DEFAULT_BUDGET_MB);
    assert!(q.acquire_device(&b, DeviceRequest::shared(Device::Gpu, 1)).unwrap().is_none());
    // Other devices are independent: the NPU, and an Intel GPU through OpenVINO, each
    // exclusive on its own.
    let npu = q.acquire_device(&b, DeviceRequest::exclusive(Device::Npu)).unwrap().unwrap();
    let igpu = q.acquire_device(&c, DeviceRequest::exclusive(Device::IntelGpu)).unwrap().unwrap();
    assert!(q.acquire_device(&a, DeviceRequest::exclusive(Device::IntelGpu)).unwrap().is_none());
    assert!(q.acquire_device(&a, DeviceRequest::exclusive(Device::Npu)).unwrap().is_none());
    q.release_device(&igpu).unwrap();
    q.release_device(&full).unwrap();
    assert!(matches!(q.release_device(&full), Err(QueueError::LostLease { .. })));

    let s1 = q.acquire_device(&a, DeviceRequest::shared(Device::Gpu, 3000)).unwrap().unwrap();
    let s2 = q.acquire_device(&b, DeviceRequest::shared(Device::Gpu, 3000)).unwrap().unwrap();
    assert!(q.acquire_device(&c, DeviceRequest::shared(Device::Gpu, 200)).unwrap().is_none());
    let s3 = q.acquire_device(&c, DeviceRequest::shared(Device::Gpu, 144)).unwrap().unwrap();
    assert!(q.acquire_device(&c, DeviceRequest::exclusive(Device::Gpu)).unwrap().is_none());
    assert_eq!(q.device_leases().unwrap().len(), 4);
    for l in [&s1, &s2, &s3, &npu] {
        q.heartbeat_device(l).unwrap();
        q.release_device(l).unwrap();
    }
    // Over-declaring is clamped to the budget: exclusive.
    let big = q.acquire_device(&a, DeviceRequest::shared(Device::Gpu, 99_999)).unwrap().unwrap();
    assert_eq!(big.vram_mb, DEFAULT_BUDGET_MB);
}

#[test]
fn expired_and_dead_device_holders_are_replaced() {
    let (_d, q) = fresh(fast_cfg());
    let remote = WorkerIdent { host: "elsewhere".into(), ..WorkerIdent::current("remote") };
    let l = q.acquire_device(&remote, DeviceRequest::exclusive(Device::Gpu)).unwrap().unwrap();
    let w = me();
    assert!(q.acquire_device(&w, DeviceRequest::exclusive(Device::Gpu)).unwrap().is_none());
    std::thread::sleep(Duration::from_millis(350));
    let mine = q.acquire_device(&w, DeviceRequest::exclusive(Device::Gpu)).unwrap();
    assert!(mine.is_some(), "an expired lease must be reclaimed");
    assert!(matches!(q.heartbeat_device(&l), Err(QueueError::LostLease { .. })));
    q.release_device(&mine.unwrap()).unwrap();

    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    let ghost = WorkerIdent { pid: child.id(), ..WorkerIdent::current("ghost") };
    q.acquire_device(&ghost, DeviceRequest::exclusive(Device::Gpu)).unwrap().unwrap();
    assert!(
        q.acquire_device(&w, DeviceRequest::exclusive(Device::Gpu)).unwrap().is_some(),
        "a dead holder on this host is replaced at once"
    );
}

#[test]
fn claim_with_device_takes_both_or_neither() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let w = me();
    let gpu = DeviceRequest::exclusive(Device::Gpu);
    // No job: no lease either.
    assert!(q.claim_with_device(&w, TaskType::Summary, gpu).unwrap().is_none());
    assert!(q.device_leases().unwrap().is_empty());

    let (id, _) = q.enqueue(&NewJob::new(m, TaskType::Summary, 0)).unwrap();
    let other = me();
    let held = q.acquire_device(&other, gpu).unwrap().unwrap();
    // Device busy: the job stays PENDING.
    assert!(q.claim_with_device(&w, TaskType::Summary, gpu).unwrap().is_none());
    assert_eq!(status_of(&q, id), Status::Pending);
    q.release_device(&held).unwrap();

    let (claim, lease) = q.claim_with_device(&w, TaskType::Summary, gpu).unwrap().unwrap();
    assert_eq!(claim.job_id, id);
    assert_eq!(q.device_leases().unwrap()[0].job_id, Some(id));
    q.complete(&claim, &json!({})).unwrap();

    // Claiming under a held lease works; under a lost one it is refused.
    q.enqueue(&NewJob::new(m, TaskType::Summary, 1)).unwrap();
    q.release_device(&lease).unwrap();
    let err = q.claim_under(&w, TaskType::Summary, &lease).unwrap_err();
    assert!(matches!(err, QueueError::LostLease { .. }), "{err}");
    let lease = q.acquire_device(&w, gpu).unwrap().unwrap();
    assert!(q.claim_under(&w, TaskType::Summary, &lease).unwrap().is_some());
}

#[test]
fn reconcile_plans_closed_meetings_once_and_tracks_their_status() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(Some("weekly"), Some("a.wav")).unwrap();
    let audio: Vec<JobId> = (0..3).map(|i| q.enqueue(&NewJob::new(m, TaskType::Audio, i)).unwrap().0).collect();
    let (visual, _) = q.enqueue(&NewJob::new(m, TaskType::Visual, 0)).unwrap();
    // OPEN meetings are not planned.
    assert!(q.reconcile_meetings().unwrap().planned.is_empty());
    assert!(q.close_meeting(m, Some(180_000)).unwrap());
    assert!(!q.close_meeting(m, None).unwrap(), "closing twice is a no-op");
    assert_eq!(q.reconcile_meetings().unwrap().planned, vec![m]);
    assert!(q.reconcile_meetings().unwrap().planned.is_empty(), "planned once");

    let jobs = q.meeting_jobs(m).unwrap();
    let of = |t: &str| jobs.iter().find(|j| j.task_type.as_str() == t).unwrap().job_id;
    let (t, s) = (of("TRANSCRIPT"), of("SUMMARY"));
    assert_eq!(q.dependencies(t).unwrap(), audio);
    assert_eq!(q.dependencies(s).unwrap(), vec![visual, t]);
    let rec = q.meeting(m).unwrap().unwrap();
    assert_eq!((rec.status.as_str(), rec.jobs, rec.duration_ms), ("PROCESSING", 6, Some(180_000)));

    // A chunk that fails for good does not sink the meeting: the transcript waits only
    // for every chunk to be settled, and the meeting ends DONE, marked partial.
    let w = me();
    let c = q.claim(&w, TaskType::Audio).unwrap().unwrap();
    q.fail(&c, "unreadable chunk", Retry::No).unwrap();
    assert!(q.reconcile_meetings().unwrap().failed.is_empty(), "a failed chunk is a gap, not a failure");
    let finish = |q: &Queue| {
        for task in [TaskType::Audio, TaskType::Visual, TaskType::Transcript, TaskType::Summary] {
            while let Some(c) = q.claim(&w, task).unwrap() {
                q.complete(&c, &json!({})).unwrap();
            }
        }
    };
    finish(&q);
    assert_eq!(status_of(&q, t), Status::Completed);
    assert_eq!(q.reconcile_meetings().unwrap().done, vec![m]);
    let rec = q.meeting(m).unwrap().unwrap();
    assert_eq!(rec.status, MeetingStatus::Done);
    let partial = rec.partial.unwrap();
    assert!(
        partial.contains("1 of 3 audio chunks not transcribed") && partial.contains("unreadable chunk"),
        "{partial}"
    );
    assert_eq!(q.failed_jobs().unwrap().len(), 1);

    // A retry runs the chunk again and redoes the transcript and summary built without it.
    let retried = q.retry_failed(None).unwrap();
    assert_eq!(retried, Retried { jobs: vec![c.job_id], redo: vec![t, s] });
    assert_eq!(q.reconcile_meetings().unwrap().resumed, vec![m]);
    assert_eq!(q.job(c.job_id).unwrap().unwrap().attempts, 0);
    assert!(q.claim(&w, TaskType::Transcript).unwrap().is_none(), "the transcript waits for the retried chunk");
    finish(&q);
    assert_eq!(q.reconcile_meetings().unwrap().done, vec![m]);
    let rec = q.meeting(m).unwrap().unwrap();
    assert_eq!((rec.status, rec.partial), (MeetingStatus::Done, None));

    // A transcript that fails for good fails the meeting, with its error.
    let (late, _) = q.enqueue(&NewJob::new(m, TaskType::Transcript, 1)).unwrap();
    let c = q.claim(&w, TaskType::Transcript).unwrap().unwrap();
    assert_eq!(c.job_id, late);
    q.fail(&c, "assembly failed", Retry::No).unwrap();
    assert_eq!(q.reconcile_meetings().unwrap().failed, vec![m]);
    let rec = q.meeting(m).unwrap().unwrap();
    assert_eq!(rec.status, MeetingStatus::Failed);
    assert!(rec.error.unwrap().contains("assembly failed"));
}

#[test]
fn cancel_fails_unfinished_jobs_and_fences_off_their_workers() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let (a, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0)).unwrap();
    let (b, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 1)).unwrap();
    let (done, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 2).priority(9)).unwrap();
    let w = me();
    let c = q.claim(&w, TaskType::Audio).unwrap().unwrap();
    assert_eq!(c.job_id, done);
    q.complete(&c, &json!({})).unwrap();
    let running = q.claim(&w, TaskType::Audio).unwrap().unwrap();
    assert_eq!(q.cancel_meeting(m).unwrap(), Some(2));
    assert_eq!(q.cancel_meeting(m).unwrap(), None);
    assert_eq!(q.cancel_meeting(MeetingId(999)).unwrap(), None);
    assert!(matches!(q.heartbeat(&running.fence), Err(QueueError::LostClaim { .. })));
    for id in [a, b] {
        let rec = q.job(id).unwrap().unwrap();
        assert_eq!(rec.status, Status::Failed);
        assert!(rec.last_error.unwrap().contains("cancelled"));
    }
    assert_eq!(status_of(&q, done), Status::Completed);
    assert!(q.retry_failed(None).unwrap().jobs.is_empty(), "cancelled meetings are not retried");
    let rec = q.meeting(m).unwrap().unwrap();
    assert_eq!(rec.status, MeetingStatus::Cancelled);
    assert!(q.reconcile_meetings().unwrap().is_empty());
    assert_eq!(q.meeting(m).unwrap().unwrap().status, MeetingStatus::Cancelled);
}

#[test]
fn failed_imports_can_be_undone_and_found_again_by_hash() {
    let (_d, q) = fresh(fast_cfg());
    let m = q
        .create_meeting_with(&NewMeeting { title: Some("x"), source: Some("x.mp3"), source_sha256: Some("abc") })
        .unwrap();
    q.enqueue(&NewJob::new(m, TaskType::Audio, 0)).unwrap();
    q.enqueue(&NewJob::new(m, TaskType::Audio, 1)).unwrap();
    assert_eq!(q.find_meeting_by_source("abc").unwrap(), Some(m));
    assert_eq!(q.meeting_seqs(m, TaskType::Audio).unwrap(), vec![0, 1]);
    assert!(q.delete_open_meeting(m).unwrap());
    assert!(q.meeting(m).unwrap().is_none());
    assert!(q.counts().unwrap().is_empty(), "its jobs went with it");
    assert_eq!(q.find_meeting_by_source("abc").unwrap(), None);
    let m2 = q.create_meeting(None, None).unwrap();
    q.close_meeting(m2, None).unwrap();
    assert!(!q.delete_open_meeting(m2).unwrap(), "only OPEN meetings can be undone");
}

#[test]
fn input_jobs_need_an_open_meeting_and_a_cancelled_one_takes_none() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    q.enqueue(&NewJob::new(m, TaskType::Audio, 0)).unwrap();
    assert!(q.close_meeting(m, None).unwrap());
    for t in [TaskType::Audio, TaskType::Visual] {
        let err = q.enqueue(&NewJob::new(m, t, 1)).unwrap_err();
        assert!(
            matches!(err, QueueError::MeetingNotOpen { status: MeetingStatus::Closed, task_type, .. } if task_type == t),
            "{err}"
        );
    }
    // The foreman's planning of CLOSED meetings still works.
    assert_eq!(q.reconcile_meetings().unwrap().planned, vec![m]);
    let c = q.create_meeting(None, None).unwrap();
    q.enqueue(&NewJob::new(c, TaskType::Audio, 0)).unwrap();
    q.cancel_meeting(c).unwrap();
    for t in TaskType::ALL {
        let err = q.enqueue(&NewJob::new(c, *t, 5)).unwrap_err();
        assert!(matches!(err, QueueError::MeetingNotOpen { status: MeetingStatus::Cancelled, .. }), "{err}");
        assert!(err.to_string().contains("CANCELLED"), "{err}");
    }
    assert_eq!(q.meeting_jobs(c).unwrap().len(), 1, "nothing was added to the cancelled meeting");
}

/// Another open file description holds the writer gate's `flock` and never lets go (a
/// process stopped while holding it): writes still go through, each waiting at most the
/// busy timeout for the gate, and later ones of this process not even that.
#[test]
fn a_writer_gate_held_forever_delays_writes_by_at_most_the_busy_timeout() {
    let cfg = QueueConfig { busy_timeout: Duration::from_millis(300), ..fast_cfg() };
    let (dir, q) = fresh(cfg);
    let holder = std::fs::OpenOptions::new().write(true).open(dir.path().join("debrief.db-gate")).unwrap();
    holder.lock().unwrap();
    let m = q.create_meeting(None, None).unwrap();
    let t0 = std::time::Instant::now();
    let (job, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0)).unwrap();
    let claim = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    q.heartbeat(&claim.fence).unwrap();
    q.recover().unwrap();
    q.complete(&claim, &json!({})).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(2), "writes waited on the held gate: {:?}", t0.elapsed());
    assert_eq!(status_of(&q, job), Status::Completed);
    // Once the holder lets go, the gate is taken again.
    holder.unlock().unwrap();
    std::thread::sleep(Duration::from_millis(350));
    let w = q.writer().unwrap();
    assert!(w._gate.is_some(), "the gate is used again once free");
}

/// A worker on this host that is alive but let its lease expire (the laptop slept, or
/// it was SIGSTOPped) loses the claim, but not an attempt; its late writes are fenced
/// out. Dead workers' and other hosts' attempts still count (tests above).
#[test]
fn an_expired_lease_of_a_live_local_worker_is_taken_back_uncounted() {
    let (_d, q) = fresh(fast_cfg());
    let m = q.create_meeting(None, None).unwrap();
    let (id, _) = q.enqueue(&NewJob::new(m, TaskType::Audio, 0).max_attempts(1)).unwrap();
    let c = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(350));
    let r = q.recover().unwrap();
    assert_eq!(r.requeued, vec![id], "even on its last attempt it is not FAILED");
    let rec = q.job(id).unwrap().unwrap();
    assert_eq!((rec.status, rec.attempts), (Status::Pending, 0));
    assert!(rec.run_after <= now_ms(), "ready again at once");
    assert!(rec.last_error.unwrap().contains("still alive"));
    assert!(matches!(q.heartbeat(&c.fence), Err(QueueError::LostClaim { .. })));
    assert!(matches!(q.complete(&c, &json!({})), Err(QueueError::LostClaim { .. })));
    let again = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    assert_eq!(again.attempt, 1);
    q.complete(&again, &json!({})).unwrap();
}
