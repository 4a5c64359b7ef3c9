//! `ingest record`: live capture of the microphone and the system audio (and screenshots)
//! into queued chunks while the meeting goes on.
//!
//! ```text
//! capture thread per source ──► rtrb SPSC ring (4 s; full = drop and count)
//!   (pa_simple_read, 20 ms)          │
//!                                    ▼  every 100 ms, a tokio task:
//!            drain ─► rubato to 16 kHz ─► align ─► (mic, system) i16 frames + mono mix
//!                                    │                          │
//!                                    │                     Chunker (quiet-point cuts)
//!                                    ▼                          ▼
//!                blocking writer (spawn_blocking): journal append, fdatasync ≥ 1/s,
//!                on a cut: chunk WAV .partial → fsync → rename → AUDIO job → next journal
//! screenshot loop (spawn_blocking): X11 grab every N s ─► changed? ─► PNG ─► VISUAL jobs
//! ```
//!
//! The capture threads never wait on anything but the device; the async loop never waits
//! on a file or the database (the writer's channel is unbounded: a stalled disk or a
//! locked database grows it by 64 KB per second of audio instead of stalling capture).
//! Meeting time zero is the first captured audio frame (a sound server can take a second
//! to deliver it); screenshots start then too, and `--for` counts from then.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use debrief_config::DataDir;
use debrief_jobq::{MeetingId, NewMeeting, Queue};
use debrief_media::{ChunkPlan, Chunker, MonoResampler, SAMPLE_RATE};
use serde_json::json;
use tokio::sync::mpsc;

use crate::import::ChunkArgs;
use crate::journal::{self, Journal, MIC, SYSTEM};
use crate::pulse::{self, Capture, Devices, Source};
use crate::screens::{Screen, ScreenLoop};
use debrief_contracts::{Channel, RecordReport, SourceReport};

/// `ingest record` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct RecordArgs {
    /// Meeting title (default: "Recording" and the start time).
    #[arg(long)]
    title: Option<String>,
    /// Record this microphone (a source name from `ingest devices`). Without --mic and
    /// --system-audio both the default microphone and the system audio are recorded.
    #[arg(long, value_name = "DEVICE")]
    mic: Option<String>,
    /// Record the system audio (what the other participants say): the monitor of the
    /// default output, or of output DEVICE (a sink, or a monitor source).
    #[arg(long, value_name = "DEVICE", num_args = 0..=1, default_missing_value = "")]
    system_audio: Option<String>,
    /// Record no audio (screenshots only).
    #[arg(long, conflicts_with_all = ["mic", "system_audio"])]
    no_audio: bool,
    /// Take screenshots (X11), keeping those that changed, as VISUAL jobs.
    #[arg(long)]
    screens: bool,
    #[command(flatten)]
    speakers: crate::import::SpeakerHints,
    /// Seconds between screenshots.
    #[arg(long, default_value_t = 5.0, requires = "screens")]
    every: f64,
    /// X display for screenshots (default: $DISPLAY).
    #[arg(long, value_name = "D", requires = "screens")]
    display: Option<String>,
    /// Stop after this long (90, 90s, 45m, 1h30m); else at SIGINT/SIGTERM (Ctrl-C).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    #[command(flatten)]
    chunks: ChunkArgs,
}

/// `90`, `1.5s`, `45m`, `1h30m`, `2h`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (examples: 90, 90s, 45m, 1h30m)");
    let mut total = 0.0;
    let mut num = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600.0,
            'm' => 60.0,
            's' => 1.0,
            _ => return Err(bad()),
        };
        total += num.parse::<f64>().map_err(|_| bad())? * unit;
        num.clear();
    }
    if !num.is_empty() {
        total += num.parse::<f64>().map_err(|_| bad())?;
    }
    if !(total.is_finite() && total > 0.0 && total < 1e7) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

/// Live counters for the status line and the final report.
#[derive(Debug, Default)]
struct Counters {
    samples: AtomicU64,
    chunks: AtomicU64,
    screens: Arc<AtomicU64>,
    /// Peak level of the last block per channel (f32 bits).
    levels: [AtomicU32; 2],
}

