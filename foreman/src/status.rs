//! `foreman status`: what is going on, for people (`status`) and scripts (`--json`).

use std::collections::BTreeMap;

use anyhow::Result;
use debrief_jobq::{Queue, Status, TaskType};
use debrief_runtime::format_utc_ms;
use serde_json::{json, Value};

use crate::config::WorkerSpec;

/// Everything `status` shows, as JSON.
pub(crate) fn collect(q: &Queue, workers: &[WorkerSpec]) -> Result<Value> {
    let mut jobs: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for t in TaskType::ALL {
        let row = jobs.entry(t.as_str().to_owned()).or_default();
        for s in Status::ALL {
            row.insert(s.as_str().to_owned(), 0);
        }
    }
    for (t, s, n) in q.counts()? {
        jobs.entry(t.as_str().to_owned()).or_default().insert(s.as_str().to_owned(), n);
    }
    let served = crate::config::served(workers)?;
    let mut waiting_for_worker = Vec::new();
    for t in TaskType::ALL {
        let n = q.outstanding(*t)?;
        if n > 0 && !served.contains_key(t) {
            waiting_for_worker.push(json!({ "task_type": t.as_str(), "jobs": n }));
        }
    }
    let failures: Vec<Value> = q
        .failed_jobs()?
        .into_iter()
        .map(|j| {
            json!({
                "job_id": j.job_id,
                "meeting_id": j.meeting_id,
                "task_type": j.task_type,
                "seq": j.seq,
                "attempts": j.attempts,
                "error": j.last_error,
            })
        })
        .collect();
    Ok(json!({
        "database": q.path(),
        "meetings": q.meetings(None)?,
        "jobs": jobs,
        "leases": q.device_leases()?,
        "failures": failures,
        "blocked": q.blocked()?,
        "waiting_for_worker": waiting_for_worker,
    }))
}

pub(crate) fn print(q: &Queue, workers: &[WorkerSpec], as_json: bool) -> Result<()> {
    let v = collect(q, workers)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let empty = Vec::new();
    let arr = |k: &str| v[k].as_array().unwrap_or(&empty).clone();
    println!("Meetings:");
    let meetings = arr("meetings");
    if meetings.is_empty() {
        println!("  (none)");
    }
    for m in &meetings {
        let dur = m["duration_ms"].as_i64().map(|d| format!(", {:.1} min", d as f64 / 60_000.0)).unwrap_or_default();
        println!(
            "  {:>4}  {:<10} {:>3}/{:<3} jobs done{}  {}{}",
            m["meeting_id"],
            m["status"].as_str().unwrap_or("?"),
            m["completed"],
            m["jobs"],
            dur,
            m["title"].as_str().unwrap_or("(untitled)"),
            m["error"].as_str().map(|e| format!("\n        {e}")).unwrap_or_default(),
        );
    }
    println!("Jobs:        PENDING PROCESSING COMPLETED  FAILED");
    for (t, row) in v["jobs"].as_object().into_iter().flatten() {
        let n = |s: &str| row[s].as_u64().unwrap_or(0);
        println!("  {:<10} {:>7} {:>10} {:>9} {:>7}", t, n("PENDING"), n("PROCESSING"), n("COMPLETED"), n("FAILED"));
    }
    let leases = arr("leases");
    if !leases.is_empty() {
        println!("Device leases:");
        for l in &leases {
            println!(
                "  {} {} MB held by {} (pid {} on {}), expires {}",
                l["device"].as_str().unwrap_or("?"),
                l["vram_mb"],
                l["holder"].as_str().unwrap_or("?"),
                l["pid"],
                l["host"].as_str().unwrap_or("?"),
                format_utc_ms(l["expires_at"].as_i64().unwrap_or(0)),
            );
        }
    }
    for w in arr("waiting_for_worker") {
        println!(
            "Waiting for a worker: {} {} job(s); no configured worker takes {}",
            w["jobs"],
            w["task_type"].as_str().unwrap_or("?"),
            w["task_type"].as_str().unwrap_or("?")
        );
    }
    let failures = arr("failures");
    if !failures.is_empty() {
        println!("Failures (retry with `foreman retry JOB` or `foreman retry --failed`):");
        for f in &failures {
            println!(
                "  job {} (meeting {}, {} #{}, {} attempt(s)): {}",
                f["job_id"],
                f["meeting_id"],
                f["task_type"].as_str().unwrap_or("?"),
                f["seq"],
                f["attempts"],
                f["error"].as_str().unwrap_or("no error recorded")
            );
        }
    }
    let blocked = arr("blocked");
    if !blocked.is_empty() {
        println!("Blocked behind a failed job:");
        for b in &blocked {
            println!(
                "  job {} ({} of meeting {}) waits for failed job {} ({})",
                b["job_id"],
                b["task_type"].as_str().unwrap_or("?"),
                b["meeting_id"],
                b["failed_dependency"],
                b["failed_task_type"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(())
}
