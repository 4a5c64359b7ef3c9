//! Meetings, and the foreman's bookkeeping over them: planning each closed meeting's
//! TRANSCRIPT and SUMMARY jobs, keeping meeting status current, retry and cancel.

use rusqlite::{named_params, OptionalExtension, Transaction};

use crate::jobs::{enqueue_in, JobRecord, NewJob};
use crate::process::now_ms;
use crate::types::{JobId, MeetingId, MeetingStatus, TaskType};
use crate::{sql, Queue, Result};

/// Priority of TRANSCRIPT jobs: cheap, and they unblock a meeting's summary, so they go
/// before the next meeting's chunks.
pub const TRANSCRIPT_PRIORITY: i32 = 10;
/// Priority of SUMMARY jobs.
pub const SUMMARY_PRIORITY: i32 = 5;

/// A meeting to create.
#[derive(Debug, Clone, Default)]
pub struct NewMeeting<'a> {
    /// Title shown in status and exports.
    pub title: Option<&'a str>,
    /// Where the audio came from.
    pub source: Option<&'a str>,
    /// Hash of the imported content, so that a re-run finds this meeting.
    pub source_sha256: Option<&'a str>,
}

/// A meeting as stored, with its job counts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MeetingRecord {
    /// Row id.
    pub meeting_id: MeetingId,
    /// Title.
    pub title: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// Where it is in its life.
    pub status: MeetingStatus,
    /// Why it FAILED or was CANCELLED.
    pub error: Option<String>,
    /// Audio length once known.
    pub duration_ms: Option<i64>,
    /// Created (ms).
    pub created_at: i64,
    /// Closed (ms).
    pub closed_at: Option<i64>,
    /// Last status change (ms).
    pub updated_at: i64,
    /// For a DONE meeting some of whose chunks or screenshots failed for good: what is
    /// missing (their gaps are marked in the transcript). `None` when complete.
    pub partial: Option<String>,
    /// Jobs in all.
    pub jobs: i64,
    /// Of which COMPLETED.
    pub completed: i64,
    /// Of which FAILED.
    pub failed: i64,
}

/// What [`Queue::retry_failed`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Retried {
    /// FAILED jobs that are PENDING again with fresh attempts (out of quarantine).
    pub jobs: Vec<JobId>,
    /// COMPLETED jobs that depend on them and will run again (a meeting's transcript and
    /// summary, once a retried chunk fills its gap).
    pub redo: Vec<JobId>,
}

/// What one [`Queue::reconcile_meetings`] pass changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reconciled {
    /// Meetings whose TRANSCRIPT and SUMMARY jobs were created.
    pub planned: Vec<MeetingId>,
    /// Meetings that became DONE.
    pub done: Vec<MeetingId>,
    /// Meetings that became FAILED.
    pub failed: Vec<MeetingId>,
    /// Meetings that went back to PROCESSING after a retry.
    pub resumed: Vec<MeetingId>,
    /// What each of the meetings that became DONE lacks, if anything (its `partial`).
    pub partial: Vec<(MeetingId, String)>,
}

impl Reconciled {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.planned.is_empty() && self.done.is_empty() && self.failed.is_empty() && self.resumed.is_empty()
    }
}

