//! The queue's semantics on a real PostgreSQL server: a fresh one per test
//! ([`PgServer`]), stopped when the test ends.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::tests::{ghost, me};

/// The SQLite tests' settings, with a small pool.
fn fast_cfg() -> QueueConfig {
    QueueConfig { pool_size: 2, ..crate::tests::fast_cfg() }
}

fn status_of(q: &PgQueue, id: JobId) -> Status {
    q.job(id).unwrap().unwrap().status
}

#[test]
fn pg_concurrent_claimers_take_each_job_once_in_priority_order() {
    let pg = PgServer::start().unwrap();
    let q = pg.queue_with(QueueConfig { pool_size: 8, ..fast_cfg() }).unwrap();
    let m = q.create_meeting(Some("race"), None).unwrap();
    let mut ids = Vec::new();
    for seq in 0..200 {
        let (id, created) = q.enqueue(&NewJob::new(m, TaskType::Audio, seq).payload(json!({"n": seq}))).unwrap();
        assert!(created);
        ids.push(id);
    }
    // Idempotent per (meeting, type, seq).
    assert_eq!(q.enqueue(&NewJob::new(m, TaskType::Audio, 7)).unwrap(), (ids[7], false));
    let urgent = q.enqueue(&NewJob::new(m, TaskType::Audio, 999).priority(5)).unwrap().0;
    let first = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    assert_eq!(first.job_id, urgent, "the highest priority first");
    q.complete(&first, &json!({})).unwrap();
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for k in 0..8 {
            let (q, done) = (q.clone(), &done);
            s.spawn(move || {
                let who = WorkerIdent::current(&format!("racer-{k}"));
                // Half the racers complete and claim in one transaction.
                let mut next = q.claim(&who, TaskType::Audio).unwrap();
                while let Some(c) = next {
                    done.lock().unwrap().push(c.job_id);
                    next = if k % 2 == 0 {
                        q.complete(&c, &json!({"by": k})).unwrap();
                        q.claim(&who, TaskType::Audio).unwrap()
                    } else {
                        q.complete_and_claim(&c, &json!({"by": k}), |_| Ok(()), &who, TaskType::Audio).unwrap()
                    };
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap();
    done.sort();
    assert_eq!(done, ids, "every job completed exactly once");
    let r = q.job(ids[3]).unwrap().unwrap();
    assert_eq!((r.status, r.attempts), (Status::Completed, 1));
    assert!(r.result.unwrap()["by"].is_number());
}

#[test]
fn pg_claims_are_fenced_and_the_reaper_judges_by_host() {
    let pg = PgServer::start().unwrap();
    // Crashed jobs wait out a long backoff here, so that the next claims are predictable.
    let q = pg
        .queue_with(QueueConfig {
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(60),
            ..fast_cfg()
        })
        .unwrap();
    let m = q.create_meeting(None, None).unwrap();
    let job = |seq| q.enqueue(&NewJob::new(m, TaskType::Audio, seq)).unwrap().0;
    let (a, b, c, d) = (job(0), job(1), job(2), job(3));

    // A worker of this host that died: a crash, taken back at once (no lease wait).
    let dead = q.claim(&ghost(), TaskType::Audio).unwrap().unwrap();
    assert_eq!(dead.job_id, a);
    // A worker of another host whose lease runs: its pid means nothing here.
    let remote = WorkerIdent { host: "elsewhere".into(), pid: 1, ..WorkerIdent::current("remote") };
    let live = q.claim(&remote, TaskType::Audio).unwrap().unwrap();
    assert_eq!(live.job_id, b);
    let r = q.recover().unwrap();
    assert_eq!(r.requeued, vec![a], "only the dead local worker's job");
    let rec = q.job(a).unwrap().unwrap();
    assert_eq!((rec.status, rec.attempts, rec.crashes), (Status::Pending, 0, 1), "a crash, not an attempt");
    assert!(rec.last_error.unwrap().contains("died while running this job"));
    assert!(rec.run_after > q.now_ms().unwrap() - 1_000);
    assert_eq!(q.complete(&dead, &json!({})).unwrap_err().to_string(), QueueError::LostClaim { job_id: a }.to_string());
    assert_eq!(status_of(&q, b), Status::Processing);

    // The remote worker stops renewing: after its lease the lease alone decides.
    let alive = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    assert_eq!(alive.job_id, c);
    std::thread::sleep(Duration::from_millis(400));
    let r = q.recover().unwrap();
    assert!(r.requeued.contains(&b) && r.requeued.contains(&c), "{r:?}");
    let rb = q.job(b).unwrap().unwrap();
    assert_eq!(rb.crashes, 1);
    assert!(rb.last_error.unwrap().contains("stopped renewing its lease"));
    // This host's worker is alive: suspended or stopped, neither an attempt nor a crash.
    let rc = q.job(c).unwrap().unwrap();
    assert_eq!((rc.status, rc.attempts, rc.crashes), (Status::Pending, 0, 0));
    assert!(rc.last_error.unwrap().contains("still alive"));
    assert!(matches!(q.heartbeat(&live.fence), Err(QueueError::LostClaim { .. })));
    assert!(matches!(q.fail(&live, "late", Retry::Yes), Err(QueueError::LostClaim { .. })));

    // A heartbeat keeps a claim past its lease; progress is stored.
    let kept = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(100));
        q.heartbeat(&kept.fence).unwrap();
    }
    q.progress(&kept.fence, 42).unwrap();
    assert!(q.recover().unwrap().is_empty());
    assert_eq!(q.job(kept.job_id).unwrap().unwrap().progress, Some(42));
    q.hand_back(&kept).unwrap();
    let back = q.job(kept.job_id).unwrap().unwrap();
    assert_eq!((back.status, back.attempts), (Status::Pending, 0), "a hand-back is no attempt");
    let _ = d;
}

#[test]
fn pg_dependencies_failures_and_closed_meetings() {
    let pg = PgServer::start().unwrap();
    let q = pg.queue_with(fast_cfg()).unwrap();
    let m = q.create_meeting(Some("deps"), None).unwrap();
    let chunk = q.enqueue(&NewJob::new(m, TaskType::Audio, 0).max_attempts(2)).unwrap().0;
    let other = q.enqueue(&NewJob::new(m, TaskType::Audio, 1).max_attempts(1)).unwrap().0;
    let bad = q.enqueue(&NewJob::new(m, TaskType::Transcript, 5).depends_on([JobId(9_999)])).unwrap_err();
    assert!(bad.to_string().contains("cannot depend on job 9999"), "{bad}");
    assert!(q.close_meeting(m, Some(60_000)).unwrap());
    let refused = q.enqueue(&NewJob::new(m, TaskType::Audio, 2)).unwrap_err();
    assert!(matches!(refused, QueueError::MeetingNotOpen { .. }), "{refused}");
    let transcript = q.enqueue(&NewJob::new(m, TaskType::Transcript, 0).after_settled([chunk, other])).unwrap().0;
    let summary = q.enqueue(&NewJob::new(m, TaskType::Summary, 0).depends_on([transcript])).unwrap().0;
    assert!(q.claim(&me(), TaskType::Transcript).unwrap().is_none(), "its chunks are not settled");

    // A retryable failure comes back after its backoff; the last attempt fails for good.
    let c = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    assert_eq!(c.job_id, chunk);
    let out = q.fail(&c, "decoder hiccup", Retry::Yes).unwrap();
    assert!(matches!(out, FailOutcome::Retrying { attempts: 1, max_attempts: 2, .. }), "{out:?}");
    std::thread::sleep(Duration::from_millis(20));
    let c = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    assert_eq!((c.job_id, c.attempt), (chunk, 2));
    assert_eq!(q.fail(&c, "decoder hiccup again", Retry::Yes).unwrap(), FailOutcome::Failed);
    let rec = q.job(chunk).unwrap().unwrap();
    assert_eq!((rec.status, rec.last_error.as_deref()), (Status::Failed, Some("decoder hiccup again")));
    // A permanent error fails at once; the other chunk completes.
    let c = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    q.complete(&c, &json!({"segments": 3})).unwrap();
    assert_eq!(c.job_id, other);

    // SETTLED: the transcript runs with a failed chunk (a gap); COMPLETED: the summary
    // waits for the transcript.
    assert!(q.claim(&me(), TaskType::Summary).unwrap().is_none());
    let t = q.claim(&me(), TaskType::Transcript).unwrap().unwrap();
    assert_eq!(t.job_id, transcript);
    assert!(q.claim(&me(), TaskType::Summary).unwrap().is_none());
    q.complete_with(&t, &json!({}), |tx| {
        tx.execute("CREATE TEMP TABLE stored AS SELECT 1 AS x", &[])?;
        Ok(())
    })
    .unwrap();
    let s = q.claim(&me(), TaskType::Summary).unwrap().unwrap();
    assert_eq!(s.job_id, summary);
    // A failing store rolls the completion back: the claim is still held.
    let err = q.complete_with(&s, &json!({}), |_| Err("disk full".into())).unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert_eq!(status_of(&q, summary), Status::Processing);
    assert_eq!(q.fail(&s, "bad transcript", Retry::No).unwrap(), FailOutcome::Failed);
}

#[test]
fn pg_a_job_that_kills_its_worker_at_one_point_is_set_aside() {
    let pg = PgServer::start().unwrap();
    let q =
        pg.queue_with(QueueConfig { backoff_base: Duration::ZERO, backoff_max: Duration::ZERO, ..fast_cfg() }).unwrap();
    let m = q.create_meeting(None, None).unwrap();
    let poison = q.enqueue(&NewJob::new(m, TaskType::Audio, 0).priority(1)).unwrap().0;
    for seq in 1..10 {
        q.enqueue(&NewJob::new(m, TaskType::Audio, seq)).unwrap();
    }
    let mut quarantined = false;
    for round in 0..3 {
        // The poison job dies at step 7 every time; an innocent job completes between.
        let c = q.claim(&ghost(), TaskType::Audio).unwrap().unwrap();
        assert_eq!(c.job_id, poison, "round {round}");
        q.progress(&c.fence, 7).unwrap();
        let ok = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
        q.complete(&ok, &json!({})).unwrap();
        let r = q.recover().unwrap();
        quarantined = r.quarantined == vec![poison];
    }
    assert!(quarantined, "set aside after its third crash at one point");
    let rec = q.job(poison).unwrap().unwrap();
    assert_eq!(rec.status, Status::Failed);
    assert!(rec.quarantined_at.is_some());
    assert_eq!(rec.crash_log.iter().map(|k| k.point).collect::<Vec<_>>(), vec![Some(7); 3]);
    assert!(rec.last_error.unwrap().contains("set aside as poison"));
    // The innocent jobs go on.
    assert!(q.claim(&me(), TaskType::Audio).unwrap().is_some());
}

#[test]
fn pg_device_leases_are_per_host_and_device_within_the_budget() {
    let pg = PgServer::start().unwrap();
    let q = pg.queue_with(fast_cfg()).unwrap();
    let here = me();
    let there = WorkerIdent { host: "gpu-box-2".into(), pid: 1, ..WorkerIdent::current("remote") };
    let llm = q.acquire_device(&here, DeviceRequest::exclusive(Device::Gpu)).unwrap().unwrap();
    assert!(q.acquire_device(&here, DeviceRequest::shared(Device::Gpu, 100)).unwrap().is_none(), "one GPU here");
    assert!(q.acquire_device(&here, DeviceRequest::exclusive(Device::Npu)).unwrap().is_some(), "the NPU is apart");
    let remote = q.acquire_device(&there, DeviceRequest::exclusive(Device::Gpu)).unwrap();
    assert!(remote.is_some(), "another host's GPU is its own");
    q.release_device(&llm).unwrap();
    let a = q.acquire_device(&here, DeviceRequest::shared(Device::Gpu, 4000)).unwrap().unwrap();
    let b = q.acquire_device(&here, DeviceRequest::shared(Device::Gpu, 2000)).unwrap().unwrap();
    assert!(q.acquire_device(&here, DeviceRequest::shared(Device::Gpu, 1000)).unwrap().is_none(), "over 6144 MB");
    q.heartbeat_device(&a).unwrap();
    // A holder that died on this host frees its share at once.
    let dead = q.acquire_device(&ghost(), DeviceRequest::shared(Device::IntelGpu, 6144)).unwrap().unwrap();
    assert!(q.acquire_device(&here, DeviceRequest::shared(Device::IntelGpu, 10)).unwrap().is_some());
    assert!(matches!(q.heartbeat_device(&dead), Err(QueueError::LostLease { .. })));
    // Expired leases go too (this host's four; the other host reaps its own).
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(q.recover().unwrap().leases_reaped, 4);
    assert!(matches!(q.heartbeat_device(&b), Err(QueueError::LostLease { .. })));
    assert!(q.acquire_device(&here, DeviceRequest::exclusive(Device::Gpu)).unwrap().is_some());
}

#[test]
fn pg_input_files_travel_with_their_sha256_and_damage_is_named() {
    let pg = PgServer::start().unwrap();
    let q = pg.queue_with(fast_cfg()).unwrap();
    let m = q.create_meeting(None, None).unwrap();
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let sha = q.put_blob(m, "meetings/1/audio/chunk-00000.wav", &bytes).unwrap();
    assert_eq!(sha.len(), 64);
    assert_eq!(q.get_blob(m, "meetings/1/audio/chunk-00000.wav").unwrap().unwrap(), bytes);
    assert!(q.get_blob(m, "meetings/1/audio/chunk-00001.wav").unwrap().is_none());
    q.tx(|tx| {
        tx.execute("UPDATE blobs SET bytes = overlay(bytes placing '\\x00'::bytea from 10 for 1)", &[])?;
        Ok(())
    })
    .unwrap();
    let err = q.get_blob(m, "meetings/1/audio/chunk-00000.wav").unwrap_err().to_string();
    assert!(err.contains("chunk-00000.wav") && err.contains("damaged"), "{err}");
}

#[test]
fn pg_schema_matches_the_sqlite_tables_and_every_statement_prepares() {
    let pg = PgServer::start().unwrap();
    let q = pg.queue_with(fast_cfg()).unwrap();
    // A second process connecting finds the schema and leaves it.
    let again = pg.queue_with(fast_cfg()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lite = Queue::open(&dir.path().join("debrief.db"), QueueConfig::default()).unwrap();
    let tables = again
        .tx(|tx| {
            let rows = tx.query(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' \
                 ORDER BY table_name, ordinal_position",
                &[],
            )?;
            Ok(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))).collect::<Vec<_>>())
        })
        .unwrap();
    let mut names: Vec<String> = tables.iter().map(|(t, _)| t.clone()).collect();
    names.dedup();
    assert_eq!(
        names,
        [
            "asr_segments",
            "blobs",
            "chunk_speakers",
            "debrief_schema",
            "device_leases",
            "job_deps",
            "jobs",
            "meetings",
            "migrations",
            "pushes",
            "screen_frames",
            "search_entries",
            "speaker_turns",
            "speakers",
            "summaries",
            "summary_windows",
            "transcript_gaps",
            "transcript_segments",
            "worker_deaths",
            "workers"
        ]
    );
    for t in names
        .iter()
        .filter(|t| !matches!(t.as_str(), "blobs" | "debrief_schema" | "migrations" | "pushes" | "search_entries"))
    {
        let pg_cols: Vec<&str> = tables.iter().filter(|(n, _)| n == t).map(|(_, c)| c.as_str()).collect();
        let mut lite_cols: Vec<String> = lite
            .read(|c| {
                let mut st = c.prepare(&format!("SELECT name FROM pragma_table_info('{t}')"))?;
                let rows = st.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
            })
            .unwrap();
        let mut pg_sorted: Vec<&str> = pg_cols.clone();
        pg_sorted.sort_unstable();
        lite_cols.sort();
        assert_eq!(pg_sorted, lite_cols, "table {t}: PostgreSQL and SQLite columns differ");
    }
    // Every file in sql/pg/ is a statement the backend uses (or the schema), and every
    // statement parses and plans against the schema.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/pg");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f != "schema.sql" && f != "results.sql")
        .collect();
    files.sort();
    let mut listed: Vec<String> = crate::pg::ALL.iter().map(|(f, _)| (*f).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed, "sql/pg/ and pg.rs's statement list differ");
    q.tx(|tx| {
        for (file, text) in crate::pg::ALL {
            if let Err(e) = tx.prepare(text) {
                panic!("sql/pg/{file}: {e}");
            }
        }
        Ok(())
    })
    .unwrap();
    // A database written by a newer Debrief is refused, naming it without its password.
    q.tx(|tx| Ok(tx.execute("UPDATE debrief_schema SET version = version + 1", &[]).map(drop)?)).unwrap();
    let url = pg.url().replace("debrief@", "debrief:secret@");
    let err = PgQueue::connect(&url, fast_cfg()).unwrap_err().to_string();
    assert!(err.contains("newer than this build") && err.contains("***") && !err.contains("secret"), "{err}");
}

