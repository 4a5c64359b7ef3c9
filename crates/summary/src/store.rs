//! `summary_windows` and `summaries` rows. Window rows are written while the SUMMARY job
//! runs (the worker wraps [`put_window`] in a write fenced by its claim); the summary and
//! the trimming of stale windows happen in the job's completing transaction.

use debrief_jobq::MeetingId;
use rusqlite::{named_params, Connection, OptionalExtension};

use crate::{Notes, Summary};

const WINDOWS_OF_MEETING: &str = include_str!("../sql/windows_of_meeting.sql");
const PUT_WINDOW: &str = include_str!("../sql/put_window.sql");
const TRIM_WINDOWS: &str = include_str!("../sql/trim_windows.sql");
const PUT_SUMMARY: &str = include_str!("../sql/put_summary.sql");
const SUMMARY: &str = include_str!("../sql/summary.sql");

/// Every statement, for the test that runs them against a fresh schema.
#[cfg(test)]
pub(crate) const ALL: &[&str] = &[WINDOWS_OF_MEETING, PUT_WINDOW, TRIM_WINDOWS, PUT_SUMMARY, SUMMARY];

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

fn to_json<T: serde::Serialize>(v: &T) -> rusqlite::Result<String> {
    serde_json::to_string(v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn from_json<T: serde::de::DeserializeOwned>(i: usize, s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
}

/// A meeting's map checkpoints, in window order.
pub fn windows(conn: &Connection, meeting_id: MeetingId) -> rusqlite::Result<Vec<StoredWindow>> {
    let mut st = conn.prepare_cached(WINDOWS_OF_MEETING)?;
    let rows = st.query_map(named_params! { ":meeting_id": meeting_id }, |r| {
        Ok(StoredWindow {
            window_id: r.get(0)?,
            idx: usize::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            start_ms: r.get(2)?,
            end_ms: r.get(3)?,
            input_sha256: r.get(4)?,
            notes: from_json(5, &r.get::<_, String>(5)?)?,
            created_at: r.get(6)?,
        })
    })?;
    rows.collect()
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
pub fn put_window(conn: &Connection, w: &WindowRow<'_>) -> rusqlite::Result<()> {
    conn.prepare_cached(PUT_WINDOW)?.execute(named_params! {
        ":meeting_id": w.meeting_id,
        ":idx": w.idx as i64,
        ":start_ms": w.start_ms,
        ":end_ms": w.end_ms.max(w.start_ms),
        ":input_sha256": w.input_sha256,
        ":notes": to_json(w.notes)?,
        ":now": debrief_jobq::now_ms(),
    })?;
    Ok(())
}

/// Stores the summary and drops window rows beyond the meeting's `windows` (call in the
/// completing transaction).
pub fn put_summary(
    conn: &Connection,
    meeting_id: MeetingId,
    summary: &Summary,
    model: &str,
    windows: usize,
) -> rusqlite::Result<()> {
    conn.prepare_cached(TRIM_WINDOWS)?
        .execute(named_params! { ":meeting_id": meeting_id, ":count": windows as i64 })?;
    conn.prepare_cached(PUT_SUMMARY)?.execute(named_params! {
        ":meeting_id": meeting_id,
        ":summary": to_json(summary)?,
        ":model": model,
        ":now": debrief_jobq::now_ms(),
    })?;
    Ok(())
}

/// A meeting's summary, if it has one.
pub fn summary(conn: &Connection, meeting_id: MeetingId) -> rusqlite::Result<Option<StoredSummary>> {
    conn.prepare_cached(SUMMARY)?
        .query_row(named_params! { ":meeting_id": meeting_id }, |r| {
            Ok(StoredSummary {
                summary: from_json(0, &r.get::<_, String>(0)?)?,
                model: r.get(1)?,
                created_at: r.get(2)?,
            })
        })
        .optional()
}
