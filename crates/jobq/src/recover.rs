//! Taking back work whose owner is gone.

use std::collections::HashMap;

use rusqlite::{named_params, OptionalExtension};

use crate::jobs::Crash;
use crate::process::{hostname, now_ms, pid_alive};
use crate::types::{Device, JobId, Status, TaskType};
use crate::{crumbs, device, sql, Queue, QueueConfig, QueueError, Result};

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

pub(crate) struct LiveClaim {
    pub(crate) job_id: JobId,
    pub(crate) worker_id: String,
    pub(crate) pid: Option<u32>,
    pub(crate) host: Option<String>,
    pub(crate) token: i64,
    pub(crate) lease_expires_at: i64,
    pub(crate) task_type: TaskType,
    pub(crate) crashes: u32,
    pub(crate) crash_log: Vec<Crash>,
    pub(crate) progress: Option<i64>,
    pub(crate) started_at: Option<i64>,
}

/// The verdict on a job whose worker died.
pub(crate) struct Verdict {
    pub(crate) quarantine: bool,
    pub(crate) error: String,
}

/// What the reaper makes of a live claim.
pub(crate) enum Fate {
    /// Its lease runs and its worker is not known to be dead: left alone.
    Live,
    /// Its lease expired while its worker lives on this host (suspended or stopped):
    /// taken back, neither an attempt nor a crash; the error text to keep.
    Stopped(String),
    /// Its worker died (`dead`: its pid is gone on this host) or stopped renewing the
    /// lease from another host: a crash, described by `what`.
    Crashed { what: String, dead: bool },
}

/// Judges one claim by its lease and, on its own host `here`, its worker's pid.
/// Dead-pid checks apply only to the host that owns the pid; on any other host the
/// lease alone decides (several reapers on several hosts agree).
pub(crate) fn triage(c: &LiveClaim, here: &str, now: i64) -> Fate {
    let local = c.host.as_deref() == Some(here);
    let dead = local && c.pid.is_some_and(|p| !pid_alive(p));
    let expired = c.lease_expires_at <= now;
    if !dead && !expired {
        return Fate::Live;
    }
    let who = format!(
        "worker {} (pid {} on {})",
        c.worker_id,
        c.pid.map_or("?".to_owned(), |p| p.to_string()),
        c.host.as_deref().unwrap_or("?")
    );
    // Expired, but the worker is alive here: it was not running (suspend, SIGSTOP)
    // rather than failing.
    if !dead && local && c.pid.is_some() {
        return Fate::Stopped(format!(
            "{who} stopped renewing its lease ({} ms overdue) but is still alive (suspended or stopped?); taken \
             back, neither an attempt nor a crash",
            now - c.lease_expires_at
        ));
    }
    let what = if dead {
        format!("{who} died while running this job")
    } else {
        format!("{who} stopped renewing its lease ({} ms overdue)", now - c.lease_expires_at)
    };
    Fate::Crashed { what, dead }
}

/// The crash logs of the other jobs of `c`'s type found dead in the same reaper pass:
/// workers that died at the same moment (a power cut, the foreman killed with its
/// children) are evidence about each other.
pub(crate) fn batch_beside<'a>(crashed: &'a [(LiveClaim, String)], c: &LiveClaim) -> Vec<(JobId, &'a [Crash])> {
    crashed
        .iter()
        .filter(|(o, _)| o.job_id != c.job_id && o.task_type == c.task_type)
        .map(|(o, _)| (o.job_id, o.crash_log.as_slice()))
        .collect()
}

impl LiveClaim {
    /// Appends this death to the crash log (keeping the last [`CRASH_LOG_LEN`]).
    pub(crate) fn log_crash(&mut self, now: i64) {
        let ran = self.started_at.map(|t| now.saturating_sub(t).max(0));
        self.crash_log.push(Crash { at: now, point: self.progress, ran });
        let skip = self.crash_log.len().saturating_sub(CRASH_LOG_LEN);
        self.crash_log.drain(..skip);
    }
}

