//! Issue 6: `ingest record` against a real PulseAudio (null sinks, real speech played
//! into them with paplay) and a real Xvfb, each private to its test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use debrief_contracts::RecordReport;
use debrief_jobq::{MeetingId, Queue, QueueConfig, TaskType};
use serde_json::Value;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ChangeWindowAttributesAux, ConnectionExt as _, CreateGCAux, Rectangle};

use crate::common::*;

const STANDUP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/standup.flac");
const LIBRIVOX: &str = "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav";

/// A private PulseAudio daemon with null sinks, killed on drop.
struct Pulse {
    dir: tempfile::TempDir,
}

impl Pulse {
    fn start(sinks: &[&str]) -> Pulse {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = Pulse { dir };
        std::fs::create_dir_all(p.run_dir()).expect("runtime dir");
        std::fs::create_dir_all(p.dir.path().join("home")).expect("home");
        let mut cmd = Command::new("pulseaudio");
        cmd.args(["-D", "--exit-idle-time=-1", "-n", "--load=module-native-protocol-unix"]);
        for s in sinks {
            cmd.arg(format!("--load=module-null-sink sink_name={s}"));
        }
        let st = p.env(&mut cmd).stderr(Stdio::null()).status().expect("pulseaudio (scripts/setup installs it)");
        assert!(st.success(), "pulseaudio did not start");
        eventually(Duration::from_secs(10), "pulseaudio", || {
            p.env(&mut Command::new("pactl"))
                .arg("info")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        p
    }

    fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("XDG_RUNTIME_DIR", self.run_dir()).env("HOME", self.dir.path().join("home")).env_remove("PULSE_SERVER")
    }

    /// Plays `file` into `sink`.
    fn play(&self, sink: &str, file: &str) -> KillOnDrop {
        let child = self
            .env(&mut Command::new("paplay"))
            .args(["-d", sink, file])
            .stderr(Stdio::null())
            .spawn()
            .expect("paplay");
        KillOnDrop(child)
    }

    fn ingest(&self, data: &Path) -> Command {
        let mut c = debrief("ingest", data);
        self.env(&mut c);
        c
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.env(&mut Command::new("pulseaudio")).arg("--kill").stderr(Stdio::null()).status();
    }
}

/// 16 kHz mono of a file, as the pipeline decodes it.
fn reference(path: &str) -> Vec<f32> {
    let mut src = debrief_media::AudioSource::open(Path::new(path)).expect("open reference");
    let mut out = Vec::new();
    while let Some(b) = src.next_block().expect("decode") {
        out.extend(b);
    }
    out
}

fn decimate(x: &[f32]) -> Vec<f32> {
    x.chunks_exact(8).map(|c| c.iter().sum::<f32>() / 8.0).collect()
}

/// Normalised cross-correlation of `a` with `b[off..]` over `a`'s length (or what fits).
fn ncc(a: &[f32], b: &[f32], off: usize) -> f64 {
    let n = a.len().min(b.len().saturating_sub(off));
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a[..n].iter().zip(&b[off..off + n]) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt().max(1e-12)
}

/// Where the recording `rec` sits in `source` (rec[i] = source[i + offset], offset within
/// 0..max_off_s): a coarse search at 2 kHz on 6 s of the recording, refined at 16 kHz.
/// Returns (offset in samples, correlation over everything that overlaps).
fn locate(rec: &[f32], source: &[f32], skip_s: f64, max_off_s: f64) -> (usize, f64) {
    let skip = (skip_s * 16_000.0) as usize;
    let probe = &rec[skip..(skip + 6 * 16_000).min(rec.len())];
    let (p8, s8) = (decimate(probe), decimate(source));
    let coarse = (0..(max_off_s * 2_000.0) as usize)
        .map(|o| (o, ncc(&p8, &s8, o + skip / 8)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("lags")
        .0;
    let fine = (coarse * 8).saturating_sub(16)..coarse * 8 + 16;
    let off = fine.max_by(|a, b| ncc(probe, source, a + skip).total_cmp(&ncc(probe, source, b + skip))).expect("lags");
    (off, ncc(rec, source, off))
}

/// A meeting's audio put back together from its chunk files (overlaps skipped), one
/// vector per channel, and the chunk payloads.
fn joined(data: &Path, q: &Queue, meeting: MeetingId) -> (Vec<Vec<f32>>, Vec<Value>) {
    let payloads: Vec<Value> =
        q.meeting_jobs(meeting).unwrap().into_iter().filter(|j| j.task_type == "AUDIO").map(|j| j.payload).collect();
    let mut out: Vec<Vec<f32>> = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let mut r = hound::WavReader::open(data.join(p["path"].as_str().unwrap())).expect("chunk wav");
        let ch = usize::from(r.spec().channels);
        assert_eq!(ch, p["channels"].as_array().unwrap().len(), "chunk {i}: channels against payload");
        let s: Vec<f32> = r.samples::<i16>().map(|x| f32::from(x.unwrap()) / 32_768.0).collect();
        let frames = s.len() / ch;
        assert_eq!(frames as u64, p["samples"].as_u64().unwrap(), "chunk {i}: length against payload");
        out.resize(ch, Vec::new());
        let overlap = p["overlap_samples"].as_u64().unwrap() as usize;
        assert_eq!(
            p["start_sample"].as_u64().unwrap() as usize + overlap,
            out[0].len(),
            "chunk {i} starts where the last ended"
        );
        for (c, v) in out.iter_mut().enumerate() {
            v.extend((overlap..frames).map(|f| s[f * ch + c]));
        }
        // What the workers read: the average of the channels.
        let mono = debrief_media::read_wav(&data.join(p["path"].as_str().unwrap())).unwrap();
        assert_eq!(mono.len(), frames);
    }
    (out, payloads)
}

fn open_queue(data: &Path) -> Queue {
    Queue::open(&data.join("debrief.db"), QueueConfig::default()).expect("open")
}

fn audio_jobs(data: &Path) -> usize {
    if !data.join("debrief.db").exists() {
        return 0;
    }
    let counts = open_queue(data).counts().unwrap_or_default();
    counts.iter().filter(|(t, _, _)| *t == TaskType::Audio).map(|(_, _, n)| *n as usize).sum()
}

/// Records `secs` of system audio (standup.flac) and microphone (a LibriVox clip) from two
/// null sinks, optionally under CPU load, and checks duration, drops, content and rows.
fn record_two_sources(secs: u64, burn: bool) -> String {
    let s = Scratch::new();
    let data = s.path("data");
    let pulse = Pulse::start(&["call", "mic"]);
    let _burners: Vec<KillOnDrop> = (0..if burn { 2 } else { 0 })
        .map(|_| {
            KillOnDrop(
                Command::new("nice").args(["-n", "19", "sh", "-c", "while :; do :; done"]).spawn().expect("burner"),
            )
        })
        .collect();
    let _call = pulse.play("call", STANDUP);
    let _mic = pulse.play("mic", LIBRIVOX);
    std::thread::sleep(Duration::from_millis(300));
    let mut cmd = pulse.ingest(&data);
    cmd.args(["record", "--title", "standup", "--mic", "mic.monitor", "--system-audio", "call"]);
    cmd.args(["--for", &secs.to_string(), "--chunk-target", "6", "--chunk-min", "4", "--chunk-max", "8"]);
    let t = Instant::now();
    let (mut child, err) = spawn_drained(cmd.stdout(Stdio::piped()));
    let mut stdout = child.stdout.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    // Chunks are queued while the recording goes on.
    let mut queued_live = 0;
    while child.try_wait().unwrap().is_none() && t.elapsed() < Duration::from_secs(secs + 30) {
        queued_live = queued_live.max(audio_jobs(&data));
        std::thread::sleep(Duration::from_millis(200));
    }
    let st = wait_for(&mut child, Duration::from_secs(30), "ingest record");
    let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(st.success(), "ingest record failed: {err}");
    let lines: Vec<&str> = out.lines().collect();
    let meeting: MeetingId = lines.last().unwrap().parse().expect("meeting id last");
    let report: RecordReport = serde_json::from_str(lines[lines.len() - 2]).expect("report");
    assert!(queued_live >= 1, "no chunk was queued while recording: {err}");

    // Nothing dropped, and the audio is as long as the time it covers.
    assert_eq!(report.dropped_frames, 0, "{report:?}");
    let recorded = report.recorded_ms as f64;
    let want = secs as f64 * 1000.0;
    assert!((recorded - want).abs() <= want * 0.005, "recorded {recorded} ms for --for {want} ms");
    assert!(recorded < wall_ms, "recorded {recorded} ms in {wall_ms} ms of wall time");
    assert_eq!(report.sources.len(), 2, "{report:?}");
    for src in &report.sources {
        let (audio, clock) = (src.audio_ms, src.capture_wall_ms);
        assert!((audio - clock).abs() <= clock * 0.005, "{}: {audio} ms of audio over {clock} ms", src.device);
        assert_eq!(src.dropped_frames, 0);
    }
    // The stored report is the same document.
    let stored: RecordReport =
        serde_json::from_slice(&std::fs::read(data.join(format!("meetings/{meeting}/record-stats.json"))).unwrap())
            .unwrap();
    assert_eq!(stored, report);

    // Rows: closed with its length, every chunk queued in order, files private.
    let q = open_queue(&data);
    let rec = q.meeting(meeting).unwrap().unwrap();
    assert_eq!((rec.status.as_str(), rec.source.as_deref()), ("CLOSED", Some("record")));
    assert_eq!(rec.duration_ms, Some(recorded as i64));
    let (chans, payloads) = joined(&data, &q, meeting);
    assert!(payloads.len() >= 3, "{} chunks", payloads.len());
    assert_eq!(payloads[0]["channels"], serde_json::json!(["mic", "system"]));
    assert_eq!(chans[0].len() as u64, report.samples);
    let audio_dir = data.join(format!("meetings/{meeting}/audio"));
    for e in std::fs::read_dir(&audio_dir).unwrap() {
        let e = e.unwrap();
        assert!(e.file_name().to_string_lossy().ends_with(".wav"), "left over: {:?}", e.file_name());
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&e.metadata().unwrap().permissions()) & 0o777, 0o600);
    }

