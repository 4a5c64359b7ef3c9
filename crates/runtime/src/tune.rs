//! Process tuning for inference workers: lower CPU and I/O priority so a worker never competes
//! with the person using the laptop, and on hybrid CPUs keep inference on the performance cores.
//!
//! Call [`apply`] once, early in `main`, before starting the engine thread or any thread pool.
//! On Linux it tunes every thread that exists at that moment, and threads created later inherit
//! niceness, I/O class and affinity from their creator. Nothing here ever aborts: what could
//! not be applied is recorded in [`Applied::notes`] and the worker runs untuned.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

/// [`CpuTopology::source`] when the kernel's hybrid PMU lists were read.
const SOURCE_PMU: &str = "cpu_core/cpu_atom sysfs";
/// [`CpuTopology::source`] when cores were told apart by their maximum frequency.
const SOURCE_FREQ: &str = "cpufreq max frequency";
/// [`CpuTopology::source`] when the online CPUs were found but showed one core type.
const SOURCE_UNIFORM: &str = "uniform";
/// [`CpuTopology::source`] when nothing in sysfs was readable.
const SOURCE_PARALLELISM: &str = "available_parallelism";

/// A CPU whose maximum frequency is at least this share (in percent) of the fastest CPU's
/// counts as a performance core. Favoured cores (Turbo Boost Max 3.0, AMD preferred cores)
/// run 3-10% above their siblings, while efficiency cores top out at 65-80% of a P-core, so
/// "exactly the highest frequency" would pin a 16-core machine to its two favoured cores.
const PERFORMANCE_FREQ_PERCENT: u64 = 85;

/// Cpulists naming a CPU above this are rejected rather than expanded into a huge vector.
const MAX_CPU: usize = 1 << 16;

/// What the CPU looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuTopology {
    /// Performance cores (on a uniform CPU: every CPU), sorted.
    pub performance: Vec<usize>,
    /// Efficiency cores, sorted; empty unless `hybrid`.
    pub efficiency: Vec<usize>,
    /// Whether the CPU mixes performance and efficiency cores.
    pub hybrid: bool,
    /// How the topology was found: `"cpu_core/cpu_atom sysfs"`, `"cpufreq max frequency"`,
    /// `"uniform"` (online CPUs read, one core type) or `"available_parallelism"` (nothing
    /// readable in sysfs; CPUs numbered from 0).
    pub source: &'static str,
}

impl CpuTopology {
    fn uniform(cpus: Vec<usize>, source: &'static str) -> Self {
        CpuTopology { performance: cpus, efficiency: Vec::new(), hybrid: false, source }
    }
}

/// Detects the CPU topology from a sysfs root (normally `/sys`).
///
/// In order: the hybrid PMU lists `devices/cpu_core/cpus` and `devices/cpu_atom/cpus`
/// (restricted to online CPUs); then the online CPUs grouped by
/// `devices/system/cpu/cpuN/cpufreq/cpuinfo_max_freq`, where CPUs within 15% of the highest
/// maximum are performance cores and any slower ones make the CPU hybrid; then all online CPUs
/// as one type; and if even `devices/system/cpu/online` is unreadable, CPUs `0..n` with `n`
/// from [`std::thread::available_parallelism`].
#[must_use]
pub fn detect_topology(sysfs_root: &Path) -> CpuTopology {
    let online = read_cpulist(&sysfs_root.join("devices/system/cpu/online")).filter(|cpus| !cpus.is_empty());
    if let Some(topology) = from_pmu_lists(sysfs_root, online.as_deref()) {
        return topology;
    }
    match online {
        Some(online) => {
            from_max_freq(sysfs_root, &online).unwrap_or_else(|| CpuTopology::uniform(online, SOURCE_UNIFORM))
        }
        None => CpuTopology::uniform((0..parallelism()).collect(), SOURCE_PARALLELISM),
    }
}