impl Queue {
    /// Takes back claims whose lease expired or whose worker process is dead on this
    /// host, and device leases likewise. Safe to run from any number of processes.
    ///
    /// A worker's death is not the job's fault until the evidence says so. The death
    /// counts a *crash* (never an attempt: attempts count the errors a handler reports)
    /// and is logged with the job's progress at the time; the job is PENDING again after
    /// the crash backoff. It is set aside as poison (FAILED, `quarantined_at`) only when
    /// other jobs of its type completed since the first of its last `poison_streak`
    /// crashes (so the workers, models and machine are fine) and either those crashes
    /// all happened at the same progress point while no other job of its type lost its
    /// worker (a job that kills its worker at the same step every time, among workers
    /// that live), or it crashed `max_crashes` times and took far more than its share of
    /// the deaths for the time it ran (see `Exposure`). Deaths from outside
    /// (SIGKILL, the OOM killer, power cuts) kill whatever runs and are retried however
    /// many there are. A claim whose lease expired while its worker still lives on this host (the
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
                        started_at: r.get(10)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            // Registered workers of this host that are gone: one that held no job died
            // idle, which is evidence that something kills workers (see `judge`).
            let holders: std::collections::HashSet<&str> = claims.iter().map(|c| c.worker_id.as_str()).collect();
            let gone: Vec<(String, String)> = {
                let mut stmt = tx.prepare_cached(sql::REAPER_WORKERS)?;
                let rows = stmt.query_map(named_params! { ":host": here }, |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?, r.get::<_, String>(2)?))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
                    .into_iter()
                    .filter(|(_, pid, _)| !pid_alive(*pid))
                    .map(|(id, _, tasks)| (id, tasks))
                    .collect()
            };
            for (id, tasks) in &gone {
                tx.prepare_cached(sql::REAPER_WORKER_GONE)?.execute(named_params! { ":worker_id": id })?;
                if !holders.contains(id.as_str()) {
                    tx.prepare_cached(sql::REAPER_IDLE_DEATH)?
                        .execute(named_params! { ":worker_id": id, ":now": now, ":task_types": tasks })?;
                }
            }
            tx.prepare_cached(sql::REAPER_PRUNE_DEATHS)?
                .execute(named_params! { ":before": now.saturating_sub(24 * 3_600_000) })?;
            let mut out = Recovered::default();
            let mut crashed: Vec<(LiveClaim, String)> = Vec::new();
            for mut c in claims {
                match triage(&c, &here, now) {
                    Fate::Live => {}
                    Fate::Stopped(error) => {
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
                    }
                    Fate::Crashed { what, dead } => {
                        // The worker's breadcrumb (exact, if it died on this host) over the
                        // step the database holds (written at most once a second).
                        if dead {
                            if let Some(step) = crumbs::take(self.path(), c.job_id, c.token) {
                                c.progress = Some(step);
                            }
                        }
                        c.log_crash(now);
                        crashed.push((c, what));
                    }
                }
            }
            // Judged together: workers that died at the same moment (a power cut, the
            // foreman killed with its children) are evidence about each other.
            for (c, what) in &crashed {
                let v = self.cfg.judge(tx, c, what, &batch_beside(&crashed, c))?;
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
}

/// What the poison rule asks the database (see [`QueueConfig::judge`]): the same
/// questions on every backend.
pub(crate) trait Evidence {
    /// Jobs of `task` other than `job` COMPLETED since `since`, and how long they ran
    /// inside that window (ms).
    fn completed_since(&self, task: TaskType, job: JobId, since: i64) -> Result<(i64, i64)>;
    /// The crash logs of the other jobs of `task` that ever crashed.
    fn crash_logs(&self, task: TaskType, job: JobId) -> Result<HashMap<JobId, Vec<Crash>>>;
    /// Idle workers of `task` that died since `since`.
    fn idle_deaths_since(&self, task: TaskType, since: i64) -> Result<i64>;
}

