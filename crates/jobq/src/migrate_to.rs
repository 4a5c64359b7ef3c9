//! Copying a SQLite data directory's queue into PostgreSQL (`foreman migrate-to`).
//!
//! What is copied: the queue tables PostgreSQL holds (meetings, jobs with their results,
//! job dependencies) and the result tables of the stores (chunk transcripts, transcripts,
//! gaps, speaker analyses, turns and names, summary checkpoints and summaries, read
//! screen frames), with their ids, and every input file a job names (chunk audio,
//! screenshots: the `path` of AUDIO and VISUAL payloads) into `blobs` with its sha256.
//! The FTS5 search index is not copied: PostgreSQL searches a view of the copied rows.
//! Device leases, registered workers and their deaths are live state of this machine
//! and stay behind.
//!
//! Into an empty database only: the run is recorded in `migrations` (by the source
//! file's path), and a database that holds meetings not copied by an unfinished run
//! from the same source is refused, so a queue already in use is never overwritten.
//! Resumable: rows go in batches, each batch in one transaction, as upserts keyed by
//! the table's primary key, and files already stored with the same sha256 are skipped,
//! so a run interrupted anywhere is finished by running it again. Once a run has been
//! verified, running it again only verifies. Verified: after the copy, each
//! table's row count and a sha256 over all its rows (every column as text, in key
//! order) must be equal on both sides, and every file's stored hash must match both the
//! file and the bytes stored; otherwise it is an error that says what differs.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::pg::hex;
use crate::{MeetingId, PgQueue, Queue, QueueError, Result};

/// The tables copied, with their key columns, parents first.
pub(crate) const TABLES: &[(&str, &[&str])] = &[
    ("meetings", &["meeting_id"]),
    ("jobs", &["job_id"]),
    ("job_deps", &["job_id", "depends_on"]),
    ("asr_segments", &["job_id", "idx"]),
    ("transcript_segments", &["meeting_id", "idx"]),
    ("transcript_gaps", &["meeting_id", "start_ms"]),
    ("chunk_speakers", &["job_id"]),
    ("speaker_turns", &["meeting_id", "start_ms", "speaker"]),
    ("speakers", &["meeting_id", "label"]),
    ("summary_windows", &["window_id"]),
    ("summaries", &["meeting_id"]),
    ("screen_frames", &["job_id"]),
];

/// Rows per transaction.
const BATCH: usize = 500;

/// What [`migrate_to`] copied and checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Migrated {
    /// (table, rows) as verified on both sides.
    pub tables: Vec<(String, u64)>,
    /// Input files stored now.
    pub files_copied: u64,
    /// Input files found already stored with the same sha256 (a resumed run).
    pub files_present: u64,
    /// Input files a job names that are missing from the data directory (their jobs
    /// cannot run anywhere; listed, not fatal).
    pub files_missing: Vec<String>,
    /// Bytes of input files verified in PostgreSQL.
    pub file_bytes: u64,
    /// The copy was finished by an earlier run: this one only verified it.
    pub verified_only: bool,
}

pub(crate) fn invalid(msg: String) -> QueueError {
    QueueError::Invalid(msg)
}

