//! `ingest import`: recordings become a meeting of queued, crash-safe chunks.
//!
//! Every input is opened and checked before anything is created, so a file that is not
//! audio leaves no trace. Each chunk is written `.partial`, fsynced and renamed before
//! its AUDIO job is inserted (one transaction per chunk): a job never points at a
//! missing or partial file. The meeting is keyed by the sha256 of the inputs, and
//! chunking is deterministic, so re-running an interrupted import resumes it without
//! duplicating chunks; re-running a finished one just names the meeting. A resume trusts
//! a queued chunk only once its file is there and complete (else it is written again),
//! and a failed import removes its files only after its rows are gone.

use std::collections::HashMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use debrief_config::DataDir;
use debrief_contracts::{AudioChunk, DataPath};
use debrief_jobq::{JobId, MeetingId, MeetingStatus, NewJob, NewMeeting, Queue, QueueError, Status, TaskType};
use debrief_media::{write_wav_atomic, AudioSource, Chunk, ChunkPlan, Chunker, SAMPLE_RATE};
use sha2::{Digest, Sha256};

use crate::layout::{chunk_rel, meeting_dir, rel_audio};

/// `ingest import` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// The recordings, in order.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Meeting title (default: the first file's name).
    #[arg(long)]
    title: Option<String>,
    #[command(flatten)]
    chunks: ChunkArgs,
    #[command(flatten)]
    speakers: SpeakerHints,
    /// Import only the audio of video files (no slides from their picture).
    #[arg(long)]
    no_video: bool,
    /// Seconds of video between frames looked at for slide changes.
    #[arg(long, default_value_t = 0.5)]
    video_every: f64,
}

/// How many people speak, when the user knows (hints for the meeting-wide speaker
/// clustering; `foreman speakers --num` changes them later).
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct SpeakerHints {
    /// Exactly this many speakers.
    #[arg(long)]
    speakers: Option<usize>,
    /// At least this many speakers.
    #[arg(long)]
    min_speakers: Option<usize>,
    /// At most this many speakers.
    #[arg(long)]
    max_speakers: Option<usize>,
}

impl SpeakerHints {
    /// Stores the hints on `meeting` (nothing when none were given).
    pub(crate) fn store(&self, q: &debrief_jobq::Queue, meeting: debrief_jobq::MeetingId) -> Result<()> {
        let h = debrief_speakers::Hints {
            num: self.speakers.filter(|&n| n > 0),
            min: self.min_speakers.filter(|&n| n > 0),
            max: self.max_speakers.filter(|&n| n > 0),
        };
        if !h.is_empty() {
            q.write(|tx| debrief_speakers::set_hints(&mut debrief_jobq::Tx::Sqlite(tx), meeting, &h))?;
        }
        Ok(())
    }
}

/// How audio is cut into chunks (shared by `import` and `record`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ChunkArgs {
    /// Target chunk length in seconds (chunks are cut at the quietest point near it).
    #[arg(long, default_value_t = 90.0)]
    chunk_target: f64,
    /// Shortest chunk in seconds.
    #[arg(long, default_value_t = 60.0)]
    chunk_min: f64,
    /// Longest chunk in seconds.
    #[arg(long, default_value_t = 120.0)]
    chunk_max: f64,
    /// Seconds each chunk repeats of the previous one.
    #[arg(long, default_value_t = 1.0)]
    overlap: f64,
}

impl ChunkArgs {
    /// The validated plan.
    pub(crate) fn plan(&self) -> Result<ChunkPlan> {
        let plan = ChunkPlan {
            target_s: self.chunk_target,
            min_s: self.chunk_min,
            max_s: self.chunk_max,
            overlap_s: self.overlap,
        };
        plan.validate()?;
        Ok(plan)
    }
}

/// The payload of a chunk's AUDIO job (all positions in 16 kHz samples of meeting time).
pub(crate) fn chunk_payload(rel: PathBuf, start_sample: u64, samples: u64, overlap_samples: u64) -> Result<AudioChunk> {
    Ok(AudioChunk {
        path: DataPath::new(rel)?,
        start_sample,
        samples,
        overlap_samples,
        channels: Vec::new(),
        recovered: false,
    })
}

