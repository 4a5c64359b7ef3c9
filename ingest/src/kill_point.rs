//! Test-only kill points: with `DEBRIEF_TEST_KILL_AT=NAME:N` the process SIGKILLs
//! itself the N-th time it passes point NAME, as a power cut or the OOM killer would
//! stop it there (no destructors, no flushes). The e2e kill-point sweep of `ingest
//! import` uses it; unset (normal use), a point costs one atomic load.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The point asked for, and how many times it has been passed.
static TARGET: OnceLock<Option<(String, u32)>> = OnceLock::new();
static PASSED: AtomicU32 = AtomicU32::new(0);

fn target() -> &'static Option<(String, u32)> {
    TARGET.get_or_init(|| {
        let v = std::env::var("DEBRIEF_TEST_KILL_AT").ok()?;
        let (name, n) = v.rsplit_once(':')?;
        Some((name.to_owned(), n.parse().ok()?))
    })
}

/// Passes point `name`: dies here if this is the passage the environment names.
pub(crate) fn here(name: &str) {
    let Some((want, n)) = target() else { return };
    if want == name && PASSED.fetch_add(1, Ordering::SeqCst) + 1 == *n {
        crate::log(&format!("test kill point {name}:{n}: SIGKILL"));
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
        // SIGKILL cannot be caught; should it not arrive, die as abruptly anyway.
        std::process::abort();
    }
}
