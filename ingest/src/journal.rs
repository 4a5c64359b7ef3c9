//! What makes a recording survive a crash: the journal of the chunk in progress, the
//! session lock, and recovery of recordings whose recorder died.
//!
//! The chunk in progress lives in `meetings/<id>/audio/chunk-NNNNN.live`: a 40-byte
//! header (magic, channel layout, chunk index, meeting time of its first frame, overlap)
//! and then raw interleaved 16-bit PCM at 16 kHz, appended as audio arrives (so a
//! SIGKILL loses only what had not been written yet) and `fdatasync`ed at least every
//! second (so a power cut loses about a second). When a chunk is cut, its WAV is written
//! crash-safely from the journal, its AUDIO job inserted, then the next chunk's journal
//! is created with the audio already past the cut, and only then the old journal goes.
//!
//! A recorder holds an exclusive `flock` on `meetings/<id>/record.lock` while it runs.
//! Any later `ingest` start looks at OPEN meetings from `record`: one whose lock it can
//! take has no live recorder, so its journals become chunks, its unqueued screenshots
//! are queued, and it is closed with the length of the audio it has, for the foreman to
//! plan. A journal whose own chunk is queued already (the recorder died inside a cut,
//! before the next journal was durable) still holds the audio past the cut: that tail
//! becomes the next chunk. A journal is removed only once every frame in it is in a
//! queued chunk.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use debrief_config::DataDir;
use debrief_jobq::{MeetingId, MeetingStatus, NewJob, Queue, TaskType};
use debrief_media::{write_wav_i16_atomic, SAMPLE_RATE};

use crate::import::chunk_payload;
use crate::layout::{chunk_rel, journal_name, meeting_dir, rel_audio, rel_meeting};
use debrief_contracts::{AudioChunk, Channel};

const MAGIC: &[u8; 8] = b"DBRFLIV1";
const HEADER: u64 = 40;
/// Channel layout bits: which sources a chunk's channels hold, in this order.
pub(crate) const MIC: u16 = 1;
pub(crate) const SYSTEM: u16 = 2;
/// The `source` of recorded meetings.
pub(crate) const SOURCE: &str = "record";
/// How often appended audio is made durable.
const SYNC_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// The channels of a chunk with this layout, in file order (microphone first).
pub(crate) fn channels(layout: u16) -> Vec<Channel> {
    [(MIC, Channel::Mic), (SYSTEM, Channel::System)]
        .into_iter()
        .filter(|(b, _)| layout & b != 0)
        .map(|(_, c)| c)
        .collect()
}

pub(crate) fn lock_path(dd: &DataDir, meeting: MeetingId) -> PathBuf {
    meeting_dir(dd, meeting).join("record.lock")
}

/// The lock every recorder takes around creating its meeting and locking it, and that
/// recovery holds while it looks, so it never mistakes a starting recorder for a dead one.
pub(crate) fn start_lock(dd: &DataDir) -> Result<File> {
    let path = dd.root().join("record-start.lock");
    debrief_config::touch_private_file(&path).with_context(|| format!("{}", path.display()))?;
    let f = fs::OpenOptions::new().read(true).write(true).open(&path)?;
    f.lock().with_context(|| format!("locking {}", path.display()))?;
    Ok(f)
}

/// Takes `meeting`'s session lock for a recorder; held until the file is dropped.
pub(crate) fn lock_session(dd: &DataDir, meeting: MeetingId) -> Result<File> {
    dd.subdir(rel_meeting(meeting))?;
    let path = lock_path(dd, meeting);
    debrief_config::touch_private_file(&path).with_context(|| format!("{}", path.display()))?;
    let f = fs::OpenOptions::new().read(true).write(true).open(&path)?;
    f.try_lock().with_context(|| format!("{} is locked by another recorder", path.display()))?;
    Ok(f)
}

/// One chunk's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) layout: u16,
    pub(crate) index: u32,
    pub(crate) start_sample: u64,
    pub(crate) overlap_samples: u64,
}

