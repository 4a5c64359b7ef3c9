//! Storage of chunk results, transcripts and gaps, on either queue backend: SQL in
//! `sql/` (SQLite, named parameters) and `sql/pg/` (PostgreSQL), one statement per file.

use debrief_contracts::AudioChunk;
use debrief_jobq::{Db, JobId, MeetingId, QueueError, Result, Tx};
use rusqlite::named_params;

use crate::{Chunk, Gap, Segment, Word};

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
    DELETE_CHUNK = "delete_chunk.sql";
    INSERT_CHUNK_SEGMENT = "insert_chunk_segment.sql";
    CHUNKS_OF_MEETING = "chunks_of_meeting.sql";
    SEGMENTS_OF_CHUNK = "segments_of_chunk.sql";
    DELETE_TRANSCRIPT = "delete_transcript.sql";
    INSERT_TRANSCRIPT_SEGMENT = "insert_transcript_segment.sql";
    TRANSCRIPT = "transcript.sql";
    DELETE_GAPS = "delete_gaps.sql";
    INSERT_GAP = "insert_gap.sql";
    GAPS = "gaps.sql";
}

fn words_json(words: &[Word]) -> Result<String> {
    serde_json::to_string(words).map_err(|e| QueueError::Invalid(format!("words: {e}")))
}

fn parse_words(s: &str) -> Result<Vec<Word>> {
    serde_json::from_str(s).map_err(|e| QueueError::Invalid(format!("stored words: {e}")))
}

/// Replaces the stored segments of one AUDIO job (call inside the completing
/// transaction, so a re-run replaces rather than appends).
pub fn store_chunk(
    tx: &mut Tx<'_, '_>,
    job_id: JobId,
    meeting_id: MeetingId,
    segments: &[(Segment, f32)],
) -> Result<()> {
    match tx {
        Tx::Sqlite(tx) => {
            tx.prepare_cached(lite::DELETE_CHUNK)?.execute(named_params! { ":job_id": job_id })?;
            let mut ins = tx.prepare_cached(lite::INSERT_CHUNK_SEGMENT)?;
            for (idx, (s, no_speech)) in segments.iter().enumerate() {
                ins.execute(named_params! {
                    ":job_id": job_id,
                    ":idx": idx as i64,
                    ":meeting_id": meeting_id,
                    ":start_ms": s.start_ms,
                    ":end_ms": s.end_ms.max(s.start_ms),
                    ":text": s.text,
                    ":words": words_json(&s.words)?,
                    ":no_speech_prob": f64::from(*no_speech),
                })?;
            }
        }
        Tx::Postgres(tx) => {
            tx.execute(pg::DELETE_CHUNK, &[&job_id.0])?;
            let ins = tx.prepare(pg::INSERT_CHUNK_SEGMENT)?;
            for (idx, (s, no_speech)) in segments.iter().enumerate() {
                tx.execute(
                    &ins,
                    &[
                        &job_id.0,
                        &(idx as i64),
                        &meeting_id.0,
                        &s.start_ms,
                        &s.end_ms.max(s.start_ms),
                        &s.text,
                        &words_json(&s.words)?,
                        &f64::from(*no_speech),
                    ],
                )?;
            }
        }
    }
    Ok(())
}

/// A chunk from its AUDIO job's row; its segments are loaded apart.
fn chunk_of(job_id: JobId, seq: i64, payload: &str, status: &str, error: Option<String>) -> Result<Chunk> {
    let bad = |e: String| QueueError::Invalid(format!("job {job_id} (AUDIO): {e}"));
    let p: AudioChunk = serde_json::from_str(payload).map_err(|e| bad(format!("malformed payload: {e}")))?;
    let int = |v: u64| i64::try_from(v).map_err(|_| bad(format!("position {v} too large")));
    Ok(Chunk {
        job_id,
        seq,
        start_sample: int(p.start_sample)?,
        overlap_samples: int(p.overlap_samples)?,
        samples: int(p.samples)?,
        segments: Vec::new(),
        failed: (status == "FAILED").then(|| error.unwrap_or_else(|| "no error recorded".to_owned())),
    })
}

type SegmentRow = (i64, i64, Option<String>, String, String);

fn segment_of((start_ms, end_ms, speaker, text, words): SegmentRow) -> Result<Segment> {
    Ok(Segment { start_ms, end_ms, speaker, text, words: parse_words(&words)? })
}

