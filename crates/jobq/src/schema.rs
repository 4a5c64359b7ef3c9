//! Opening a connection: pragmas, busy handling, and the schema version.
//!
//! Durability: WAL with `synchronous=FULL`. In WAL mode `NORMAL` only syncs at
//! checkpoints, so the last transactions before a power cut can be lost (the database
//! stays consistent, but a job a worker saw COMPLETED could come back PENDING and its
//! output be redone or, worse, be reported twice by an exporter that already read it).
//! `FULL` syncs the WAL at every commit: once `complete` returns, the job is COMPLETED on
//! disk. The cost is one fsync per write transaction, which the benchmark measures.

use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::QueueError;

/// Version written to `PRAGMA user_version` once `schema.sql` (and every migration) is
/// applied.
pub const SCHEMA_VERSION: i32 = 7;

/// The whole current schema, applied to a fresh database.
pub const SCHEMA_SQL: &str = include_str!("../../../schema.sql");

/// Upgrades of existing databases: `MIGRATIONS[i]` takes version `i + 1` to `i + 2`.
/// A schema change edits `schema.sql` *and* appends its DDL here (`sql/migrate/`); the
/// drift test checks that a database made by the released version 1
/// (`sql/migrate/released-v1.sql`) and migrated equals a fresh one.
const MIGRATIONS: &[&str] = &[
    // 1 -> 2: summary_windows and summaries (summary-worker).
    include_str!("../sql/migrate/v2.sql"),
    // 2 -> 3: crashes, poison quarantine, SETTLED dependencies, partial meetings, gaps.
    include_str!("../sql/migrate/v3.sql"),
    // 3 -> 4: screen_frames (visual-worker).
    include_str!("../sql/migrate/v4.sql"),
    // 4 -> 5: chunk_speakers, speaker_turns, speakers, meetings.speaker_hints.
    include_str!("../sql/migrate/v5.sql"),
    // 5 -> 6: search_index (FTS5) and the triggers that keep it.
    include_str!("../sql/migrate/v6.sql"),
    // 6 -> 7: device_leases rebuilt to admit 'igpu' (an Intel GPU through OpenVINO).
    include_str!("../sql/migrate/v7.sql"),
];

/// The schema version 1 shipped with, for the drift test.
#[cfg(test)]
pub(crate) const RELEASED_V1_SQL: &str = include_str!("../sql/migrate/released-v1.sql");

/// How long one statement may wait for another process's write lock, process-wide
/// (the busy handler is a plain function, so it reads this rather than a closure).
static BUSY_TIMEOUT_MS: AtomicU64 = AtomicU64::new(10_000);

thread_local! {
    static BUSY_SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms between tries, which leaves
/// the lock idle most of the time when many processes take short write transactions.
/// This one starts at 20 us and backs off to 1-2 ms with jitter, until the timeout.
fn busy_wait(tries: i32) -> bool {
    let now = Instant::now();
    let since = BUSY_SINCE.with(|s| {
        if tries == 0 || s.get().is_none() {
            s.set(Some(now));
        }
        s.get().unwrap_or(now)
    });
    let limit = Duration::from_millis(BUSY_TIMEOUT_MS.load(Ordering::Relaxed));
    if now.duration_since(since) >= limit {
        return false;
    }
    let exp = u32::try_from(tries.clamp(0, 7)).unwrap_or(7);
    let base_us = (20u64 << exp).min(1_000);
    std::thread::sleep(Duration::from_micros(base_us + fastrand::u64(0..=base_us)));
    true
}

/// Applies the per-connection settings every Debrief connection uses.
pub(crate) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_handler(Some(busy_wait))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Keep the WAL from growing without bound under a constant stream of writers.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    Ok(())
}

pub(crate) fn set_busy_timeout(t: Duration) {
    BUSY_TIMEOUT_MS.store(u64::try_from(t.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// Opens a configured connection to an existing database file.
pub(crate) fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    configure(&conn)?;
    Ok(conn)
}

/// Brings the database at `conn` to [`SCHEMA_VERSION`]. Idempotent, and safe when
/// several processes open a fresh file at the same moment: the check and the DDL run in
/// one `BEGIN IMMEDIATE`, so exactly one of them creates the schema.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), QueueError> {
    let ctx = |e: rusqlite::Error| QueueError::Open { path: path.to_path_buf(), source: e };
    set_wal(conn, path)?;
    if user_version(conn).map_err(ctx)? == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(ctx)?;
    let found = user_version(&tx).map_err(ctx)?;
    if found > SCHEMA_VERSION {
        return Err(QueueError::SchemaTooNew { path: path.to_path_buf(), found, supported: SCHEMA_VERSION });
    }
    if found == 0 {
        let tables: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                [],
                |r| r.get(0),
            )
            .map_err(ctx)?;
        if tables > 0 {
            return Err(QueueError::NotDebrief(path.to_path_buf()));
        }
        tx.execute_batch(SCHEMA_SQL).map_err(ctx)?;
    } else {
        let from = usize::try_from(found - 1).unwrap_or(0);
        for m in MIGRATIONS.iter().skip(from) {
            tx.execute_batch(m).map_err(ctx)?;
        }
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(ctx)?;
    tx.commit().map_err(ctx)
}

fn user_version(conn: &Connection) -> rusqlite::Result<i32> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Switching a fresh database to WAL needs an exclusive lock for a moment; a process
/// racing others for it can get SQLITE_BUSY without the busy handler being consulted,
/// so retry for a while.
fn set_wal(conn: &Connection, path: &Path) -> Result<(), QueueError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(QueueError::Open {
                    path: path.to_path_buf(),
                    source: rusqlite::Error::InvalidParameterName(format!(
                        "journal_mode stayed {mode:?}; WAL is required (is the file on a network file system?)"
                    )),
                })
            }
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1 + fastrand::u64(0..5)));
            }
            Err(e) => return Err(QueueError::Open { path: path.to_path_buf(), source: e }),
        }
    }
}

pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