/// Imports the files as one meeting; returns its id (the caller prints it).
pub(crate) fn run(data_dir: Option<&Path>, args: &ImportArgs) -> Result<MeetingId> {
    let plan = args.chunks.plan()?;
    anyhow::ensure!(
        args.video_every.is_finite() && (0.05..=600.0).contains(&args.video_every),
        "--video-every must be between 0.05 and 600 seconds"
    );
    // Check every input before creating anything.
    let mut sources = Vec::new();
    for f in &args.files {
        sources.push(Input::open(f)?);
    }
    let sha = hash_files(&args.files)?;
    let (dd, q) = Queue::open_data_dir(data_dir)?;
    crate::journal::recover_dead(&dd, &q)?;

    let (meeting, done_seqs, created) = match q.find_meeting_by_source(&sha)? {
        Some(m) => {
            let rec = q.meeting(m)?.context("meeting vanished")?;
            if rec.status != MeetingStatus::Open {
                eprintln!("ingest: these files were imported already as meeting {m} ({})", rec.status);
                return Ok(m);
            }
            let queued = queued_chunks(&q, m)?;
            eprintln!(
                "ingest: resuming the interrupted import of meeting {m} ({} chunk(s) already queued; their files are checked)",
                queued.len()
            );
            (m, queued, false)
        }
        None => {
            let title = args.title.clone().unwrap_or_else(|| {
                args.files[0].file_stem().map_or_else(|| "meeting".to_owned(), |s| s.to_string_lossy().into_owned())
            });
            let source: Vec<String> = args.files.iter().map(|f| f.display().to_string()).collect();
            let m = q.create_meeting_with(&NewMeeting {
                title: Some(&title),
                source: Some(&source.join("\n")),
                source_sha256: Some(&sha),
            })?;
            crate::kill_point::here("meeting created");
            (m, HashMap::new(), true)
        }
    };

    args.speakers.store(&q, meeting)?;
    let outcome = import_chunks(&q, &dd, meeting, sources, &plan, &done_seqs).and_then(|(total, starts)| {
        if !args.no_video {
            let inputs: Vec<(&Path, i64)> = args
                .files
                .iter()
                .zip(&starts)
                .map(|(f, &s)| (f.as_path(), i64::try_from(s * 1000 / u64::from(SAMPLE_RATE)).unwrap_or(0)))
                .collect();
            let every_ms = (args.video_every * 1000.0).round() as i64;
            let v = crate::video::import_video(&q, &dd, meeting, &inputs, every_ms)?;
            if v.kept > 0 {
                eprintln!(
                    "ingest: meeting {meeting}: {} changed frame(s) of video queued ({} looked at)",
                    v.kept, v.sampled
                );
            }
            for p in &v.problems {
                // The audio is in: the video's damage is noted, not fatal.
                crate::log(&format!("meeting {meeting}: {p}; slides end there, the audio is imported"));
                q.note_meeting(meeting, p)?;
            }
        }
        Ok(total)
    });
    match outcome {
        Ok(total) => {
            crate::kill_point::here("before close");
            let duration_ms = i64::try_from(total * 1000 / u64::from(SAMPLE_RATE)).unwrap_or(i64::MAX);
            q.close_meeting(meeting, Some(duration_ms))?;
            eprintln!("ingest: meeting {meeting}: {:.1} s of audio queued", duration_ms as f64 / 1000.0);
            Ok(meeting)
        }
        Err(e) => {
            if created {
                abandon(&q, &dd, meeting);
            }
            Err(e)
        }
    }
}

/// Leaves no half-made meeting: its rows (jobs cascade) go, and then its files. Files are
/// removed only once the rows are: a job must never point at a deleted file (when the
/// delete fails, a re-run resumes the meeting and finds its files).
fn abandon(q: &Queue, dd: &DataDir, meeting: MeetingId) {
    match q.delete_open_meeting(meeting) {
        Ok(true) => {
            let _ = std::fs::remove_dir_all(meeting_dir(dd, meeting));
        }
        Ok(false) => crate::log(&format!("meeting {meeting} is no longer OPEN; its jobs and files are kept")),
        Err(e) => crate::log(&format!(
            "could not delete the unfinished meeting {meeting} ({e}); its files are kept and a re-run resumes it"
        )),
    }
}