impl Evidence for rusqlite::Transaction<'_> {
    fn completed_since(&self, task: TaskType, job: JobId, since: i64) -> Result<(i64, i64)> {
        Ok(self
            .prepare_cached(sql::REAPER_COMPLETED_SINCE)?
            .query_row(named_params! { ":task_type": task, ":job_id": job, ":since": since }, |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?)
    }

    fn crash_logs(&self, task: TaskType, job: JobId) -> Result<HashMap<JobId, Vec<Crash>>> {
        Ok(self
            .prepare_cached(sql::REAPER_CRASH_LOGS)?
            .query_map(named_params! { ":task_type": task, ":job_id": job }, |r| {
                Ok((r.get::<_, JobId>(0)?, serde_json::from_str(&r.get::<_, String>(1)?).unwrap_or_default()))
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn idle_deaths_since(&self, task: TaskType, since: i64) -> Result<i64> {
        Ok(self
            .prepare_cached(sql::REAPER_IDLE_DEATHS_SINCE)?
            .query_row(named_params! { ":since": since, ":task_type": task }, |r| r.get(0))?)
    }
}

impl QueueConfig {
    /// How many of the last crashes in `log` happened at the same point.
    fn streak(log: &[Crash]) -> usize {
        let last = log.last().map(|k| k.point);
        log.iter().rev().take_while(|k| Some(k.point) == last).count()
    }

    /// Whether `log` looks like a job that kills its worker at one point every time.
    fn suspect(&self, log: &[Crash]) -> bool {
        Self::streak(log) >= self.poison_streak.max(1) as usize
    }

    /// The poison rule (see [`Queue::recover`]) for a claim whose worker died; its
    /// `crash_log` already holds this crash, and `batch` holds the logs (with this
    /// crash) of the other jobs found dead in the same pass.
    pub(crate) fn judge(
        &self,
        ev: &dyn Evidence,
        c: &LiveClaim,
        what: &str,
        batch: &[(JobId, &[Crash])],
    ) -> Result<Verdict> {
        let crashes = c.crashes + 1;
        let log = &c.crash_log;
        let last = log.last().map(|k| k.point);
        let streak = Self::streak(log);
        let same_point = self.suspect(log);
        let too_many = crashes >= self.max_crashes.max(1);
        let lease = self.lease_ms();
        let ran = |k: &Crash| k.ran.unwrap_or(lease).max(0);
        // The windows of evidence: since the first of the crashes each rule looks at
        // (the last `poison_streak` of a streak, so that one old crash elsewhere does
        // not excuse a job for ever; the last `max_crashes` for the count, from the
        // start of the first of those runs).
        let streak_window = if same_point { log.len() - self.poison_streak.max(1) as usize } else { log.len() };
        let count_window = log.len().saturating_sub(self.max_crashes.max(1) as usize);
        let since = |first: usize| log.get(first).map_or(i64::MAX, |k| k.at);
        let completed_since = |at: i64| ev.completed_since(c.task_type, c.job_id, at);
        // Other jobs' workers that died inside a window, unless that job is a suspect
        // itself. Workers killed from outside (SIGKILL, an OOM killer, power cuts) die
        // whatever they run, so a job whose crashes look like poison is excused while
        // the others die too.
        let mut logs: HashMap<JobId, Vec<Crash>> = ev.crash_logs(c.task_type, c.job_id)?;
        for (id, other) in batch {
            logs.insert(*id, other.to_vec());
        }
        // ...and idle workers of the type that died (a kill that found no job to cost).
        // With the deaths, how long the dead busy workers had run inside the window.
        let crashed_since = |at: i64| -> Result<(usize, i64)> {
            let idle = ev.idle_deaths_since(c.task_type, at)?;
            let (mut busy, mut ms) = (0, 0);
            for k in logs.values().filter(|l| !self.suspect(l)).flatten().filter(|k| k.at >= at) {
                busy += 1;
                ms += ran(k).min(k.at - at);
            }
            Ok((busy + usize::try_from(idle).unwrap_or(0), ms))
        };
        // (a) The same point `poison_streak` times while the others completed and kept
        // their workers.
        let (completed, others_crashed) = if same_point {
            (completed_since(since(streak_window))?.0, crashed_since(since(streak_window))?.0)
        } else {
            (0, 0)
        };
        let by_point = same_point && completed > 0 && others_crashed == 0;
        // (b) `max_crashes` crashes wherever they happened, far more than its share of
        // the deaths for the time it ran: see `Exposure`.
        let exposure = if too_many && !by_point {
            let window = &log[count_window..];
            let from = window.first().map_or(i64::MAX, |k| k.at - ran(k));
            let (done, done_ms) = completed_since(from)?;
            let (died, died_ms) = crashed_since(from)?;
            Some(Exposure {
                crashes: window.len(),
                ran_ms: window.iter().map(ran).sum(),
                completed: done,
                others_died: died,
                others_ms: done_ms + died_ms,
            })
        } else {
            None
        };
        let by_count = exposure.as_ref().is_some_and(Exposure::convicts);
        let point = |p: Option<i64>| p.map_or("before its first step".to_owned(), |p| format!("at step {p}"));
        let quarantine = by_point || by_count;
        let poison = |why: String| {
            format!(
                "{what}; killed its worker {crashes} times ({why}: set aside as poison (`foreman retry {}` runs it \
                 again)",
                c.job_id
            )
        };
        let error = if by_point {
            poison(format!(
                "the last {streak} {}) while {completed} other {} jobs completed and none crashed",
                point(last.flatten()),
                c.task_type
            ))
        } else if let Some(e) = exposure.as_ref().filter(|_| by_count) {
            let calm = match e.others_died {
                0 => "none of their workers died".to_owned(),
                k => format!("their workers died {k} times"),
            };
            poison(format!(
                "at different points) in {} s of running, while {} other {} jobs completed and, in {} s of \
                 running, {calm} (p < {POISON_P:e} if outside kills struck running workers at random)",
                secs(e.ran_ms),
                e.completed,
                c.task_type,
                secs(e.others_ms)
            ))
        } else {
            let note = if same_point && !too_many {
                if completed == 0 {
                    self.nothing_completed(c)
                } else {
                    format!(
                        "; {others_crashed} other {} worker(s) died meanwhile (busy or idle), so something outside \
                         is killing workers rather than the job",
                        c.task_type
                    )
                }
            } else if let Some(e) = &exposure {
                if e.completed == 0 {
                    self.nothing_completed(c)
                } else {
                    format!(
                        "; {} other {} worker(s) died meanwhile (busy or idle) in {} s of running against this job's \
                         {} s, so its crashes fit workers killed from outside rather than the job",
                        e.others_died,
                        c.task_type,
                        secs(e.others_ms),
                        secs(e.ran_ms)
                    )
                }
            } else {
                String::new()
            };
            format!("{what} {}; crash {crashes}, will retry{note}", point(c.progress))
        };
        Ok(Verdict { quarantine, error })
    }

    fn nothing_completed(&self, c: &LiveClaim) -> String {
        format!(
            "; no other {} job completed meanwhile, so the workers may be at fault rather than the job",
            c.task_type
        )
    }
}

/// How unlikely the count rule's evidence must be under outside kills to convict.
const POISON_P: f64 = 1e-6;

/// The count rule's evidence over its window (the job's last `max_crashes` crashes, from
/// the start of the first of those runs): deaths against time spent running.
///
/// Outside kills (SIGKILL, the OOM killer, power cuts) strike running workers whatever
/// they run, so each death lands on this job with a chance in proportion to its share
/// of the running time. A killer that only hits busy workers hits a job running alone
/// more often, so the job's time counts twice. The job is convicted when, under that
/// model, at least its number of crashes among all the deaths would happen with a
/// chance below [`POISON_P`], and other jobs completed meanwhile. A count alone never
/// convicts: a slow chunk left alone at the end of a meeting under a steady killer
/// takes every kill, but its running time grows with them, and the others' does not.
#[derive(Debug)]
struct Exposure {
    /// Its crashes in the window.
    crashes: usize,
    /// How long its runs lasted, summed.
    ran_ms: i64,
    /// Other jobs of its type that completed in the window.
    completed: i64,
    /// Other workers of its type that died in the window (busy or idle).
    others_died: usize,
    /// How long other jobs' runs lasted inside the window (completed or killed).
    others_ms: i64,
}

impl Exposure {
    fn convicts(&self) -> bool {
        if self.completed == 0 {
            return false;
        }
        let own = 2.0 * self.ran_ms as f64;
        let total = own + self.others_ms as f64;
        let p = if total > 0.0 { own / total } else { 1.0 };
        binomial_tail(self.crashes + self.others_died, self.crashes, p) < POISON_P
    }
}

/// P(X >= k) for X ~ Binomial(n, p).
pub(crate) fn binomial_tail(n: usize, k: usize, p: f64) -> f64 {
    if k == 0 || p >= 1.0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    let ln_choose = |n: usize, i: usize| -> f64 { (1..=i).map(|j| ((n - i + j) as f64).ln() - (j as f64).ln()).sum() };
    (k..=n).map(|i| (ln_choose(n, i) + i as f64 * p.ln() + (n - i) as f64 * (1.0 - p).ln()).exp()).sum()
}

fn secs(ms: i64) -> String {
    format!("{:.0}", ms as f64 / 1000.0)
}
