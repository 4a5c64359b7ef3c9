//! Issue 15: nothing lost, nothing stuck. Lost device leases and workers stopped past
//! their lease (a suspended laptop), with the real worker runtime (`test-worker`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use debrief_jobq::{JobId, NewJob, Queue, QueueConfig, Status, TaskType};

use crate::common::*;

const LEASE_MS: u64 = 600;

fn open(data: &Path) -> Queue {
    std::fs::create_dir_all(data).unwrap();
    Queue::open(
        &data.join("debrief.db"),
        QueueConfig { lease: Duration::from_millis(LEASE_MS), ..QueueConfig::default() },
    )
    .expect("open")
}

/// `test-worker run --tasks VISUAL --until-idle` with short leases; each job takes
/// `work_ms` and, if `uninterruptible`, ignores stop requests while it works.
fn worker(data: &Path, work_ms: u64, uninterruptible: bool, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_test-worker"));
    c.args(["run", "--tasks", "VISUAL", "--until-idle", "--no-tune", "--data-dir"])
        .arg(data)
        .args(extra)
        .env("DEBRIEF_TEST_WORK_MS", work_ms.to_string())
        .env("DEBRIEF_TEST_LEASE_MS", LEASE_MS.to_string())
        .env("DEBRIEF_TEST_UNINTERRUPTIBLE", if uninterruptible { "1" } else { "0" })
        .stdout(Stdio::null());
    c
}

fn one_job(q: &Queue) -> JobId {
    let m = q.create_meeting(None, None).unwrap();
    q.enqueue(&NewJob::new(m, TaskType::Visual, 0)).unwrap().0
}

fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

/// SIGSTOPs `child` between two of its write transactions. A process stopped inside
/// one holds SQLite's write lock, and no other process can write until it runs again
/// (a whole-machine suspend stops every writer at once; this test stops one process).
/// Every write of the queue crate holds the writer gate (`DB-gate`, flock) from before
/// `BEGIN` to after `COMMIT`, so the child is stopped outside a transaction exactly
/// when the gate can be taken while it is stopped; otherwise it is let go on and
/// stopped again a moment later.
fn stop_between_writes(child: &Child, db: &Path) {
    use nix::sys::signal::Signal;
    let gate = std::fs::OpenOptions::new().read(true).write(true).open(format!("{}-gate", db.display())).unwrap();
    for _ in 0..200 {
        signal(child, Signal::SIGSTOP);
        std::thread::sleep(Duration::from_millis(20));
        match gate.try_lock() {
            Ok(()) => {
                gate.unlock().unwrap();
                return;
            }
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => panic!("flock on the writer gate: {e}"),
        }
        signal(child, Signal::SIGCONT);
        std::thread::sleep(Duration::from_millis(fastrand::u64(1..15)));
    }
    panic!("the worker was inside a write transaction at every one of 200 stops");
}

/// The GPU lease of a worker busy with a job that cannot be interrupted is revoked
/// (its row deleted) mid-job. The finished result must not be stored under the lost
/// lease, and the job must not sit PROCESSING until reaped: it is handed back at once,
/// uncounted, the model unloaded, and the worker takes a new lease (and loads again)
/// to run it.
#[test]
fn issue15_lost_device_lease_hands_the_job_back_and_the_worker_reacquires() {
    let s = Scratch::new();
    let data = s.path("data");
    let q = open(&data);
    let job = one_job(&q);
    let (mut w, log) = spawn_drained(&mut worker(&data, 1_500, true, &["--device", "cuda"]));
    eventually(Duration::from_secs(20), "the job running under a lease", || {
        q.job(job).unwrap().unwrap().status == Status::Processing && !q.device_leases().unwrap().is_empty()
    });
    let first = q.device_leases().unwrap()[0].lease_id;
    q.write(|tx| Ok::<_, debrief_jobq::QueueError>(tx.execute("DELETE FROM device_leases", [])?)).unwrap();
    let st = wait_for(&mut w, Duration::from_secs(30), "worker");
    let err = log.join().unwrap();
    assert!(st.success(), "{err}");
    let rec = q.job(job).unwrap().unwrap();
    assert_eq!(rec.status, Status::Completed, "{err}");
    assert_eq!(rec.attempts, 1, "the attempt under the lost lease was not counted: {:?}\n{err}", rec.last_error);
    assert!(rec.last_error.is_none(), "{:?}", rec.last_error);
    assert!(err.contains("device lease lost mid-job") && err.contains("result dropped"), "{err}");
    let took: Vec<&str> = err.lines().filter(|l| l.contains("took gpu lease")).collect();
    assert_eq!(took.len(), 2, "a new lease was taken: {err}");
    assert!(!took[1].contains(&format!("lease {first} (")), "{err}");
    let events: Vec<&str> = err.lines().filter_map(|l| l.strip_prefix("test-worker: model ")).collect();
    assert_eq!(events, ["loaded", "unloaded", "loaded", "unloaded"], "unloaded on the loss, loaded again: {err}");
}

/// A laptop suspend, simulated with SIGSTOP: a worker mid-job is stopped past its lease,
/// recovery takes the job back, and another worker runs it. The job must not lose an
/// attempt because the machine slept, must complete exactly once, and the resumed
/// worker's stale result must be fenced out.
#[test]
fn issue15_a_worker_stopped_past_its_lease_costs_no_attempt_and_its_late_result_is_fenced() {
    let s = Scratch::new();
    let data = s.path("data");
    let q = open(&data);
    let job = one_job(&q);
    let (mut sleeper, sleeper_log) = spawn_drained(&mut worker(&data, 2_000, true, &[]));
    eventually(Duration::from_secs(20), "the job running", || {
        q.job(job).unwrap().unwrap().status == Status::Processing
    });
    stop_between_writes(&sleeper, &data.join("debrief.db"));
    std::thread::sleep(Duration::from_millis(LEASE_MS * 2));
    let r = q.recover().unwrap();
    assert_eq!(r.requeued, vec![job]);
    let rec = q.job(job).unwrap().unwrap();
    assert_eq!((rec.status, rec.attempts), (Status::Pending, 0), "{:?}", rec.last_error);
    let (mut other, other_log) = spawn_drained(&mut worker(&data, 200, false, &[]));
    let other_pid = other.id();
    let st = wait_for(&mut other, Duration::from_secs(30), "second worker");
    let other_err = other_log.join().unwrap();
    assert!(st.success(), "{other_err}");
    signal(&sleeper, nix::sys::signal::Signal::SIGCONT);
    let st = wait_for(&mut sleeper, Duration::from_secs(30), "resumed worker");
    let sleeper_err = sleeper_log.join().unwrap();
    assert!(st.success(), "{sleeper_err}");
    let rec = q.job(job).unwrap().unwrap();
    assert_eq!(rec.status, Status::Completed);
    assert_eq!(rec.attempts, 1, "the suspend cost no attempt: {:?}", rec.last_error);
    assert_eq!(rec.worker_pid, Some(other_pid), "completed once, by the second worker");
    assert!(other_err.contains("completed in"), "{other_err}");
    assert!(!sleeper_err.contains("completed in"), "the resumed worker's result was fenced out: {sleeper_err}");
    assert!(sleeper_err.contains("claim lost"), "{sleeper_err}");
}