#[test]
fn pg_migrate_to_copies_a_sqlite_queue_and_its_files_verified_and_resumable() {
    let pg = PgServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lite = Queue::open(&dir.path().join("debrief.db"), fast_cfg()).unwrap();
    let m = lite.create_meeting(Some("weekly"), Some("import:/x.flac")).unwrap();
    std::fs::create_dir_all(dir.path().join("meetings/1/audio")).unwrap();
    let mut chunks = Vec::new();
    for seq in 0..3 {
        let rel = format!("meetings/1/audio/chunk-{seq:05}.wav");
        std::fs::write(dir.path().join(&rel), vec![seq as u8; 1000 + seq as usize]).unwrap();
        chunks.push(lite.enqueue(&NewJob::new(m, TaskType::Audio, seq).payload(json!({"path": rel}))).unwrap().0);
    }
    // One chunk done, with its result; the transcript waits on all of them.
    let c = lite.claim(&me(), TaskType::Audio).unwrap().unwrap();
    lite.complete(&c, &json!({"segments": 4})).unwrap();
    lite.close_meeting(m, Some(180_000)).unwrap();
    let t = lite.enqueue(&NewJob::new(m, TaskType::Transcript, 0).after_settled(chunks.clone())).unwrap().0;
    std::fs::remove_file(dir.path().join("meetings/1/audio/chunk-00002.wav")).unwrap();
    // Result rows of the stores, with the values each engine writes as text its own way:
    // a REAL with all its digits, a boolean, a BLOB with every kind of byte.
    let prob = 0.123_456_789_012_345_68_f64;
    let grid: Vec<u8> = (0..=255).collect();
    lite.write(|tx| {
        tx.execute(
            "INSERT INTO asr_segments (job_id, idx, meeting_id, start_ms, end_ms, text, words, no_speech_prob) \
             VALUES (?1, 0, ?2, 0, 1000, 'hello', '[]', ?3)",
            rusqlite::params![c.job_id, m, prob],
        )?;
        tx.execute(
            "INSERT INTO speakers (meeting_id, label, name, talk_ms, local) VALUES (?1, 'S1', 'Ann', 5000, 1), \
             (?1, 'S2', NULL, 700, 0)",
            [m],
        )?;
        tx.execute(
            "INSERT INTO screen_frames (job_id, meeting_id, t_ms, path, width, height, grid, text, lines, ocr_ms) \
             VALUES (?1, ?2, 1500, 'meetings/1/screens/a.png', 1280, 720, ?3, 'Budget', '[]', 12)",
            rusqlite::params![c.job_id, m, grid],
        )?;
        tx.execute(
            "INSERT INTO summary_windows (meeting_id, idx, start_ms, end_ms, input_sha256, notes, created_at) \
             VALUES (?1, 0, 0, 1000, 'h', '{}', 1)",
            [m],
        )?;
        tx.execute("INSERT INTO summaries (meeting_id, summary, model, created_at) VALUES (?1, '{}', 'x', 1)", [m])?;
        Ok::<_, QueueError>(())
    })
    .unwrap();

    let url = pg.create_database("moved").unwrap();
    let q = PgQueue::connect(&url, fast_cfg()).unwrap();
    let first = migrate_to(&lite, dir.path(), &q).unwrap();
    assert_eq!(
        first.tables,
        [
            ("meetings", 1),
            ("jobs", 4),
            ("job_deps", 3),
            ("asr_segments", 1),
            ("transcript_segments", 0),
            ("transcript_gaps", 0),
            ("chunk_speakers", 0),
            ("speaker_turns", 0),
            ("speakers", 2),
            ("summary_windows", 1),
            ("summaries", 1),
            ("screen_frames", 1)
        ]
        .map(|(t, n)| (t.to_owned(), n)),
        "{first:?}"
    );
    let (p, local, g): (f64, bool, Vec<u8>) = q
        .tx(|tx| {
            let p = tx.query_one("SELECT no_speech_prob FROM asr_segments", &[])?.get(0);
            let l = tx.query_one("SELECT local FROM speakers WHERE label = 'S1'", &[])?.get(0);
            let g = tx.query_one("SELECT grid FROM screen_frames", &[])?.get(0);
            Ok((p, l, g))
        })
        .unwrap();
    assert_eq!((p.to_bits(), local, g), (prob.to_bits(), true, grid), "values copied exactly");
    assert_eq!((first.files_copied, first.files_present, first.file_bytes), (2, 0, 2001));
    assert_eq!(first.files_missing, ["meetings/1/audio/chunk-00002.wav"]);
    // Resumed (or run twice): nothing copied again, everything verified again.
    let again = migrate_to(&lite, dir.path(), &q).unwrap();
    assert_eq!((again.files_copied, again.files_present), (0, 2));
    assert_eq!(again.tables, first.tables);
    // The copied queue works: the result and dependencies came along, ids go on.
    let done = q.job(c.job_id).unwrap().unwrap();
    assert_eq!((done.status, done.result), (Status::Completed, Some(json!({"segments": 4}))));
    assert_eq!(q.get_blob(m, "meetings/1/audio/chunk-00001.wav").unwrap().unwrap(), vec![1u8; 1001]);
    assert!(q.claim(&me(), TaskType::Transcript).unwrap().is_none(), "its chunks are not settled");
    let next = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    assert_eq!(next.job_id, chunks[1]);
    // Once verified, a rerun only verifies: the copy in use is never overwritten.
    let m2 = q.create_meeting(Some("new"), None).unwrap();
    assert_eq!(m2, MeetingId(m.0 + 1), "ids go on after the copied ones");
    let err = migrate_to(&lite, dir.path(), &q).unwrap_err().to_string();
    assert!(err.contains("table jobs differs") || err.contains("table meetings differs"), "{err}");
    assert_eq!(q.job(next.job_id).unwrap().unwrap().status, Status::Processing, "left as it was");
    let _ = t;
    // A database that already holds another queue is refused.
    let err = migrate_to(&lite, dir.path(), &pg.queue_with(fast_cfg()).unwrap());
    assert!(err.is_ok(), "an empty database takes the copy: {err:?}");
    let other = tempfile::tempdir().unwrap();
    let lite2 = Queue::open(&other.path().join("debrief.db"), fast_cfg()).unwrap();
    let err = migrate_to(&lite2, other.path(), &q).unwrap_err().to_string();
    assert!(err.contains("already holds a queue (2 meetings)") && err.contains("empty database"), "{err}");
}

