//! The sound server (PulseAudio, or PipeWire through pipewire-pulse): listing capture
//! devices and reading one of them on a thread of its own.
//!
//! The capture thread is the only code that talks to the device: it blocks in
//! `pa_simple_read` for one 20 ms fragment, then pushes the samples into a bounded
//! lock-free SPSC ring ([`rtrb`]) without waiting: whatever does not fit is dropped and
//! counted. Nothing on that thread allocates, locks, touches a file or the database.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use anyhow::{anyhow, bail, Context as _, Result};
use libpulse_binding as pa;
use libpulse_simple_binding::Simple;
use pa::callbacks::ListResult;
use pa::context::{Context, FlagSet, State};
use pa::mainloop::standard::{IterateResult, Mainloop};
use pa::operation::State as OpState;

/// One capture device (a PulseAudio "source").
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) rate: u32,
    pub(crate) channels: u8,
    /// The sink whose output this source monitors (system audio), if it is a monitor.
    pub(crate) monitor_of: Option<String>,
}

/// What the sound server has: its sources and its defaults.
#[derive(Debug, Clone)]
pub(crate) struct Devices {
    pub(crate) sources: Vec<Source>,
    pub(crate) default_source: Option<String>,
    pub(crate) default_sink: Option<String>,
    pub(crate) server: String,
}

fn wait_op<T: ?Sized>(ml: &mut Mainloop, op: &pa::operation::Operation<T>) -> Result<()> {
    while op.get_state() == OpState::Running {
        if let IterateResult::Quit(_) | IterateResult::Err(_) = ml.iterate(true) {
            bail!("the sound server connection broke");
        }
    }
    Ok(())
}

impl Devices {
    /// Asks the sound server (no autospawn: a missing server is an error, not a surprise
    /// daemon).
    pub(crate) fn query() -> Result<Devices> {
        let mut ml = Mainloop::new().context("cannot create a PulseAudio main loop")?;
        let mut ctx = Context::new(&ml, "Debrief ingest").context("cannot create a PulseAudio context")?;
        let no_server = || {
            anyhow!(
                "cannot connect to the sound server (PulseAudio, or PipeWire's pipewire-pulse); is one running \
                 for this user? (XDG_RUNTIME_DIR={})",
                std::env::var("XDG_RUNTIME_DIR").unwrap_or_default()
            )
        };
        ctx.connect(None, FlagSet::NOAUTOSPAWN, None).map_err(|_| no_server())?;
        loop {
            if let IterateResult::Quit(_) | IterateResult::Err(_) = ml.iterate(true) {
                return Err(no_server());
            }
            match ctx.get_state() {
                State::Ready => break,
                State::Failed | State::Terminated => return Err(no_server()),
                _ => {}
            }
        }
        let sources = Rc::new(RefCell::new(Vec::new()));
        let op = ctx.introspect().get_source_info_list({
            let sources = Rc::clone(&sources);
            move |r| {
                if let ListResult::Item(i) = r {
                    sources.borrow_mut().push(Source {
                        name: i.name.as_deref().unwrap_or_default().to_owned(),
                        description: i.description.as_deref().unwrap_or_default().to_owned(),
                        rate: i.sample_spec.rate,
                        channels: i.sample_spec.channels,
                        monitor_of: i.monitor_of_sink_name.as_deref().map(str::to_owned),
                    });
                }
            }
        });
        wait_op(&mut ml, &op)?;
        let server = Rc::new(RefCell::new((None, None, String::new())));
        let op = ctx.introspect().get_server_info({
            let server = Rc::clone(&server);
            move |i| {
                *server.borrow_mut() = (
                    i.default_source_name.as_deref().map(str::to_owned),
                    i.default_sink_name.as_deref().map(str::to_owned),
                    format!(
                        "{} {}",
                        i.server_name.as_deref().unwrap_or("sound server"),
                        i.server_version.as_deref().unwrap_or("")
                    ),
                );
            }
        });
        wait_op(&mut ml, &op)?;
        ctx.disconnect();
        let (default_source, default_sink, server) = server.take();
        let sources = sources.take();
        Ok(Devices { sources, default_source, default_sink, server })
    }

    fn find(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }

