//! Slides from screen frames.
//!
//! A VISUAL job reads one screen frame (a screenshot of `ingest record --screens`, or a
//! frame sampled from an imported screen recording): its OCR lines with their boxes, and
//! its [`LumaGrid`]. It stores them as one [`Frame`] row (`screen_frames`), replacing
//! any earlier result of the job. A meeting's [`Slide`]s are assembled from its frames
//! whenever they are read ([`slides`]): consecutive frames that show the same slide (a
//! moving cursor, a changing video tile, a bullet appearing) become one slide, with the
//! time range it was on screen and the text of its fullest frame. Assembly is
//! deterministic, so a re-run of any job changes the slides only if its frame changed.
//!
//! The OCR engine itself (Tesseract, feature `ocr`) is in [`ocr`]; everything else here
//! builds without it, so the exporters and the summary worker do not link libtesseract.
//!
//! **API boundary:** [`Frame`], [`OcrLine`], [`Slide`], [`assemble`], [`store_frame`],
//! [`load_frames`], [`slides`], [`render`].
#![deny(missing_docs)]

use debrief_jobq::{Db, JobId, MeetingId, QueueError, Result, Tx};
use debrief_media::frame::LumaGrid;
use rusqlite::named_params;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ocr")]
pub mod ocr;
pub mod render;

/// The store's statements: `sql/` for SQLite, `sql/pg/` for PostgreSQL.
mod sql {
    pub(crate) const DELETE_FRAME: (&str, &str) =
        (include_str!("../sql/delete_frame.sql"), include_str!("../sql/pg/delete_frame.sql"));
    pub(crate) const INSERT_FRAME: (&str, &str) =
        (include_str!("../sql/insert_frame.sql"), include_str!("../sql/pg/insert_frame.sql"));
    pub(crate) const FRAMES: (&str, &str) = (include_str!("../sql/frames.sql"), include_str!("../sql/pg/frames.sql"));
    /// Every statement, for the tests that prepare them.
    #[cfg(test)]
    pub(crate) const ALL: &[(&str, (&str, &str))] =
        &[("delete_frame.sql", DELETE_FRAME), ("insert_frame.sql", INSERT_FRAME), ("frames.sql", FRAMES)];
}

/// One line of text OCR found, with its box in image pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OcrLine {
    /// The words of the line, single-spaced.
    pub text: String,
    /// Left edge.
    pub left: u32,
    /// Top edge.
    pub top: u32,
    /// Width.
    pub width: u32,
    /// Height (a heading's is larger than body text's).
    pub height: u32,
    /// Mean word confidence, 0-100.
    pub conf: f32,
    /// Tesseract's block number: lines of one block belong together.
    pub block: u32,
}

/// One read screen frame: a VISUAL job's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The VISUAL job.
    pub job_id: JobId,
    /// Meeting time it was on screen from (ms).
    pub t_ms: i64,
    /// The image, relative to the data directory.
    pub path: String,
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Its change-detector grid.
    pub grid: LumaGrid,
    /// OCR lines in reading order.
    pub lines: Vec<OcrLine>,
    /// How long OCR took (ms).
    pub ocr_ms: i64,
    /// What a vision-language model said about it, if one ran.
    pub description: Option<String>,
}

impl Frame {
    /// The text, one OCR line per line, a blank line between blocks; lines indented
    /// further than the leftmost one keep a two-space indent per step (bullet levels).
    pub fn text(&self) -> String {
        layout(&self.lines, self.width)
    }

    fn words(&self) -> Vec<String> {
        words(&self.lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join(" "))
    }
}

/// The text of `lines` laid out as on the slide (see [`Frame::text`]).
pub fn layout(lines: &[OcrLine], width: u32) -> String {
    let Some(min_left) = lines.iter().map(|l| l.left).min() else { return String::new() };
    let step = (width / 40).max(8);
    let mut out = String::new();
    let mut block = None;
    for l in lines {
        if block.is_some_and(|b| b != l.block) {
            out.push('\n');
        }
        block = Some(l.block);
        let indent = ((l.left - min_left) / step).min(4) as usize;
        out += &"  ".repeat(indent);
        out += &l.text;
        out.push('\n');
    }
    out.trim_end().to_owned()
}

/// Lower-case alphanumeric words of `text`.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Whether `b` shows the same slide as `a`, shown just before it: the picture hardly
/// changed (a cursor), or the text is the same (a video tile or an animation changed
/// the picture), or `b` is `a` with more text added (a bullet appearing).
pub fn same_slide(a: &Frame, b: &Frame) -> bool {
    if !a.grid.differs(&b.grid) {
        return true;
    }
    let (wa, wb) = (a.words(), b.words());
    if wa.len() < 3 || wb.len() < 3 {
        return false;
    }
    let set = |w: &[String]| w.iter().cloned().collect::<std::collections::BTreeSet<_>>();
    let (sa, sb) = (set(&wa), set(&wb));
    let common = sa.intersection(&sb).count() as f32;
    let union = sa.union(&sb).count() as f32;
    let jaccard = common / union;
    let contained = common / sa.len() as f32;
    jaccard >= 0.8 || (sa.len() >= 5 && contained >= 0.9)
}

/// A slide: consecutive frames showing the same thing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slide {
    /// Position among the meeting's slides (from 0).
    pub idx: usize,
    /// First on screen (ms).
    pub start_ms: i64,
    /// Replaced by the next slide (ms); `None` for the last one (on screen until the end).
    pub end_ms: Option<i64>,
    /// The VISUAL job of the frame it is shown by (its fullest).
    pub job_id: JobId,
    /// That frame's image, relative to the data directory.
    pub path: String,
    /// Its title: the tallest line among the first few.
    pub title: Option<String>,
    /// Its text as laid out on screen.
    pub text: String,
    /// The OCR lines of that frame.
    pub lines: Vec<OcrLine>,
    /// How many frames it was seen in.
    pub frames: usize,
    /// What a vision-language model said about it, if one ran.
    pub description: Option<String>,
}