    // Content: each channel is its own source, found by cross-correlation.
    let (off, corr) = locate(&chans[1], &reference(STANDUP), 2.0, 8.0);
    assert!(corr > 0.95, "system channel against standup.flac: correlation {corr:.3} at {off}");
    let clip = reference(LIBRIVOX);
    let (_, mcorr) = locate(&chans[0][..clip.len().min(chans[0].len())], &clip, 0.0, 3.0);
    assert!(mcorr > 0.95, "mic channel against the LibriVox clip: correlation {mcorr:.3}");
    let n = chans[0].len().min(96_000);
    let cross = ncc(&chans[1][..n], &chans[0][..n], 0);
    assert!(cross.abs() < 0.2, "the channels are not separate: correlation {cross:.3}");
    format!(
        "{secs} s{}: recorded {recorded} ms (wall {wall_ms:.0} ms), dropped 0, {} chunks ({queued_live} queued while recording), system corr {corr:.4} at lag {off}, mic corr {mcorr:.4}",
        if burn { " under 2 CPU burners" } else { "" },
        payloads.len()
    )
}

#[test]
fn issue6_record_keeps_mic_and_system_audio_apart_and_on_time() {
    eprintln!("{}", record_two_sources(20, false));
}

#[test]
fn issue6_record_drops_nothing_while_the_cpus_are_busy() {
    eprintln!("{}", record_two_sources(15, true));
}