    fn names(&self) -> String {
        self.sources.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// The microphone: `name`, or the default source. `None` if there is no default or
    /// the default is only a monitor (no microphone on this machine).
    pub(crate) fn mic(&self, name: Option<&str>) -> Result<Option<Source>> {
        match name {
            Some(n) => self
                .find(n)
                .cloned()
                .map(Some)
                .ok_or_else(|| anyhow!("no capture device {n:?}; `ingest devices` lists them ({})", self.names())),
            None => Ok(self
                .default_source
                .as_deref()
                .and_then(|n| self.find(n))
                .filter(|s| s.monitor_of.is_none())
                .cloned()),
        }
    }

    /// The system audio: the monitor of `name` (a sink) or `name` itself (a source), or
    /// the monitor of the default sink.
    pub(crate) fn system(&self, name: Option<&str>) -> Result<Source> {
        let by_sink = |sink: &str| self.sources.iter().find(|s| s.monitor_of.as_deref() == Some(sink));
        let found = match name {
            Some(n) => self.find(n).or_else(|| by_sink(n)),
            None => self.default_sink.as_deref().and_then(by_sink),
        };
        found.cloned().ok_or_else(|| match name {
            Some(n) => anyhow!("no sink or monitor source {n:?}; `ingest devices` lists them ({})", self.names()),
            None => anyhow!("the sound server has no default output to record (no monitor source found)"),
        })
    }
}

/// `ingest devices`.
pub(crate) fn list() -> Result<()> {
    let d = Devices::query()?;
    println!("{}", d.server.trim());
    for s in &d.sources {
        let mut marks = Vec::new();
        if d.default_source.as_deref() == Some(s.name.as_str()) {
            marks.push(if s.monitor_of.is_none() { "default microphone" } else { "default source" }.to_owned());
        }
        if let Some(sink) = &s.monitor_of {
            let default = if d.default_sink.as_deref() == Some(sink.as_str()) { "default " } else { "" };
            marks.push(format!("monitor of {default}output {sink}: system audio"));
        }
        let marks = if marks.is_empty() { String::new() } else { format!("  [{}]", marks.join("; ")) };
        println!("{}  ({}, {} Hz, {} ch){marks}", s.name, s.description, s.rate, s.channels);
    }
    Ok(())
}

/// Counters a capture thread keeps; read by the mixer and the status line.
#[derive(Debug, Default)]
pub(crate) struct CaptureStats {
    /// Frames read from the device.
    pub(crate) frames: AtomicU64,
    /// Frames that did not fit the ring and were thrown away.
    pub(crate) dropped: AtomicU64,
    /// CLOCK_MONOTONIC (ns) at the start of the first fragment read, and at the end of
    /// the last one.
    pub(crate) first_ns: AtomicI64,
    pub(crate) last_ns: AtomicI64,
}

/// Frames per read: 20 ms.
fn fragment_frames(rate: u32) -> usize {
    (rate as usize / 50).max(1)
}

pub(crate) fn monotonic_ns() -> i64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() * 1_000_000_000 + t.tv_nsec())
        .unwrap_or(0)
}

/// A running capture: its ring's consumer end and its counters. The thread stops after
/// its current fragment once `stop` is set.
#[derive(Debug)]
pub(crate) struct Capture {
    pub(crate) source: Source,
    pub(crate) ring: rtrb::Consumer<f32>,
    pub(crate) stats: Arc<CaptureStats>,
    /// Taken when the thread is joined.
    pub(crate) thread: Option<std::thread::JoinHandle<Result<()>>>,
}

/// Opens `source` as mono float at its own rate (the server downmixes; we resample) and
/// starts its capture thread with a ring of `ring_secs` seconds. Returns once the stream
/// is open, or with the server's error.
pub(crate) fn start(source: &Source, ring_secs: u32, stop: &Arc<AtomicBool>) -> Result<Capture> {
    let rate = source.rate.max(1);
    let (prod, ring) = rtrb::RingBuffer::<f32>::new(rate as usize * ring_secs as usize);
    let stats = Arc::new(CaptureStats::default());
    let (ready_tx, ready_rx) = mpsc::channel();
    let (name, st, stop) = (source.name.clone(), Arc::clone(&stats), Arc::clone(stop));
    let thread = std::thread::Builder::new()
        .name(format!("capture {name}"))
        .spawn(move || capture_thread(&name, rate, prod, &st, &stop, &ready_tx))
        .context("cannot start a capture thread")?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(Capture { source: source.clone(), ring, stats, thread: Some(thread) }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(anyhow!("cannot record from {}: {e}", source.name))
        }
        Err(_) => match thread.join() {
            Ok(Err(e)) => Err(e),
            _ => Err(anyhow!("the capture thread for {} died", source.name)),
        },
    }
}

fn capture_thread(
    name: &str,
    rate: u32,
    mut ring: rtrb::Producer<f32>,
    stats: &CaptureStats,
    stop: &AtomicBool,
    ready: &mpsc::Sender<Result<(), String>>,
) -> Result<()> {
    let frames = fragment_frames(rate);
    let spec = pa::sample::Spec { format: pa::sample::Format::FLOAT32NE, channels: 1, rate };
    let bytes = u32::try_from(frames * 4).unwrap_or(u32::MAX);
    // Small fragments keep the latency (and what a crash can lose) low; maxlength lets
    // the server hold a couple of seconds should this thread be held up.
    let attr = pa::def::BufferAttr {
        maxlength: bytes.saturating_mul(100),
        tlength: u32::MAX,
        prebuf: u32::MAX,
        minreq: u32::MAX,
        fragsize: bytes,
    };
    let stream = Simple::new(
        None,
        "Debrief",
        pa::stream::Direction::Record,
        Some(name),
        "meeting capture",
        &spec,
        None,
        Some(&attr),
    );
    let stream = match stream {
        Ok(s) => {
            let _ = ready.send(Ok(()));
            s
        }
        Err(e) => {
            let _ = ready.send(Err(e.to_string().unwrap_or_else(|| format!("{e:?}"))));
            return Ok(());
        }
    };
    let frag_ns = frames as i64 * 1_000_000_000 / i64::from(rate);
    let mut buf = vec![0u8; frames * 4];
    while !stop.load(Ordering::Relaxed) {
        stream.read(&mut buf).map_err(|e| anyhow!("reading {name}: {}", e.to_string().unwrap_or_default()))?;
        let now = monotonic_ns();
        if stats.frames.load(Ordering::Relaxed) == 0 {
            stats.first_ns.store(now - frag_ns, Ordering::Relaxed);
        }
        stats.last_ns.store(now, Ordering::Relaxed);
        stats.frames.fetch_add(frames as u64, Ordering::Release);
        let fit = ring.slots().min(frames);
        if let Ok(chunk) = ring.write_chunk_uninit(fit) {
            let samples = buf.chunks_exact(4).map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
            chunk.fill_from_iter(samples);
        }
        if fit < frames {
            stats.dropped.fetch_add((frames - fit) as u64, Ordering::Relaxed);
        }
    }
    Ok(())
}
