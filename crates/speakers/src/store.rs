//! Storage of analyses, turns, speakers and hints (tables of schema version 5).
//!
//! Every function runs on either queue backend (SQL in `sql/` and `sql/pg/`, one
//! statement per file).

use debrief_jobq::{Db, JobId, MeetingId, QueueError, Tx};
use rusqlite::{named_params, OptionalExtension};

mod pg {
    pub(super) const STORE_ANALYSIS: &str = include_str!("../sql/pg/store_analysis.sql");
    pub(super) const LOAD_ANALYSES: &str = include_str!("../sql/pg/load_analyses.sql");
    pub(super) const LOAD_HINTS: &str = include_str!("../sql/pg/load_hints.sql");
    pub(super) const DELETE_TURNS: &str = include_str!("../sql/pg/delete_turns.sql");
    pub(super) const INSERT_TURN: &str = include_str!("../sql/pg/insert_turn.sql");
    pub(super) const UPSERT_SPEAKER: &str = include_str!("../sql/pg/upsert_speaker.sql");
    pub(super) const DELETE_OTHER_SPEAKERS: &str = include_str!("../sql/pg/delete_other_speakers.sql");
    pub(super) const SET_HINTS: &str = include_str!("../sql/pg/set_hints.sql");
    pub(super) const LOAD_SPEAKERS: &str = include_str!("../sql/pg/load_speakers.sql");
    pub(super) const LOAD_TURNS: &str = include_str!("../sql/pg/load_turns.sql");
    pub(super) const RENAME_SPEAKER: &str = include_str!("../sql/pg/rename_speaker.sql");
    pub(super) const MERGE_SPEAKER: &str = include_str!("../sql/pg/merge_speaker.sql");
}

/// (file, SQLite text, PostgreSQL text) of the statements on both backends.
#[cfg(test)]
pub(crate) const BOTH: &[(&str, &str, &str)] = &[
    ("store_analysis.sql", STORE_ANALYSIS, pg::STORE_ANALYSIS),
    ("load_analyses.sql", LOAD_ANALYSES, pg::LOAD_ANALYSES),
    ("load_hints.sql", LOAD_HINTS, pg::LOAD_HINTS),
    ("delete_turns.sql", DELETE_TURNS, pg::DELETE_TURNS),
    ("insert_turn.sql", INSERT_TURN, pg::INSERT_TURN),
    ("upsert_speaker.sql", UPSERT_SPEAKER, pg::UPSERT_SPEAKER),
    ("delete_other_speakers.sql", DELETE_OTHER_SPEAKERS, pg::DELETE_OTHER_SPEAKERS),
    ("set_hints.sql", SET_HINTS, pg::SET_HINTS),
    ("load_speakers.sql", LOAD_SPEAKERS, pg::LOAD_SPEAKERS),
    ("load_turns.sql", LOAD_TURNS, pg::LOAD_TURNS),
    ("rename_speaker.sql", RENAME_SPEAKER, pg::RENAME_SPEAKER),
    ("merge_speaker.sql", MERGE_SPEAKER, pg::MERGE_SPEAKER),
];

fn json_text<T: serde::Serialize>(v: &T) -> debrief_jobq::Result<String> {
    serde_json::to_string(v).map_err(|e| QueueError::Invalid(format!("speakers: {e}")))
}

fn parse_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> debrief_jobq::Result<T> {
    serde_json::from_str(s).map_err(|e| QueueError::Invalid(format!("stored {what}: {e}")))
}

use crate::{ChunkAnalysis, Diarization, Hints, Turn};

const STORE_ANALYSIS: &str = include_str!("../sql/store_analysis.sql");
const LOAD_ANALYSES: &str = include_str!("../sql/load_analyses.sql");
const LOAD_HINTS: &str = include_str!("../sql/load_hints.sql");
const SET_HINTS: &str = include_str!("../sql/set_hints.sql");
const DELETE_TURNS: &str = include_str!("../sql/delete_turns.sql");
const INSERT_TURN: &str = include_str!("../sql/insert_turn.sql");
const UPSERT_SPEAKER: &str = include_str!("../sql/upsert_speaker.sql");
const DELETE_OTHER_SPEAKERS: &str = include_str!("../sql/delete_other_speakers.sql");
const LOAD_SPEAKERS: &str = include_str!("../sql/load_speakers.sql");
const LOAD_TURNS: &str = include_str!("../sql/load_turns.sql");
const RENAME_SPEAKER: &str = include_str!("../sql/rename_speaker.sql");
const MERGE_SPEAKER: &str = include_str!("../sql/merge_speaker.sql");