fn from_pmu_lists(sysfs_root: &Path, online: Option<&[usize]>) -> Option<CpuTopology> {
    let mut performance = read_cpulist(&sysfs_root.join("devices/cpu_core/cpus"))?;
    let mut efficiency = read_cpulist(&sysfs_root.join("devices/cpu_atom/cpus"))?;
    if let Some(online) = online {
        performance.retain(|cpu| online.contains(cpu));
        efficiency.retain(|cpu| online.contains(cpu));
    }
    if performance.is_empty() || efficiency.is_empty() {
        return None;
    }
    Some(CpuTopology { performance, efficiency, hybrid: true, source: SOURCE_PMU })
}

/// `None` unless every online CPU reports a maximum frequency and some are clearly slower.
fn from_max_freq(sysfs_root: &Path, online: &[usize]) -> Option<CpuTopology> {
    let freqs = online
        .iter()
        .map(|cpu| {
            let path = sysfs_root.join(format!("devices/system/cpu/cpu{cpu}/cpufreq/cpuinfo_max_freq"));
            let khz = std::fs::read_to_string(path).ok()?.trim().parse::<u64>().ok()?;
            Some((*cpu, khz))
        })
        .collect::<Option<Vec<_>>>()?;
    let top = freqs.iter().map(|&(_, khz)| khz).max()?;
    let (performance, efficiency): (Vec<_>, Vec<_>) =
        freqs.iter().partition(|&&(_, khz)| khz * 100 >= top * PERFORMANCE_FREQ_PERCENT);
    if efficiency.is_empty() {
        return None;
    }
    Some(CpuTopology {
        performance: performance.into_iter().map(|(cpu, _)| cpu).collect(),
        efficiency: efficiency.into_iter().map(|(cpu, _)| cpu).collect(),
        hybrid: true,
        source: SOURCE_FREQ,
    })
}

fn read_cpulist(path: &Path) -> Option<Vec<usize>> {
    parse_cpulist(&std::fs::read_to_string(path).ok()?).ok()
}

fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Parses the kernel cpulist format (`"0-3,8,10-11"`) into sorted, distinct CPU numbers.
///
/// Whitespace around the list and around each item is ignored; an empty list (the kernel
/// writes `"\n"`) is `Ok(vec![])`.
///
/// # Errors
///
/// A message quoting the list and the offending item when an item is not a CPU number or a
/// `first-last` range, a range runs backwards, or a CPU number is implausibly large.
pub fn parse_cpulist(s: &str) -> Result<Vec<usize>, String> {
    let text = s.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let cpu = |item: &str, n: &str| -> Result<usize, String> {
        let n = n.trim();
        let cpu = n
            .parse::<usize>()
            .map_err(|_| format!("bad cpulist {text:?}: {item:?} has {n:?}, which is not a CPU number"))?;
        if cpu > MAX_CPU {
            return Err(format!("bad cpulist {text:?}: CPU {cpu} in {item:?} is above {MAX_CPU}"));
        }
        Ok(cpu)
    };
    let mut cpus = BTreeSet::new();
    for item in text.split(',') {
        let item = item.trim();
        match item.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (cpu(item, first)?, cpu(item, last)?);
                if first > last {
                    return Err(format!("bad cpulist {text:?}: range {item:?} runs backwards"));
                }
                cpus.extend(first..=last);
            }
            None => {
                cpus.insert(cpu(item, item)?);
            }
        }
    }
    Ok(cpus.into_iter().collect())
}

/// Formats sorted CPU numbers as a cpulist (`[0, 1, 2, 3, 8]` -> `"0-3,8"`).
fn format_cpulist(cpus: &[usize]) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &cpu in cpus {
        match ranges.last_mut() {
            Some((_, last)) if *last + 1 == cpu => *last = cpu,
            _ => ranges.push((cpu, cpu)),
        }
    }
    ranges
        .iter()
        .map(|&(first, last)| if first == last { first.to_string() } else { format!("{first}-{last}") })
        .collect::<Vec<_>>()
        .join(",")
}

/// How to tune the worker process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuneOptions {
    /// Whether to tune at all (`--no-tune` sets this to false).
    pub enabled: bool,
    /// Niceness to raise the process to (clamped to 19); never used to lower it.
    pub nice: i32,
    /// Whether to pin the process to the performance cores on a hybrid CPU.
    pub pin: bool,
}

