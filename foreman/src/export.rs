//! `foreman export`: a meeting's transcript as txt, md, srt, vtt or json; md and json
//! open with the meeting's summary when it has one, then its slides (md: a Slides
//! section and each slide marked at its time; json: a `slides` array).
//!
//! [`gather`] reads everything a meeting shows (names resolved); `foreman report`
//! renders the same.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use debrief_jobq::{AnyQueue, MeetingId, MeetingRecord, Status, TaskType};
use debrief_speakers::{SpeakerRow, Turn};
use debrief_summary::store::StoredSummary;
use debrief_transcript::export::{render, Format, Mark, Meta};
use debrief_transcript::{Gap, Segment};

/// What a meeting shows: its transcript, speakers, summary and slides, with speaker
/// labels resolved to the names people gave them.
pub(crate) struct Gathered {
    pub meeting: MeetingRecord,
    pub segments: Vec<Segment>,
    pub speakers: Vec<SpeakerRow>,
    pub turns: Vec<Turn>,
    pub gaps: Vec<Gap>,
    pub summary: Option<StoredSummary>,
    pub slides: Vec<debrief_slides::Slide>,
}

impl Gathered {
    /// The name shown for a stored label.
    pub(crate) fn name(&self, label: &str) -> String {
        SpeakerRow::display(&self.speakers, label)
    }
}

/// Reads meeting `meeting` for showing; an error if it does not exist or has no
/// transcript yet.
pub(crate) fn gather(q: &AnyQueue, meeting: MeetingId) -> Result<Gathered> {
    let Some(m) = q.meeting(meeting)? else {
        bail!("meeting {meeting} does not exist (see `foreman status`)");
    };
    let transcript_done =
        q.meeting_jobs(meeting)?.iter().any(|j| j.task_type == TaskType::Transcript && j.status == Status::Completed);
    if !transcript_done {
        bail!("meeting {meeting} has no transcript yet (status {}); see `foreman status`", m.status);
    }
    let mut segments = q.read(|db| debrief_transcript::load_transcript(db, meeting))?;
    // Speakers are stored as labels; names and merges (`foreman speakers`) apply here.
    let speakers = q.read(|db| debrief_speakers::load_speakers(db, meeting))?;
    let mut turns = q.read(|db| debrief_speakers::load_turns(db, meeting))?;
    let name = |l: &str| SpeakerRow::display(&speakers, l);
    for s in segments.iter_mut() {
        s.speaker = s.speaker.as_deref().map(name);
        for w in s.words.iter_mut() {
            w.speaker = w.speaker.as_deref().map(name);
        }
    }
    for t in turns.iter_mut() {
        t.speaker = name(&t.speaker);
    }
    let gaps = q.read(|db| debrief_transcript::load_gaps(db, meeting))?;
    let mut summary = q.read(|db| debrief_summary::store::summary(db, meeting))?;
    // Summary items name their speaker and owner by label (or by the name known when the
    // summary was written): show a later rename too.
    if let Some(s) = summary.as_mut().map(|s| &mut s.summary) {
        for item in
            s.key_points.iter_mut().chain(&mut s.decisions).chain(&mut s.action_items).chain(&mut s.open_questions)
        {
            let is_label = |v: &str| speakers.iter().any(|r| r.label == v);
            if let Some(v) = item.speaker.as_deref().filter(|v| is_label(v)) {
                item.speaker = Some(name(v));
            }
            if let Some(v) = item.owner.as_deref().filter(|v| is_label(v)) {
                item.owner = Some(name(v));
            }
        }
    }
    // The plain overview names speakers by label ("3 speakers (S1, S2 and S3)").
    if let Some(s) = summary.as_mut() {
        s.summary.overview = rename_labels(&s.summary.overview, &speakers);
    }
    let slides = q.read(|db| debrief_slides::slides(db, meeting))?;
    Ok(Gathered { meeting: m, segments, speakers, turns, gaps, summary, slides })
}

/// `text` with each whole-word speaker label (`S2`) that has a name shown by its name.
fn rename_labels(text: &str, speakers: &[SpeakerRow]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if speakers.iter().any(|r| r.label == *word) {
            out.push_str(&SpeakerRow::display(speakers, word));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

pub(crate) fn export(q: &AnyQueue, meeting: MeetingId, format: Format, out: Option<&Path>) -> Result<()> {
    let g = gather(q, meeting)?;
    let m = &g.meeting;
    let meta = Meta {
        meeting_id: meeting,
        title: m.title.clone(),
        duration_ms: m.duration_ms,
        created: Some(debrief_runtime::format_utc_ms(m.created_at)),
        // The summary comes first in md and json once the summary worker has written one.
        summary_md: g.summary.as_ref().map(debrief_summary::render::markdown),
        summary_json: g.summary.as_ref().map(debrief_summary::render::json),
        gaps: g.gaps.clone(),
        // Slides (from the visual worker's frames): a section after the summary, each
        // one marked where it appeared in the transcript, and a `slides` array in json.
        slides_md: Some(debrief_slides::render::markdown(&g.slides)).filter(|s| !s.is_empty()),
        slides_json: Some(debrief_slides::render::json(&g.slides)),
        marks: g.slides.iter().map(|s| Mark { at_ms: s.start_ms, text: debrief_slides::render::mark(s) }).collect(),
        turns: g.turns.clone(),
    };
    let text = render(format, &meta, &g.segments);
    match out {
        None => std::io::stdout().write_all(text.as_bytes())?,
        Some(path) => {
            // Beside the target, then renamed over it: a reader never sees half a file,
            // and a failed export leaves the previous one as it was.
            debrief_config::write_file_atomic(path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_in_text_show_their_names() {
        let row = |label: &str, name: Option<&str>, merged: Option<&str>| SpeakerRow {
            label: label.into(),
            name: name.map(Into::into),
            merged_into: merged.map(Into::into),
            talk_ms: 1,
            local: false,
        };
        let rows = [row("S1", None, None), row("S2", Some("Carol"), None), row("S3", None, Some("S2"))];
        assert_eq!(
            rename_labels("3 speakers (S1, S2 and S3) over 1:14; S22 and xS2 stay.", &rows),
            "3 speakers (S1, Carol and Carol) over 1:14; S22 and xS2 stay."
        );
    }
}
