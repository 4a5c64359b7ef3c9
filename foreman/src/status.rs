//! `foreman status`: what is going on, for people (`status`) and scripts (`--json`).
//! Both are rendered from one [`Report`].

use std::collections::BTreeMap;

use anyhow::Result;
use debrief_jobq::{format_utc_ms, AnyQueue, Blocked, JobId, LeaseRecord, MeetingId, MeetingRecord, Status, TaskType};
use serde::Serialize;

use crate::config::WorkerSpec;

/// Everything `status` shows; `--json` prints it as it is.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// The queue: the SQLite file, or the PostgreSQL URL without its password.
    database: String,
    meetings: Vec<MeetingRecord>,
    /// Job counts by type, then status (every pair present, zeros included).
    jobs: BTreeMap<TaskType, BTreeMap<Status, u64>>,
    leases: Vec<LeaseRecord>,
    failures: Vec<Failure>,
    blocked: Vec<Blocked>,
    waiting_for_worker: Vec<Waiting>,
}

/// A FAILED job.
#[derive(Debug, Serialize)]
struct Failure {
    job_id: JobId,
    meeting_id: MeetingId,
    task_type: TaskType,
    seq: i64,
    attempts: u32,
    /// Times its worker died running it.
    crashes: u32,
    /// Set aside as poison (it kept killing its worker) at this time (ms).
    quarantined_at: Option<i64>,
    error: Option<String>,
}

/// Outstanding jobs of a type no configured worker takes.
#[derive(Debug, Serialize)]
struct Waiting {
    task_type: TaskType,
    jobs: u64,
}

/// Gathers the report.
pub(crate) fn collect(q: &AnyQueue, workers: &[WorkerSpec]) -> Result<Report> {
    let mut jobs: BTreeMap<TaskType, BTreeMap<Status, u64>> =
        TaskType::ALL.iter().map(|t| (*t, Status::ALL.iter().map(|s| (*s, 0)).collect())).collect();
    for (t, s, n) in q.counts()? {
        jobs.entry(t).or_default().insert(s, n);
    }
    let served = crate::config::served(workers)?;
    let mut waiting_for_worker = Vec::new();
    for t in TaskType::ALL {
        let n = q.outstanding(*t)?;
        if n > 0 && !served.contains_key(t) {
            waiting_for_worker.push(Waiting { task_type: *t, jobs: n });
        }
    }
    let failures = q
        .failed_jobs()?
        .into_iter()
        .map(|j| Failure {
            job_id: j.job_id,
            meeting_id: j.meeting_id,
            task_type: j.task_type,
            seq: j.seq,
            attempts: j.attempts,
            crashes: j.crashes,
            quarantined_at: j.quarantined_at,
            error: j.last_error,
        })
        .collect();
    Ok(Report {
        database: q.describe(),
        meetings: q.meetings(None)?,
        jobs,
        leases: q.device_leases()?,
        failures,
        blocked: q.blocked()?,
        waiting_for_worker,
    })
}

/// Text that came from users or files (titles, errors), made safe to print on a
/// terminal: control characters (escape sequences among them) are shown as `\u{..}`
/// escapes. The stored text stays as it was given.
pub(crate) fn for_terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\n' {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn print(q: &AnyQueue, workers: &[WorkerSpec], as_json: bool) -> Result<()> {
    let r = collect(q, workers)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    print!("{}", render(&r));
    Ok(())
}

/// The human-readable status.
fn render(r: &Report) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "Meetings:");
    if r.meetings.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for m in &r.meetings {
        let dur = m.duration_ms.map(|d| format!(", {:.1} min", d as f64 / 60_000.0)).unwrap_or_default();
        let _ = writeln!(
            o,
            "  {:>4}  {:<10} {:>3}/{:<3} jobs done{}  {}{}",
            m.meeting_id,
            m.status.as_str(),
            m.completed,
            m.jobs,
            dur,
            for_terminal(m.title.as_deref().unwrap_or("(untitled)")),
            m.error.as_deref().map(|e| format!("\n        {}", for_terminal(e))).unwrap_or_default(),
        );
        if let Some(p) = &m.partial {
            let _ = writeln!(o, "        partial: {}", for_terminal(p));
        }
    }
    let _ = writeln!(o, "Jobs:        PENDING PROCESSING COMPLETED  FAILED");
    for (t, row) in &r.jobs {
        let n = |s: Status| row.get(&s).copied().unwrap_or(0);
        let _ = writeln!(
            o,
            "  {:<10} {:>7} {:>10} {:>9} {:>7}",
            t.as_str(),
            n(Status::Pending),
            n(Status::Processing),
            n(Status::Completed),
            n(Status::Failed)
        );
    }
    if !r.leases.is_empty() {
        let _ = writeln!(o, "Device leases:");
        for l in &r.leases {
            let _ = writeln!(
                o,
                "  {} {} MB held by {} (pid {} on {}), expires {}",
                l.device,
                l.vram_mb,
                for_terminal(&l.holder),
                l.pid,
                for_terminal(&l.host),
                format_utc_ms(l.expires_at),
            );
        }
    }
    for w in &r.waiting_for_worker {
        let _ = writeln!(
            o,
            "Waiting for a worker: {} {} job(s); no configured worker takes {}",
            w.jobs, w.task_type, w.task_type
        );
    }
    if !r.failures.is_empty() {
        let _ = writeln!(o, "Failures (retry with `foreman retry JOB` or `foreman retry --failed`):");
        for f in &r.failures {
            let crashes = match f.crashes {
                0 => String::new(),
                n => format!(", {n} crash(es)"),
            };
            let poison = if f.quarantined_at.is_some() { ", QUARANTINED" } else { "" };
            let _ = writeln!(
                o,
                "  job {} (meeting {}, {} #{}, {} attempt(s){crashes}{poison}): {}",
                f.job_id,
                f.meeting_id,
                f.task_type,
                f.seq,
                f.attempts,
                for_terminal(f.error.as_deref().unwrap_or("no error recorded"))
            );
        }
    }
    if !r.blocked.is_empty() {
        let _ = writeln!(o, "Blocked behind a failed job:");
        for b in &r.blocked {
            let _ = writeln!(
                o,
                "  job {} ({} of meeting {}) waits for failed job {} ({})",
                b.job_id, b.task_type, b.meeting_id, b.failed_dependency, b.failed_task_type
            );
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_in_titles_are_shown_not_obeyed() {
        assert_eq!(
            for_terminal("Weekly \u{1b}[2J\u{1b}]0;pwned\u{7}sync"),
            "Weekly \\u{1b}[2J\\u{1b}]0;pwned\\u{7}sync"
        );
        assert_eq!(for_terminal("Plain title, ünïcode kept"), "Plain title, ünïcode kept");
    }
}
