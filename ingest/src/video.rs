//! The video of an imported screen recording (Zoom, Teams, Meet or OBS files): frames
//! sampled every `--video-every` seconds of video time, kept when they changed visibly
//! (the recorder's detector, `LumaGrid::differs`, against the last kept frame), saved
//! as PNG and queued as VISUAL jobs at their meeting time. The audio is imported first,
//! so a damaged video costs its slides from the damage on, never the audio: the error is
//! noted on the meeting (`foreman status` shows it) and the import goes on.

use std::path::Path;

use anyhow::Result;
use debrief_config::DataDir;
use debrief_jobq::{MeetingId, Queue};
use debrief_media::frame::LumaGrid;
use debrief_media::video::{sample_frames, VideoError};

use crate::layout::rel_screens;
use crate::screens::{frame_name, save_png, visual_job};

/// Frames kept and what went wrong, over every input.
#[derive(Debug, Default)]
pub(crate) struct VideoOutcome {
    pub(crate) kept: u32,
    pub(crate) sampled: u64,
    pub(crate) problems: Vec<String>,
}

/// Samples the video of each input (`(file, meeting time of its start in ms)`) into
/// VISUAL jobs. Frame numbers run over the whole import, so a re-run of an interrupted
/// import writes the same files and finds its jobs queued (enqueue is idempotent).
pub(crate) fn import_video(
    q: &Queue,
    dd: &DataDir,
    meeting: MeetingId,
    inputs: &[(&Path, i64)],
    every_ms: i64,
) -> Result<VideoOutcome> {
    let mut out = VideoOutcome::default();
    let mut last: Option<LumaGrid> = None;
    let mut seq: u32 = 0;
    let mut dir = None;
    for &(path, offset_ms) in inputs {
        let result = sample_frames(path, every_ms, |t, img| {
            let grid = LumaGrid::of(img);
            if last.as_ref().is_some_and(|l| !l.differs(&grid)) {
                return Ok(());
            }
            let d = match &dir {
                Some(d) => d,
                None => dir.insert(dd.subdir(rel_screens(meeting))?),
            };
            let t_ms = u64::try_from(offset_ms + t).unwrap_or(0);
            let name = frame_name(seq, t_ms);
            save_png(&d.join(&name), img)?;
            let job = visual_job(meeting, &rel_screens(meeting).join(&name), seq, t_ms, img.width, img.height)?;
            q.enqueue(&job)?;
            last = Some(grid);
            seq += 1;
            Ok(())
        });
        match result {
            Ok(stats) => out.sampled += stats.sampled,
            // The sink failed: the database or the disk, not the file.
            Err(VideoError::Sink(e)) => return Err(anyhow::anyhow!("{}: saving a video frame: {e}", path.display())),
            Err(e) => out.problems.push(e.to_string()),
        }
    }
    out.kept = seq;
    Ok(out)
}