impl Default for TuneOptions {
    fn default() -> Self {
        TuneOptions { enabled: true, nice: 10, pin: true }
    }
}

/// What [`apply`] did, for logging; its `Display` is one readable line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Niceness of the calling thread after tuning, or `None` if it was not set.
    pub nice: Option<i32>,
    /// Whether the idle I/O scheduling class is in effect.
    pub io_idle: bool,
    /// The CPUs the process is now pinned to, or `None` if affinity was left alone.
    pub pinned_to: Option<Vec<usize>>,
    /// How many inference threads to run.
    pub threads: usize,
    /// The detected topology.
    pub topology: CpuTopology,
    /// What was not applied and why (never fatal), plus platform remarks.
    pub notes: Vec<String>,
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.nice {
            Some(nice) => write!(f, "nice {nice}")?,
            None => f.write_str("nice unchanged")?,
        }
        let io = if self.io_idle { "idle" } else { "unchanged" };
        write!(f, ", I/O class {io}, ")?;
        match &self.pinned_to {
            Some(cpus) => write!(f, "pinned to performance cores {}", format_cpulist(cpus))?,
            None => f.write_str("not pinned")?,
        }
        let t = &self.topology;
        if t.hybrid {
            write!(f, " (hybrid: {} P + {} E)", t.performance.len(), t.efficiency.len())?;
        } else {
            let n = t.performance.len();
            write!(f, " (uniform: {n} CPU{})", if n == 1 { "" } else { "s" })?;
        }
        let plural = if self.threads == 1 { "" } else { "s" };
        write!(f, ", {} inference thread{plural}", self.threads)?;
        for note in &self.notes {
            write!(f, "; {note}")?;
        }
        Ok(())
    }
}

/// Tunes the current process: raises niceness to `opts.nice` (never lowers it), sets the idle
/// I/O class (Linux), pins to the available performance cores on a hybrid CPU (Linux), and
/// sizes the inference thread pool. On Windows it sets the below-normal priority class instead
/// of niceness.
///
/// On Linux niceness, I/O class and affinity belong to threads, so every thread listed in
/// `/proc/self/task` is tuned; threads created afterwards inherit the settings. With
/// `opts.enabled == false` nothing changes and the thread count is every CPU the process may
/// use. Failures (e.g. `EPERM`) are recorded in [`Applied::notes`].
#[must_use]
pub fn apply(opts: &TuneOptions, sysfs_root: &Path) -> Applied {
    let topology = detect_topology(sysfs_root);
    let mut applied = Applied { nice: None, io_idle: false, pinned_to: None, threads: 1, topology, notes: Vec::new() };
    if !opts.enabled {
        applied.threads = allowed_cpus().map_or_else(parallelism, |cpus| cpus.len().max(1));
        applied.notes.push("tuning disabled".to_owned());
        return applied;
    }
    lower_priority(opts.nice, &mut applied);
    set_io_idle(&mut applied);
    if opts.pin && applied.topology.hybrid {
        pin_to_performance(&mut applied);
    }
    applied.threads = inference_threads(&applied.topology);
    applied
}

/// Inference thread count for the current affinity: how many of the performance cores this
/// process may run on. If it may run on none of them (pinned elsewhere by the user), every
/// CPU it may use; if the affinity is unreadable, all performance cores. Always at least 1.
#[must_use]
pub fn inference_threads(topology: &CpuTopology) -> usize {
    let count = match allowed_cpus() {
        Some(allowed) => {
            let usable = topology.performance.iter().filter(|cpu| allowed.contains(cpu)).count();
            if usable > 0 {
                usable
            } else {
                allowed.len()
            }
        }
        None => topology.performance.len(),
    };
    count.max(1)
}

/// CPUs the calling thread may run on (its affinity mask on Linux).
fn allowed_cpus() -> Option<Vec<usize>> {
    let mut cpus: Vec<usize> = core_affinity::get_core_ids()?.into_iter().map(|core| core.id).collect();
    cpus.sort_unstable();
    Some(cpus)
}

