//! Taking back work whose owner is gone.

use rusqlite::{named_params, OptionalExtension};

use crate::process::{hostname, now_ms, pid_alive};
use crate::types::{Device, JobId, Status};
use crate::{device, sql, Queue, Result};

/// What [`Queue::recover`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Recovered {
    /// Jobs made PENDING again (after a backoff).
    pub requeued: Vec<JobId>,
    /// Jobs that had used all their attempts and are now FAILED.
    pub failed: Vec<JobId>,
    /// Device leases deleted.
    pub leases_reaped: usize,
}

impl Recovered {
    /// Whether anything was recovered.
    pub fn is_empty(&self) -> bool {
        self.requeued.is_empty() && self.failed.is_empty() && self.leases_reaped == 0
    }
}

struct LiveClaim {
    job_id: JobId,
    worker_id: String,
    pid: Option<u32>,
    host: Option<String>,
    token: i64,
    lease_expires_at: i64,
    attempts: u32,
    max_attempts: u32,
}

impl Queue {
    /// Takes back claims whose lease expired or whose worker process is dead on this
    /// host, and device leases likewise. A job gets PENDING with a backoff, or FAILED
    /// once it has used all its attempts (a job that crashes its worker every time must
    /// not loop forever); its `last_error` says what happened. A claim whose lease
    /// expired while its worker still lives on this host (the machine was suspended, or
    /// the process stopped) is neither a crash nor an attempt: it is taken back (the
    /// worker's later writes are fenced out) without counting the attempt. Safe to run
    /// from any number of processes at once.
    pub fn recover(&self) -> Result<Recovered> {
        let here = hostname();
        self.write(|tx| {
            let now = now_ms();
            let claims: Vec<LiveClaim> = {
                let mut stmt = tx.prepare_cached(sql::REAPER_CLAIMS)?;
                let rows = stmt.query_map([], |r| {
                    Ok(LiveClaim {
                        job_id: r.get(0)?,
                        worker_id: r.get(1)?,
                        pid: r.get(2)?,
                        host: r.get(3)?,
                        token: r.get(4)?,
                        lease_expires_at: r.get(5)?,
                        attempts: r.get(6)?,
                        max_attempts: r.get(7)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut out = Recovered::default();
            let mut requeue = tx.prepare_cached(sql::REAPER_REQUEUE)?;
            for c in claims {
                let local = c.host.as_deref() == Some(here.as_str());
                let dead = local && c.pid.is_some_and(|p| !pid_alive(p));
                let expired = c.lease_expires_at <= now;
                // Expired, but the worker is alive here: it was not running (suspend,
                // SIGSTOP) rather than failing, so the attempt does not count.
                let count = dead || !local || c.pid.is_none();
                if !dead && !expired {
                    continue;
                }
                let who = format!(
                    "worker {} (pid {} on {})",
                    c.worker_id,
                    c.pid.map_or("?".to_owned(), |p| p.to_string()),
                    c.host.as_deref().unwrap_or("?")
                );
                let what = if dead {
                    format!("{who} died while running this job")
                } else {
                    format!("{who} stopped renewing its lease ({} ms overdue)", now - c.lease_expires_at)
                };
                let error = if count {
                    let verdict = if c.attempts >= c.max_attempts { "giving up" } else { "will retry" };
                    format!("{what}; attempt {} of {}, {verdict}", c.attempts, c.max_attempts)
                } else {
                    format!("{what} but is still alive (suspended or stopped?); taken back, the attempt not counted")
                };
                let run_after = now.saturating_add(self.cfg.backoff_ms(c.attempts));
                let status: Option<Status> = requeue
                    .query_row(
                        named_params! {
                            ":job_id": c.job_id,
                            ":token": c.token,
                            ":run_after": run_after,
                            ":error": error,
                            ":count": count,
                            ":now": now,
                        },
                        |r| r.get(0),
                    )
                    .optional()?;
                match status {
                    Some(Status::Failed) => out.failed.push(c.job_id),
                    Some(_) => out.requeued.push(c.job_id),
                    None => {}
                }
            }
            for d in Device::ALL {
                out.leases_reaped += device::reap_in(tx, *d, now)?;
            }
            Ok(out)
        })
    }
}
