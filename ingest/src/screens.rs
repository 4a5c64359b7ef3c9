//! Screenshots during a recording: the X11 root window every N seconds (GetImage over
//! x11rb's pure-Rust connection), kept only when it changed perceptibly, saved as PNG and
//! queued as VISUAL jobs in batches.
//!
//! "Changed" is judged by `debrief_media::frame::LumaGrid` (a 64 x 36 grid of mean luma
//! cells; the visual worker and video import use the same detector) against the last
//! *saved* frame. Comparing against the last saved frame (not the last grabbed one) lets
//! a slow build-up count once it adds up.
//!
//! Wayland: a Wayland session's own windows are not visible to X11 clients, and the
//! xdg-desktop-portal + PipeWire path is not implemented; there `--screens` captures only
//! XWayland windows, or fails when no `DISPLAY` is set.

use std::fs;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::layout::rel_screens;
use anyhow::{anyhow, bail, Context, Result};
use debrief_config::DataDir;
use debrief_contracts::{DataPath, Screenshot};
use debrief_jobq::{MeetingId, NewJob, Queue, QueueError, TaskType};
use debrief_media::frame::{LumaGrid, RgbImage};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat, ImageOrder};
use x11rb::rust_connection::RustConnection;

/// Frames are queued once this many are waiting, or this long after the oldest.
const BATCH_FRAMES: usize = 8;
const BATCH_WAIT: Duration = Duration::from_secs(10);

/// An open X11 display.
pub(crate) struct Screen {
    conn: RustConnection,
    root: u32,
    width: u16,
    height: u16,
    lsb_first: bool,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screen").field("width", &self.width).field("height", &self.height).finish_non_exhaustive()
    }
}

/// A grabbed frame, RGB 8-bit.
type Frame = RgbImage;

impl Screen {
    /// Connects to `display` (default: `$DISPLAY`) and checks that its root window can be
    /// read as 32-bit pixels.
    pub(crate) fn open(display: Option<&str>) -> Result<Screen> {
        let name = display.map(str::to_owned).or_else(|| std::env::var("DISPLAY").ok()).unwrap_or_default();
        if name.is_empty() {
            bail!("--screens needs an X11 display: pass --display :N or set DISPLAY (Wayland-only sessions are not supported yet)");
        }
        let (conn, n) = x11rb::connect(Some(&name)).map_err(|e| anyhow!("cannot open X display {name:?}: {e}"))?;
        let setup = conn.setup();
        let screen = setup.roots.get(n).ok_or_else(|| anyhow!("X display {name:?} has no screen {n}"))?;
        let bpp = setup.pixmap_formats.iter().find(|f| f.depth == screen.root_depth).map(|f| f.bits_per_pixel);
        if bpp != Some(32) {
            bail!(
                "X display {name:?}: root depth {} ({bpp:?} bits per pixel) is not supported; 24/32-bit only",
                screen.root_depth
            );
        }
        Ok(Screen {
            root: screen.root,
            width: screen.width_in_pixels,
            height: screen.height_in_pixels,
            lsb_first: setup.image_byte_order == ImageOrder::LSB_FIRST,
            conn,
        })
    }

    fn grab(&self) -> Result<Frame> {
        let reply = self
            .conn
            .get_image(ImageFormat::Z_PIXMAP, self.root, 0, 0, self.width, self.height, u32::MAX)?
            .reply()
            .context("X11 GetImage of the root window")?;
        let (w, h) = (usize::from(self.width), usize::from(self.height));
        anyhow::ensure!(reply.data.len() >= w * h * 4, "X11 returned {} bytes for a {w}x{h} image", reply.data.len());
        let (r, g, b) = if self.lsb_first { (2, 1, 0) } else { (1, 2, 3) };
        let rgb = reply.data[..w * h * 4].chunks_exact(4).flat_map(|p| [p[r], p[g], p[b]]).collect();
        Ok(Frame { rgb, width: u32::from(self.width), height: u32::from(self.height) })
    }
}