impl Header {
    fn channels(self) -> u64 {
        u64::from(self.layout.count_ones().max(1))
    }

    fn encode(self) -> [u8; HEADER as usize] {
        let mut h = [0u8; HEADER as usize];
        h[..8].copy_from_slice(MAGIC);
        h[8..10].copy_from_slice(&self.layout.to_le_bytes());
        h[12..16].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
        h[16..20].copy_from_slice(&self.index.to_le_bytes());
        h[24..32].copy_from_slice(&self.start_sample.to_le_bytes());
        h[32..40].copy_from_slice(&self.overlap_samples.to_le_bytes());
        h
    }

    fn decode(h: &[u8], path: &Path) -> Result<Header> {
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap_or_default());
        if h.len() < HEADER as usize || &h[..8] != MAGIC {
            bail!("{} is not a Debrief recording journal", path.display());
        }
        let rate = u32::from_le_bytes(h[12..16].try_into().unwrap_or_default());
        let layout = u16::from_le_bytes([h[8], h[9]]);
        if rate != SAMPLE_RATE || layout == 0 || layout > (MIC | SYSTEM) {
            bail!("{}: unexpected journal header (rate {rate}, layout {layout})", path.display());
        }
        Ok(Header {
            layout,
            index: u32::from_le_bytes(h[16..20].try_into().unwrap_or_default()),
            start_sample: u64_at(24),
            overlap_samples: u64_at(32),
        })
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))
}

fn to_bytes(frames: &[i16]) -> Vec<u8> {
    frames.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Writes the chunk file for `h` from `pcm` (interleaved) and inserts its AUDIO job.
fn store_chunk(dd: &DataDir, q: &Queue, meeting: MeetingId, h: Header, pcm: &[i16], recovered: bool) -> Result<u64> {
    write_chunk(dd, meeting, h, pcm)?;
    queue_chunk(q, meeting, h, pcm.len() as u64 / h.channels(), recovered)
}

/// The first step of storing a chunk: its WAV file, crash-safely.
fn write_chunk(dd: &DataDir, meeting: MeetingId, h: Header, pcm: &[i16]) -> Result<()> {
    write_wav_i16_atomic(&dd.root().join(chunk_rel(meeting, h.index)), h.layout.count_ones() as u16, pcm)?;
    Ok(())
}

/// The second step: the chunk's AUDIO job (its file is complete already).
fn queue_chunk(q: &Queue, meeting: MeetingId, h: Header, frames: u64, recovered: bool) -> Result<u64> {
    let payload = AudioChunk {
        channels: channels(h.layout),
        recovered,
        ..chunk_payload(chunk_rel(meeting, h.index), h.start_sample, frames, h.overlap_samples)?
    };
    q.enqueue(&NewJob::new(meeting, TaskType::Audio, i64::from(h.index)).payload(&payload))?;
    Ok(frames)
}

/// The journal of the chunk in progress, owned by the recorder's writer.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    file: File,
    header: Header,
    /// Frames appended after the header.
    frames: u64,
    synced: Instant,
}

impl Journal {
    /// Creates the journal for `header`, starting with `pcm`, durable on return.
    pub(crate) fn create(dir: &Path, header: Header, pcm: &[i16]) -> Result<Journal> {
        let path = dir.join(journal_name(header.index));
        debrief_config::create_private_file(&path).with_context(|| format!("{}", path.display()))?;
        // Read back at every cut, so open it read-write.
        let mut file = fs::OpenOptions::new().read(true).write(true).open(&path)?;
        file.write_all(&header.encode())?;
        file.write_all(&to_bytes(pcm))?;
        file.sync_data().with_context(|| format!("syncing {}", path.display()))?;
        sync_dir(dir)?;
        let frames = pcm.len() as u64 / header.channels();
        Ok(Journal { dir: dir.to_owned(), file, header, frames, synced: Instant::now() })
    }