/// The columns of `table` in PostgreSQL (the drift test keeps them equal to SQLite's),
/// with their types.
pub(crate) fn columns(pg: &PgQueue, table: &str) -> Result<Vec<(String, String)>> {
    pg.tx(|tx| {
        let rows = tx.query(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    })
}

/// A column as both sides render it to text for copying and comparing: the same text
/// for the same value whatever each engine's own text form (SQLite's 0/1 booleans,
/// BLOBs, 15-digit REALs).
pub(crate) fn as_text_sql(col: &str, pg_type: &str, lite: bool) -> String {
    match (pg_type, lite) {
        ("bytea", true) => format!("hex({col})"),
        ("bytea", false) => format!("upper(encode({col}, 'hex'))"),
        ("boolean", true) => format!("CASE WHEN {col} IS NULL THEN NULL WHEN {col} THEN 'true' ELSE 'false' END"),
        // Floats are read as numbers and written by Rust (shortest exact form).
        ("double precision" | "real", _) => col.to_owned(),
        (_, true) => format!("CAST({col} AS TEXT)"),
        (_, false) => format!("{col}::TEXT"),
    }
}

fn is_float(pg_type: &str) -> bool {
    matches!(pg_type, "double precision" | "real")
}

/// Every row of `table` in SQLite, each column as text (NULL as `None`), in key order.
fn lite_rows(lite: &Queue, table: &str, cols: &[(String, String)], key: &[&str]) -> Result<Vec<Vec<Option<String>>>> {
    lite_rows_where(lite, table, cols, key, "", &[])
}

/// [`lite_rows`] of the rows `filter` (a `WHERE` clause, or empty) selects.
pub(crate) fn lite_rows_where(
    lite: &Queue,
    table: &str,
    cols: &[(String, String)],
    key: &[&str],
    filter: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Vec<Option<String>>>> {
    let select = cols.iter().map(|(c, t)| as_text_sql(c, t, true)).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT {select} FROM {table} {filter} ORDER BY {}", key.join(", "));
    lite.read(|c| {
        let mut st = c.prepare(&sql)?;
        let rows = st.query_map(params, |r| {
            cols.iter()
                .enumerate()
                .map(|(i, (_, t))| {
                    if is_float(t) {
                        Ok(r.get::<_, Option<f64>>(i)?.map(|v| format!("{v:?}")))
                    } else {
                        r.get::<_, Option<String>>(i)
                    }
                })
                .collect()
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

/// The same from PostgreSQL.
fn pg_rows(pg: &PgQueue, table: &str, cols: &[(String, String)], key: &[&str]) -> Result<Vec<Vec<Option<String>>>> {
    let select = cols.iter().map(|(c, t)| as_text_sql(c, t, false)).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT {select} FROM {table} ORDER BY {}", key.join(", "));
    pg.tx(|tx| {
        Ok(tx
            .query(&sql, &[])?
            .iter()
            .map(|r| {
                cols.iter()
                    .enumerate()
                    .map(|(i, (_, t))| match t.as_str() {
                        "double precision" => r.get::<_, Option<f64>>(i).map(|v| format!("{v:?}")),
                        "real" => r.get::<_, Option<f32>>(i).map(|v| format!("{:?}", f64::from(v))),
                        _ => r.get(i),
                    })
                    .collect()
            })
            .collect())
    })
}

/// Row count and a sha256 over the rows (fields and rows separated by control bytes,
/// NULL distinct from any text).
fn digest(rows: &[Vec<Option<String>>]) -> (u64, String) {
    let mut h = Sha256::new();
    for row in rows {
        for f in row {
            match f {
                Some(s) => {
                    h.update(b"\x02");
                    h.update(s.as_bytes());
                }
                None => h.update(b"\x00"),
            }
            h.update(b"\x1f");
        }
        h.update(b"\x1e");
    }
    (rows.len() as u64, hex(&h.finalize()))
}

/// `INSERT` of one row of `table` into PostgreSQL from its columns rendered as text (see
/// [`as_text_sql`]), `$1`... in column order; with `upsert`, a row with the same key is
/// replaced (kept as it is when every column is a key column).
pub(crate) fn insert_sql(table: &str, cols: &[(String, String)], key: &[&str], upsert: bool) -> String {
    let names: Vec<&str> = cols.iter().map(|(c, _)| c.as_str()).collect();
    let values: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, (_, t))| match t.as_str() {
            "bytea" => format!("decode(${}::TEXT, 'hex')", i + 1),
            _ => format!("CAST(${}::TEXT AS {t})", i + 1),
        })
        .collect();
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ({})", names.join(", "), values.join(", "));
    if upsert {
        let updates: Vec<String> =
            names.iter().filter(|c| !key.contains(c)).map(|c| format!("{c} = EXCLUDED.{c}")).collect();
        let action =
            if updates.is_empty() { "NOTHING".to_owned() } else { format!("UPDATE SET {}", updates.join(", ")) };
        sql += &format!(" ON CONFLICT ({}) DO {action}", key.join(", "));
    }
    sql
}

fn copy_table(lite: &Queue, pg: &PgQueue, table: &str, key: &[&str]) -> Result<u64> {
    let typed = columns(pg, table)?;
    if typed.is_empty() {
        return Err(invalid(format!("{}: table {table} is missing", pg.database())));
    }
    let rows = lite_rows(lite, table, &typed, key)?;
    let sql = insert_sql(table, &typed, key, true);
    for batch in rows.chunks(BATCH) {
        pg.tx(|tx| {
            let st = tx.prepare(&sql)?;
            for row in batch {
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    row.iter().map(|v| v as &(dyn postgres::types::ToSql + Sync)).collect();
                tx.execute(&st, &params)?;
            }
            Ok(())
        })?;
    }
    // The next id a PostgreSQL producer takes follows the copied ones.
    if let [id] = key {
        pg.tx(|tx| {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{id}'), GREATEST((SELECT MAX({id}) FROM {table}), 1))"
            );
            tx.execute(sql.as_str(), &[])?;
            Ok(())
        })?;
    }
    Ok(rows.len() as u64)
}

fn verify_table(lite: &Queue, pg: &PgQueue, table: &str, key: &[&str]) -> Result<u64> {
    let cols = columns(pg, table)?;
    let (n_lite, h_lite) = digest(&lite_rows(lite, table, &cols, key)?);
    let (n_pg, h_pg) = digest(&pg_rows(pg, table, &cols, key)?);
    if (n_lite, &h_lite) != (n_pg, &h_pg) {
        return Err(invalid(format!(
            "table {table} differs: {n_lite} rows (sha256 {h_lite}) in {} against {n_pg} rows (sha256 {h_pg}) in \
             {} (were workers or producers running during the copy, or has the copy been used since?)",
            lite.path().display(),
            pg.database()
        )));
    }
    Ok(n_pg)
}

/// The input files jobs name: (meeting, path relative to the data directory), of every
/// meeting or of `only`.
pub(crate) fn input_files(lite: &Queue, only: Option<MeetingId>) -> Result<Vec<(MeetingId, String)>> {
    lite.read(|c| {
        let mut st = c.prepare(
            "SELECT DISTINCT meeting_id, json_extract(payload, '$.path') FROM jobs \
             WHERE task_type IN ('AUDIO', 'VISUAL') AND json_extract(payload, '$.path') IS NOT NULL \
               AND (?1 IS NULL OR meeting_id = ?1) \
             ORDER BY 1, 2",
        )?;
        let rows = st.query_map([only], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

/// An input file of the data directory, its sha256, and the sha256 of the copy the
/// database holds of it (if any).
pub(crate) struct InputFile {
    pub(crate) bytes: Vec<u8>,
    pub(crate) sha256: String,
    pub(crate) stored: Option<String>,
}

/// Reads input file `rel` of `data_dir` and looks up its copy under meeting `there` in
/// `pg`; `None` if the file is missing.
pub(crate) fn input_file(pg: &PgQueue, data_dir: &Path, there: MeetingId, rel: &str) -> Result<Option<InputFile>> {
    let file = data_dir.join(rel);
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(invalid(format!("input file {}: {e}", file.display()))),
    };
    let sha256 = hex(&Sha256::digest(&bytes));
    let stored = pg.tx(|tx| {
        Ok(tx
            .query_opt("SELECT sha256 FROM blobs WHERE meeting_id = $1 AND path = $2", &[&there.0, &rel])?
            .map(|r| r.get(0)))
    })?;
    Ok(Some(InputFile { bytes, sha256, stored }))
}

/// Copies the queue of `lite` (whose data directory is `data_dir`) into `pg` and
/// verifies it (see the module documentation).
pub fn migrate_to(lite: &Queue, data_dir: &Path, pg: &PgQueue) -> Result<Migrated> {
    let source = std::fs::canonicalize(lite.path()).unwrap_or_else(|_| lite.path().to_path_buf());
    let source = source.to_string_lossy().into_owned();
    let (meetings, run): (i64, Option<Option<i64>>) = pg.tx(|tx| {
        let n: i64 = tx.query_one("SELECT COUNT(*) FROM meetings", &[])?.get(0);
        let run = tx.query_opt("SELECT finished_at FROM migrations WHERE source = $1", &[&source])?.map(|r| r.get(0));
        Ok((n, run))
    })?;
    let mut out = Migrated { verified_only: matches!(run, Some(Some(_))), ..Migrated::default() };
    if run.is_none() && meetings > 0 {
        return Err(invalid(format!(
            "{} already holds a queue ({meetings} meetings) that was not copied from {source}: migrate-to copies \
             into an empty database",
            pg.database()
        )));
    }
    if !out.verified_only {
        pg.tx(|tx| {
            tx.execute(
                "INSERT INTO migrations (source, started_at) VALUES ($1, debrief_now_ms()) ON CONFLICT DO NOTHING",
                &[&source],
            )?;
            Ok(())
        })?;
        for (table, key) in TABLES {
            copy_table(lite, pg, table, key)?;
        }
    }
    for (meeting, rel) in input_files(lite, None)? {
        let file = data_dir.join(&rel);
        let Some(InputFile { bytes, sha256: want, stored }) = input_file(pg, data_dir, meeting, &rel)? else {
            out.files_missing.push(rel);
            continue;
        };
        if stored.as_deref() == Some(want.as_str()) {
            out.files_present += 1;
        } else if out.verified_only {
            return Err(invalid(format!(
                "{}: differs from the copy in {} (sha256 {want}, stored {})",
                file.display(),
                pg.database(),
                stored.as_deref().unwrap_or("nothing")
            )));
        } else {
            pg.put_blob(meeting, &rel, &bytes)?;
            out.files_copied += 1;
        }
        // Read back: `get_blob` checks the bytes against the stored sha256, which is the
        // file's own (found equal above, or just stored from these bytes).
        let back = pg.get_blob(meeting, &rel)?.ok_or_else(|| invalid(format!("{rel}: not stored")))?;
        out.file_bytes += back.len() as u64;
    }
    for (table, key) in TABLES {
        let n = verify_table(lite, pg, table, key)?;
        out.tables.push(((*table).to_owned(), n));
    }
    if !out.verified_only {
        pg.tx(|tx| {
            tx.execute("UPDATE migrations SET finished_at = debrief_now_ms() WHERE source = $1", &[&source])?;
            Ok(())
        })?;
    }
    Ok(out)
}