/// Replaces the analysis of one AUDIO job (inside the transaction that completes it).
pub fn store_analysis(
    tx: &mut Tx<'_, '_>,
    job_id: JobId,
    meeting_id: MeetingId,
    a: &ChunkAnalysis,
) -> debrief_jobq::Result<()> {
    let analysis = json_text(a)?;
    match tx {
        Tx::Sqlite(tx) => {
            tx.prepare_cached(STORE_ANALYSIS)?.execute(named_params! {
                ":job_id": job_id,
                ":meeting_id": meeting_id,
                ":model": a.model,
                ":analysis": analysis,
            })?;
        }
        Tx::Postgres(tx) => {
            tx.execute(pg::STORE_ANALYSIS, &[&job_id.0, &meeting_id.0, &a.model, &analysis])?;
        }
    }
    Ok(())
}

/// The analyses of a meeting's completed AUDIO jobs, in chunk order.
pub fn load_analyses(db: &mut Db<'_>, meeting_id: MeetingId) -> debrief_jobq::Result<Vec<ChunkAnalysis>> {
    let texts: Vec<String> = match db {
        Db::Sqlite(c) => c
            .prepare_cached(LOAD_ANALYSES)?
            .query_map(named_params! { ":meeting_id": meeting_id }, |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?,
        Db::Postgres(c) => c.query(pg::LOAD_ANALYSES, &[&meeting_id.0])?.iter().map(|r| r.get(0)).collect(),
    };
    texts.iter().map(|s| parse_json(s, "speaker analysis")).collect()
}

/// The meeting's speaker-count hints (empty when none were given).
pub fn load_hints(db: &mut Db<'_>, meeting_id: MeetingId) -> debrief_jobq::Result<Hints> {
    let s: Option<String> = match db {
        Db::Sqlite(c) => c
            .prepare_cached(LOAD_HINTS)?
            .query_row(named_params! { ":meeting_id": meeting_id }, |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten(),
        Db::Postgres(c) => c.query_opt(pg::LOAD_HINTS, &[&meeting_id.0])?.and_then(|r| r.get(0)),
    };
    match s {
        Some(s) => parse_json(&s, "speaker hints"),
        None => Ok(Hints::default()),
    }
}

/// Sets the meeting's hints. Returns false if there is no such meeting.
pub fn set_hints(tx: &mut Tx<'_, '_>, meeting_id: MeetingId, hints: &Hints) -> debrief_jobq::Result<bool> {
    let v = if hints.is_empty() { None } else { Some(json_text(hints)?) };
    let n = match tx {
        Tx::Sqlite(tx) => {
            tx.prepare_cached(SET_HINTS)?.execute(named_params! { ":meeting_id": meeting_id, ":hints": v })? as u64
        }
        Tx::Postgres(tx) => tx.execute(pg::SET_HINTS, &[&meeting_id.0, &v])?,
    };
    Ok(n == 1)
}

/// Replaces the meeting's turns and speaker list with a new clustering's (names and merges
/// of labels that still exist are kept).
pub fn store_diarization(tx: &mut Tx<'_, '_>, meeting_id: MeetingId, d: &Diarization) -> debrief_jobq::Result<()> {
    let labels: Vec<&str> = d.speakers.iter().map(|s| s.label.as_str()).collect();
    match tx {
        Tx::Sqlite(tx) => {
            tx.prepare_cached(DELETE_TURNS)?.execute(named_params! { ":meeting_id": meeting_id })?;
            let mut ins = tx.prepare_cached(INSERT_TURN)?;
            for t in &d.turns {
                ins.execute(named_params! {
                    ":meeting_id": meeting_id,
                    ":start_ms": t.start_ms,
                    ":end_ms": t.end_ms,
                    ":speaker": t.speaker,
                })?;
            }
            tx.prepare_cached(DELETE_OTHER_SPEAKERS)?
                .execute(named_params! { ":meeting_id": meeting_id, ":labels": json_text(&labels)? })?;
            let mut up = tx.prepare_cached(UPSERT_SPEAKER)?;
            for s in &d.speakers {
                up.execute(named_params! {
                    ":meeting_id": meeting_id,
                    ":label": s.label,
                    ":talk_ms": s.talk_ms,
                    ":local": s.local,
                })?;
            }
        }
        Tx::Postgres(tx) => {
            tx.execute(pg::DELETE_TURNS, &[&meeting_id.0])?;
            let ins = tx.prepare(pg::INSERT_TURN)?;
            for t in &d.turns {
                tx.execute(&ins, &[&meeting_id.0, &t.start_ms, &t.end_ms, &t.speaker])?;
            }
            tx.execute(pg::DELETE_OTHER_SPEAKERS, &[&meeting_id.0, &labels])?;
            let up = tx.prepare(pg::UPSERT_SPEAKER)?;
            for s in &d.speakers {
                tx.execute(&up, &[&meeting_id.0, &s.label, &s.talk_ms, &s.local])?;
            }
        }
    }
    Ok(())
}

/// A stored speaker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SpeakerRow {
    /// Label (`S1`, ...).
    pub label: String,
    /// The name a person gave it.
    pub name: Option<String>,
    /// The label it was merged into.
    pub merged_into: Option<String>,
    /// Talk time (ms).
    pub talk_ms: i64,
    /// The local person (the recording's microphone).
    pub local: bool,
}

/// The meeting's speakers, in label order.
pub fn load_speakers(db: &mut Db<'_>, meeting_id: MeetingId) -> debrief_jobq::Result<Vec<SpeakerRow>> {
    Ok(match db {
        Db::Sqlite(c) => c
            .prepare_cached(LOAD_SPEAKERS)?
            .query_map(named_params! { ":meeting_id": meeting_id }, |r| {
                Ok(SpeakerRow {
                    label: r.get(0)?,
                    name: r.get(1)?,
                    merged_into: r.get(2)?,
                    talk_ms: r.get(3)?,
                    local: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?,
        Db::Postgres(c) => c
            .query(pg::LOAD_SPEAKERS, &[&meeting_id.0])?
            .iter()
            .map(|r| SpeakerRow {
                label: r.get(0),
                name: r.get(1),
                merged_into: r.get(2),
                talk_ms: r.get(3),
                local: r.get(4),
            })
            .collect(),
    })
}

/// The meeting's turns, by start.
pub fn load_turns(db: &mut Db<'_>, meeting_id: MeetingId) -> debrief_jobq::Result<Vec<Turn>> {
    Ok(match db {
        Db::Sqlite(c) => c
            .prepare_cached(LOAD_TURNS)?
            .query_map(named_params! { ":meeting_id": meeting_id }, |r| {
                Ok(Turn { start_ms: r.get(0)?, end_ms: r.get(1)?, speaker: r.get(2)? })
            })?
            .collect::<rusqlite::Result<_>>()?,
        Db::Postgres(c) => c
            .query(pg::LOAD_TURNS, &[&meeting_id.0])?
            .iter()
            .map(|r| Turn { start_ms: r.get(0), end_ms: r.get(1), speaker: r.get(2) })
            .collect(),
    })
}

/// Runs one `UPDATE speakers` statement (`lite` with named parameters, `pg` with $1
/// meeting, $2 label, $3 value) and says whether it changed the speaker's row.
fn update_speaker(
    tx: &mut Tx<'_, '_>,
    (lite, pg): (&str, &str),
    meeting_id: MeetingId,
    label: &str,
    (name, value): (&str, Option<&str>),
) -> debrief_jobq::Result<bool> {
    let n = match tx {
        Tx::Sqlite(tx) => tx
            .prepare_cached(lite)?
            .execute(&[(":meeting_id", &meeting_id as &dyn rusqlite::ToSql), (":label", &label), (name, &value)][..])?
            as u64,
        Tx::Postgres(tx) => tx.execute(pg, &[&meeting_id.0, &label, &value])?,
    };
    Ok(n == 1)
}

/// Names a speaker (`None` clears the name). Returns false if the label does not exist.
pub fn rename_speaker(
    tx: &mut Tx<'_, '_>,
    meeting_id: MeetingId,
    label: &str,
    name: Option<&str>,
) -> debrief_jobq::Result<bool> {
    update_speaker(tx, (RENAME_SPEAKER, pg::RENAME_SPEAKER), meeting_id, label, (":name", name))
}

/// Shows `label` as `into` from now on. Returns false if `label` does not exist.
pub fn merge_speakers(
    tx: &mut Tx<'_, '_>,
    meeting_id: MeetingId,
    label: &str,
    into: &str,
) -> debrief_jobq::Result<bool> {
    update_speaker(tx, (MERGE_SPEAKER, pg::MERGE_SPEAKER), meeting_id, label, (":into", Some(into)))
}

impl SpeakerRow {
    /// What a label is shown as: merges followed (at most a few steps, cycles stop), then
    /// the name if there is one, else the label.
    pub fn display(rows: &[SpeakerRow], label: &str) -> String {
        let mut cur = label.to_string();
        for _ in 0..8 {
            match rows.iter().find(|r| r.label == cur).and_then(|r| r.merged_into.clone()) {
                Some(next) if next != cur => cur = next,
                _ => break,
            }
        }
        rows.iter().find(|r| r.label == cur).and_then(|r| r.name.clone()).unwrap_or(cur)
    }
}
