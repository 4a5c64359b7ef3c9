//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use debrief_jobq::{Queue, QueueConfig};

/// A scratch data directory with a database, removed at the end of the test.
pub(crate) struct Scratch {
    pub(crate) dir: tempfile::TempDir,
}

impl Scratch {
    pub(crate) fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn db(&self) -> PathBuf {
        self.path("debrief.db")
    }

    /// Opens the queue with short leases and backoffs, and creates the table the test
    /// worker records its completions in.
    pub(crate) fn queue(&self, lease_ms: u64) -> Queue {
        let q = Queue::open(
            &self.db(),
            QueueConfig {
                lease: Duration::from_millis(lease_ms),
                backoff_base: Duration::from_millis(20),
                backoff_max: Duration::from_millis(160),
                ..QueueConfig::default()
            },
        )
        .expect("open queue");
        q.read(|c| {
            Ok(c.execute_batch(
                "CREATE TABLE IF NOT EXISTS test_done (
                     job_id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, attempt INTEGER NOT NULL)",
            )?)
        })
        .expect("test_done table");
        q
    }
}

/// The test-only worker binary.
pub(crate) fn test_worker() -> Command {
    Command::new(env!("CARGO_BIN_EXE_jobq-test-worker"))
}

/// Waits for a child with a deadline; kills it and panics if it overruns.
pub(crate) fn wait_for(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGKILL, then reap (so the pid is not left a zombie).
pub(crate) fn kill9(child: &mut Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL");
    child.wait().expect("reap");
}

/// Lines of a log file (empty if it does not exist yet).
pub(crate) fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).map(|s| s.lines().map(str::to_owned).collect()).unwrap_or_default()
}

/// Polls until `f` returns true, or panics after `limit`.
pub(crate) fn eventually(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// CLOCK_MONOTONIC in ns: the same clock the test worker stamps its log with.
pub(crate) fn monotonic_ns() -> i64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("clock");
    t.tv_sec() * 1_000_000_000 + t.tv_nsec()
}

/// A binary of the workspace (foreman, ingest, ...), built next to the test binaries by
/// `cargo build --workspace` (scripts/test does that first).
pub(crate) fn workspace_bin(name: &str) -> PathBuf {
    // Where the model is not the point, tests use the fastest pinned models: SmolLM2-135M
    // for summaries and GE2E for speakers (every worker inherits these, those `foreman run
    // --spawn` starts included; under the chaos harness's kills every 5-20 s a chunk's
    // WeSpeaker analysis outlives the interval). The tests of the defaults name them
    // (`--speaker-model wespeaker-resnet34`) or remove the variable
    // (`issue14_the_default_model_...`).
    static FAST_MODELS: std::sync::Once = std::sync::Once::new();
    FAST_MODELS.call_once(|| {
        for (var, model) in [("DEBRIEF_LLM_MODEL", "smollm2-135m"), ("DEBRIEF_SPEAKER_MODEL", "ge2e")] {
            if std::env::var_os(var).is_none() {
                std::env::set_var(var, model);
            }
        }
    });
    let exe = std::env::current_exe().expect("test exe");
    // target/<profile>/deps/e2e-HASH -> target/<profile>/NAME
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let p = dir.join(name);
    assert!(p.is_file(), "{} is not built; run `cargo build --workspace` first (scripts/test does)", p.display());
    p
}

/// A command for a workspace binary with `--data-dir` set.
pub(crate) fn debrief(name: &str, data_dir: &Path) -> Command {
    let mut c = Command::new(workspace_bin(name));
    c.arg("--data-dir").arg(data_dir);
    c
}

/// `foreman export MEETING --format FMT` of the data directory `data`: its output (the
/// export must succeed).
pub(crate) fn export_meeting(data: &Path, meeting: debrief_jobq::MeetingId, fmt: &str) -> String {
    let (st, out, err) = run_out(
        debrief("foreman", data).args(["export", &meeting.to_string(), "--format", fmt]),
        Duration::from_secs(60),
    );
    assert!(st.success(), "export --format {fmt}: {err}");
    out
}

/// Runs to completion with a deadline, returning (status, stdout, stderr).
pub(crate) fn run_out(cmd: &mut Command, limit: Duration) -> (ExitStatus, String, String) {
    let (mut child, err) = spawn_drained(cmd.stdout(std::process::Stdio::piped()));
    let out = drain(child.stdout.take().expect("stdout"));
    let st = wait_for(&mut child, limit, "command");
    (st, out.join().expect("stdout"), err.join().expect("stderr"))
}

/// Reads a pipe to its end on a thread of its own.
fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    })
}

/// Whether a process still runs (zombies count as gone).
pub(crate) fn alive(pid: u32) -> bool {
    debrief_jobq::pid_alive(pid)
}

/// Spawns with stderr piped and drained by a thread (a child whose stderr pipe fills up
/// blocks), returning the child and a handle that yields everything it wrote.
pub(crate) fn spawn_drained(cmd: &mut Command) -> (Child, std::thread::JoinHandle<String>) {
    let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().expect("spawn");
    let err = drain(child.stderr.take().expect("stderr"));
    (child, err)
}

/// A child process killed (and reaped) when the guard goes out of scope: servers and
/// load generators a test starts must not outlive it, even when it panics.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