/// What the mixer sends the blocking writer, in order.
#[derive(Debug)]
enum Msg {
    Append(Vec<i16>),
    /// Cut the chunk in progress after `len` frames; `next`: (start, overlap) of the
    /// next chunk, `None` for the last.
    Cut {
        start: u64,
        len: u64,
        next: Option<(u64, u64)>,
    },
}

/// Records a meeting; returns its id once it is closed (the caller prints it).
pub(crate) fn run(data_dir: Option<&std::path::Path>, args: &RecordArgs) -> Result<MeetingId> {
    let plan = args.chunks.plan()?;
    if !(args.every.is_finite() && args.every >= 0.2) {
        bail!("--every must be at least 0.2 seconds");
    }
    let (dd, q) = Queue::open_data_dir(data_dir)?;
    journal::recover_dead(&dd, &q)?;

    // Everything that can be refused is checked before the meeting exists.
    let sources = choose_sources(args)?;
    let screen = args.screens.then(|| Screen::open(args.display.as_deref())).transpose()?;
    if sources.is_empty() && screen.is_none() {
        bail!("nothing to record: --no-audio needs --screens");
    }
    let layout = sources.iter().fold(0, |l, (bit, _)| l | bit);

    let start_guard = journal::start_lock(&dd)?;
    let title = args.title.clone().unwrap_or_else(|| format!("Recording {}", &debrief_jobq::utc_now()[..16]));
    let meeting =
        q.create_meeting_with(&NewMeeting { title: Some(&title), source: Some(journal::SOURCE), source_sha256: None })?;
    let _session = journal::lock_session(&dd, meeting)?;
    drop(start_guard);
    args.speakers.store(&q, meeting)?;

    let stop = Arc::new(AtomicBool::new(false));
    let started = start(&dd, meeting, &sources, layout, &stop);
    let (captures, first) = match started {
        Ok(c) => c,
        Err(e) => {
            let _ = q.delete_open_meeting(meeting);
            let _ = std::fs::remove_dir_all(crate::layout::meeting_dir(&dd, meeting));
            return Err(e);
        }
    };
    let names: Vec<String> = captures.iter().map(|c| c.source.name.clone()).collect();
    crate::log(&format!(
        "meeting {meeting} \"{title}\": recording {}{}{}",
        if names.is_empty() { "no audio".to_owned() } else { names.join(" + ") },
        if screen.is_some() { format!(", screenshots every {} s", args.every) } else { String::new() },
        args.duration.map_or(" until Ctrl-C".to_owned(), |d| format!(" for {:.1} s", d.as_secs_f64())),
    ));
    let session = Session {
        dd: dd.clone(),
        q: q.clone(),
        meeting,
        plan,
        layout,
        t0: Instant::now(),
        duration: args.duration,
        every: Duration::from_secs_f64(args.every),
        counters: Arc::new(Counters::default()),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let outcome = rt.block_on(session.record(captures, &stop, first, screen));
    rt.shutdown_timeout(Duration::from_secs(5));
    let report = outcome?;
    let stats_path = crate::layout::meeting_dir(&dd, meeting).join("record-stats.json");
    debrief_config::write_file_atomic(&stats_path, &serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("{}", stats_path.display()))?;
    let duration_ms = i64::try_from(report.recorded_ms).unwrap_or(i64::MAX);
    if report.writer_failed {
        // The journal holds what could not be chunked: leave the meeting OPEN for
        // recovery, which runs once this process (and its session lock) is gone.
        bail!(
            "writing the recording failed: {}; meeting {meeting} stays open, `ingest recover` finishes it once the cause is fixed",
            report.error.as_deref().unwrap_or("?")
        );
    }
    q.close_meeting(meeting, Some(duration_ms))?;
    crate::log(&format!(
        "meeting {meeting}: {:.1} s of audio in {} chunk(s), {} screenshot(s), {} frame(s) dropped; closed for processing",
        duration_ms as f64 / 1000.0,
        report.chunks,
        report.screenshots,
        report.dropped_frames,
    ));
    if let Some(err) = &report.error {
        bail!("the recording stopped early: {err} (what was recorded is kept and queued)");
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(meeting)
}

fn choose_sources(args: &RecordArgs) -> Result<Vec<(u16, Source)>> {
    if args.no_audio {
        return Ok(Vec::new());
    }
    let devices = Devices::query()?;
    let mut out = Vec::new();
    if args.mic.is_none() && args.system_audio.is_none() {
        if let Some(m) = devices.mic(None)? {
            out.push((MIC, m));
        }
        if let Ok(s) = devices.system(None) {
            out.push((SYSTEM, s));
        }
        if out.is_empty() {
            bail!("no microphone and no system audio found; `ingest devices` lists what there is");
        }
        return Ok(out);
    }
    if let Some(m) = &args.mic {
        out.push((MIC, devices.mic(Some(m))?.context("no such microphone")?));
    }
    if let Some(s) = &args.system_audio {
        out.push((SYSTEM, devices.system(Some(s.as_str()).filter(|s| !s.is_empty()))?));
    }
    if out.len() == 2 && out[0].1.name == out[1].1.name {
        bail!("--mic and --system-audio name the same source {}", out[0].1.name);
    }
    Ok(out)
}

/// Writes the session file, the first journal, and starts the captures.
fn start(
    dd: &DataDir,
    meeting: MeetingId,
    sources: &[(u16, Source)],
    layout: u16,
    stop: &Arc<AtomicBool>,
) -> Result<(Vec<Capture>, Option<Journal>)> {
    let dir = dd.subdir(crate::layout::rel_meeting(meeting))?;
    let info = json!({
        "pid": std::process::id(),
        "started_monotonic_ns": pulse::monotonic_ns(),
        "channels": journal::channels(layout),
        "devices": sources.iter().map(|(_, s)| s.name.clone()).collect::<Vec<_>>(),
    });
    debrief_config::write_file_atomic(&dir.join("record.json"), info.to_string().as_bytes())?;
    let first = if sources.is_empty() { None } else { Some(Journal::first(dd, meeting, layout)?) };
    let mut captures = Vec::new();
    for (_, s) in sources {
        match pulse::start(s, 4, stop) {
            Ok(c) => captures.push(c),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
    }
    Ok((captures, first))
}

struct Session {
    dd: DataDir,
    q: Queue,
    meeting: MeetingId,
    plan: ChunkPlan,
    layout: u16,
    t0: Instant,
    duration: Option<Duration>,
    every: Duration,
    counters: Arc<Counters>,
}

/// One source on the mixer side: its ring, resampler and 16 kHz samples not yet mixed.
struct Input {
    cap: Capture,
    resampler: MonoResampler,
    pending: Vec<f32>,
    scratch: Vec<f32>,
}

impl Input {
    fn drain(&mut self) -> Result<()> {
        let n = self.cap.ring.slots();
        if n == 0 {
            return Ok(());
        }
        let chunk = self.cap.ring.read_chunk(n).map_err(|e| anyhow!("{e}"))?;
        let (a, b) = chunk.as_slices();
        self.scratch.clear();
        self.scratch.extend_from_slice(a);
        self.scratch.extend_from_slice(b);
        chunk.commit_all();
        self.resampler.process(&self.scratch, &mut self.pending).map_err(|e| anyhow!("resampling: {e}"))
    }
}

impl Session {
    async fn record(
        self,
        captures: Vec<Capture>,
        stop: &AtomicBool,
        first: Option<Journal>,
        screen: Option<Screen>,
    ) -> Result<RecordReport> {
        let screens_stop = Arc::new(AtomicBool::new(false));
        // Meeting time zero (CLOCK_MONOTONIC ns): the first audio frame, or now.
        let zero_ns = Arc::new(AtomicI64::new(if captures.is_empty() { pulse::monotonic_ns() } else { 0 }));
        let screens = screen.map(|screen| {
            let lp = ScreenLoop {
                screen,
                every: self.every,
                dd: self.dd.clone(),
                q: self.q.clone(),
                meeting: self.meeting,
                zero_ns: Arc::clone(&zero_ns),
                stop: Arc::clone(&screens_stop),
                saved: Arc::clone(&self.counters.screens),
            };
            tokio::task::spawn_blocking(move || lp.run())
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = first.map(|j| {
            let (dd, q, meeting, counters) =
                (self.dd.clone(), self.q.clone(), self.meeting, Arc::clone(&self.counters));
            tokio::task::spawn_blocking(move || write_loop(rx, j, &dd, &q, meeting, &counters))
        });
        let status_stop = Arc::new(AtomicBool::new(false));
        let status = {
            let (c, stop, t0) = (Arc::clone(&self.counters), Arc::clone(&status_stop), self.t0);
            let drops: Vec<_> = captures.iter().map(|c| Arc::clone(&c.stats)).collect();
            let roles: Vec<&str> = journal::channels(self.layout).into_iter().map(Channel::as_str).collect();
            std::thread::spawn(move || status_loop(&c, &drops, &roles, t0, &stop))
        };

        let mut inputs = Vec::new();
        for cap in captures {
            let resampler = MonoResampler::new(cap.source.rate).map_err(|e| anyhow!("{}: {e}", cap.source.name))?;
            inputs.push(Input { cap, resampler, pending: Vec::new(), scratch: Vec::new() });
        }
        let mut mixer = Mixer {
            chunker: Chunker::try_new(self.plan)?,
            tx,
            aligned: false,
            padded: 0,
            counters: Arc::clone(&self.counters),
        };

        // The loop: drain every 100 ms until the deadline or a signal.
        let mut error: Option<String> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // --for counts from the first captured frame (a sound server can take a second
        // to deliver it), or from the start when there is no audio.
        let far = tokio::time::Instant::now() + Duration::from_secs(365 * 86_400);
        let mut armed = inputs.is_empty();
        let deadline = match self.duration {
            Some(d) if armed => tokio::time::Instant::from_std(self.t0 + d),
            _ => far,
        };
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let until = tokio::time::sleep_until(deadline);
        tokio::pin!(until);
        loop {
            tokio::select! {
                _ = &mut until => break,
                _ = sigint.recv() => { crate::log("SIGINT: finishing the recording"); break }
                _ = sigterm.recv() => { crate::log("SIGTERM: finishing the recording"); break }
                _ = tick.tick() => {
                    if let Some(dead) = inputs.iter().find(|i| i.cap.thread.as_ref().is_none_or(|t| t.is_finished())) {
                        error = Some(format!("capture from {} ended", dead.cap.source.name));
                        break;
                    }
                    if let Err(e) = mixer.step(&mut inputs, self.t0, false) {
                        error = Some(format!("{e:#}"));
                        break;
                    }
                    let first = inputs.iter().map(|i| i.cap.stats.first_ns.load(Ordering::Relaxed)).filter(|&f| f > 0).min();
                    if let (false, Some(f)) = (armed, first) {
                        armed = true;
                        zero_ns.store(f, Ordering::Relaxed);
                        if let Some(d) = self.duration {
                            let since = Duration::from_nanos((pulse::monotonic_ns() - f).max(0) as u64);
                            until.as_mut().reset(tokio::time::Instant::now() + d.saturating_sub(since));
                        }
                        // Note audio time zero in the session file (for tools and tests).
                        let path = crate::layout::meeting_dir(&self.dd, self.meeting).join("record.json");
                        tokio::task::spawn_blocking(move || note_first_frame(&path, f));
                    }
                }
            }
        }

        let stopped_after = self.t0.elapsed();
        // Stop: the capture threads end after their current fragment; then the rest.
        stop.store(true, Ordering::Relaxed);
        let mut source_reports = Vec::new();
        let mut dropped = 0;
        for i in &mut inputs {
            let Some(th) = i.cap.thread.take() else { continue };
            match tokio::task::spawn_blocking(move || th.join()).await? {
                Ok(Ok(())) => {}
                // The thread's own error says why its capture ended.
                Ok(Err(e)) => error = Some(format!("{e:#}")),
                Err(_) => error = error.or(Some(format!("the capture thread for {} panicked", i.cap.source.name))),
            }
        }
        if let Err(e) = mixer.step(&mut inputs, self.t0, true) {
            error = error.or(Some(format!("{e:#}")));
        }
        let total = mixer.counters.samples.load(Ordering::Relaxed);
        let last = mixer.chunker.finish();
        if let Some(c) = last {
            let _ = mixer.tx.send(Msg::Cut { start: c.start_sample, len: c.samples.len() as u64, next: None });
        }
        drop(mixer.tx);
        let mut writer_failed = false;
        if let Some(w) = writer {
            if let Err(e) = w.await? {
                // The writer's own error says more than the mixer's "writer stopped".
                error = Some(format!("{e:#}"));
                writer_failed = true;
            }
        }
        screens_stop.store(true, Ordering::Relaxed);
        if let Some(s) = screens {
            if let Err(e) = s.await? {
                error = error.or(Some(format!("screenshots: {e:#}")));
            }
        }
        status_stop.store(true, Ordering::Relaxed);
        let _ = status.join();

        for i in &inputs {
            let st = &i.cap.stats;
            let (frames, drop, first, last) = (
                st.frames.load(Ordering::Relaxed),
                st.dropped.load(Ordering::Relaxed),
                st.first_ns.load(Ordering::Relaxed),
                st.last_ns.load(Ordering::Relaxed),
            );
            dropped += drop;
            source_reports.push(SourceReport {
                device: i.cap.source.name.clone(),
                rate: i.cap.source.rate,
                frames,
                dropped_frames: drop,
                audio_ms: frames as f64 * 1000.0 / f64::from(i.cap.source.rate.max(1)),
                capture_wall_ms: (last - first) as f64 / 1e6,
                first_frame_monotonic_ns: first,
            });
        }
        let recorded_ms =
            if inputs.is_empty() { stopped_after.as_millis() as u64 } else { total * 1000 / u64::from(SAMPLE_RATE) };
        Ok(RecordReport {
            meeting_id: self.meeting.0,
            channels: journal::channels(self.layout),
            samples: total,
            recorded_ms,
            chunks: self.counters.chunks.load(Ordering::Relaxed),
            screenshots: self.counters.screens.load(Ordering::Relaxed),
            dropped_frames: dropped,
            padded_samples: mixer.padded,
            sources: source_reports,
            peak_rss_kb: peak_rss_kb(),
            error,
            writer_failed,
        })
    }
}

struct Mixer {
    chunker: Chunker,
    tx: mpsc::UnboundedSender<Msg>,
    aligned: bool,
    /// Zeros inserted for a source that started late or fell behind.
    padded: u64,
    counters: Arc<Counters>,
}

/// A source this far behind the others (16 kHz samples) is padded with silence.
const MAX_SKEW: usize = 2 * SAMPLE_RATE as usize;

impl Mixer {
    fn step(&mut self, inputs: &mut [Input], t0: Instant, last: bool) -> Result<()> {
        for i in inputs.iter_mut() {
            i.drain()?;
            if last {
                i.resampler.finish(&mut i.pending).map_err(|e| anyhow!("resampling: {e}"))?;
            }
        }
        if inputs.is_empty() {
            return Ok(());
        }
        if !self.aligned {
            // Line the sources up by the time of their first frame.
            let firsts: Vec<i64> = inputs.iter().map(|i| i.cap.stats.first_ns.load(Ordering::Relaxed)).collect();
            let started = inputs.iter().all(|i| i.cap.stats.frames.load(Ordering::Acquire) > 0);
            if started {
                let earliest = firsts.iter().copied().min().unwrap_or(0);
                for (i, f) in inputs.iter_mut().zip(&firsts) {
                    let pad = ((f - earliest) as u64 * u64::from(SAMPLE_RATE) / 1_000_000_000) as usize;
                    i.pending.splice(0..0, std::iter::repeat_n(0.0, pad));
                    self.padded += pad as u64;
                }
            }
            self.aligned = started || t0.elapsed() > Duration::from_secs(5) || last;
            if !self.aligned {
                return Ok(());
            }
        }
        let most = inputs.iter().map(|i| i.pending.len()).max().unwrap_or(0);
        for i in inputs.iter_mut() {
            let behind = most - i.pending.len();
            if (last && behind > 0) || behind > MAX_SKEW {
                let pad = if last { behind } else { behind - MAX_SKEW / 4 };
                i.pending.resize(i.pending.len() + pad, 0.0);
                self.padded += pad as u64;
            }
        }
        let n = inputs.iter().map(|i| i.pending.len()).min().unwrap_or(0);
        if n == 0 {
            return Ok(());
        }
        let ch = inputs.len();
        let mut pcm = Vec::with_capacity(n * ch);
        let mut mono = Vec::with_capacity(n);
        let mut peaks = [0f32; 2];
        for k in 0..n {
            let mut m = 0.0;
            for (c, i) in inputs.iter().enumerate() {
                let v = i.pending[k];
                pcm.push((v * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16);
                m += v;
                peaks[c.min(1)] = peaks[c.min(1)].max(v.abs());
            }
            mono.push(m / ch as f32);
        }
        for i in inputs.iter_mut() {
            i.pending.drain(..n);
        }
        for (l, p) in self.counters.levels.iter().zip(peaks) {
            l.store(p.to_bits(), Ordering::Relaxed);
        }
        self.counters.samples.fetch_add(n as u64, Ordering::Relaxed);
        let send = |m: Msg| self.tx.send(m).map_err(|_| anyhow!("the chunk writer stopped"));
        send(Msg::Append(pcm))?;
        let chunks = self.chunker.push(&mono);
        for (k, c) in chunks.iter().enumerate() {
            let next = match chunks.get(k + 1) {
                Some(n) => (n.start_sample, n.overlap_samples),
                None => self.chunker.pending_start(),
            };
            send(Msg::Cut { start: c.start_sample, len: c.samples.len() as u64, next: Some(next) })?;
        }
        Ok(())
    }
}

/// The blocking writer: journal appends and chunk cuts, in the order the mixer sent them.
fn write_loop(
    mut rx: mpsc::UnboundedReceiver<Msg>,
    first: Journal,
    dd: &DataDir,
    q: &Queue,
    meeting: MeetingId,
    counters: &Counters,
) -> Result<()> {
    let mut journal = Some(first);
    while let Some(msg) = rx.blocking_recv() {
        let j = journal.as_mut().context("audio arrived after the last chunk")?;
        match msg {
            Msg::Append(pcm) => j.append(&pcm)?,
            Msg::Cut { start, len, next } => {
                anyhow::ensure!(j.start_sample() == start, "chunk cut at {start}, journal at {}", j.start_sample());
                let cur = journal.take().context("no journal")?;
                journal = cur.cut((dd, q, meeting), len, next)?;
                counters.chunks.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    // No audio at all: nothing to cut, drop the empty journal.
    if let Some(j) = journal {
        j.discard()?;
    }
    Ok(())
}

fn note_first_frame(path: &std::path::Path, first_ns: i64) {
    let Ok(mut info) =
        std::fs::read(path).map_err(drop).and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).map_err(drop))
    else {
        return;
    };
    info["first_frame_monotonic_ns"] = first_ns.into();
    if let Err(e) = std::fs::write(path, info.to_string()) {
        crate::log(&format!("{}: {e}", path.display()));
    }
}

fn db(peak: f32) -> f32 {
    20.0 * peak.max(1e-5).log10()
}

fn status_loop(c: &Counters, caps: &[Arc<pulse::CaptureStats>], roles: &[&str], t0: Instant, stop: &AtomicBool) {
    let tty = std::io::stderr().is_terminal();
    let mut last_log = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        let secs = t0.elapsed().as_secs();
        let dropped: u64 = caps.iter().map(|s| s.dropped.load(Ordering::Relaxed)).sum();
        let levels: Vec<String> = roles
            .iter()
            .zip(&c.levels)
            .map(|(r, l)| {
                let d = db(f32::from_bits(l.load(Ordering::Relaxed)));
                let bars = ((d + 60.0) / 6.0).clamp(0.0, 10.0) as usize;
                format!("{r} {:<10} {d:>4.0} dB", "#".repeat(bars))
            })
            .collect();
        let line = format!(
            "REC {:02}:{:02}:{:02}  {}  chunks {}  screens {}  dropped {dropped}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            levels.join("  "),
            c.chunks.load(Ordering::Relaxed),
            c.screens.load(Ordering::Relaxed),
        );
        if tty {
            eprint!("\r\x1b[K{line}");
        } else if last_log.elapsed() >= Duration::from_secs(30) {
            crate::log(&line);
            last_log = Instant::now();
        }
    }
    if tty {
        eprintln!();
    }
}

/// This process's peak resident memory (VmHWM), in kB.
fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        for bad in ["", "0", "-5", "ten", "5x", "1e400"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