fn ids(tx: &Transaction<'_>, sql: &str, now: i64) -> Result<Vec<MeetingId>> {
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt.query_map(named_params! { ":now": now }, |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn job_ids(tx: &Transaction<'_>, meeting_id: MeetingId, task: TaskType) -> Result<Vec<JobId>> {
    let mut stmt = tx.prepare_cached(sql::FOREMAN_JOB_IDS)?;
    let rows = stmt.query_map(named_params! { ":meeting_id": meeting_id, ":task_type": task }, |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl Queue {
    /// Creates an OPEN meeting with a title and source.
    pub fn create_meeting(&self, title: Option<&str>, source: Option<&str>) -> Result<MeetingId> {
        self.create_meeting_with(&NewMeeting { title, source, source_sha256: None })
    }

    /// Creates an OPEN meeting.
    pub fn create_meeting_with(&self, m: &NewMeeting<'_>) -> Result<MeetingId> {
        self.write(|tx| {
            Ok(tx.prepare_cached(sql::CREATE_MEETING)?.query_row(
                named_params! {
                    ":title": m.title,
                    ":source": m.source,
                    ":source_sha256": m.source_sha256,
                    ":now": now_ms(),
                },
                |r| r.get(0),
            )?)
        })
    }

    /// The newest meeting (not cancelled) imported from content with this hash.
    pub fn find_meeting_by_source(&self, sha256: &str) -> Result<Option<MeetingId>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql::FIND_MEETING_BY_SOURCE)?;
        Ok(stmt.query_row(named_params! { ":source_sha256": sha256 }, |r| r.get(0)).optional()?)
    }

    /// Marks an OPEN meeting CLOSED (all its input is in), recording its length. Returns
    /// false if it was not OPEN.
    pub fn close_meeting(&self, meeting_id: MeetingId, duration_ms: Option<i64>) -> Result<bool> {
        self.write(|tx| {
            let n = tx.prepare_cached(sql::CLOSE_MEETING)?.execute(named_params! {
                ":meeting_id": meeting_id,
                ":duration_ms": duration_ms,
                ":now": now_ms(),
            })?;
            Ok(n == 1)
        })
    }

    /// Deletes an OPEN meeting and its jobs (an import that failed). Returns false if it
    /// was not OPEN (then nothing is deleted).
    pub fn delete_open_meeting(&self, meeting_id: MeetingId) -> Result<bool> {
        self.write(|tx| {
            let n =
                tx.prepare_cached(sql::DELETE_OPEN_MEETING)?.execute(named_params! { ":meeting_id": meeting_id })?;
            Ok(n == 1)
        })
    }

    /// Appends `note` to a meeting's error text (for a problem a producer worked around,
    /// such as a damaged file set aside), so that `foreman status` shows it. Returns false
    /// if there is no such meeting.
    pub fn note_meeting(&self, meeting_id: MeetingId, note: &str) -> Result<bool> {
        self.write(|tx| {
            let n = tx.prepare_cached(sql::NOTE_MEETING)?.execute(named_params! {
                ":meeting_id": meeting_id,
                ":error": note,
                ":now": now_ms(),
            })?;
            Ok(n == 1)
        })
    }

    /// The seq numbers a meeting already has jobs of type `task` for.
    pub fn meeting_seqs(&self, meeting_id: MeetingId, task: TaskType) -> Result<Vec<i64>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql::MEETING_SEQS)?;
        let rows = stmt.query_map(named_params! { ":meeting_id": meeting_id, ":task_type": task }, |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Meetings with their job counts: all of them, or one.
    pub fn meetings(&self, only: Option<MeetingId>) -> Result<Vec<MeetingRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql::ADMIN_MEETINGS)?;
        let rows = stmt.query_map(named_params! { ":meeting_id": only }, |r| {
            Ok(MeetingRecord {
                meeting_id: r.get(0)?,
                title: r.get(1)?,
                source: r.get(2)?,
                status: r.get(3)?,
                error: r.get(4)?,
                duration_ms: r.get(5)?,
                created_at: r.get(6)?,
                closed_at: r.get(7)?,
                updated_at: r.get(8)?,
                partial: r.get(9)?,
                jobs: r.get(10)?,
                completed: r.get(11)?,
                failed: r.get(12)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One meeting, if it exists.
    pub fn meeting(&self, meeting_id: MeetingId) -> Result<Option<MeetingRecord>> {
        Ok(self.meetings(Some(meeting_id))?.into_iter().next())
    }

    /// Every job of a meeting, by type and seq.
    pub fn meeting_jobs(&self, meeting_id: MeetingId) -> Result<Vec<JobRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql::ADMIN_MEETING_JOBS)?;
        let rows = stmt.query_map(named_params! { ":meeting_id": meeting_id }, JobRecord::from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every FAILED job, with its error.
    pub fn failed_jobs(&self) -> Result<Vec<JobRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql::ADMIN_FAILED_JOBS)?;
        let rows = stmt.query_map([], JobRecord::from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The foreman's bookkeeping, one transaction: for each CLOSED meeting create its
    /// TRANSCRIPT job (once every AUDIO job is settled) and SUMMARY job (after the
    /// TRANSCRIPT, once every VISUAL job is settled) and mark it PROCESSING; then move
    /// meetings to DONE (noting what is `partial`), FAILED or back to PROCESSING as
    /// their jobs say. A chunk or screenshot that failed for good leaves a gap, never
    /// blocks the meeting; a failed transcript or summary fails it. Idempotent: safe to
    /// run from two foremen.
    pub fn reconcile_meetings(&self) -> Result<Reconciled> {
        self.write(|tx| {
            let now = now_ms();
            let mut out = Reconciled::default();
            let closed: Vec<MeetingId> = {
                let mut stmt = tx.prepare_cached(sql::FOREMAN_CLOSED)?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for m in closed {
                let audio = job_ids(tx, m, TaskType::Audio)?;
                let (transcript, _) = enqueue_in(
                    tx,
                    &NewJob::new(m, TaskType::Transcript, 0).priority(TRANSCRIPT_PRIORITY).after_settled(audio),
                )?;
                let visual = job_ids(tx, m, TaskType::Visual)?;
                enqueue_in(
                    tx,
                    &NewJob::new(m, TaskType::Summary, 0)
                        .priority(SUMMARY_PRIORITY)
                        .depends_on([transcript])
                        .after_settled(visual),
                )?;
                tx.prepare_cached(sql::FOREMAN_MARK_PROCESSING)?
                    .execute(named_params! { ":meeting_id": m, ":now": now })?;
                out.planned.push(m);
            }
            out.done = ids(tx, sql::FOREMAN_DONE, now)?;
            for &m in &out.done {
                let partial = partial_note(tx, m)?;
                tx.prepare_cached(sql::FOREMAN_SET_PARTIAL)?
                    .execute(named_params! { ":meeting_id": m, ":partial": partial })?;
                if let Some(p) = partial {
                    out.partial.push((m, p));
                }
            }
            out.failed = ids(tx, sql::FOREMAN_FAILED, now)?;
            out.resumed = ids(tx, sql::FOREMAN_RESUMED, now)?;
            Ok(out)
        })
    }

    /// Cancels a meeting: it becomes CANCELLED and its unfinished jobs FAILED (a worker
    /// running one loses its claim at the next heartbeat). Returns the number of jobs
    /// cancelled, or `None` if there is no such meeting or it was cancelled already.
    pub fn cancel_meeting(&self, meeting_id: MeetingId) -> Result<Option<usize>> {
        self.write(|tx| {
            let now = now_ms();
            let n = tx
                .prepare_cached(sql::FOREMAN_CANCEL_MEETING)?
                .execute(named_params! { ":meeting_id": meeting_id, ":now": now })?;
            if n == 0 {
                return Ok(None);
            }
            let jobs = tx
                .prepare_cached(sql::FOREMAN_CANCEL_JOBS)?
                .execute(named_params! { ":meeting_id": meeting_id, ":now": now })?;
            Ok(Some(jobs))
        })
    }

    /// Deletes a meeting and everything stored for it in the database (not its files:
    /// the caller removes those after this commits, so no job ever points at a removed
    /// file). An OPEN meeting is refused (a recorder or import is still writing it:
    /// cancel it first). Returns `Ok(false)` if there is no such meeting.
    pub fn delete_meeting(&self, meeting_id: MeetingId) -> Result<bool> {
        self.write(|tx| {
            let status: Option<String> = tx
                .prepare_cached(sql::FOREMAN_MEETING_STATUS)?
                .query_row(named_params! { ":meeting_id": meeting_id }, |r| r.get(0))
                .optional()?;
            match status.as_deref() {
                None => return Ok(false),
                Some("OPEN") => {
                    return Err(crate::QueueError::Invalid(format!(
                        "meeting {meeting_id} is still OPEN (being recorded or imported): cancel it first"
                    )))
                }
                Some(_) => {}
            }
            let n =
                tx.prepare_cached(sql::FOREMAN_DELETE_MEETING)?.execute(named_params! { ":meeting_id": meeting_id })?;
            Ok(n == 1)
        })
    }

    /// Gives FAILED jobs fresh attempts and crashes (taking them out of quarantine):
    /// one job, or every failed job when `job_id` is `None`; the COMPLETED jobs that
    /// depend on them run again (a partial meeting's transcript and summary, once the
    /// retried chunk is in). Jobs of cancelled meetings are left alone.
    pub fn retry_failed(&self, job_id: Option<JobId>) -> Result<Retried> {
        self.write(|tx| {
            let jobs = {
                let mut stmt = tx.prepare_cached(sql::FOREMAN_RETRY)?;
                let rows = stmt.query_map(named_params! { ":job_id": job_id }, |r| r.get(0))?;
                rows.collect::<rusqlite::Result<Vec<JobId>>>()?
            };
            let redo = if jobs.is_empty() {
                Vec::new()
            } else {
                let mut stmt = tx.prepare_cached(sql::FOREMAN_REDO_DEPENDENTS)?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<Vec<JobId>>>()?
            };
            Ok(Retried { jobs, redo })
        })
    }
}

impl Queue {
    /// Runs a meeting's COMPLETED TRANSCRIPT job again, and the COMPLETED jobs that depend
    /// on it (its summary), running `also` in the same transaction first (for example to
    /// store new speaker hints). Returns the jobs made PENDING.
    pub fn redo_transcript(
        &self,
        meeting_id: MeetingId,
        also: impl FnOnce(&Transaction<'_>) -> Result<()>,
    ) -> Result<Vec<JobId>> {
        self.write(|tx| {
            also(tx)?;
            let mut jobs: Vec<JobId> = {
                let mut stmt = tx.prepare_cached(sql::FOREMAN_REDO_TRANSCRIPT)?;
                let rows = stmt.query_map(named_params! { ":meeting_id": meeting_id }, |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            if !jobs.is_empty() {
                let mut stmt = tx.prepare_cached(sql::FOREMAN_REDO_DEPENDENTS)?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                jobs.extend(rows.collect::<rusqlite::Result<Vec<JobId>>>()?);
            }
            Ok(jobs)
        })
    }
}

/// What a DONE meeting lacks: "1 of 12 AUDIO jobs failed (job 7: ...)", or `None`.
fn partial_note(tx: &Transaction<'_>, meeting_id: MeetingId) -> Result<Option<String>> {
    let mut stmt = tx.prepare_cached(sql::FOREMAN_INPUT_FAILURES)?;
    let rows = stmt.query_map(named_params! { ":meeting_id": meeting_id }, |r| {
        Ok((r.get::<_, TaskType>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, Option<JobId>>(3)?))
    })?;
    let mut found = Vec::new();
    for row in rows {
        let (task, failed, all, first) = row?;
        let Some(first) = first.filter(|_| failed > 0) else { continue };
        let error: Option<String> = tx
            .prepare_cached(sql::ADMIN_JOB)?
            .query_row(named_params! { ":job_id": first }, |r| r.get(15))
            .optional()?
            .flatten();
        found.push(InputFailures { task, failed, all, first, error });
    }
    Ok(describe_partial(&found))
}

/// The input jobs of one type of a meeting, some of which FAILED for good.
pub(crate) struct InputFailures {
    pub(crate) task: TaskType,
    pub(crate) failed: i64,
    pub(crate) all: i64,
    pub(crate) first: JobId,
    pub(crate) error: Option<String>,
}

/// The `partial` note of a DONE meeting (the same words on both backends).
pub(crate) fn describe_partial(found: &[InputFailures]) -> Option<String> {
    let parts: Vec<String> = found
        .iter()
        .map(|f| {
            let what = match f.task {
                TaskType::Audio => "audio chunks not transcribed",
                TaskType::Visual => "screenshots not read",
                _ => "jobs failed",
            };
            format!(
                "{} of {} {what} (job {}: {})",
                f.failed,
                f.all,
                f.first,
                f.error.as_deref().unwrap_or("no error recorded")
            )
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}
