//! SIGTERM and SIGINT: the first asks the process to stop gracefully (stop claiming,
//! hand back or finish the current job, unload, release leases); a second one exits at
//! once, for a person pressing Ctrl-C twice.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: nix::libc::c_int) {
    if STOP.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe; it skips destructors on purpose.
        #[allow(unsafe_code)]
        unsafe {
            nix::libc::_exit(130)
        };
    }
}

/// Installs the handlers (idempotent) and returns the flag they set.
pub fn install() -> &'static AtomicBool {
    let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::SA_RESTART, SigSet::empty());
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only touches an atomic and calls _exit, both
        // async-signal-safe.
        #[allow(unsafe_code)]
        let installed = unsafe { sigaction(sig, &action) };
        if let Err(e) = installed {
            crate::log("signals", &format!("cannot handle {sig}: {e}"));
        }
    }
    // A stop ends any wait for the queue's writer gate at once.
    debrief_jobq::set_interrupt(&STOP);
    &STOP
}

/// Whether a stop was asked for.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Sleeps up to `d`, returning early (true) if a stop is requested meanwhile.
pub fn sleep_unless_stopped(d: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + d;
    loop {
        if stop_requested() {
            return true;
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep((deadline - now).min(std::time::Duration::from_millis(50)));
    }
}