/// The AUDIO jobs an interrupted import queued already, by seq.
fn queued_chunks(q: &Queue, meeting: MeetingId) -> Result<HashMap<i64, Queued>> {
    let mut out = HashMap::new();
    for j in q.meeting_jobs(meeting)?.into_iter().filter(|j| j.task_type == TaskType::Audio) {
        let chunk = j.payload_as::<AudioChunk>()?;
        out.insert(j.seq, Queued { job_id: j.job_id, status: j.status, chunk });
    }
    Ok(out)
}

/// One input's audio: symphonia for audio files (`AudioSource`, strict about damage),
/// FFmpeg for video files (screen recordings: MP4, MKV, WebM with AAC or Opus), whose
/// audio survives damage to the file.
#[derive(Debug)]
pub(crate) enum Input {
    Audio(Box<AudioSource>),
    Video(Box<debrief_media::video::VideoAudio>),
}

impl Input {
    pub(crate) fn open(path: &Path) -> Result<Input> {
        // A file FFmpeg cannot read as video goes to symphonia, whose errors name what
        // is wrong with an audio file.
        if debrief_media::video::has_video(path).unwrap_or(false) {
            return match debrief_media::video::VideoAudio::open(path)? {
                Some(v) => Ok(Input::Video(Box::new(v))),
                None => anyhow::bail!(
                    "{}: a video without an audio track (meetings are imported by their audio)",
                    path.display()
                ),
            };
        }
        Ok(Input::Audio(Box::new(AudioSource::open(path)?)))
    }

    fn duration_s(&self) -> Option<f64> {
        match self {
            Input::Audio(a) => a.info().duration_s,
            Input::Video(v) => v.duration_s,
        }
    }

    fn next_block(&mut self, name: &str) -> Result<Option<Vec<f32>>> {
        match self {
            Input::Audio(a) => a.next_block().with_context(|| format!("decoding {name}")),
            Input::Video(v) => Ok(v.next_block()?),
        }
    }
}

/// A chunk's job found when resuming.
#[derive(Debug)]
struct Queued {
    job_id: JobId,
    status: Status,
    chunk: AudioChunk,
}

/// Whether `path` is the complete chunk file of `samples` 16-bit mono samples (as
/// `write_wav_atomic` writes it: a 44-byte header, then the samples).
fn chunk_file_complete(path: &Path, samples: u64) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() == 44 + 2 * samples)
}