    fn path(&self) -> PathBuf {
        self.dir.join(journal_name(self.header.index))
    }

    /// Meeting time of the chunk's first frame.
    pub(crate) fn start_sample(&self) -> u64 {
        self.header.start_sample
    }

    /// Removes a journal that holds no new audio (a recording that captured nothing).
    pub(crate) fn discard(self) -> Result<()> {
        anyhow::ensure!(
            self.frames <= self.header.overlap_samples,
            "{} still holds {} unchunked frames",
            self.path().display(),
            self.frames
        );
        fs::remove_file(self.path()).with_context(|| format!("removing {}", self.path().display()))
    }

    /// Appends interleaved frames (written at once; durable within [`SYNC_EVERY`]).
    pub(crate) fn append(&mut self, pcm: &[i16]) -> Result<()> {
        self.file.write_all(&to_bytes(pcm)).with_context(|| format!("writing {}", self.path().display()))?;
        self.frames += pcm.len() as u64 / self.header.channels();
        if self.synced.elapsed() >= SYNC_EVERY {
            self.file.sync_data().with_context(|| format!("syncing {}", self.path().display()))?;
            self.synced = Instant::now();
        }
        Ok(())
    }

    fn read_frames(&self, from: u64, to: u64) -> Result<Vec<i16>> {
        let ch = self.header.channels();
        let total = ((to - from) * ch) as usize;
        // In blocks, so that a chunk is held once (as samples), not twice.
        let mut out = Vec::with_capacity(total);
        let mut buf = vec![0u8; 64 * 1024];
        let mut pos = HEADER + from * ch * 2;
        while out.len() < total {
            let n = ((total - out.len()) * 2).min(buf.len());
            self.file
                .read_exact_at(&mut buf[..n], pos)
                .with_context(|| format!("reading back {}", self.path().display()))?;
            out.extend(buf[..n].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])));
            pos += n as u64;
        }
        Ok(out)
    }

    /// Cuts the chunk in progress after `len` frames: writes and queues it, then (unless
    /// this was the last chunk) starts the next journal at meeting sample `next_start`
    /// with the next chunk's overlap, and removes this one. Returns the next journal.
    pub(crate) fn cut(
        self,
        ctx: (&DataDir, &Queue, MeetingId),
        len: u64,
        next: Option<(u64, u64)>,
    ) -> Result<Option<Journal>> {
        let (dd, q, meeting) = ctx;
        let h = self.header;
        anyhow::ensure!(
            len <= self.frames,
            "chunk {} cut after {len} frames but only {} were written",
            h.index,
            self.frames
        );
        store_chunk(dd, q, meeting, h, &self.read_frames(0, len)?, false)?;
        let next_journal = match next {
            Some((next_start, overlap)) => {
                let from = next_start - h.start_sample;
                let header = Header { index: h.index + 1, start_sample: next_start, overlap_samples: overlap, ..h };
                Some(Journal::create(&self.dir, header, &self.read_frames(from, self.frames)?)?)
            }
            None => None,
        };
        fs::remove_file(self.path()).with_context(|| format!("removing {}", self.path().display()))?;
        sync_dir(&self.dir)?;
        Ok(next_journal)
    }

    /// The first journal of a recording.
    pub(crate) fn first(dd: &DataDir, meeting: MeetingId, layout: u16) -> Result<Journal> {
        let dir = dd.subdir(rel_audio(meeting))?;
        Journal::create(&dir, Header { layout, index: 0, start_sample: 0, overlap_samples: 0 }, &[])
    }
}

