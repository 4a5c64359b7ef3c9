//! `summary_windows` and `summaries` rows. Window rows are written while the SUMMARY job
//! runs (the worker wraps [`put_window`] in a write fenced by its claim); the summary and
//! the trimming of stale windows happen in the job's completing transaction.

use debrief_jobq::{Db, MeetingId, QueueError, Result, Tx};
use rusqlite::{named_params, OptionalExtension};

use crate::{Notes, Summary};

macro_rules! statements {
    ($($name:ident = $file:literal;)*) => {
        mod lite {
            $(pub(super) const $name: &str = include_str!(concat!("../sql/", $file));)*
        }
        mod pg {
            $(pub(super) const $name: &str = include_str!(concat!("../sql/pg/", $file));)*
        }
        /// (file, SQLite text, PostgreSQL text) of every statement.
        #[cfg(test)]
        pub(crate) const ALL: &[(&str, &str, &str)] = &[$(($file, lite::$name, pg::$name)),*];
    };
}

statements! {
    WINDOWS_OF_MEETING = "windows_of_meeting.sql";
    PUT_WINDOW = "put_window.sql";
    TRIM_WINDOWS = "trim_windows.sql";
    PUT_SUMMARY = "put_summary.sql";
    SUMMARY = "summary.sql";
}

/// A stored map checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWindow {
    /// Row id (kept when the row is replaced).
    pub window_id: i64,
    /// Window position.
    pub idx: usize,
    /// Start (ms).
    pub start_ms: i64,
    /// End (ms).
    pub end_ms: i64,
    /// Hash of everything the notes depend on.
    pub input_sha256: String,
    /// The notes.
    pub notes: Notes,
    /// When they were stored (ms since the epoch).
    pub created_at: i64,
}

/// A stored summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSummary {
    /// The summary.
    pub summary: Summary,
    /// Which model wrote it.
    pub model: String,
    /// When (ms since the epoch).
    pub created_at: i64,
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| QueueError::Invalid(format!("summary: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| QueueError::Invalid(format!("stored {what}: {e}")))
}

/// A meeting's map checkpoints, in window order.
pub fn windows(db: &mut Db<'_>, meeting_id: MeetingId) -> Result<Vec<StoredWindow>> {
    type Row = (i64, i64, i64, i64, String, String, i64);
    let rows: Vec<Row> = match db {
        Db::Sqlite(c) => c
            .prepare_cached(lite::WINDOWS_OF_MEETING)?
            .query_map(named_params! { ":meeting_id": meeting_id }, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
            })?
            .collect::<rusqlite::Result<_>>()?,
        Db::Postgres(c) => c
            .query(pg::WINDOWS_OF_MEETING, &[&meeting_id.0])?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)))
            .collect(),
    };
    rows.into_iter()
        .map(|(window_id, idx, start_ms, end_ms, input_sha256, notes, created_at)| {
            Ok(StoredWindow {
                window_id,
                idx: usize::try_from(idx).unwrap_or(0),
                start_ms,
                end_ms,
                input_sha256,
                notes: from_json(&notes, "window notes")?,
                created_at,
            })
        })
        .collect()
}

/// What [`put_window`] stores.
#[derive(Debug, Clone, Copy)]
pub struct WindowRow<'a> {
    /// The meeting.
    pub meeting_id: MeetingId,
    /// Window position.
    pub idx: usize,
    /// Start (ms).
    pub start_ms: i64,
    /// End (ms).
    pub end_ms: i64,
    /// Input hash.
    pub input_sha256: &'a str,
    /// The notes.
    pub notes: &'a Notes,
}

/// Stores one window's notes, replacing an older row of the same window.
pub fn put_window(tx: &mut Tx<'_, '_>, w: &WindowRow<'_>) -> Result<()> {
    let notes = to_json(w.notes)?;
    let (idx, end_ms, now) = (w.idx as i64, w.end_ms.max(w.start_ms), debrief_jobq::now_ms());
    match tx {
        Tx::Sqlite(tx) => {
            tx.prepare_cached(lite::PUT_WINDOW)?.execute(named_params! {
                ":meeting_id": w.meeting_id,
                ":idx": idx,
                ":start_ms": w.start_ms,
                ":end_ms": end_ms,
                ":input_sha256": w.input_sha256,
                ":notes": notes,
                ":now": now,
            })?;
        }
        Tx::Postgres(tx) => {
            tx.execute(pg::PUT_WINDOW, &[&w.meeting_id.0, &idx, &w.start_ms, &end_ms, &w.input_sha256, &notes, &now])?;
        }
    }
    Ok(())
}

/// Stores the summary and drops window rows beyond the meeting's `windows` (call in the
/// completing transaction).
pub fn put_summary(
    tx: &mut Tx<'_, '_>,
    meeting_id: MeetingId,
    summary: &Summary,
    model: &str,
    windows: usize,
) -> Result<()> {
    let (text, count, now) = (to_json(summary)?, windows as i64, debrief_jobq::now_ms());
    match tx {
        Tx::Sqlite(tx) => {
            tx.prepare_cached(lite::TRIM_WINDOWS)?
                .execute(named_params! { ":meeting_id": meeting_id, ":count": count })?;
            tx.prepare_cached(lite::PUT_SUMMARY)?.execute(named_params! {
                ":meeting_id": meeting_id,
                ":summary": text,
                ":model": model,
                ":now": now,
            })?;
        }
        Tx::Postgres(tx) => {
            tx.execute(pg::TRIM_WINDOWS, &[&meeting_id.0, &count])?;
            tx.execute(pg::PUT_SUMMARY, &[&meeting_id.0, &text, &model, &now])?;
        }
    }
    Ok(())
}

/// A meeting's summary, if it has one.
pub fn summary(db: &mut Db<'_>, meeting_id: MeetingId) -> Result<Option<StoredSummary>> {
    let row: Option<(String, String, i64)> = match db {
        Db::Sqlite(c) => c
            .prepare_cached(lite::SUMMARY)?
            .query_row(named_params! { ":meeting_id": meeting_id }, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?,
        Db::Postgres(c) => c.query_opt(pg::SUMMARY, &[&meeting_id.0])?.map(|r| (r.get(0), r.get(1), r.get(2))),
    };
    row.map(|(text, model, created_at)| Ok(StoredSummary { summary: from_json(&text, "summary")?, model, created_at }))
        .transpose()
}
