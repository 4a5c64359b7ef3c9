//! Who is working (worker id, pid, host) and whether a process on this host still lives.

use std::time::{SystemTime, UNIX_EPOCH};

/// The identity a process claims jobs and leases under. The id is unique per process
/// start (name, host, pid and a random suffix), so a restarted worker that got the same
/// pid is still a different owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerIdent {
    /// Unique owner id written into `jobs.worker_id` and `device_leases.holder`.
    pub id: String,
    /// This process's pid.
    pub pid: u32,
    /// This machine's host name.
    pub host: String,
}

impl WorkerIdent {
    /// The identity of the current process, named after its role (e.g. `audio-worker`).
    pub fn current(name: &str) -> Self {
        let pid = std::process::id();
        let host = hostname();
        let id = format!("{name}@{host}:{pid}:{:08x}", fastrand::u32(..));
        Self { id, pid, host }
    }
}

/// The name this machine's workers, claims and device leases are recorded under:
/// `DEBRIEF_HOST` when set (for machines that share one queue under the same host name,
/// such as containers), else the host name ("localhost" when it cannot be read). A
/// process checks pids only of claims recorded under its own name.
pub fn hostname() -> String {
    if let Some(h) = std::env::var("DEBRIEF_HOST").ok().filter(|h| !h.trim().is_empty()) {
        return h.trim().to_owned();
    }
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Whether process `pid` on this host is alive. A zombie (exited, not yet reaped by its
/// parent) counts as dead: it will never heartbeat again. A pid we may not signal
/// belongs to a live process.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => !is_zombie(pid),
        Err(_) => false,
    }
}

fn is_zombie(pid: u32) -> bool {
    // /proc/PID/stat: "pid (comm) S ..."; comm may contain spaces and parentheses, so the
    // state is the first field after the last ')'.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').and_then(|i| s[i + 1..].split_whitespace().next().map(|st| st == "Z" || st == "X")))
        .unwrap_or(false)
}

/// Milliseconds since the Unix epoch: the time unit of every column in the schema.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn utc_now() -> String {
    format_utc_ms(now_ms())
}

/// Formats ms since the epoch as ISO 8601 UTC.
pub fn format_utc_ms(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// One log line on stderr: UTC time, process name and pid, message. Every Debrief
/// process logs this way.
pub fn log(name: &str, msg: &str) {
    eprintln!("{} {name}[{}]: {msg}", utc_now(), std::process::id());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(format_utc_ms(1_795_737_600_000), "2026-11-27T00:00:00.000Z");
    }

    #[test]
    fn liveness_of_self_child_and_zombie() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        assert!(pid_alive(pid));
        child.kill().unwrap();
        // Not reaped yet: a zombie, which must count as dead.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while pid_alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!pid_alive(pid), "a killed, unreaped child must read as dead");
        child.wait().unwrap();
        assert!(!pid_alive(pid));
    }

    #[test]
    fn idents_are_unique_per_call() {
        let a = WorkerIdent::current("w");
        let b = WorkerIdent::current("w");
        assert_ne!(a.id, b.id);
        assert_eq!(a.pid, std::process::id());
        assert!(a.id.starts_with("w@"));
    }
}