/// Thread ids to tune: on Linux every thread of the process (0, the calling thread, if
/// `/proc/self/task` is unreadable); elsewhere 0, which the platform calls apply process-wide.
#[cfg(unix)]
fn threads_to_tune() -> Vec<i32> {
    #[cfg(target_os = "linux")]
    {
        let tids: Option<Vec<i32>> = std::fs::read_dir("/proc/self/task")
            .ok()
            .map(|dir| dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok()).collect());
        if let Some(tids) = tids.filter(|tids| !tids.is_empty()) {
            return tids;
        }
    }
    vec![0]
}

/// The calling thread's id as [`threads_to_tune`] lists it.
#[cfg(unix)]
fn own_tid(tids: &[i32]) -> i32 {
    #[cfg(target_os = "linux")]
    {
        let tid = nix::unistd::gettid().as_raw();
        if tids.contains(&tid) {
            return tid;
        }
    }
    tids[0]
}

#[cfg(unix)]
fn lower_priority(nice: i32, applied: &mut Applied) {
    let tids = threads_to_tune();
    let own = own_tid(&tids);
    let target = nice.clamp(-20, 19);
    let mut failures = Vec::new();
    for &tid in &tids {
        let result = get_nice(tid).and_then(|current| {
            // Raise only: a worker started at nice 15 stays at 15.
            let wanted = current.max(target);
            if wanted != current {
                set_nice(tid, wanted)?;
            }
            Ok(wanted)
        });
        match result {
            Ok(value) if tid == own => applied.nice = Some(value),
            Ok(_) => {}
            Err(errno) => failures.push(format!("thread {tid}: {errno}")),
        }
    }
    if !failures.is_empty() {
        applied.notes.push(format!("nice not set for {}", failures.join(", ")));
    }
}

#[cfg(windows)]
fn lower_priority(_nice: i32, applied: &mut Applied) {
    match windows_priority::set_below_normal() {
        Ok(()) => applied.notes.push("priority class below normal (Windows has no nice)".to_owned()),
        Err(err) => applied.notes.push(format!("priority class not set: {err}")),
    }
}

#[cfg(not(any(unix, windows)))]
fn lower_priority(_nice: i32, applied: &mut Applied) {
    applied.notes.push("priority not lowered: unsupported platform".to_owned());
}

/// Niceness of one thread (`0` = the calling thread).
#[cfg(unix)]
#[allow(unsafe_code)]
fn get_nice(tid: i32) -> Result<i32, nix::errno::Errno> {
    // getpriority returns -1 both as a niceness and as an error, so errno decides.
    nix::errno::Errno::clear();
    let who = libc::id_t::try_from(tid).map_err(|_| nix::errno::Errno::ESRCH)?;
    // SAFETY: getpriority takes plain integers and touches no memory of ours.
    let value = unsafe { libc::getpriority(libc::PRIO_PROCESS, who) };
    match nix::errno::Errno::last_raw() {
        0 => Ok(value),
        _ => Err(nix::errno::Errno::last()),
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn set_nice(tid: i32, nice: i32) -> Result<(), nix::errno::Errno> {
    let who = libc::id_t::try_from(tid).map_err(|_| nix::errno::Errno::ESRCH)?;
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, who, nice) };
    nix::errno::Errno::result(rc).map(drop)
}

/// `ioprio_set`/`ioprio_get` constants from `linux/ioprio.h`.
#[cfg(target_os = "linux")]
mod ioprio {
    pub(super) const WHO_PROCESS: libc::c_long = 1;
    pub(super) const CLASS_SHIFT: libc::c_long = 13;
    pub(super) const CLASS_IDLE: libc::c_long = 3;
}

#[cfg(target_os = "linux")]
fn set_io_idle(applied: &mut Applied) {
    let tids = threads_to_tune();
    let own = own_tid(&tids);
    let mut failures = Vec::new();
    for &tid in &tids {
        match ioprio_set(tid, ioprio::CLASS_IDLE << ioprio::CLASS_SHIFT) {
            Ok(()) if tid == own => applied.io_idle = true,
            Ok(()) => {}
            Err(errno) => failures.push(format!("thread {tid}: {errno}")),
        }
    }
    if !failures.is_empty() {
        applied.notes.push(format!("I/O class not set for {}", failures.join(", ")));
    }
}

