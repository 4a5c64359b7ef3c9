//! Pushing one meeting from a machine's SQLite queue into a shared PostgreSQL queue
//! (`ingest import --database`, `ingest push`).
//!
//! Capture stays local: a recorder or an importer writes its chunks into the data
//! directory's SQLite queue, which never waits on a network. Once the meeting is closed
//! (all its input is in), it is pushed: the meeting, its jobs (with their dependencies
//! and any results already computed here) and the rows of every result table, under new
//! ids the PostgreSQL queue gives, and every input file its jobs name into `blobs` with
//! its sha256. Workers on any machine then take its jobs with only the database URL.
//!
//! Exactly once, resumable: the `pushes` table records which local meeting (by the
//! SQLite file's host and path) became which meeting there. The first transaction
//! creates that meeting as OPEN with no jobs (no worker can take anything yet); the
//! files go next (each stored once, skipped when already stored with the same sha256);
//! the last transaction writes the meeting's real row, its jobs and results, and marks
//! the push finished. An interrupted push is finished by running it again; a finished
//! one is reported, not repeated. A job PROCESSING here (a local worker had it) goes as
//! PENDING. The local meeting stays as it was: run workers on one queue or the other.

use std::collections::HashMap;
use std::path::Path;

use crate::migrate_to::{columns, input_file, input_files, insert_sql, invalid, lite_rows_where, InputFile, TABLES};
use crate::{MeetingId, MeetingStatus, PgQueue, Queue, Result};

/// What [`push_meeting`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pushed {
    /// The meeting's id in PostgreSQL.
    pub meeting_id: MeetingId,
    /// An earlier push finished it: nothing was copied now.
    pub already: bool,
    /// (table, rows copied) of this push.
    pub tables: Vec<(String, u64)>,
    /// Input files stored now.
    pub files_copied: u64,
    /// Input files found already stored (a resumed push).
    pub files_present: u64,
    /// Input files a job names that are missing here (their jobs will fail, leaving gaps).
    pub files_missing: Vec<String>,
}

/// Columns holding a job id, remapped to the new ids.
const JOB_COLUMNS: &[&str] = &["job_id", "depends_on"];

/// Claim columns a PROCESSING job leaves behind here: cleared, the job goes as PENDING.
const CLAIM_COLUMNS: &[&str] = &["worker_id", "worker_pid", "worker_host", "claim_token", "lease_expires_at"];

