//! Taking back work whose owner is gone.

use rusqlite::{named_params, OptionalExtension};

use crate::jobs::Crash;
use crate::process::{hostname, now_ms, pid_alive};
use crate::types::{Device, JobId, Status, TaskType};
use crate::{device, sql, Queue, QueueError, Result};

/// What [`Queue::recover`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Recovered {
    /// Jobs made PENDING again (after a backoff, if their worker crashed).
    pub requeued: Vec<JobId>,
    /// Jobs set aside as poison: FAILED, with `quarantined_at` set.
    pub quarantined: Vec<JobId>,
    /// Device leases deleted.
    pub leases_reaped: usize,
}

impl Recovered {
    /// Whether anything was recovered.
    pub fn is_empty(&self) -> bool {
        self.requeued.is_empty() && self.quarantined.is_empty() && self.leases_reaped == 0
    }
}

/// How many crashes `crash_log` keeps (the rule looks at the last `poison_streak`).
const CRASH_LOG_LEN: usize = 16;

struct LiveClaim {
    job_id: JobId,
    worker_id: String,
    pid: Option<u32>,
    host: Option<String>,
    token: i64,
    lease_expires_at: i64,
    task_type: TaskType,
    crashes: u32,
    crash_log: Vec<Crash>,
    progress: Option<i64>,
}

/// The verdict on a job whose worker died.
struct Verdict {
    quarantine: bool,
    error: String,
}

impl Queue {
    /// Takes back claims whose lease expired or whose worker process is dead on this
    /// host, and device leases likewise. Safe to run from any number of processes.
    ///
    /// A worker's death is not the job's fault until the evidence says so. The death
    /// counts a *crash* (never an attempt: attempts count the errors a handler reports)
    /// and is logged with the job's progress at the time; the job is PENDING again after
    /// the crash backoff. It is set aside as poison (FAILED, `quarantined_at`) only when
    /// other jobs of its type completed since its crashes began (so the workers, models
    /// and machine are fine) and either its last `poison_streak` crashes all happened at
    /// the same progress point (a job that kills its worker at the same step every
    /// time), or it crashed `max_crashes` times in all. Deaths from outside (SIGKILL, the
    /// OOM killer, power cuts) land at random points and are retried however many there
    /// are. A claim whose lease expired while its worker still lives on this host (the
    /// machine was suspended, or the process stopped) is neither a crash nor an attempt:
    /// it is taken back at once (the worker's later writes are fenced out).
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
                        task_type: r.get(6)?,
                        crashes: r.get(7)?,
                        crash_log: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or_default(),
                        progress: r.get(9)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut out = Recovered::default();
            for mut c in claims {
                let local = c.host.as_deref() == Some(here.as_str());
                let dead = local && c.pid.is_some_and(|p| !pid_alive(p));
                let expired = c.lease_expires_at <= now;
                if !dead && !expired {
                    continue;
                }
                let who = format!(
                    "worker {} (pid {} on {})",
                    c.worker_id,
                    c.pid.map_or("?".to_owned(), |p| p.to_string()),
                    c.host.as_deref().unwrap_or("?")
                );
                // Expired, but the worker is alive here: it was not running (suspend,
                // SIGSTOP) rather than failing.
                if !dead && local && c.pid.is_some() {
                    let error = format!(
                        "{who} stopped renewing its lease ({} ms overdue) but is still alive (suspended or \
                         stopped?); taken back, neither an attempt nor a crash",
                        now - c.lease_expires_at
                    );
                    let taken: Option<Status> = tx
                        .prepare_cached(sql::REAPER_TAKE_BACK)?
                        .query_row(
                            named_params! { ":job_id": c.job_id, ":token": c.token, ":error": error, ":now": now },
                            |r| r.get(0),
                        )
                        .optional()?;
                    if taken.is_some() {
                        out.requeued.push(c.job_id);
                    }
                    continue;
                }
                let what = if dead {
                    format!("{who} died while running this job")
                } else {
                    format!("{who} stopped renewing its lease ({} ms overdue)", now - c.lease_expires_at)
                };
                c.crash_log.push(Crash { at: now, point: c.progress });
                let skip = c.crash_log.len().saturating_sub(CRASH_LOG_LEN);
                c.crash_log.drain(..skip);
                let v = self.judge(tx, &c, &what)?;
                let log = serde_json::to_string(&c.crash_log).map_err(|e| QueueError::Invalid(e.to_string()))?;
                let status: Option<Status> = tx
                    .prepare_cached(sql::REAPER_CRASHED)?
                    .query_row(
                        named_params! {
                            ":job_id": c.job_id,
                            ":token": c.token,
                            ":quarantine": v.quarantine,
                            ":crash_log": log,
                            ":run_after": now.saturating_add(self.cfg.crash_backoff_ms(c.crashes + 1)),
                            ":error": v.error,
                            ":now": now,
                        },
                        |r| r.get(0),
                    )
                    .optional()?;
                match status {
                    Some(Status::Failed) => out.quarantined.push(c.job_id),
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

    /// The poison rule (see [`Queue::recover`]) for a claim whose worker died; its
    /// `crash_log` already holds this crash.
    fn judge(&self, tx: &rusqlite::Transaction<'_>, c: &LiveClaim, what: &str) -> Result<Verdict> {
        let crashes = c.crashes + 1;
        let log = &c.crash_log;
        let last = log.last().map(|k| k.point);
        let streak = log.iter().rev().take_while(|k| Some(k.point) == last).count();
        let streak = u32::try_from(streak).unwrap_or(u32::MAX);
        let same_point = streak >= self.cfg.poison_streak.max(1);
        let too_many = crashes >= self.cfg.max_crashes.max(1);
        // Evidence that the environment is fine: other jobs of the type completed since
        // the crashes the rule looks at began.
        let first = if same_point { log.len() - streak as usize } else { 0 };
        let since = log.get(first).map_or(0, |k| k.at);
        let others: i64 = tx
            .prepare_cached(sql::REAPER_COMPLETED_SINCE)?
            .query_row(named_params! { ":task_type": c.task_type, ":job_id": c.job_id, ":since": since }, |r| {
                r.get(0)
            })?;
        let point = |p: Option<i64>| p.map_or("before its first step".to_owned(), |p| format!("at step {p}"));
        let quarantine = others > 0 && (same_point || too_many);
        let error = if quarantine {
            let why = if same_point {
                format!("the last {streak} {}", point(last.flatten()))
            } else {
                "at different points".to_owned()
            };
            format!(
                "{what}; killed its worker {crashes} times ({why}) while {others} other {} jobs completed: \
                 set aside as poison (`foreman retry {}` runs it again)",
                c.task_type, c.job_id
            )
        } else {
            let note = if others == 0 && (same_point || too_many) {
                format!(
                    "; no other {} job completed meanwhile, so the workers may be at fault rather than the job",
                    c.task_type
                )
            } else {
                String::new()
            };
            format!("{what} {}; crash {crashes}, will retry{note}", point(c.progress))
        };
        Ok(Verdict { quarantine, error })
    }
}