/// Decodes, chunks, writes and queues; returns the total number of 16 kHz samples and
/// where each source starts (in samples of meeting time).
/// Chunks in `done` are trusted only once their file is there and complete: a missing or
/// short one is written again (and its job, if it failed, retried).
fn import_chunks(
    q: &Queue,
    dd: &DataDir,
    meeting: MeetingId,
    sources: Vec<Input>,
    plan: &ChunkPlan,
    done: &HashMap<i64, Queued>,
) -> Result<(u64, Vec<u64>)> {
    dd.subdir(rel_audio(meeting))?;
    let total_s: f64 = sources.iter().filter_map(Input::duration_s).sum();
    let bar = progress(total_s);
    let mut chunker = Chunker::new(*plan);
    let mut total: u64 = 0;
    let emit = |c: Chunk| -> Result<()> {
        let seq = i64::from(c.index);
        let rel = chunk_rel(meeting, c.index);
        let payload = chunk_payload(rel.clone(), c.start_sample, c.samples.len() as u64, c.overlap_samples)?;
        let path = dd.root().join(&rel);
        if let Some(old) = done.get(&seq) {
            let same = (old.chunk.path.as_path(), old.chunk.start_sample, old.chunk.samples, old.chunk.overlap_samples)
                == (rel.as_path(), payload.start_sample, payload.samples, payload.overlap_samples);
            anyhow::ensure!(
                same,
                "meeting {meeting}: chunk {seq} was queued with other bounds than this run cuts \
                 (different --chunk-* or --overlap options?); re-run with the options of the first run"
            );
            if chunk_file_complete(&path, payload.samples) {
                return Ok(());
            }
            crate::log(&format!("meeting {meeting}: chunk {seq}'s file is missing or incomplete; writing it again"));
            write_wav_atomic(&path, &c.samples)?;
            if old.status == Status::Failed {
                q.retry_failed(Some(old.job_id))?;
            }
            return Ok(());
        }
        write_wav_atomic(&path, &c.samples)?;
        crate::kill_point::here("chunk written");
        q.enqueue(&NewJob::new(meeting, TaskType::Audio, seq).payload(&payload)).map_err(|e| match e {
            QueueError::MeetingNotOpen { status: MeetingStatus::Cancelled, .. } => {
                anyhow::anyhow!("meeting {meeting} was cancelled while it was being imported; the import stopped")
            }
            QueueError::MeetingNotOpen { status, .. } => {
                anyhow::anyhow!("meeting {meeting} became {status} while it was being imported; the import stopped")
            }
            e => e.into(),
        })?;
        crate::kill_point::here("chunk queued");
        Ok(())
    };
    let mut starts = Vec::with_capacity(sources.len());
    let names: Vec<String> = sources
        .iter()
        .map(|s| match s {
            Input::Audio(a) => a.info().path.display().to_string(),
            Input::Video(v) => v.path().display().to_string(),
        })
        .collect();
    for (mut src, name) in sources.into_iter().zip(names) {
        starts.push(total);
        let start = total;
        while let Some(block) = src.next_block(&name)? {
            total += block.len() as u64;
            if let Some(b) = &bar {
                b.set_position(total * 1000 / u64::from(SAMPLE_RATE));
            }
            for c in chunker.push(&block) {
                emit(c)?;
            }
        }
        if let Input::Video(v) = &src {
            // FFmpeg reads past damage and up to a truncation: say what was skipped.
            let got_s = (total - start) as f64 / f64::from(SAMPLE_RATE);
            let mut notes = Vec::new();
            if v.damaged > 0 || v.filled > 0 {
                notes.push(format!(
                    "{name}: damaged: {} packet(s) unreadable, {:.1} s of audio lost (silent, so what follows keeps its time)",
                    v.damaged,
                    v.filled as f64 / f64::from(SAMPLE_RATE)
                ));
            }
            if let Some(d) = v.duration_s.filter(|d| got_s + 2.0 < *d) {
                notes
                    .push(format!("{name}: audio ends at {got_s:.1} s of the {d:.1} s the file declares (truncated?)"));
            }
            for n in notes {
                crate::log(&format!("meeting {meeting}: {n}"));
                q.note_meeting(meeting, &n)?;
            }
        }
    }
    if let Some(c) = chunker.finish() {
        emit(c)?;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok((total, starts))
}

fn progress(total_s: f64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new((total_s * 1000.0) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} importing [{bar:30}] {percent:>3}% {elapsed} (eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

fn hash_files(files: &[PathBuf]) -> Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for f in files {
        let mut file = std::fs::File::open(f).with_context(|| format!("{}: cannot open", f.display()))?;
        loop {
            let n = file.read(&mut buf).with_context(|| format!("{}: read error", f.display()))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        // Separate files, so that splitting the same bytes differently hashes differently.
        h.update(b"\0debrief-file-boundary\0");
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use debrief_jobq::QueueConfig;

    const PLAN: ChunkPlan = ChunkPlan { target_s: 3.0, min_s: 2.0, max_s: 4.0, overlap_s: 0.5 };

    fn setup() -> (tempfile::TempDir, DataDir, Queue, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::at(tmp.path().join("data")).unwrap();
        let q = Queue::open_in(&dd, QueueConfig::default()).unwrap();
        let wav = tmp.path().join("in.wav");
        let samples: Vec<f32> =
            (0..12 * 16_000).map(|i| ((i as f32) * 0.05).sin() * (0.1 + (i % 40_000) as f32 / 40_000.0)).collect();
        write_wav_atomic(&wav, &samples).unwrap();
        (tmp, dd, q, wav)
    }

    /// A resumed import checks the files of the chunks it finds queued: a missing one
    /// and a short one are written again (not trusted because their job exists).
    #[test]
    fn resume_rewrites_missing_and_short_chunk_files() {
        let (_tmp, dd, q, wav) = setup();
        let m = q.create_meeting(Some("t"), None).unwrap();
        import_chunks(&q, &dd, m, vec![Input::open(&wav).unwrap()], &PLAN, &HashMap::new()).unwrap();
        let jobs = q.meeting_jobs(m).unwrap();
        assert!(jobs.len() >= 3, "{} chunks", jobs.len());
        let file = |seq: u32| dd.root().join(chunk_rel(m, seq));
        let sizes: Vec<u64> = (0..jobs.len() as u32).map(|s| std::fs::metadata(file(s)).unwrap().len()).collect();
        std::fs::remove_file(file(1)).unwrap();
        std::fs::OpenOptions::new().write(true).open(file(2)).unwrap().set_len(sizes[2] / 2).unwrap();

        let done = queued_chunks(&q, m).unwrap();
        import_chunks(&q, &dd, m, vec![Input::open(&wav).unwrap()], &PLAN, &done).unwrap();
        let after: Vec<u64> = (0..jobs.len() as u32).map(|s| std::fs::metadata(file(s)).unwrap().len()).collect();
        assert_eq!(after, sizes);
        assert_eq!(q.meeting_jobs(m).unwrap().len(), jobs.len());
        for j in q.meeting_jobs(m).unwrap() {
            let c = j.payload_as::<AudioChunk>().unwrap();
            assert!(chunk_file_complete(&dd.root().join(c.path.as_path()), c.samples), "chunk {}", j.seq);
        }
        // Other chunk bounds than the queued ones are refused, not mixed in.
        let other = ChunkPlan { overlap_s: 0.25, ..PLAN };
        let err = import_chunks(&q, &dd, m, vec![Input::open(&wav).unwrap()], &other, &done).unwrap_err();
        assert!(err.to_string().contains("other bounds"), "{err:#}");
    }

    /// When the meeting's rows cannot be deleted (here: another process holds the
    /// database's write lock), its files stay, so its jobs never point at deleted files.
    #[test]
    fn abandon_keeps_the_files_when_the_delete_fails() {
        let (_tmp, dd, _q, wav) = setup();
        let cfg = QueueConfig { busy_timeout: std::time::Duration::from_millis(200), ..QueueConfig::default() };
        let q = Queue::open_in(&dd, cfg).unwrap();
        let m = q.create_meeting(Some("t"), None).unwrap();
        import_chunks(&q, &dd, m, vec![Input::open(&wav).unwrap()], &PLAN, &HashMap::new()).unwrap();
        let locker = rusqlite::Connection::open(dd.db_path()).unwrap();
        locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
        abandon(&q, &dd, m);
        locker.execute_batch("ROLLBACK").unwrap();
        assert_eq!(q.meeting(m).unwrap().unwrap().status, MeetingStatus::Open);
        for j in q.meeting_jobs(m).unwrap() {
            let c = j.payload_as::<AudioChunk>().unwrap();
            assert!(chunk_file_complete(&dd.root().join(c.path.as_path()), c.samples), "chunk {}", j.seq);
        }
        // Once the database answers, the meeting and its files go together.
        abandon(&q, &dd, m);
        assert!(q.meeting(m).unwrap().is_none() && !meeting_dir(&dd, m).exists());
    }

    /// `foreman cancel` during an import: the next chunk's enqueue is refused and the
    /// import stops with an error saying so, adding nothing to the cancelled meeting.
    #[test]
    fn an_import_stops_when_its_meeting_is_cancelled() {
        let (_tmp, dd, q, wav) = setup();
        let m = q.create_meeting(Some("t"), None).unwrap();
        q.enqueue(&NewJob::new(m, TaskType::Audio, 0)).unwrap();
        q.cancel_meeting(m).unwrap();
        let err = import_chunks(&q, &dd, m, vec![Input::open(&wav).unwrap()], &PLAN, &HashMap::new()).unwrap_err();
        assert!(err.to_string().contains("was cancelled while it was being imported"), "{err:#}");
        assert_eq!(q.meeting_jobs(m).unwrap().len(), 1);
    }
}