/// Recovers every recording whose recorder is gone. A meeting whose recovery fails is
/// logged and left OPEN; the others are still recovered.
pub(crate) fn recover_dead(dd: &DataDir, q: &Queue) -> Result<Recovery> {
    let _guard = start_lock(dd)?;
    let (mut closed, mut failed) = (Vec::new(), Vec::new());
    for m in q.meetings(None)? {
        if m.status != MeetingStatus::Open || m.source.as_deref() != Some(SOURCE) {
            continue;
        }
        let lock = lock_path(dd, m.meeting_id);
        let held = match fs::OpenOptions::new().read(true).write(true).open(&lock) {
            Ok(f) => match f.try_lock() {
                Ok(()) => Some(f),
                Err(fs::TryLockError::WouldBlock) => continue, // a live recorder
                Err(fs::TryLockError::Error(e)) => return Err(e).with_context(|| format!("{}", lock.display())),
            },
            Err(_) => None,
        };
        match recover_meeting(dd, q, m.meeting_id) {
            Ok(()) => {
                closed.push(m.meeting_id);
                let _ = fs::remove_file(&lock);
            }
            // One meeting that cannot be recovered now (a disk error, say) must not stop
            // every later import and recording: it stays OPEN for the next attempt.
            Err(e) => {
                crate::log(&format!("meeting {}: recovery failed, left OPEN for the next try: {e:#}", m.meeting_id));
                failed.push(m.meeting_id);
            }
        }
        drop(held);
    }
    Ok(Recovery { closed, failed })
}

/// What [`recover_dead`] did.
#[derive(Debug, Default)]
pub(crate) struct Recovery {
    /// Meetings recovered and closed.
    pub(crate) closed: Vec<MeetingId>,
    /// Meetings whose recovery failed (logged; still OPEN).
    pub(crate) failed: Vec<MeetingId>,
}

/// The meeting-time span `[start, end)` of every queued AUDIO chunk, by seq.
fn queued_spans(q: &Queue, meeting: MeetingId) -> Result<BTreeMap<i64, (u64, u64, u64)>> {
    let mut spans = BTreeMap::new();
    for j in q.meeting_jobs(meeting)?.iter().filter(|j| j.task_type == TaskType::Audio) {
        let c = j.payload_as::<AudioChunk>()?;
        spans.insert(j.seq, (c.start_sample, c.end_sample(), c.overlap_samples));
    }
    Ok(spans)
}

/// Reads a journal's header, or `None` when it has no whole, valid one.
fn read_header(path: &Path) -> Option<Header> {
    let mut h = [0u8; HEADER as usize];
    File::open(path).ok()?.read_exact_at(&mut h, 0).ok()?;
    Header::decode(&h, path).ok()
}

/// A journal without a valid header: never a reason to stop. One that holds no more than
/// a header's worth of bytes and whose chunk is queued already is a next journal the
/// recorder died creating (its audio is in the previous journal, now queued): removed.
/// Any other is renamed to `NAME.damaged`, kept for a person to look at, and returned
/// (as a data-directory path with the reason) for the meeting's error text.
fn set_aside(
    dd: &DataDir,
    meeting: MeetingId,
    path: &Path,
    len: u64,
    spans: &BTreeMap<i64, (u64, u64, u64)>,
    why: &anyhow::Error,
) -> Result<Option<String>> {
    let index = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.strip_prefix("chunk-"))
        .and_then(|s| s.parse::<i64>().ok());
    if len <= HEADER && index.is_some_and(|i| spans.contains_key(&i)) {
        crate::log(&format!(
            "meeting {meeting}: removed {} ({len} bytes): a journal whose creation was cut short; its audio is queued",
            path.display()
        ));
        fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
        return Ok(None);
    }
    let mut aside = path.as_os_str().to_owned();
    aside.push(".damaged");
    let aside = PathBuf::from(aside);
    fs::rename(path, &aside).with_context(|| format!("renaming {} aside", path.display()))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    let shown = aside.strip_prefix(dd.root()).unwrap_or(&aside).display().to_string();
    crate::log(&format!("meeting {meeting}: set aside {shown} ({len} bytes): {why:#}"));
    Ok(Some(format!("{shown} ({len} bytes: {why:#})")))
}