/// Pushes local meeting `meeting` of `lite` (data directory `data_dir`) into `pg` (see the
/// module documentation).
pub fn push_meeting(lite: &Queue, data_dir: &Path, pg: &PgQueue, meeting: MeetingId) -> Result<Pushed> {
    let rec = lite
        .meeting(meeting)?
        .ok_or_else(|| invalid(format!("{}: there is no meeting {meeting}", lite.path().display())))?;
    if rec.status == MeetingStatus::Open {
        return Err(invalid(format!(
            "meeting {meeting} is still being recorded or imported (OPEN): push it once it is closed"
        )));
    }
    let path = std::fs::canonicalize(lite.path()).unwrap_or_else(|_| lite.path().to_path_buf());
    let source = format!("{}:{}", crate::hostname(), path.display());
    // 1. The meeting's id there, made (OPEN, no jobs) by the first push of it.
    let (pg_id, finished) = pg.tx(|tx| {
        let row = tx.query_opt(
            "SELECT pushed_as, finished_at FROM pushes WHERE source = $1 AND meeting_id = $2",
            &[&source, &meeting.0],
        )?;
        if let Some(r) = row {
            return Ok((MeetingId(r.get(0)), r.get::<_, Option<i64>>(1).is_some()));
        }
        let id: i64 = tx
            .query_one(
                "INSERT INTO meetings (title, source, status, created_at, updated_at) \
                 VALUES ($1, $2, 'OPEN', debrief_now_ms(), debrief_now_ms()) RETURNING meeting_id",
                &[&rec.title, &rec.source],
            )?
            .get(0);
        tx.execute(
            "INSERT INTO pushes (source, meeting_id, pushed_as, started_at) VALUES ($1, $2, $3, debrief_now_ms())",
            &[&source, &meeting.0, &id],
        )?;
        Ok((MeetingId(id), false))
    })?;
    let mut out = Pushed { meeting_id: pg_id, already: finished, ..Pushed::default() };
    if finished {
        return Ok(out);
    }
    // 2. The input files, before any job that reads them exists there.
    for (_, rel) in input_files(lite, Some(meeting))? {
        let Some(InputFile { bytes, sha256: want, stored }) = input_file(pg, data_dir, pg_id, &rel)? else {
            out.files_missing.push(rel);
            continue;
        };
        if stored.as_deref() == Some(want.as_str()) {
            out.files_present += 1;
        } else {
            pg.put_blob(pg_id, &rel, &bytes)?;
            out.files_copied += 1;
        }
    }
    // 3. Everything else in one transaction: the meeting's row, jobs, results.
    let plan = TABLES
        .iter()
        .map(|(table, key)| {
            let cols: Vec<(String, String)> = columns(pg, table)?
                .into_iter()
                .filter(|(c, _)| !(*table == "summary_windows" && c == "window_id"))
                .collect();
            let filter = if *table == "job_deps" {
                "WHERE job_id IN (SELECT job_id FROM jobs WHERE meeting_id = ?1)"
            } else {
                "WHERE meeting_id = ?1"
            };
            let rows = lite_rows_where(lite, table, &cols, key, filter, &[&meeting.0])?;
            Ok((*table, *key, cols, rows))
        })
        .collect::<Result<Vec<_>>>()?;
    let copied = pg.tx(|tx| {
        // Two pushes of one meeting at once: the second waits here, then finds it done.
        let done: Option<i64> = tx
            .query_one(
                "SELECT finished_at FROM pushes WHERE source = $1 AND meeting_id = $2 FOR UPDATE",
                &[&source, &meeting.0],
            )?
            .get(0);
        if done.is_some() {
            return Ok(false);
        }
        let mut ids: HashMap<String, String> = HashMap::new();
        for (table, key, cols, rows) in &plan {
            let names: Vec<&str> = cols.iter().map(|(c, _)| c.as_str()).collect();
            // The meeting's row made in step 1 takes the local row's values; every other
            // row is new there.
            let st = tx.prepare(&insert_sql(table, cols, key, *table == "meetings"))?;
            let col = |name: &str| names.iter().position(|c| *c == name);
            for row in rows {
                let mut row = row.clone();
                if let Some(i) = col("meeting_id") {
                    row[i] = Some(pg_id.0.to_string());
                }
                if *table == "jobs" {
                    let i = col("job_id").ok_or_else(|| invalid("jobs has no job_id".into()))?;
                    let old = row[i].clone().unwrap_or_default();
                    let new: i64 =
                        tx.query_one("SELECT nextval(pg_get_serial_sequence('jobs', 'job_id'))", &[])?.get(0);
                    ids.insert(old, new.to_string());
                    let status = col("status").ok_or_else(|| invalid("jobs has no status".into()))?;
                    if row[status].as_deref() == Some("PROCESSING") {
                        row[status] = Some("PENDING".into());
                        for c in CLAIM_COLUMNS {
                            if let Some(k) = col(c) {
                                row[k] = None;
                            }
                        }
                    }
                }
                for c in JOB_COLUMNS {
                    if let Some(i) = col(c) {
                        if let Some(old) = row[i].take() {
                            let new = ids.get(&old).ok_or_else(|| {
                                invalid(format!("{table}: job {old} is not a job of meeting {meeting}"))
                            })?;
                            row[i] = Some(new.clone());
                        }
                    }
                }
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    row.iter().map(|v| v as &(dyn postgres::types::ToSql + Sync)).collect();
                tx.execute(&st, &params)?;
            }
            out.tables.push(((*table).to_owned(), rows.len() as u64));
        }
        tx.execute(
            "UPDATE pushes SET finished_at = debrief_now_ms() WHERE source = $1 AND meeting_id = $2",
            &[&source, &meeting.0],
        )?;
        Ok(true)
    })?;
    if !copied {
        out.already = true;
        out.tables.clear();
    }
    Ok(out)
}