/// The slides shown by `frames` (in time order), merging near-duplicates.
pub fn assemble(frames: &[Frame]) -> Vec<Slide> {
    let mut groups: Vec<(usize, usize)> = Vec::new(); // (first frame, representative)
    let mut counts: Vec<usize> = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let same = i > 0 && same_slide(&frames[i - 1], f);
        if same {
            let g = groups.last_mut().expect("a group exists after the first frame");
            *counts.last_mut().expect("counted with its group") += 1;
            if f.words().len() > frames[g.1].words().len() {
                g.1 = i;
            }
        } else {
            groups.push((i, i));
            counts.push(1);
        }
    }
    let starts: Vec<i64> = groups.iter().map(|g| frames[g.0].t_ms).collect();
    groups
        .iter()
        .zip(counts)
        .enumerate()
        .map(|(idx, (&(first, rep), n))| {
            let f = &frames[rep];
            // The visual-worker describes a slide once (its first frame with a picture
            // model), so the description may sit on another frame than the fullest.
            let description =
                f.description.clone().or_else(|| frames[first..first + n].iter().find_map(|x| x.description.clone()));
            Slide {
                idx,
                start_ms: frames[first].t_ms,
                end_ms: starts.get(idx + 1).copied(),
                job_id: f.job_id,
                path: f.path.clone(),
                title: title(&f.lines),
                text: f.text(),
                lines: f.lines.clone(),
                frames: n,
                description,
            }
        })
        .collect()
}

/// The tallest of the first three lines (the first one on a tie), if any has words.
fn title(lines: &[OcrLine]) -> Option<String> {
    let mut best: Option<&OcrLine> = None;
    for l in lines.iter().take(3) {
        if best.is_none_or(|b| l.height > b.height + b.height / 5) {
            best = Some(l);
        }
    }
    best.map(|l| l.text.clone()).filter(|t| !words(t).is_empty())
}

/// Replaces the frame of VISUAL job `job_id` (inside the job's completing transaction).
pub fn store_frame(tx: &mut Tx<'_, '_>, meeting_id: MeetingId, f: &Frame) -> Result<()> {
    let lines = serde_json::to_string(&f.lines).map_err(|e| QueueError::Invalid(format!("OCR lines: {e}")))?;
    let (grid, text) = (f.grid.to_bytes(), f.text());
    match tx {
        Tx::Sqlite(tx) => {
            tx.prepare_cached(sql::DELETE_FRAME.0)?.execute(named_params! { ":job_id": f.job_id })?;
            tx.prepare_cached(sql::INSERT_FRAME.0)?.execute(named_params! {
                ":job_id": f.job_id,
                ":meeting_id": meeting_id,
                ":t_ms": f.t_ms,
                ":path": f.path,
                ":width": f.width,
                ":height": f.height,
                ":grid": grid,
                ":text": text,
                ":lines": lines,
                ":ocr_ms": f.ocr_ms,
                ":description": f.description,
            })?;
        }
        Tx::Postgres(tx) => {
            tx.execute(sql::DELETE_FRAME.1, &[&f.job_id.0])?;
            tx.execute(
                sql::INSERT_FRAME.1,
                &[
                    &f.job_id.0,
                    &meeting_id.0,
                    &f.t_ms,
                    &f.path,
                    &i64::from(f.width),
                    &i64::from(f.height),
                    &grid,
                    &text,
                    &lines,
                    &f.ocr_ms,
                    &f.description,
                ],
            )?;
        }
    }
    Ok(())
}

/// A meeting's frames (of COMPLETED VISUAL jobs), in time order.
pub fn load_frames(db: &mut Db<'_>, meeting_id: MeetingId) -> Result<Vec<Frame>> {
    type Row = (JobId, i64, String, i64, i64, Vec<u8>, String, i64, Option<String>);
    let rows: Vec<Row> = match db {
        Db::Sqlite(c) => c
            .prepare_cached(sql::FRAMES.0)?
            .query_map(named_params! { ":meeting_id": meeting_id }, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(7)?, r.get(8)?, r.get(9)?))
            })?
            .collect::<rusqlite::Result<_>>()?,
        Db::Postgres(c) => c
            .query(sql::FRAMES.1, &[&meeting_id.0])?
            .iter()
            .map(|r| (JobId(r.get(0)), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(7), r.get(8), r.get(9)))
            .collect(),
    };
    let size = |v: i64| u32::try_from(v).unwrap_or(0);
    rows.into_iter()
        .map(|(job_id, t_ms, path, width, height, grid, lines, ocr_ms, description)| {
            Ok(Frame {
                job_id,
                t_ms,
                path,
                width: size(width),
                height: size(height),
                grid: LumaGrid::from_bytes(&grid),
                lines: serde_json::from_str(&lines)
                    .map_err(|e| QueueError::Invalid(format!("job {job_id}: stored OCR lines: {e}")))?,
                ocr_ms,
                description,
            })
        })
        .collect()
}

/// A meeting's slides, assembled from its frames.
pub fn slides(db: &mut Db<'_>, meeting_id: MeetingId) -> Result<Vec<Slide>> {
    Ok(assemble(&load_frames(db, meeting_id)?))
}

#[cfg(test)]
mod tests;
