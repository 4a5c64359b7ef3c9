//! `ingest import`: recordings become a meeting of queued, crash-safe chunks.
//!
//! Every input is opened and checked before anything is created, so a file that is not
//! audio leaves no trace. Each chunk is written `.partial`, fsynced and renamed before
//! its AUDIO job is inserted (one transaction per chunk): a job never points at a
//! missing or partial file. The meeting is keyed by the sha256 of the inputs, and
//! chunking is deterministic, so re-running an interrupted import resumes it without
//! duplicating chunks; re-running a finished one just names the meeting.

use std::collections::HashSet;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use debrief_config::DataDir;
use debrief_contracts::{AudioChunk, DataPath};
use debrief_jobq::{MeetingId, MeetingStatus, NewJob, NewMeeting, Queue, TaskType};
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

pub(crate) fn run(data_dir: Option<&Path>, args: &ImportArgs) -> Result<()> {
    let plan = args.chunks.plan()?;
    // Check every input before creating anything.
    let mut sources = Vec::new();
    for f in &args.files {
        sources.push(AudioSource::open(f)?);
    }
    let sha = hash_files(&args.files)?;
    let (dd, q) = Queue::open_data_dir(data_dir)?;
    crate::journal::recover_dead(&dd, &q)?;

    let (meeting, done_seqs, created) = match q.find_meeting_by_source(&sha)? {
        Some(m) => {
            let rec = q.meeting(m)?.context("meeting vanished")?;
            if rec.status != MeetingStatus::Open {
                eprintln!("ingest: these files were imported already as meeting {m} ({})", rec.status);
                println!("{m}");
                return Ok(());
            }
            let seqs: HashSet<i64> = q.meeting_seqs(m, TaskType::Audio)?.into_iter().collect();
            eprintln!(
                "ingest: resuming the interrupted import of meeting {m} ({} chunk(s) already queued)",
                seqs.len()
            );
            (m, seqs, false)
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
            (m, HashSet::new(), true)
        }
    };

    let outcome = import_chunks(&q, &dd, meeting, sources, &plan, &done_seqs);
    match outcome {
        Ok(total) => {
            let duration_ms = i64::try_from(total * 1000 / u64::from(SAMPLE_RATE)).unwrap_or(i64::MAX);
            q.close_meeting(meeting, Some(duration_ms))?;
            eprintln!("ingest: meeting {meeting}: {:.1} s of audio queued", duration_ms as f64 / 1000.0);
            println!("{meeting}");
            Ok(())
        }
        Err(e) => {
            if created {
                // Leave no half-made meeting: its rows (jobs cascade) and its files go.
                let _ = q.delete_open_meeting(meeting);
                let _ = std::fs::remove_dir_all(meeting_dir(&dd, meeting));
            }
            Err(e)
        }
    }
}

/// Decodes, chunks, writes and queues; returns the total number of 16 kHz samples.
fn import_chunks(
    q: &Queue,
    dd: &DataDir,
    meeting: MeetingId,
    sources: Vec<AudioSource>,
    plan: &ChunkPlan,
    done: &HashSet<i64>,
) -> Result<u64> {
    dd.subdir(rel_audio(meeting))?;
    let total_s: f64 = sources.iter().filter_map(|s| s.info().duration_s).sum();
    let bar = progress(total_s);
    let mut chunker = Chunker::new(*plan);
    let mut total: u64 = 0;
    let emit = |c: Chunk| -> Result<()> {
        let seq = i64::from(c.index);
        if done.contains(&seq) {
            return Ok(());
        }
        let rel = chunk_rel(meeting, c.index);
        write_wav_atomic(&dd.root().join(&rel), &c.samples)?;
        let payload = chunk_payload(rel, c.start_sample, c.samples.len() as u64, c.overlap_samples)?;
        q.enqueue(&NewJob::new(meeting, TaskType::Audio, seq).payload(&payload))?;
        Ok(())
    };
    for mut src in sources {
        let name = src.info().path.display().to_string();
        while let Some(block) = src.next_block().with_context(|| format!("decoding {name}"))? {
            total += block.len() as u64;
            if let Some(b) = &bar {
                b.set_position(total * 1000 / u64::from(SAMPLE_RATE));
            }
            for c in chunker.push(&block) {
                emit(c)?;
            }
        }
    }
    if let Some(c) = chunker.finish() {
        emit(c)?;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(total)
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
