//! `foreman speakers MEETING`: the meeting's speakers with talk time and a sample quote;
//! `--rename S2="Dana Lee"`, `--merge S3 S5` (S5 shown as S3) change how labels are shown
//! without running anything; `--num N` / `--min N` / `--max N` store count hints and
//! re-run the meeting's TRANSCRIPT job, which re-clusters the stored embeddings (no model
//! runs), then its summary.

use anyhow::{bail, Result};
use debrief_jobq::{AnyQueue, MeetingId};
use debrief_speakers::{Hints, SpeakerRow};

/// What to change.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub(crate) rename: Vec<String>,
    pub(crate) merge: Option<Vec<String>>,
    pub(crate) hints: Option<Hints>,
    pub(crate) json: bool,
}

pub(crate) fn speakers(q: &AnyQueue, meeting: MeetingId, ch: &Changes) -> Result<()> {
    if q.meeting(meeting)?.is_none() {
        bail!("meeting {meeting} does not exist (see `foreman status`)");
    }
    let rows = q.read(|db| debrief_speakers::load_speakers(db, meeting))?;
    for r in &ch.rename {
        let Some((label, name)) = r.split_once('=') else {
            bail!("--rename wants LABEL=NAME (for example S2=\"Dana Lee\"), got {r:?}");
        };
        let (label, name) = (label.trim(), name.trim());
        if !rows.iter().any(|s| s.label == label) {
            bail!("meeting {meeting} has no speaker {label:?} (it has {})", labels(&rows));
        }
        q.write(|tx| debrief_speakers::rename_speaker(tx, meeting, label, (!name.is_empty()).then_some(name)))?;
        println!("{label} is now shown as {name:?}");
    }
    if let Some(m) = &ch.merge {
        let [into, rest @ ..] = m.as_slice() else { bail!("--merge wants two or more labels") };
        if rest.is_empty() {
            bail!("--merge wants two or more labels (the first keeps its name)");
        }
        for l in m {
            if !rows.iter().any(|s| &s.label == l) {
                bail!("meeting {meeting} has no speaker {l:?} (it has {})", labels(&rows));
            }
        }
        for l in rest {
            q.write(|tx| debrief_speakers::merge_speakers(tx, meeting, l, into))?;
            println!("{l} is now shown as {into}");
        }
    }
    if let Some(h) = &ch.hints {
        let redo = q.redo_transcript(meeting, |tx| {
            debrief_speakers::set_hints(tx, meeting, h)?;
            Ok(())
        })?;
        println!(
            "speaker hints {}; {} job(s) will run again (re-clustering, then the summary)",
            serde_json::to_string(h)?,
            redo.len()
        );
    }
    let rows = q.read(|db| debrief_speakers::load_speakers(db, meeting))?;
    let segments = q.read(|db| debrief_transcript::load_transcript(db, meeting))?;
    if ch.json {
        let v: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "label": r.label, "name": r.name, "merged_into": r.merged_into,
                    "shown_as": SpeakerRow::display(&rows, &r.label), "talk_ms": r.talk_ms, "local": r.local,
                    "quote": quote(&segments, &r.label),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("meeting {meeting} has no speakers yet (its transcript is not assembled, or it was transcribed without speaker analysis)");
        return Ok(());
    }
    let total: i64 = rows.iter().map(|r| r.talk_ms).sum::<i64>().max(1);
    println!("{:<6} {:<24} {:>9} {:>5}  sample", "label", "shown as", "talk", "share");
    for r in &rows {
        let shown = SpeakerRow::display(&rows, &r.label);
        let local = if r.local { " (microphone)" } else { "" };
        println!(
            "{:<6} {:<24} {:>9} {:>4}%  {}",
            r.label,
            format!("{shown}{local}"),
            debrief_transcript::export::clock(r.talk_ms),
            r.talk_ms * 100 / total,
            quote(&segments, &r.label).unwrap_or_default()
        );
    }
    Ok(())
}

fn labels(rows: &[SpeakerRow]) -> String {
    if rows.is_empty() {
        return "none".into();
    }
    rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>().join(", ")
}

/// The longest thing the speaker said (up to 80 characters).
fn quote(segments: &[debrief_transcript::Segment], label: &str) -> Option<String> {
    let s = segments.iter().filter(|s| s.speaker.as_deref() == Some(label)).max_by_key(|s| s.text.len())?;
    let t = s.text.trim();
    let cut: String = t.chars().take(80).collect();
    Some(format!(
        "[{}] \"{}{}\"",
        debrief_transcript::export::clock(s.start_ms),
        cut,
        if cut.len() < t.len() { "…" } else { "" }
    ))
}