/// Every chunk of a meeting with its stored segments, in order.
pub fn load_chunks(db: &mut Db<'_>, meeting_id: MeetingId) -> Result<Vec<Chunk>> {
    type JobRow = (JobId, i64, String, String, Option<String>);
    let jobs: Vec<JobRow> = match db {
        Db::Sqlite(c) => c
            .prepare_cached(lite::CHUNKS_OF_MEETING)?
            .query_map(named_params! { ":meeting_id": meeting_id }, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?,
        Db::Postgres(c) => c
            .query(pg::CHUNKS_OF_MEETING, &[&meeting_id.0])?
            .iter()
            .map(|r| (JobId(r.get(0)), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect(),
    };
    let mut chunks = Vec::with_capacity(jobs.len());
    for (job_id, seq, payload, status, error) in jobs {
        let mut c = chunk_of(job_id, seq, &payload, &status, error)?;
        let rows: Vec<SegmentRow> = match db {
            Db::Sqlite(conn) => conn
                .prepare_cached(lite::SEGMENTS_OF_CHUNK)?
                .query_map(named_params! { ":job_id": job_id }, |r| {
                    Ok((r.get(0)?, r.get(1)?, None, r.get(2)?, r.get(3)?))
                })?
                .collect::<rusqlite::Result<_>>()?,
            Db::Postgres(conn) => conn
                .query(pg::SEGMENTS_OF_CHUNK, &[&job_id.0])?
                .iter()
                .map(|r| (r.get(0), r.get(1), None, r.get(2), r.get(3)))
                .collect(),
        };
        c.segments = rows.into_iter().map(segment_of).collect::<Result<_>>()?;
        chunks.push(c);
    }
    Ok(chunks)
}

/// Replaces a meeting's record of untranscribed spans (with its transcript).
pub fn store_gaps(tx: &mut Tx<'_, '_>, meeting_id: MeetingId, gaps: &[Gap]) -> Result<()> {
    match tx {
        Tx::Sqlite(tx) => {
            tx.prepare_cached(lite::DELETE_GAPS)?.execute(named_params! { ":meeting_id": meeting_id })?;
            let mut ins = tx.prepare_cached(lite::INSERT_GAP)?;
            for g in gaps {
                ins.execute(named_params! {
                    ":meeting_id": meeting_id,
                    ":start_ms": g.start_ms,
                    ":end_ms": g.end_ms.max(g.start_ms),
                    ":job_id": g.job_id,
                    ":reason": g.reason,
                })?;
            }
        }
        Tx::Postgres(tx) => {
            tx.execute(pg::DELETE_GAPS, &[&meeting_id.0])?;
            let ins = tx.prepare(pg::INSERT_GAP)?;
            for g in gaps {
                let job = g.job_id.map(|j| j.0);
                tx.execute(&ins, &[&meeting_id.0, &g.start_ms, &g.end_ms.max(g.start_ms), &job, &g.reason])?;
            }
        }
    }
    Ok(())
}

/// A meeting's stored gaps, in time order.
pub fn load_gaps(db: &mut Db<'_>, meeting_id: MeetingId) -> Result<Vec<Gap>> {
    Ok(match db {
        Db::Sqlite(c) => c
            .prepare_cached(lite::GAPS)?
            .query_map(named_params! { ":meeting_id": meeting_id }, |r| {
                Ok(Gap { start_ms: r.get(0)?, end_ms: r.get(1)?, job_id: r.get(2)?, reason: r.get(3)? })
            })?
            .collect::<rusqlite::Result<_>>()?,
        Db::Postgres(c) => c
            .query(pg::GAPS, &[&meeting_id.0])?
            .iter()
            .map(|r| Gap {
                start_ms: r.get(0),
                end_ms: r.get(1),
                job_id: r.get::<_, Option<i64>>(2).map(JobId),
                reason: r.get(3),
            })
            .collect(),
    })
}

/// Replaces a meeting's transcript (inside the TRANSCRIPT job's completing transaction).
pub fn store_transcript(tx: &mut Tx<'_, '_>, meeting_id: MeetingId, segments: &[Segment]) -> Result<()> {
    match tx {
        Tx::Sqlite(tx) => {
            tx.prepare_cached(lite::DELETE_TRANSCRIPT)?.execute(named_params! { ":meeting_id": meeting_id })?;
            let mut ins = tx.prepare_cached(lite::INSERT_TRANSCRIPT_SEGMENT)?;
            for (idx, s) in segments.iter().enumerate() {
                ins.execute(named_params! {
                    ":meeting_id": meeting_id,
                    ":idx": idx as i64,
                    ":start_ms": s.start_ms,
                    ":end_ms": s.end_ms.max(s.start_ms),
                    ":speaker": s.speaker,
                    ":text": s.text,
                    ":words": words_json(&s.words)?,
                })?;
            }
        }
        Tx::Postgres(tx) => {
            tx.execute(pg::DELETE_TRANSCRIPT, &[&meeting_id.0])?;
            let ins = tx.prepare(pg::INSERT_TRANSCRIPT_SEGMENT)?;
            for (idx, s) in segments.iter().enumerate() {
                tx.execute(
                    &ins,
                    &[
                        &meeting_id.0,
                        &(idx as i64),
                        &s.start_ms,
                        &s.end_ms.max(s.start_ms),
                        &s.speaker,
                        &s.text,
                        &words_json(&s.words)?,
                    ],
                )?;
            }
        }
    }
    Ok(())
}

/// A meeting's stored transcript.
pub fn load_transcript(db: &mut Db<'_>, meeting_id: MeetingId) -> Result<Vec<Segment>> {
    let rows: Vec<SegmentRow> = match db {
        Db::Sqlite(c) => c
            .prepare_cached(lite::TRANSCRIPT)?
            .query_map(named_params! { ":meeting_id": meeting_id }, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?,
        Db::Postgres(c) => c
            .query(pg::TRANSCRIPT, &[&meeting_id.0])?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect(),
    };
    rows.into_iter().map(segment_of).collect()
}