/// The foreman's planning on PostgreSQL, side by side with SQLite's on the same story: a
/// closed meeting gets its TRANSCRIPT and SUMMARY jobs once, a chunk that failed for good
/// leaves the meeting DONE but partial with the same note, and a failed summary fails it.
#[test]
fn pg_reconcile_plans_and_finishes_meetings_as_sqlite_does() {
    let pg = PgServer::start().unwrap();
    let pgq = crate::AnyQueue::Postgres(pg.queue_with(fast_cfg()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let lite = crate::AnyQueue::Sqlite(Queue::open(&dir.path().join("debrief.db"), fast_cfg()).unwrap());
    let reconcile = |q: &crate::AnyQueue| match q {
        crate::AnyQueue::Sqlite(q) => q.reconcile_meetings().unwrap(),
        crate::AnyQueue::Postgres(q) => q.reconcile_meetings().unwrap(),
    };
    let mut notes = Vec::new();
    for q in [&lite, &pgq] {
        let m = q.create_meeting(Some("plan"), None).unwrap();
        let failed = q.create_meeting(Some("fails"), None).unwrap();
        for meeting in [m, failed] {
            for seq in 0..2 {
                q.enqueue(&NewJob::new(meeting, TaskType::Audio, seq).max_attempts(1)).unwrap();
            }
        }
        assert!(reconcile(q).is_empty(), "OPEN meetings are not planned");
        q.close_meeting(m, Some(50_000)).unwrap();
        q.close_meeting(failed, Some(50_000)).unwrap();
        let r = reconcile(q);
        assert_eq!(r.planned, [m, failed]);
        assert!(reconcile(q).planned.is_empty(), "planned once");
        // Meeting m: one chunk fails for good, the other completes, then its transcript
        // and summary; the other meeting's summary fails.
        let step = |task: TaskType, ok: bool| {
            let c = q.claim(&me(), task).unwrap().expect("a ready job");
            if ok {
                q.complete(&c, &json!({})).unwrap();
            } else {
                q.fail(&c, &format!("{task} #{} broke", c.seq), Retry::No).unwrap();
            }
            c.meeting_id
        };
        assert_eq!(step(TaskType::Audio, false), m);
        for _ in 0..3 {
            step(TaskType::Audio, true);
        }
        assert_eq!(step(TaskType::Transcript, true), m);
        assert_eq!(step(TaskType::Transcript, true), failed);
        assert_eq!(step(TaskType::Summary, true), m);
        assert_eq!(step(TaskType::Summary, false), failed);
        let r = reconcile(q);
        assert_eq!((r.done.as_slice(), r.failed.as_slice()), ([m].as_slice(), [failed].as_slice()), "{r:?}");
        assert_eq!(r.partial.len(), 1);
        assert!(r.partial[0].1.starts_with("1 of 2 audio chunks not transcribed (job "), "{:?}", r.partial);
        notes.push(r.partial[0].1.split_once(": ").unwrap().1.to_owned());
    }
    assert_eq!(notes[0], notes[1], "the same partial note on both backends");
}

/// `push_meeting`: a closed local meeting goes to PostgreSQL under new ids, with its jobs
/// (a PROCESSING one as PENDING), dependencies, results and files; once, resumably; an
/// OPEN meeting is refused.
#[test]
fn pg_push_copies_one_closed_meeting_under_new_ids_once() {
    let pg = PgServer::start().unwrap();
    let q = pg.queue_with(fast_cfg()).unwrap();
    // PostgreSQL already holds a meeting, so the pushed one gets other ids than its own.
    let there = q.create_meeting(Some("already there"), None).unwrap();
    q.create_meeting(Some("and another"), None).unwrap();
    q.enqueue(&NewJob::new(there, TaskType::Audio, 0)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lite = Queue::open(&dir.path().join("debrief.db"), fast_cfg()).unwrap();
    let open = lite.create_meeting(Some("recording"), None).unwrap();
    let m = lite.create_meeting(Some("weekly"), Some("import:/x.flac")).unwrap();
    std::fs::create_dir_all(dir.path().join("meetings/2/audio")).unwrap();
    let mut chunks = Vec::new();
    for seq in 0..3 {
        let rel = format!("meetings/2/audio/chunk-{seq:05}.wav");
        std::fs::write(dir.path().join(&rel), vec![seq as u8; 100]).unwrap();
        chunks.push(lite.enqueue(&NewJob::new(m, TaskType::Audio, seq).payload(json!({"path": rel}))).unwrap().0);
    }
    let done = lite.claim(&me(), TaskType::Audio).unwrap().unwrap();
    lite.complete(&done, &json!({"segments": 1})).unwrap();
    let _held = lite.claim(&me(), TaskType::Audio).unwrap().unwrap();
    lite.write(|tx| {
        tx.execute(
            "INSERT INTO asr_segments (job_id, idx, meeting_id, start_ms, end_ms, text, words, no_speech_prob) \
             VALUES (?1, 0, ?2, 0, 1000, 'hello', '[]', 0.25)",
            rusqlite::params![done.job_id, m],
        )?;
        Ok::<_, QueueError>(())
    })
    .unwrap();
    lite.close_meeting(m, Some(75_000)).unwrap();
    let t = lite.enqueue(&NewJob::new(m, TaskType::Transcript, 0).after_settled(chunks.clone())).unwrap().0;

    let err = push_meeting(&lite, dir.path(), &q, open).unwrap_err().to_string();
    assert!(err.contains("still being recorded or imported"), "{err}");
    let p = push_meeting(&lite, dir.path(), &q, m).unwrap();
    assert!(!p.already && p.meeting_id != m, "{p:?}");
    assert_eq!((p.files_copied, p.files_present), (3, 0));
    let n = |t: &str| p.tables.iter().find(|(name, _)| name == t).map(|(_, n)| *n);
    assert_eq!((n("meetings"), n("jobs"), n("job_deps"), n("asr_segments")), (Some(1), Some(4), Some(3), Some(1)));
    let rec = q.meetings(Some(p.meeting_id)).unwrap().remove(0);
    assert_eq!(
        (rec.title.as_deref(), rec.status, rec.duration_ms),
        (Some("weekly"), MeetingStatus::Closed, Some(75_000))
    );
    let jobs = q.meeting_jobs(p.meeting_id).unwrap();
    let statuses: Vec<(TaskType, Status)> = jobs.iter().map(|j| (j.task_type, j.status)).collect();
    assert_eq!(
        statuses,
        [
            (TaskType::Audio, Status::Completed),
            (TaskType::Audio, Status::Pending),
            (TaskType::Audio, Status::Pending),
            (TaskType::Transcript, Status::Pending)
        ],
        "the job a local worker held goes as PENDING"
    );
    assert!(jobs.iter().all(|j| j.worker_id.is_none() || j.status == Status::Completed));
    // Ids are PostgreSQL's (after its own job), and the dependencies follow them.
    let ids: Vec<i64> = jobs.iter().map(|j| j.job_id.0).collect();
    assert_eq!(ids, [2, 3, 4, 5], "local ids {chunks:?} and {t}");
    let deps: Vec<(i64, i64)> = q
        .tx(|tx| {
            let rows = tx.query("SELECT job_id, depends_on FROM job_deps ORDER BY depends_on", &[])?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
        .unwrap();
    assert_eq!(deps, [(5, 2), (5, 3), (5, 4)]);
    let seg_job: i64 = q.tx(|tx| Ok(tx.query_one("SELECT job_id FROM asr_segments", &[])?.get(0))).unwrap();
    assert_eq!(JobId(seg_job), jobs[0].job_id, "results point at the new ids");
    let blob = q.get_blob(p.meeting_id, "meetings/2/audio/chunk-00001.wav").unwrap().unwrap();
    assert_eq!(blob, vec![1u8; 100]);
    // The transcript waits on the new chunk ids; a worker there takes a chunk.
    assert!(q.claim(&me(), TaskType::Transcript).unwrap().is_none());
    let c = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    assert!(c.meeting_id == there || c.meeting_id == p.meeting_id);
    // Pushed once: again, nothing is copied.
    let again = push_meeting(&lite, dir.path(), &q, m).unwrap();
    assert_eq!((again.already, again.meeting_id, again.files_copied), (true, p.meeting_id, 0));
    assert_eq!(q.meetings(None).unwrap().len(), 3);
}

/// The foreman's commands on a queue: retry (and the dependent transcript redone),
/// redo of a transcript, cancel, delete.
fn operator_story(q: &AnyQueue) {
    let m = q.create_meeting(Some("ops"), None).unwrap();
    let a = q.enqueue(&NewJob::new(m, TaskType::Audio, 0)).unwrap().0;
    let t = q.enqueue(&NewJob::new(m, TaskType::Transcript, 0).after_settled(vec![a])).unwrap().0;
    q.close_meeting(m, Some(1000)).unwrap();
    let c = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    q.fail(&c, "damaged", Retry::No).unwrap();
    let c = q.claim(&me(), TaskType::Transcript).unwrap().unwrap();
    q.complete(&c, &json!({})).unwrap();
    let r = q.retry_failed(None).unwrap();
    assert_eq!((r.jobs, r.redo), (vec![a], vec![t]), "the chunk again, then its transcript");
    assert!(q.claim(&me(), TaskType::Transcript).unwrap().is_none(), "waits for the chunk");
    let c = q.claim(&me(), TaskType::Audio).unwrap().unwrap();
    q.complete(&c, &json!({})).unwrap();
    let c = q.claim(&me(), TaskType::Transcript).unwrap().unwrap();
    q.complete(&c, &json!({})).unwrap();
    assert!(q.retry_failed(Some(a)).unwrap().jobs.is_empty(), "not FAILED");
    let redo = q.redo_transcript(m, |_| Ok(())).unwrap();
    assert_eq!(redo, [t]);
    assert_eq!(q.job(t).unwrap().unwrap().status, Status::Pending);
    assert_eq!(q.cancel_meeting(m).unwrap(), Some(1), "the pending transcript stops");
    assert_eq!(q.cancel_meeting(m).unwrap(), None);
    assert_eq!(q.job(t).unwrap().unwrap().status, Status::Failed);
    assert!(q.retry_failed(Some(t)).unwrap().jobs.is_empty(), "a cancelled meeting's jobs stay failed");
    let open = q.create_meeting(None, None).unwrap();
    assert!(q.delete_meeting(open).unwrap_err().to_string().contains("cancel it first"));
    assert!(q.delete_meeting(m).unwrap());
    assert!(!q.delete_meeting(m).unwrap());
    assert!(q.job(a).unwrap().is_none() && q.meeting_jobs(m).unwrap().is_empty());
    assert_eq!(q.meetings(None).unwrap().len(), 1);
}

#[test]
fn operator_commands_do_the_same_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    operator_story(&AnyQueue::Sqlite(Queue::open(&dir.path().join("debrief.db"), fast_cfg()).unwrap()));
    let pg = PgServer::start().unwrap();
    operator_story(&AnyQueue::Postgres(pg.queue_with(fast_cfg()).unwrap()));
}