fn recover_meeting(dd: &DataDir, q: &Queue, meeting: MeetingId) -> Result<()> {
    let dir = dd.root().join(rel_audio(meeting));
    let mut spans = queued_spans(q, meeting)?;
    let mut journals: Vec<PathBuf> =
        fs::read_dir(&dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    journals.retain(|p| p.extension().is_some_and(|e| e == "live"));
    journals.sort();
    let mut recovered_ms = 0;
    let mut damaged = Vec::new();
    for path in &journals {
        let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let h = match Header::decode(&bytes[..bytes.len().min(HEADER as usize)], path) {
            Ok(h) => h,
            Err(e) => {
                damaged.extend(set_aside(dd, meeting, path, bytes.len() as u64, &spans, &e)?);
                continue;
            }
        };
        // A crash can leave a torn last frame: keep whole frames only.
        let ch = h.channels() as usize;
        let data = &bytes[HEADER as usize..];
        let whole = data.len() / (2 * ch) * 2 * ch;
        let pcm: Vec<i16> = data[..whole].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        let frames = (pcm.len() / ch) as u64;
        let end = h.start_sample.saturating_add(frames);
        // What to store: the whole journal as its own chunk, or (when that chunk is queued
        // already: the recorder died after queueing a cut but before the next journal was
        // made durable) the audio past the queued chunks as the next chunk.
        let store = if !spans.contains_key(&i64::from(h.index)) {
            (frames > h.overlap_samples).then_some((h, 0))
        } else {
            let covered = spans.values().map(|s| s.1).max().unwrap_or(0);
            let next_index = spans.keys().max().map_or(0, |&s| s + 1);
            let index = u32::try_from(next_index).context("chunk index overflow")?;
            if end <= covered {
                None
            } else if covered < h.start_sample {
                // A gap before this journal (never made by a recorder): keep it all.
                Some((Header { index, overlap_samples: 0, ..h }, 0))
            } else {
                // The next journal's header, when it was written, has the chunker's own
                // start and overlap; else the overlap the queued chunks have (or 1 s).
                let next = read_header(&dir.join(journal_name(index)))
                    .filter(|n| n.index == index && (h.start_sample..=covered).contains(&n.start_sample));
                let (start, overlap) = match next {
                    Some(n) => (n.start_sample, n.overlap_samples.min(covered - n.start_sample)),
                    None => {
                        let usual = spans.values().map(|s| s.2).max().filter(|&o| o > 0);
                        let ov = usual.unwrap_or(u64::from(SAMPLE_RATE)).min(covered - h.start_sample);
                        (covered - ov, ov)
                    }
                };
                Some((Header { index, start_sample: start, overlap_samples: overlap, ..h }, start - h.start_sample))
            }
        };
        if let Some((c, from)) = store {
            let stored = store_chunk(dd, q, meeting, c, &pcm[from as usize * ch..], true)?;
            spans.insert(i64::from(c.index), (c.start_sample, c.start_sample + stored, c.overlap_samples));
            recovered_ms += (stored - c.overlap_samples) * 1000 / u64::from(SAMPLE_RATE);
            crate::log(&format!(
                "meeting {meeting}: recovered chunk {} ({:.1} s) from {}",
                c.index,
                stored as f64 / 16_000.0,
                path.display()
            ));
        }
        // Every frame of the journal is in a queued chunk now.
        fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    }
    if !damaged.is_empty() {
        q.note_meeting(meeting, &format!("damaged recording journal(s) set aside: {}", damaged.join(", ")))?;
    }
    let frames = crate::screens::queue_unqueued(dd, q, meeting)?;
    // The meeting's length: the end of its last chunk (every chunk is queued now).
    let end = q
        .meeting_jobs(meeting)?
        .iter()
        .filter(|j| j.task_type == TaskType::Audio)
        .map(|j| j.payload_as::<AudioChunk>().map(|c| c.end_sample()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .max()
        .unwrap_or(0);
    let duration_ms = i64::try_from(end * 1000 / u64::from(SAMPLE_RATE)).unwrap_or(i64::MAX);
    q.close_meeting(meeting, Some(duration_ms))?;
    crate::log(&format!(
        "meeting {meeting}: its recorder had died; closed it with {:.1} s of audio ({recovered_ms} ms recovered from the journal, {frames} screenshot(s) queued late)",
        duration_ms as f64 / 1000.0
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_other_files() {
        let h = Header { layout: MIC | SYSTEM, index: 7, start_sample: 1_234_567, overlap_samples: 16_000 };
        let p = Path::new("chunk-00007.live");
        assert_eq!(Header::decode(&h.encode(), p).unwrap(), h);
        assert!(Header::decode(b"RIFF....WAVEfmt ", p).is_err());
        let mut bad = h.encode();
        bad[8] = 9; // unknown channel layout
        assert!(Header::decode(&bad, p).is_err());
        assert_eq!(channels(MIC | SYSTEM), [Channel::Mic, Channel::System]);
        assert_eq!(channels(SYSTEM), [Channel::System]);
    }

    #[test]
    fn cut_writes_the_chunk_queues_it_and_carries_the_tail_over() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::at(tmp.path().join("data")).unwrap();
        let q = Queue::open_in(&dd, debrief_jobq::QueueConfig::default()).unwrap();
        let m = q.create_meeting(Some("t"), Some(SOURCE)).unwrap();
        let mut j = Journal::first(&dd, m, MIC | SYSTEM).unwrap();
        let frames: Vec<i16> = (0..2_000).flat_map(|i| [i as i16, -(i as i16)]).collect();
        j.append(&frames[..1_000]).unwrap();
        j.append(&frames[1_000..]).unwrap();
        // Chunk 0 is frames 0..1500; chunk 1 starts at 1400 with 100 frames of overlap.
        let next = j.cut((&dd, &q, m), 1_500, Some((1_400, 100))).unwrap().unwrap();
        assert_eq!((next.start_sample(), next.frames), (1_400, 600));
        assert_eq!(next.read_frames(0, 1).unwrap(), [1_400, -1_400]);
        let dir = dd.root().join(rel_audio(m));
        assert!(!dir.join(journal_name(0)).exists() && dir.join(journal_name(1)).exists());
        let mut r = hound::WavReader::open(dir.join("chunk-00000.wav")).unwrap();
        assert_eq!((r.spec().channels, r.len()), (2, 3_000));
        assert_eq!(r.samples::<i16>().nth(2_999).unwrap().unwrap(), -1_499);
        let jobs = q.meeting_jobs(m).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].payload["channels"], serde_json::json!(["mic", "system"]));
        // A dead recorder's journal becomes chunk 1 and the meeting is closed.
        drop(next);
        recover_meeting(&dd, &q, m).unwrap();
        let rec = q.meeting(m).unwrap().unwrap();
        assert_eq!((rec.status.as_str(), rec.duration_ms), ("CLOSED", Some(2_000 * 1000 / 16_000)));
        let jobs = q.meeting_jobs(m).unwrap();
        assert_eq!(
            (jobs[1].seq, jobs[1].payload["overlap_samples"].as_u64(), jobs[1].payload["recovered"].as_bool()),
            (1, Some(100), Some(true))
        );
        assert!(!dir.join(journal_name(1)).exists());
    }

    /// The steps of [`Journal::cut`] of chunk 0 (10 s, cut after 6 s, the next chunk
    /// starting 0.5 s before the cut), in order; a test performs the first `k` of them.
    const CUT_STEPS: &[&str] = &[
        "wav partial",
        "wav renamed",
        "job queued",
        "next journal created empty",
        "next journal header torn",
        "next journal half written",
        "next journal durable",
        "old journal removed",
    ];

    fn killed_during_cut(k: usize) -> (tempfile::TempDir, DataDir, Queue, MeetingId, Vec<i16>) {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::at(tmp.path().join("data")).unwrap();
        let q = Queue::open_in(&dd, debrief_jobq::QueueConfig::default()).unwrap();
        let m = q.create_meeting(Some("t"), Some(SOURCE)).unwrap();
        let total = 160_000u64;
        let pcm: Vec<i16> = (0..total).flat_map(|i| [(i % 30_000) as i16, -((i / 7) as i16)]).collect();
        let mut j = Journal::first(&dd, m, MIC | SYSTEM).unwrap();
        j.append(&pcm).unwrap();
        j.file.sync_data().unwrap();
        let (len, next_start, overlap) = (96_000u64, 88_000u64, 8_000u64);
        let h = j.header;
        let next = Header { index: 1, start_sample: next_start, overlap_samples: overlap, ..h };
        let tail = j.read_frames(next_start, total).unwrap();
        let dir = j.dir.clone();
        for step in &CUT_STEPS[..k] {
            match *step {
                "wav partial" => {
                    let p = debrief_config::partial_path(&dd.root().join(chunk_rel(m, 0)));
                    fs::write(p, b"RIFF\x00\x00").unwrap();
                }
                "wav renamed" => write_chunk(&dd, m, h, &j.read_frames(0, len).unwrap()).unwrap(),
                "job queued" => drop(queue_chunk(&q, m, h, len, false).unwrap()),
                "next journal created empty" => fs::write(dir.join(journal_name(1)), b"").unwrap(),
                "next journal header torn" => fs::write(dir.join(journal_name(1)), &next.encode()[..13]).unwrap(),
                "next journal half written" => {
                    let mut bytes = next.encode().to_vec();
                    bytes.extend(to_bytes(&tail[..tail.len() / 2 + 1]));
                    fs::write(dir.join(journal_name(1)), bytes).unwrap();
                }
                "next journal durable" => {
                    let _ = fs::remove_file(dir.join(journal_name(1)));
                    drop(Journal::create(&dir, next, &tail).unwrap());
                }
                "old journal removed" => fs::remove_file(j.path()).unwrap(),
                other => unreachable!("{other}"),
            }
        }
        drop(j);
        (tmp, dd, q, m, pcm)
    }

    /// Kill-point sweep through `Journal::cut`: whichever step the recorder died after,
    /// recovery succeeds, leaves no journal, and every frame the journal held is in a
    /// queued chunk, sample for sample (the promise is at most about 1 s lost).
    #[test]
    fn recovery_after_a_kill_at_any_step_of_a_cut_loses_nothing() {
        for k in 0..=CUT_STEPS.len() {
            let after = if k == 0 { "nothing" } else { CUT_STEPS[k - 1] };
            let (_tmp, dd, q, m, pcm) = killed_during_cut(k);
            recover_meeting(&dd, &q, m).unwrap_or_else(|e| panic!("killed after {after}: {e:#}"));
            let total = pcm.len() / 2;
            let mut covered = vec![false; total];
            for job in q.meeting_jobs(m).unwrap().iter().filter(|j| j.task_type == TaskType::Audio) {
                let c = job.payload_as::<AudioChunk>().unwrap();
                let mut r = hound::WavReader::open(dd.root().join(c.path.as_path())).unwrap();
                assert_eq!(u64::from(r.len()), 2 * c.samples, "killed after {after}: chunk {}", job.seq);
                let got: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
                let at = c.start_sample as usize;
                assert_eq!(got, pcm[2 * at..2 * (at + c.samples as usize)], "killed after {after}: chunk {}", job.seq);
                covered[at..at + c.samples as usize].iter_mut().for_each(|f| *f = true);
                if job.seq > 0 {
                    assert!(c.overlap_samples > 0, "killed after {after}: chunk {} has no overlap", job.seq);
                }
            }
            let lost = covered.iter().filter(|c| !**c).count();
            assert!(lost <= 16_000, "killed after {after}: {lost} frames lost");
            assert_eq!(lost, 0, "killed after {after}: everything was durable, yet {lost} frames were lost");
            let rec = q.meeting(m).unwrap().unwrap();
            assert_eq!((rec.status, rec.duration_ms), (MeetingStatus::Closed, Some(10_000)), "killed after {after}");
            let live: Vec<_> = fs::read_dir(dd.root().join(rel_audio(m)))
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "live"))
                .collect();
            assert!(live.is_empty(), "killed after {after}: journals left: {live:?}");
        }
    }

    /// The reported case: chunk 0 queued (90 s of a 150 s journal), no next journal.
    #[test]
    fn a_queued_cut_without_its_next_journal_keeps_the_tail() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::at(tmp.path().join("data")).unwrap();
        let q = Queue::open_in(&dd, debrief_jobq::QueueConfig::default()).unwrap();
        let m = q.create_meeting(Some("t"), Some(SOURCE)).unwrap();
        let mut j = Journal::first(&dd, m, MIC).unwrap();
        j.append(&vec![7i16; 150 * 16_000]).unwrap();
        store_chunk(&dd, &q, m, j.header, &j.read_frames(0, 90 * 16_000).unwrap(), false).unwrap();
        drop(j);
        recover_meeting(&dd, &q, m).unwrap();
        let jobs = q.meeting_jobs(m).unwrap();
        assert_eq!(jobs.len(), 2);
        let c = jobs[1].payload_as::<AudioChunk>().unwrap();
        // 1 s of overlap (no queued chunk says otherwise), through the end of the journal.
        assert_eq!(
            (c.start_sample, c.overlap_samples, c.end_sample(), c.recovered),
            (89 * 16_000, 16_000, 150 * 16_000, true)
        );
        assert_eq!(q.meeting(m).unwrap().unwrap().duration_ms, Some(150_000));
    }

    /// A torn journal (0 bytes, or a garbled header) is set aside and reported; it
    /// neither stops its own meeting's recovery nor anyone else's.
    #[test]
    fn a_torn_journal_is_set_aside_and_blocks_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::at(tmp.path().join("data")).unwrap();
        let q = Queue::open_in(&dd, debrief_jobq::QueueConfig::default()).unwrap();
        let torn = q.create_meeting(Some("torn"), Some(SOURCE)).unwrap();
        let dir = dd.subdir(rel_audio(torn)).unwrap();
        fs::write(dir.join(journal_name(0)), b"").unwrap();
        let mut garbled = vec![0xA5u8; 40_000];
        garbled[..4].copy_from_slice(b"RIFF");
        fs::write(dir.join(journal_name(1)), &garbled).unwrap();
        let fine = q.create_meeting(Some("fine"), Some(SOURCE)).unwrap();
        let mut j = Journal::first(&dd, fine, MIC).unwrap();
        j.append(&[3i16; 32_000]).unwrap();
        drop(j);

        let r = recover_dead(&dd, &q).unwrap();
        assert_eq!((r.closed, r.failed), (vec![torn, fine], vec![]));
        // Nothing deleted: both files are beside their old names, and reported.
        assert!(!dir.join(journal_name(0)).exists() && !dir.join(journal_name(1)).exists());
        assert_eq!(fs::metadata(dir.join("chunk-00000.live.damaged")).unwrap().len(), 0);
        assert_eq!(fs::read(dir.join("chunk-00001.live.damaged")).unwrap(), garbled);
        let rec = q.meeting(torn).unwrap().unwrap();
        assert_eq!(rec.status, MeetingStatus::Closed);
        let err = rec.error.unwrap();
        assert!(err.contains("chunk-00000.live.damaged") && err.contains("chunk-00001.live.damaged"), "{err}");
        assert!(err.contains("not a Debrief recording journal"), "{err}");
        let ok = q.meeting(fine).unwrap().unwrap();
        assert_eq!((ok.status, ok.duration_ms, ok.error), (MeetingStatus::Closed, Some(2_000), None));
        // And a later recovery has nothing left to trip on.
        let again = recover_dead(&dd, &q).unwrap();
        assert!(again.closed.is_empty() && again.failed.is_empty());
    }
}