#[test]
fn issue6_sigkill_mid_chunk_loses_at_most_1_5_s_and_the_next_start_recovers_it() {
    let s = Scratch::new();
    let data = s.path("data");
    let pulse = Pulse::start(&["call"]);
    let _call = pulse.play("call", STANDUP);
    std::thread::sleep(Duration::from_millis(300));
    let mut cmd = pulse.ingest(&data);
    cmd.args([
        "record",
        "--system-audio",
        "--chunk-target",
        "4",
        "--chunk-min",
        "3",
        "--chunk-max",
        "5",
        "--overlap",
        "0.5",
    ]);
    let (mut child, err) = spawn_drained(cmd.stdout(Stdio::null()));
    eventually(Duration::from_secs(40), "two chunks queued", || audio_jobs(&data) >= 2);
    // Mid-chunk: a while after the second cut.
    std::thread::sleep(Duration::from_millis(1_700));
    let killed_at = monotonic_ns();
    kill9(&mut child);
    drop(err.join());
    let info: Value = serde_json::from_slice(&std::fs::read(data.join("meetings/1/record.json")).unwrap()).unwrap();
    let first_ns = info["first_frame_monotonic_ns"].as_i64().expect("first frame noted");
    let q = open_queue(&data);
    assert_eq!(q.meeting(MeetingId(1)).unwrap().unwrap().status, "OPEN");
    let finished = audio_jobs(&data);
    let journals: Vec<_> = std::fs::read_dir(data.join("meetings/1/audio"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".live"))
        .collect();
    assert_eq!(journals, [format!("chunk-{finished:05}.live")], "the chunk in progress is journaled");

    // The next start finds the dead recorder, queues its last chunk and closes the meeting.
    let (st, out, err) = run_out(pulse.ingest(&data).arg("recover"), Duration::from_secs(30));
    assert!(st.success(), "{err}");
    assert_eq!(out.trim(), "1");
    let rec = q.meeting(MeetingId(1)).unwrap().unwrap();
    assert_eq!(rec.status, "CLOSED");
    let (chans, payloads) = joined(&data, &q, MeetingId(1));
    assert_eq!(payloads.len(), finished + 1, "every finished chunk kept its job and the recovered one joined them");
    assert_eq!(payloads.last().unwrap()["recovered"], true);
    assert!(payloads[..finished].iter().all(|p| p.get("recovered").is_none()));
    let stored_ms = chans[0].len() as f64 / 16.0;
    assert_eq!(rec.duration_ms, Some(chans[0].len() as i64 * 1000 / 16_000));
    let lived_ms = (killed_at - first_ns) as f64 / 1e6;
    let lost_ms = lived_ms - stored_ms;
    assert!(lost_ms <= 1_500.0, "lost {lost_ms:.0} ms: {stored_ms:.0} ms stored of {lived_ms:.0} ms recorded");
    assert!(lost_ms > -50.0, "more audio ({stored_ms:.0} ms) than time ({lived_ms:.0} ms)");
    let leftovers: Vec<_> = std::fs::read_dir(data.join("meetings/1/audio"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".wav"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The recovered audio is the real thing, to its end.
    let (off, corr) = locate(&chans[0], &reference(STANDUP), 1.0, 8.0);
    let tail = &chans[0][chans[0].len().saturating_sub(16_000 * 2)..];
    let tail_corr = ncc(tail, &reference(STANDUP), off + chans[0].len() - tail.len());
    assert!(corr > 0.95 && tail_corr > 0.95, "correlation {corr:.3}, last 2 s {tail_corr:.3}");
    // Recovery is done: a second run finds nothing.
    let (st, out, _) = run_out(pulse.ingest(&data).arg("recover"), Duration::from_secs(30));
    assert!(st.success() && out.trim().is_empty(), "{out}");
    eprintln!("SIGKILL after {lived_ms:.0} ms of audio: {finished} chunks queued, 1 recovered, {lost_ms:.0} ms lost, correlation {corr:.4}");
}

/// A private Xvfb on a display it picks itself, killed on drop.
pub(crate) struct Xvfb {
    _child: KillOnDrop,
    pub(crate) display: String,
}

impl Xvfb {
    pub(crate) fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x720x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (scripts/setup installs it)");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        Xvfb { display: format!(":{}", line.trim()), _child: KillOnDrop(child) }
    }
}

fn png_pixel(path: &Path, x: usize, y: usize) -> [u8; 3] {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    let i = (y * info.width as usize + x) * 3;
    [buf[i], buf[i + 1], buf[i + 2]]
}

#[test]
fn issue6_screenshots_queue_exactly_the_changed_frames() {
    let s = Scratch::new();
    let data = s.path("data");
    let x = Xvfb::start();
    let (conn, n) = x11rb::connect(Some(&x.display)).expect("connect to Xvfb");
    let root = conn.setup().roots[n].root;
    let sync = |c: &x11rb::rust_connection::RustConnection| c.get_input_focus().unwrap().reply().unwrap();
    let fill = |rgb: u32| {
        conn.change_window_attributes(root, &ChangeWindowAttributesAux::new().background_pixel(rgb)).unwrap();
        conn.clear_area(false, root, 0, 0, 0, 0).unwrap();
        sync(&conn);
    };
    fill(0x20_30_40);
    let mut cmd = debrief("ingest", &data);
    cmd.args(["record", "--no-audio", "--screens", "--every", "0.5", "--display", &x.display, "--for", "8"]);
    let (mut child, err) = spawn_drained(cmd.stdout(Stdio::piped()));
    let t = Instant::now();
    let at = |secs: f64| std::thread::sleep(Duration::from_secs_f64(secs).saturating_sub(t.elapsed()));
    at(2.0);
    // A cursor-sized change: not a new frame.
    let gc = conn.generate_id().unwrap();
    conn.create_gc(gc, root, &CreateGCAux::new().foreground(0xff_ff_ff)).unwrap();
    conn.poly_fill_rectangle(root, gc, &[Rectangle { x: 600, y: 300, width: 10, height: 20 }]).unwrap();
    sync(&conn);
    at(4.0);
    fill(0xc0_80_20);
    at(6.0);
    fill(0x10_a0_60);
    let st = wait_for(&mut child, Duration::from_secs(30), "ingest record --screens");
    let err = err.join().unwrap();
    assert!(st.success(), "{err}");
    let q = open_queue(&data);
    let jobs: Vec<Value> = q
        .meeting_jobs(MeetingId(1))
        .unwrap()
        .into_iter()
        .filter(|j| j.task_type == "VISUAL")
        .map(|j| j.payload)
        .collect();
    assert_eq!(jobs.len(), 3, "initial frame + 2 changes: {jobs:?}");
    let colors = [[0x20, 0x30, 0x40], [0xc0, 0x80, 0x20], [0x10, 0xa0, 0x60]];
    let times = [0, 4_000, 6_000];
    for (i, j) in jobs.iter().enumerate() {
        assert_eq!((j["width"].as_u64(), j["height"].as_u64()), (Some(1280), Some(720)));
        let t_ms = j["t_ms"].as_i64().unwrap();
        assert!((times[i]..times[i] + 1_200).contains(&t_ms), "frame {i} at {t_ms} ms");
        let path = data.join(j["path"].as_str().unwrap());
        assert_eq!(png_pixel(&path, 100, 100), colors[i], "frame {i}");
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions()) & 0o777,
            0o600
        );
    }
    // The saved first frame does not have the cursor; the meeting is closed for the foreman.
    assert_eq!(png_pixel(&data.join(jobs[0]["path"].as_str().unwrap()), 605, 310), colors[0]);
    assert_eq!(q.meeting(MeetingId(1)).unwrap().unwrap().status, "CLOSED");
}

