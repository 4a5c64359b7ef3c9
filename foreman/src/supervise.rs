//! `foreman run --spawn`: start the configured workers as children, restart any that
//! exit with a growing backoff, and stop them all on shutdown.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use debrief_runtime::log;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::config::WorkerSpec;

const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A child that ran this long before exiting starts its backoff afresh.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

struct Slot {
    label: String,
    spec: WorkerSpec,
    child: Option<Child>,
    started: Instant,
    next_start: Instant,
    backoff: Duration,
}

/// The children of one foreman.
pub(crate) struct Supervisor {
    slots: Vec<Slot>,
    data_dir: std::path::PathBuf,
}

impl Supervisor {
    pub(crate) fn new(specs: &[WorkerSpec], data_dir: &std::path::Path) -> Self {
        let now = Instant::now();
        let slots = specs
            .iter()
            .flat_map(|s| {
                (0..s.count).map(move |i| Slot {
                    label: if s.count > 1 { format!("{}#{i}", s.name) } else { s.name.clone() },
                    spec: s.clone(),
                    child: None,
                    started: now,
                    next_start: now,
                    backoff: BACKOFF_MIN,
                })
            })
            .collect();
        Self { slots, data_dir: data_dir.to_path_buf() }
    }

    /// Reaps exited children and (re)starts those whose backoff has passed.
    pub(crate) fn tick(&mut self) {
        let now = Instant::now();
        for slot in &mut self.slots {
            if let Some(child) = &mut slot.child {
                match child.try_wait() {
                    Ok(None) => continue,
                    Ok(Some(status)) => {
                        if now.duration_since(slot.started) >= HEALTHY_AFTER {
                            slot.backoff = BACKOFF_MIN;
                        }
                        log(
                            "foreman",
                            &format!(
                                "{} (pid {}) exited ({status}); restarting in {:.0?}",
                                slot.label,
                                child.id(),
                                slot.backoff
                            ),
                        );
                        slot.child = None;
                        slot.next_start = now + slot.backoff;
                        slot.backoff = (slot.backoff * 2).min(BACKOFF_MAX);
                    }
                    Err(e) => log("foreman", &format!("{}: {e}", slot.label)),
                }
            }
            if slot.child.is_none() && now >= slot.next_start {
                match spawn(&slot.spec, &self.data_dir) {
                    Ok(child) => {
                        log("foreman", &format!("started {} (pid {})", slot.label, child.id()));
                        slot.child = Some(child);
                        slot.started = now;
                    }
                    Err(e) => {
                        log("foreman", &format!("cannot start {}: {e}; next try in {:.0?}", slot.label, slot.backoff));
                        slot.next_start = now + slot.backoff;
                        slot.backoff = (slot.backoff * 2).min(BACKOFF_MAX);
                    }
                }
            }
        }
    }

    /// SIGTERM to every child, then SIGKILL to those still running after `grace`.
    pub(crate) fn stop_all(&mut self, grace: Duration) {
        for slot in &mut self.slots {
            if let Some(c) = &slot.child {
                let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + grace;
        loop {
            let mut running = 0;
            for slot in &mut self.slots {
                if let Some(c) = &mut slot.child {
                    match c.try_wait() {
                        Ok(Some(st)) => {
                            log("foreman", &format!("{} (pid {}) stopped ({st})", slot.label, c.id()));
                            slot.child = None;
                        }
                        _ => running += 1,
                    }
                }
            }
            if running == 0 {
                return;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for slot in &mut self.slots {
            if let Some(mut c) = slot.child.take() {
                log("foreman", &format!("{} (pid {}) ignored SIGTERM for {grace:?}; killing it", slot.label, c.id()));
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn spawn(spec: &WorkerSpec, data_dir: &std::path::Path) -> std::io::Result<Child> {
    let program = spec.program().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{:?} not found next to foreman or on PATH", spec.command[0]),
        )
    })?;
    let mut cmd = Command::new(program);
    cmd.args(&spec.command[1..]).env("DEBRIEF_HOME", data_dir).stdin(Stdio::null());
    // Each worker in a process group of its own: Ctrl-C in the foreman's terminal sends
    // SIGINT to the terminal's foreground group, and a worker in it would get that and
    // then the foreman's SIGTERM, a second stop request, which exits at once and leaves
    // its job PROCESSING (its attempt burnt). Out of the group, a worker gets exactly
    // one stop request: the foreman's SIGTERM.
    cmd.process_group(0);
    // If the foreman dies, even by SIGKILL, its workers get SIGTERM and shut down
    // cleanly instead of running on unsupervised.
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}