#[cfg(not(target_os = "linux"))]
fn set_io_idle(applied: &mut Applied) {
    applied.notes.push("I/O class not set: no idle I/O class on this platform".to_owned());
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn ioprio_set(tid: i32, value: libc::c_long) -> Result<(), nix::errno::Errno> {
    // SAFETY: ioprio_set takes three integers and touches no memory of ours; the arguments
    // are passed as c_long because the variadic syscall() reads each one as a long.
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_set, ioprio::WHO_PROCESS, libc::c_long::from(tid), value) };
    nix::errno::Errno::result(rc).map(drop)
}

#[cfg(target_os = "linux")]
fn pin_to_performance(applied: &mut Applied) {
    use nix::sched::{sched_setaffinity, CpuSet};
    use nix::unistd::Pid;

    let performance = &applied.topology.performance;
    let Some(allowed) = allowed_cpus() else {
        applied.notes.push("not pinned: could not read this process's CPU affinity".to_owned());
        return;
    };
    let cpus: Vec<usize> = performance.iter().copied().filter(|cpu| allowed.contains(cpu)).collect();
    if cpus.is_empty() {
        applied.notes.push(format!(
            "not pinned: none of the performance cores {} is in this process's affinity {}",
            format_cpulist(performance),
            format_cpulist(&allowed)
        ));
        return;
    }
    let mut set = CpuSet::new();
    for &cpu in &cpus {
        if let Err(errno) = set.set(cpu) {
            applied.notes.push(format!("not pinned: CPU {cpu} does not fit a cpu_set_t: {errno}"));
            return;
        }
    }
    let tids = threads_to_tune();
    let own = own_tid(&tids);
    let mut failures = Vec::new();
    for &tid in &tids {
        match sched_setaffinity(Pid::from_raw(tid), &set) {
            Ok(()) if tid == own => applied.pinned_to = Some(cpus.clone()),
            Ok(()) => {}
            Err(errno) => failures.push(format!("thread {tid}: {errno}")),
        }
    }
    if !failures.is_empty() {
        applied.notes.push(format!("affinity not set for {}", failures.join(", ")));
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_to_performance(applied: &mut Applied) {
    // Windows could use SetProcessAffinityMask, but hybrid detection reads Linux sysfs, so a
    // hybrid topology is never seen there; macOS has no affinity API at all.
    applied.notes.push("not pinned: CPU affinity is only set on Linux".to_owned());
}

#[cfg(windows)]
mod windows_priority {
    use std::ffi::c_void;

    /// `BELOW_NORMAL_PRIORITY_CLASS` from `winbase.h`.
    const BELOW_NORMAL_PRIORITY_CLASS: u32 = 0x0000_4000;

    #[link(name = "kernel32")]
    extern "system" {
        fn GetCurrentProcess() -> *mut c_void;
        fn SetPriorityClass(process: *mut c_void, priority_class: u32) -> i32;
    }

    /// Lowers the whole process (all threads, present and future) to below-normal priority.
    #[allow(unsafe_code)]
    pub(super) fn set_below_normal() -> std::io::Result<()> {
        // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no closing, and
        // SetPriorityClass reads only its two arguments.
        let ok = unsafe { SetPriorityClass(GetCurrentProcess(), BELOW_NORMAL_PRIORITY_CLASS) };
        if ok == 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    fn range(first: usize, last: usize) -> Vec<usize> {
        (first..=last).collect()
    }

    #[test]
    fn cpulist_parses_ranges_singles_and_whitespace() {
        assert_eq!(parse_cpulist("0-3,8,10-11"), Ok(vec![0, 1, 2, 3, 8, 10, 11]));
        assert_eq!(parse_cpulist("0-7\n"), Ok(range(0, 7)));
        assert_eq!(parse_cpulist("  5 \n"), Ok(vec![5]));
        assert_eq!(parse_cpulist("0 - 1 , 4"), Ok(vec![0, 1, 4]));
        assert_eq!(parse_cpulist("3-3"), Ok(vec![3]));
    }

    #[test]
    fn cpulist_sorts_and_dedups() {
        assert_eq!(parse_cpulist("8,0-2,1"), Ok(vec![0, 1, 2, 8]));
    }

    #[test]
    fn cpulist_empty_is_no_cpus() {
        assert_eq!(parse_cpulist(""), Ok(vec![]));
        assert_eq!(parse_cpulist("\n"), Ok(vec![]));
        assert_eq!(parse_cpulist("   "), Ok(vec![]));
    }

    #[test]
    fn cpulist_errors_name_the_bad_text() {
        for (input, bad) in [
            ("0-3,x", "\"x\""),
            ("3-1", "\"3-1\""),
            ("1-", "\"1-\""),
            ("-1", "\"-1\""),
            ("0,,2", "\"\""),
            ("0,", "\"\""),
            ("0-3:2/4", "\"3:2/4\""),
            ("1-2-3", "\"2-3\""),
            ("99999999", "99999999"),
        ] {
            let err = parse_cpulist(input).expect_err(input);
            assert!(err.contains(bad), "{input:?}: {err:?} does not name {bad}");
        }
    }

    #[test]
    fn cpulist_formats_back() {
        assert_eq!(format_cpulist(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
        assert_eq!(format_cpulist(&[5]), "5");
        assert_eq!(format_cpulist(&[]), "");
    }

    #[test]
    fn hybrid_from_pmu_lists() {
        let t = detect_topology(&fixture("sysfs-hybrid"));
        assert_eq!(
            t,
            CpuTopology {
                performance: range(0, 7),
                efficiency: range(8, 15),
                hybrid: true,
                source: "cpu_core/cpu_atom sysfs",
            }
        );
    }

    #[test]
    fn pmu_lists_skip_offline_cpus() {
        let t = detect_topology(&fixture("sysfs-hybrid-offline"));
        assert_eq!(t.performance, range(0, 7));
        assert_eq!(t.efficiency, range(8, 14));
    }

    #[test]
    fn hybrid_from_max_frequency() {
        let t = detect_topology(&fixture("sysfs-hybrid-freq"));
        assert_eq!(
            t,
            CpuTopology {
                performance: range(0, 7),
                efficiency: range(8, 15),
                hybrid: true,
                source: "cpufreq max frequency",
            }
        );
    }

    #[test]
    fn favored_cores_stay_performance_cores() {
        // Two P-cores boost 300 MHz higher than the other six; all eight are P-cores.
        let t = detect_topology(&fixture("sysfs-favored-cores"));
        assert_eq!(t.performance, range(0, 7));
        assert_eq!(t.efficiency, range(8, 11));
        assert!(t.hybrid);
    }

    #[test]
    fn small_frequency_spread_is_uniform() {
        let t = detect_topology(&fixture("sysfs-preferred-cores"));
        assert_eq!(t, CpuTopology::uniform(range(0, 3), "uniform"));
    }

    #[test]
    fn uniform_frequency_is_not_hybrid() {
        let t = detect_topology(&fixture("sysfs-plain"));
        assert_eq!(t, CpuTopology::uniform(range(0, 3), "uniform"));
    }

    #[test]
    fn nothing_readable_falls_back_to_available_parallelism() {
        for root in [fixture("sysfs-empty"), fixture("does-not-exist")] {
            let t = detect_topology(&root);
            assert_eq!(t, CpuTopology::uniform(range(0, parallelism() - 1), "available_parallelism"));
        }
    }

    #[test]
    fn display_is_one_line() {
        let applied = Applied {
            nice: Some(10),
            io_idle: true,
            pinned_to: Some(range(0, 7)),
            threads: 8,
            topology: detect_topology(&fixture("sysfs-hybrid")),
            notes: vec![],
        };
        assert_eq!(
            applied.to_string(),
            "nice 10, I/O class idle, pinned to performance cores 0-7 (hybrid: 8 P + 8 E), \
             8 inference threads"
        );
        let untuned = Applied {
            nice: None,
            io_idle: false,
            pinned_to: None,
            threads: 1,
            topology: CpuTopology::uniform(vec![0], "uniform"),
            notes: vec!["nice not set for thread 7: EPERM".into()],
        };
        assert_eq!(
            untuned.to_string(),
            "nice unchanged, I/O class unchanged, not pinned (uniform: 1 CPU), \
             1 inference thread; nice not set for thread 7: EPERM"
        );
    }

    #[test]
    fn threads_count_available_performance_cores() {
        let allowed = allowed_cpus().expect("affinity readable");
        // Every allowed CPU a performance core: one thread per allowed CPU.
        let all = CpuTopology::uniform(allowed.clone(), "uniform");
        assert_eq!(inference_threads(&all), allowed.len());
        // Only the first allowed CPU is a performance core.
        let one = CpuTopology {
            performance: vec![allowed[0]],
            efficiency: allowed[1..].to_vec(),
            hybrid: true,
            source: "test",
        };
        assert_eq!(inference_threads(&one), 1);
        // No performance core is allowed: fall back to what is.
        let elsewhere = CpuTopology::uniform(vec![MAX_CPU], "test");
        assert_eq!(inference_threads(&elsewhere), allowed.len());
    }

    #[test]
    fn disabled_changes_nothing() {
        #[cfg(unix)]
        let before = get_nice(0).unwrap();
        let opts = TuneOptions { enabled: false, ..TuneOptions::default() };
        let applied = apply(&opts, &fixture("sysfs-hybrid"));
        assert_eq!(applied.nice, None);
        assert!(!applied.io_idle);
        assert_eq!(applied.pinned_to, None);
        assert_eq!(applied.threads, allowed_cpus().unwrap().len());
        assert!(applied.topology.hybrid, "topology is still reported");
        #[cfg(unix)]
        assert_eq!(get_nice(0).unwrap(), before);
    }

    /// What a child process saw after `apply`, as printed by [`child_apply`].
    #[cfg(target_os = "linux")]
    mod child {
        use super::*;
        use serde_json::{json, Value};
        use std::process::Command;

        const ENV: &str = "DEBRIEF_TUNE_CHILD";
        const MARKER: &str = "DEBRIEF-TUNE-CHILD ";

        #[allow(unsafe_code)]
        fn io_class(tid: i32) -> i64 {
            // SAFETY: ioprio_get takes two integers and touches no memory of ours.
            let value = unsafe { libc::syscall(libc::SYS_ioprio_get, ioprio::WHO_PROCESS, libc::c_long::from(tid)) };
            assert!(value >= 0, "ioprio_get: {}", nix::errno::Errno::last());
            value >> ioprio::CLASS_SHIFT
        }

        fn affinity(tid: i32) -> Vec<usize> {
            let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(tid)).unwrap();
            (0..nix::sched::CpuSet::count()).filter(|&cpu| set.is_set(cpu).unwrap()).collect()
        }

        /// Field 19 of a `stat` file (niceness); the command name may hold spaces.
        fn stat_nice(path: &str) -> i64 {
            let stat = std::fs::read_to_string(path).unwrap();
            let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
            after_comm.split(' ').nth(16).unwrap().parse().unwrap()
        }

        fn thread_state(tid: i32) -> Value {
            json!({
                "tid": tid,
                "nice": get_nice(tid).unwrap(),
                "io_class": io_class(tid),
                "cpus": affinity(tid),
            })
        }

        /// Runs only inside the child that [`run_child`] starts: applies tuning to the whole
        /// child process, then reports what every thread (and one started afterwards) got.
        #[test]
        fn child_apply() {
            let Ok(scenario) = std::env::var(ENV) else {
                return;
            };
            let root = match scenario.as_str() {
                "pin" => fixture("sysfs-hybrid-small"),
                _ => PathBuf::from("/sys"),
            };
            if scenario == "already-nicer" {
                set_nice(0, get_nice(0).unwrap().max(15)).unwrap();
            }
            let applied = apply(&TuneOptions::default(), &root);
            let tasks: Vec<Value> = threads_to_tune().into_iter().map(thread_state).collect();
            let later = std::thread::spawn(|| thread_state(nix::unistd::gettid().as_raw())).join().unwrap();
            let report = json!({
                "line": applied.to_string(),
                "nice": applied.nice,
                "io_idle": applied.io_idle,
                "pinned_to": applied.pinned_to,
                "threads": applied.threads,
                "notes": applied.notes,
                "main_stat_nice": stat_nice("/proc/self/stat"),
                "tasks": tasks,
                "later": later,
            });
            println!("{MARKER}{report}");
        }

        /// Runs [`child_apply`] in a fresh copy of this test binary so that this process keeps
        /// its own priority, and returns the child's report.
        fn run_child(scenario: &str) -> Value {
            let output = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "tune::tests::child::child_apply", "--nocapture"])
                .args(["--test-threads", "1"])
                .env(ENV, scenario)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(output.status.success(), "child failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
            let line = stdout
                .lines()
                // libtest prints "test ... ... " on the same line before the report.
                .find_map(|line| Some(&line[line.find(MARKER)? + MARKER.len()..]))
                .unwrap_or_else(|| panic!("no report from child: {stdout}"));
            serde_json::from_str(line).unwrap()
        }

        fn assert_threads(report: &Value, nice: i64, cpus: &Value) {
            let tasks = report["tasks"].as_array().unwrap();
            assert!(!tasks.is_empty());
            for state in tasks.iter().chain([&report["later"]]) {
                assert_eq!(state["nice"], nice, "{state}");
                assert_eq!(state["io_class"], 3, "{state}");
                assert_eq!(&state["cpus"], cpus, "{state}");
            }
            assert_eq!(report["main_stat_nice"], nice, "main thread per /proc");
        }

        #[test]
        fn apply_lowers_priority_of_a_real_process() {
            let before = get_nice(0).unwrap();
            let expected = before.max(10);
            let report = run_child("sys");
            assert_eq!(report["nice"], expected, "{report}");
            assert_eq!(report["io_idle"], true, "{report}");
            assert_eq!(report["notes"], json!([]), "{report}");
            let allowed = allowed_cpus().unwrap();
            let topology = detect_topology(Path::new("/sys"));
            if !topology.hybrid {
                assert_eq!(report["pinned_to"], Value::Null, "{report}");
                assert_eq!(report["threads"], allowed.len(), "{report}");
            }
            let cpus = match &report["pinned_to"] {
                Value::Null => json!(allowed),
                pinned => pinned.clone(),
            };
            assert_threads(&report, expected.into(), &cpus);
            assert_eq!(get_nice(0).unwrap(), before, "the test process was left alone");
        }

        #[test]
        fn apply_pins_to_performance_cores() {
            // Fixture: CPU 0 is the only performance core.
            let expected = get_nice(0).unwrap().max(10);
            let report = run_child("pin");
            let allowed = allowed_cpus().unwrap();
            if allowed.contains(&0) {
                assert_eq!(report["pinned_to"], json!([0]), "{report}");
                assert_eq!(report["threads"], 1, "{report}");
                assert!(
                    report["line"].as_str().unwrap().contains("pinned to performance cores 0 (hybrid: 1 P + 1 E)"),
                    "{report}"
                );
                assert_threads(&report, expected.into(), &json!([0]));
            } else {
                assert_eq!(report["pinned_to"], Value::Null, "{report}");
                assert!(report["notes"][0].as_str().unwrap().starts_with("not pinned"));
            }
        }

        #[test]
        fn apply_never_lowers_niceness() {
            let before = get_nice(0).unwrap();
            let report = run_child("already-nicer");
            // The child set its test thread to 15 itself; apply must leave it there.
            assert_eq!(report["nice"], before.max(15), "{report}");
            let tasks = report["tasks"].as_array().unwrap();
            assert!(tasks.iter().any(|state| state["nice"] == before.max(15)), "{report}");
            let floor = i64::from(before.max(10));
            assert!(tasks.iter().all(|state| state["nice"].as_i64() >= Some(floor)), "{report}");
        }
    }
}