#[test]
fn issue6_bad_devices_durations_and_displays_are_refused_before_anything_is_created() {
    let s = Scratch::new();
    let data = s.path("data");
    let pulse = Pulse::start(&["call"]);
    let (st, out, err) = run_out(pulse.ingest(&data).arg("devices"), Duration::from_secs(30));
    assert!(st.success(), "{err}");
    assert!(out.lines().any(|l| l.starts_with("call.monitor") && l.contains("system audio")), "{out}");
    let cases: &[(&[&str], &str)] = &[
        (&["--mic", "nosuch"], "nosuch"),
        (&["--system-audio", "nosink"], "nosink"),
        (&["--system-audio", "--for", "ten"], "not a duration"),
        (&["--no-audio", "--screens", "--display", ":4321"], ":4321"),
        (&["--no-audio"], "--screens"),
    ];
    for (args, want) in cases {
        let (st, _, err) = run_out(pulse.ingest(&data).arg("record").args(*args), Duration::from_secs(30));
        assert!(!st.success(), "{args:?} was accepted");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(err.lines().count() <= 4, "{args:?}: a clear error, not a dump: {err}");
    }
    if data.join("debrief.db").exists() {
        assert!(open_queue(&data).meetings(None).unwrap().is_empty(), "a refused recording left a meeting");
    }
    // Without a sound server the error says so.
    let mut cmd = debrief("ingest", &data);
    cmd.env("XDG_RUNTIME_DIR", s.path("nowhere")).env_remove("PULSE_SERVER").args(["record", "--system-audio"]);
    let (st, _, err) = run_out(&mut cmd, Duration::from_secs(30));
    assert!(!st.success() && err.contains("sound server"), "{err}");
}