/// `frame-NNNNN-TTTTTTTTT.png`: the frame number and its meeting time in ms, so that a
/// crash loses neither.
pub(crate) fn frame_name(seq: u32, t_ms: u64) -> String {
    format!("frame-{seq:05}-{t_ms:09}.png")
}

fn parse_name(name: &str) -> Option<(u32, u64)> {
    let (seq, t) = name.strip_prefix("frame-")?.strip_suffix(".png")?.split_once('-')?;
    Some((seq.parse().ok()?, t.parse().ok()?))
}

/// PNG, written crash-safely ([`debrief_config::AtomicFile`]: `.partial` never through a
/// symlink, fsync, rename, directory fsync; 0600).
pub(crate) fn save_png(path: &Path, f: &Frame) -> Result<()> {
    let mut file = debrief_config::AtomicFile::create(path).with_context(|| format!("{}", path.display()))?;
    {
        let mut out = BufWriter::new(&mut file);
        let mut enc = png::Encoder::new(&mut out, f.width, f.height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut w = enc.write_header()?;
        w.write_image_data(&f.rgb)?;
        w.finish()?;
        out.flush()?;
    }
    file.commit().with_context(|| format!("{}", path.display()))
}

pub(crate) fn visual_job(
    meeting: MeetingId,
    rel: &Path,
    seq: u32,
    t_ms: u64,
    width: u32,
    height: u32,
) -> Result<NewJob> {
    let shot = Screenshot { path: DataPath::new(rel)?, t_ms, width, height };
    Ok(NewJob::new(meeting, TaskType::Visual, i64::from(seq)).payload(&shot))
}

/// Queues `jobs` in one transaction.
fn enqueue_batch(q: &Queue, jobs: &[NewJob]) -> Result<()> {
    if !jobs.is_empty() {
        q.write(|tx| jobs.iter().try_for_each(|j| Queue::enqueue_in(tx, j).map(drop)))
            .map_err(|e: QueueError| anyhow!("queueing {} screenshot(s): {e}", jobs.len()))?;
    }
    Ok(())
}

/// What the screenshot loop needs.
#[derive(Debug)]
pub(crate) struct ScreenLoop {
    pub(crate) screen: Screen,
    pub(crate) every: Duration,
    pub(crate) dd: DataDir,
    pub(crate) q: Queue,
    pub(crate) meeting: MeetingId,
    /// Meeting time zero, CLOCK_MONOTONIC ns; 0 until the first audio frame arrived.
    pub(crate) zero_ns: Arc<AtomicI64>,
    pub(crate) stop: Arc<AtomicBool>,
    /// Frames saved and queued (or waiting in the batch).
    pub(crate) saved: Arc<AtomicU64>,
}

impl ScreenLoop {
    /// Runs until `stop`, on a blocking thread; queues what is left before returning.
    pub(crate) fn run(self) -> Result<()> {
        let dir = self.dd.subdir(rel_screens(self.meeting))?;
        // Frames are timed in meeting time, so wait for its zero.
        let zero = loop {
            match self.zero_ns.load(Ordering::Relaxed) {
                0 if !self.stop.load(Ordering::Relaxed) => std::thread::sleep(Duration::from_millis(10)),
                0 => return Ok(()),
                z => break z,
            }
        };
        let since = Duration::from_nanos((crate::pulse::monotonic_ns() - zero).max(0) as u64);
        let t0 = Instant::now().checked_sub(since).unwrap_or_else(Instant::now);
        let mut last: Option<LumaGrid> = None;
        let mut batch: Vec<NewJob> = Vec::new();
        let mut oldest = Instant::now();
        let mut next = t0;
        let mut seq = 0u32;
        let result = (|| -> Result<()> {
            while !self.stop.load(Ordering::Relaxed) {
                if Instant::now() < next {
                    std::thread::sleep((next - Instant::now()).min(Duration::from_millis(50)));
                    continue;
                }
                next += self.every;
                let t_ms = t0.elapsed().as_millis() as u64;
                let frame = self.screen.grab()?;
                let sig = LumaGrid::of(&frame);
                if last.as_ref().is_none_or(|l| l.differs(&sig)) {
                    let name = frame_name(seq, t_ms);
                    save_png(&dir.join(&name), &frame)?;
                    if batch.is_empty() {
                        oldest = Instant::now();
                    }
                    batch.push(visual_job(
                        self.meeting,
                        &rel_screens(self.meeting).join(&name),
                        seq,
                        t_ms,
                        frame.width,
                        frame.height,
                    )?);
                    self.saved.fetch_add(1, Ordering::Relaxed);
                    seq += 1;
                    last = Some(sig);
                }
                if batch.len() >= BATCH_FRAMES || (!batch.is_empty() && oldest.elapsed() >= BATCH_WAIT) {
                    enqueue_batch(&self.q, &batch)?;
                    batch.clear();
                }
            }
            Ok(())
        })();
        let flushed = enqueue_batch(&self.q, &batch);
        result.and(flushed)
    }
}

/// Queues saved screenshots of `meeting` that have no VISUAL job yet (after a crash).
pub(crate) fn queue_unqueued(dd: &DataDir, q: &Queue, meeting: MeetingId) -> Result<usize> {
    let dir = dd.root().join(rel_screens(meeting));
    let Ok(entries) = fs::read_dir(&dir) else { return Ok(0) };
    let queued = q.meeting_seqs(meeting, TaskType::Visual)?;
    let mut jobs = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".partial") {
            let _ = fs::remove_file(e.path());
            continue;
        }
        let Some((seq, t_ms)) = parse_name(&name) else { continue };
        if queued.contains(&i64::from(seq)) {
            continue;
        }
        let file = fs::File::open(e.path())?;
        let info =
            png::Decoder::new(BufReader::new(file)).read_info().with_context(|| format!("{}", e.path().display()))?;
        let (w, h) = (info.info().width, info.info().height);
        jobs.push(visual_job(meeting, &rel_screens(meeting).join(&name), seq, t_ms, w, h)?);
    }
    enqueue_batch(q, &jobs)?;
    Ok(jobs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Frame {
        let rgb = (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).flat_map(|(x, y)| f(x, y)).collect();
        Frame { rgb, width: w, height: h }
    }

    #[test]
    fn screenshots_saved_before_a_crash_are_queued_once_by_recovery() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::at(tmp.path().join("data")).unwrap();
        let q = Queue::open_in(&dd, debrief_jobq::QueueConfig::default()).unwrap();
        let m = q.create_meeting(None, Some("record")).unwrap();
        let dir = dd.subdir(rel_screens(m)).unwrap();
        save_png(&dir.join(frame_name(0, 1_234)), &frame(32, 16, |_, _| [1, 2, 3])).unwrap();
        std::fs::write(dir.join("frame-00001-000002000.png.partial"), b"torn").unwrap();
        assert_eq!(queue_unqueued(&dd, &q, m).unwrap(), 1);
        assert_eq!(queue_unqueued(&dd, &q, m).unwrap(), 0, "queued once");
        let jobs = q.meeting_jobs(m).unwrap();
        assert_eq!((jobs[0].task_type.as_str(), jobs[0].payload["t_ms"].as_u64()), ("VISUAL", Some(1_234)));
        assert_eq!((jobs[0].payload["width"].as_u64(), jobs[0].payload["height"].as_u64()), (Some(32), Some(16)));
        assert!(!dir.join("frame-00001-000002000.png.partial").exists());
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_name(&frame_name(7, 123_456)), Some((7, 123_456)));
        assert_eq!(parse_name("frame-00001-000000010.png.partial"), None);
    }
}
