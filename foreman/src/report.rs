//! `foreman report`: one HTML page for a meeting, openable by double-click with no
//! network: the summary with each item's citation time (click: the audio plays from
//! there), a speaker timeline drawn as SVG with talk-time shares, the transcript by
//! speaker (click a line to play it; the line being played is highlighted), the slides
//! at their times, and a find box. Built from an askama template (`templates/`), which
//! escapes every value: titles, names and words are untrusted input. The page's content
//! security policy allows no network and only the page's own (nonce-tagged) script.
//!
//! The audio is the meeting's chunks joined into one 16 kHz mono WAV in meeting time
//! (overlaps kept once, missing chunks silent), linked from a folder beside the page
//! (`NAME_files/`, 0700, with the slide images) or embedded as a data URL.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use askama::Template;
use debrief_config::{AtomicFile, DataDir};
use debrief_contracts::AudioChunk;
use debrief_jobq::{AnyQueue, MeetingId, TaskType};
use debrief_transcript::export::clock;

use crate::export::{gather, Gathered};

/// Where the report's audio goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AudioMode {
    /// A WAV file in the folder beside the page.
    Link,
    /// Inside the page as a data URL.
    Embed,
    /// No audio.
    None,
}

impl std::str::FromStr for AudioMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "link" => Ok(Self::Link),
            "embed" => Ok(Self::Embed),
            "none" => Ok(Self::None),
            other => Err(format!("unknown audio mode {other:?} (link, embed, none)")),
        }
    }
}

const RATE: u64 = debrief_contracts::SAMPLE_RATE;
/// Colours the page has (classes c0..c7); more speakers reuse them.
const COLOURS: usize = 8;

#[derive(Template)]
#[template(path = "report.html")]
struct Page {
    meeting_id: MeetingId,
    nonce: String,
    title: String,
    subtitle: String,
    audio_src: Option<String>,
    has_summary: bool,
    overview: String,
    model: String,
    lists: Vec<ItemList>,
    speakers: Vec<SpeakerView>,
    timeline: Timeline,
    slides: Vec<SlideView>,
    lines: Vec<LineView>,
}

struct ItemList {
    title: &'static str,
    class: &'static str,
    items: Vec<ItemView>,
}

struct ItemView {
    t: String,
    clock: String,
    owner: Option<String>,
    text: String,
    due: Option<String>,
    speaker: Option<String>,
    line: Option<usize>,
}

struct SpeakerView {
    name: String,
    color: usize,
    talk: String,
    share: String,
    /// The share bar's width (px).
    bar: String,
    local: bool,
}

#[derive(Default)]
struct Timeline {
    width: u32,
    height: u32,
    axis: u32,
    left: u32,
    span: u32,
    duration: String,
    summary: String,
    ticks: Vec<Tick>,
    rows: Vec<Row>,
}

struct Tick {
    x: String,
    label: String,
}

struct Row {
    y: u32,
    name: String,
    color: usize,
    rects: Vec<Rect>,
}

struct Rect {
    x: String,
    w: String,
}

struct SlideView {
    n: usize,
    t: String,
    clock: String,
    title: String,
    img: Option<String>,
    text: String,
    description: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Said,
    Gap,
    Slide,
}

struct LineView {
    kind: LineKind,
    id: usize,
    t: String,
    end: String,
    clock: String,
    who: Option<String>,
    color: Option<usize>,
    text: String,
}

/// Seconds for `data-t` and `currentTime`.
fn secs(ms: i64) -> String {
    format!("{:.2}", ms.max(0) as f64 / 1000.0)
}

/// A meeting's input files (chunk audio, screenshots) by their data-directory path: the
/// copy the database holds (PostgreSQL: recorded on another machine), else the file in
/// this machine's data directory.
struct Inputs<'a> {
    q: &'a AnyQueue,
    root: &'a Path,
    meeting: MeetingId,
}

impl Inputs<'_> {
    /// The bytes of `rel`, or what went wrong, naming the file.
    fn read(&self, rel: &str) -> Result<Vec<u8>, String> {
        match self.q.stored_input(self.meeting, Path::new(rel)) {
            Ok(Some(bytes)) => return Ok(bytes),
            Ok(None) => {}
            Err(e) => return Err(format!("{rel} in {}: {e}", self.q.describe())),
        }
        let path = self.root.join(rel);
        std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A chunk's samples (mono).
    fn samples(&self, rel: &str) -> Result<Vec<f32>, String> {
        let bytes = self.read(rel)?;
        let channels =
            debrief_media::read_wav_channels_from_bytes(Path::new(rel), &bytes).map_err(|e| e.to_string())?;
        Ok(debrief_media::mix_channels(&channels))
    }
}

pub(crate) fn report(q: &AnyQueue, dd: &DataDir, meeting: MeetingId, out: &Path, audio: AudioMode) -> Result<()> {
    let g = gather(q, meeting)?;
    let inputs = Inputs { q, root: dd.root(), meeting };
    let files = files_dir(out)?;
    let chunks: Vec<AudioChunk> = q
        .meeting_jobs(meeting)?
        .into_iter()
        .filter(|j| j.task_type == TaskType::Audio)
        .filter_map(|j| serde_json::from_value(j.payload).ok())
        .collect();
    let duration_ms = meeting_length(&g, &chunks);
    // Slide pictures go where the audio goes: inside the page with `embed`, else beside it.
    let embed = audio == AudioMode::Embed;
    let link_audio = audio == AudioMode::Link && !chunks.is_empty();
    if link_audio || (!embed && !g.slides.is_empty()) {
        debrief_config::create_private_dir(&files).with_context(|| format!("creating {}", files.display()))?;
    }
    if chunks.is_empty() && audio != AudioMode::None {
        // A recording made with `--no-audio`.
        eprintln!("foreman: meeting {meeting} has no audio: the report has no player");
    }
    let audio_src = if chunks.is_empty() {
        None
    } else {
        match audio {
            AudioMode::None => None,
            AudioMode::Link => {
                let wav = files.join("audio.wav");
                let mut f = AtomicFile::create(&wav).with_context(|| format!("creating {}", wav.display()))?;
                let skipped = join_audio(&|rel| inputs.samples(rel), &chunks, f.file())?;
                f.commit().with_context(|| format!("writing {}", wav.display()))?;
                warn_skipped(&skipped);
                Some(format!("{}/audio.wav", url_path(&file_name(&files))))
            }
            AudioMode::Embed => {
                let mut buf = std::io::Cursor::new(Vec::new());
                let skipped = join_audio(&|rel| inputs.samples(rel), &chunks, &mut buf)?;
                warn_skipped(&skipped);
                Some(data_url("audio/wav", buf.get_ref()))
            }
        }
    };
    let slides = slide_views(&g, &inputs, embed, &files)?;
    let page = page(&g, audio_src, slides, duration_ms);
    let html = page.render().context("rendering the report")?;
    debrief_config::write_file_atomic(out, html.as_bytes()).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    if files.is_dir() && !embed {
        eprintln!("audio and slide images in {}", files.display());
    }
    Ok(())
}

fn warn_skipped(skipped: &[String]) {
    for s in skipped {
        eprintln!("foreman: warning: {s} (silent in the report's audio)");
    }
}

/// `NAME_files` beside `out` (for `report.html`: `report_files`).
fn files_dir(out: &Path) -> Result<PathBuf> {
    let Some(stem) = out.file_stem().and_then(|s| s.to_str()) else {
        bail!("--out {}: not a file name", out.display());
    };
    Ok(out.with_file_name(format!("{stem}_files")))
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A relative URL path: everything but unreserved characters percent-encoded.
fn url_path(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out += &format!("%{b:02X}");
        }
    }
    out
}

fn data_url(mime: &str, bytes: &[u8]) -> String {
    use base64::Engine as _;
    format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// How long the meeting is: its recorded length, else where its last chunk or line ends.
fn meeting_length(g: &Gathered, chunks: &[AudioChunk]) -> i64 {
    let chunk_end = chunks.iter().map(|c| i64::try_from(c.end_sample() * 1000 / RATE).unwrap_or(0)).max();
    let line_end = g.segments.iter().map(|s| s.end_ms).max();
    g.meeting.duration_ms.or(chunk_end).or(line_end).unwrap_or(0).max(1)
}

/// Writes the meeting's audio as one 16 kHz mono 16-bit WAV in meeting time: each chunk
/// from where the previous one ended (an overlap is kept once), silence where no chunk
/// is. One chunk is in memory at a time. Returns what could not be read (those spans
/// stay silent: partial results beat none).
type ReadSamples<'a> = dyn Fn(&str) -> Result<Vec<f32>, String> + 'a;

fn join_audio<W: Write + Seek>(read: &ReadSamples<'_>, chunks: &[AudioChunk], out: &mut W) -> Result<Vec<String>> {
    let mut chunks: Vec<&AudioChunk> = chunks.iter().collect();
    chunks.sort_by_key(|c| c.start_sample);
    out.write_all(&wav_header(0))?;
    let mut written: u64 = 0;
    let mut skipped = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let silence = |out: &mut W, n: u64| -> std::io::Result<()> {
        let zeros = [0u8; 8192];
        let mut left = n * 2;
        while left > 0 {
            let k = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
            out.write_all(&zeros[..k])?;
            left -= k as u64;
        }
        Ok(())
    };
    for c in chunks {
        let end = c.end_sample();
        if end <= written {
            continue;
        }
        let samples = match read(&c.path.to_string()) {
            Ok(s) => s,
            Err(e) => {
                skipped.push(e);
                continue;
            }
        };
        if c.start_sample > written {
            silence(out, c.start_sample - written)?;
            written = c.start_sample;
        }
        let from = usize::try_from(written - c.start_sample).unwrap_or(usize::MAX);
        buf.clear();
        for s in samples.iter().skip(from) {
            let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
            buf.extend_from_slice(&v.to_le_bytes());
        }
        out.write_all(&buf)?;
        written += (samples.len().saturating_sub(from)) as u64;
    }
    // The header's sizes, now that they are known.
    let data = written * 2;
    out.seek(SeekFrom::Start(0))?;
    out.write_all(&wav_header(data))?;
    out.seek(SeekFrom::End(0))?;
    Ok(skipped)
}

/// A 44-byte PCM WAV header for 16 kHz mono 16-bit and `data` bytes of samples.
fn wav_header(data: u64) -> Vec<u8> {
    let data = u32::try_from(data).unwrap_or(u32::MAX - 36);
    let rate = u32::try_from(RATE).unwrap_or(16_000);
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // PCM
    h.extend_from_slice(&1u16.to_le_bytes()); // mono
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * 2).to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data.to_le_bytes());
    h
}

/// Slides with their images embedded or copied beside the page.
fn slide_views(g: &Gathered, inputs: &Inputs<'_>, embed: bool, files: &Path) -> Result<Vec<SlideView>> {
    let mut out = Vec::new();
    for s in &g.slides {
        let n = s.idx + 1;
        let img = match inputs.read(&s.path) {
            Err(e) => {
                eprintln!("foreman: warning: slide {n}: {e} (shown without its picture)");
                None
            }
            Ok(bytes) if embed => Some(data_url("image/png", &bytes)),
            Ok(bytes) => {
                let name = format!("slide-{n}.png");
                let path = files.join(&name);
                debrief_config::write_file_atomic(&path, &bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
                Some(format!("{}/{name}", url_path(&file_name(files))))
            }
        };
        out.push(SlideView {
            n,
            t: secs(s.start_ms),
            clock: clock(s.start_ms),
            title: s.title.clone().unwrap_or_else(|| format!("Slide {n}")),
            img,
            text: s.text.clone(),
            description: s.description.clone(),
        });
    }
    Ok(out)
}

fn page(g: &Gathered, audio_src: Option<String>, slides: Vec<SlideView>, duration_ms: i64) -> Page {
    let m = &g.meeting;
    let title = m.title.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| format!("Meeting {}", m.meeting_id));
    // Speakers by shown name (merged labels are one person), in label order.
    let mut names: Vec<String> = Vec::new();
    for r in &g.speakers {
        let n = g.name(&r.label);
        if !names.contains(&n) {
            names.push(n);
        }
    }
    for t in &g.turns {
        if !names.contains(&t.speaker) {
            names.push(t.speaker.clone());
        }
    }
    let color = |name: &str| names.iter().position(|n| n == name).map(|i| i % COLOURS);
    let talk: Vec<i64> =
        names.iter().map(|n| g.turns.iter().filter(|t| &t.speaker == n).map(|t| t.end_ms - t.start_ms).sum()).collect();
    let total: i64 = talk.iter().sum::<i64>().max(1);
    let speakers: Vec<SpeakerView> = names
        .iter()
        .zip(&talk)
        .enumerate()
        .filter(|(_, (_, &ms))| ms > 0)
        .map(|(i, (n, &ms))| SpeakerView {
            name: n.clone(),
            color: i % COLOURS,
            talk: clock(ms),
            share: format!("{:.0}", ms as f64 * 100.0 / total as f64),
            bar: format!("{:.1}", ms as f64 * 150.0 / total as f64),
            local: g.speakers.iter().any(|r| r.local && &g.name(&r.label) == n),
        })
        .collect();
    let timeline = timeline(g, &speakers, duration_ms);
    let subtitle = {
        let mut parts = vec![format!("Meeting {}", m.meeting_id), day_and_time(m.created_at)];
        parts.push(format!("{} long", clock(duration_ms)));
        if !speakers.is_empty() {
            parts.push(format!("{} speaker{}", speakers.len(), if speakers.len() == 1 { "" } else { "s" }));
        }
        if let Some(p) = &m.partial {
            parts.push(format!("partial: {p}"));
        }
        parts.join(" · ")
    };
    let (has_summary, overview, model, lists) = match &g.summary {
        None => (false, String::new(), String::new(), Vec::new()),
        Some(s) => {
            let view = |items: &[debrief_summary::Item]| -> Vec<ItemView> {
                items
                    .iter()
                    .map(|i| ItemView {
                        t: secs(i.start_ms),
                        clock: clock(i.start_ms),
                        owner: i.owner.clone(),
                        text: i.text.clone(),
                        due: match (&i.due, &i.due_date) {
                            (Some(d), Some(day)) => Some(format!("{d}: {day}")),
                            (Some(d), None) => Some(d.clone()),
                            _ => None,
                        },
                        speaker: i.speaker.clone(),
                        line: i.lines.first().copied(),
                    })
                    .collect()
            };
            let sum = &s.summary;
            let mut lists = vec![
                ItemList { title: "Decisions", class: "decisions", items: view(&sum.decisions) },
                ItemList { title: "Action items", class: "actions", items: view(&sum.action_items) },
                ItemList { title: "Open questions", class: "questions", items: view(&sum.open_questions) },
            ];
            if !sum.key_points.is_empty() {
                lists.push(ItemList { title: "Topics", class: "topics", items: view(&sum.key_points) });
            }
            (true, sum.overview.clone(), s.model.clone(), lists)
        }
    };
    // Transcript lines, gaps and slide marks in time order (gaps and slides first at a tie).
    let mut lines: Vec<(i64, u8, LineView)> = Vec::new();
    for (i, s) in g.segments.iter().enumerate() {
        lines.push((
            s.start_ms,
            2,
            LineView {
                kind: LineKind::Said,
                id: i,
                t: secs(s.start_ms),
                end: secs(s.end_ms),
                clock: clock(s.start_ms),
                who: s.speaker.clone(),
                color: s.speaker.as_deref().and_then(color),
                text: s.text.trim().to_string(),
            },
        ));
    }
    for gap in &g.gaps {
        lines.push((
            gap.start_ms,
            0,
            LineView {
                kind: LineKind::Gap,
                id: 0,
                t: secs(gap.start_ms),
                end: secs(gap.end_ms),
                clock: clock(gap.start_ms),
                who: None,
                color: None,
                text: format!("[not transcribed until {}: {}]", clock(gap.end_ms), gap.reason),
            },
        ));
    }
    for s in &slides {
        let start = g.slides.get(s.n - 1).map_or(0, |x| x.start_ms);
        lines.push((
            start,
            1,
            LineView {
                kind: LineKind::Slide,
                id: s.n,
                t: s.t.clone(),
                end: s.t.clone(),
                clock: s.clock.clone(),
                who: None,
                color: None,
                text: format!("Slide {}: {}", s.n, s.title),
            },
        ));
    }
    lines.sort_by_key(|(t, order, _)| (*t, *order));
    Page {
        meeting_id: m.meeting_id,
        nonce: format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
        title,
        subtitle,
        audio_src,
        has_summary,
        overview,
        model,
        lists,
        speakers,
        timeline,
        slides,
        lines: lines.into_iter().map(|(_, _, l)| l).collect(),
    }
}

/// `2026-12-04 20:12 UTC`.
fn day_and_time(ms: i64) -> String {
    let day = debrief_summary::dates::Day::of_ms(ms);
    let min = ms.rem_euclid(86_400_000) / 60_000;
    format!("{} {:02}:{:02} UTC", day.iso(), min / 60, min % 60)
}

/// The speaker timeline: one row per speaker, a bar per turn, minute ticks.
fn timeline(g: &Gathered, speakers: &[SpeakerView], duration_ms: i64) -> Timeline {
    const LEFT: u32 = 150;
    const SPAN: u32 = 830;
    const ROW: u32 = 22;
    let rows_h = ROW * u32::try_from(speakers.len()).unwrap_or(0);
    let axis = rows_h + 4;
    let x = |ms: i64| f64::from(LEFT) + ms.clamp(0, duration_ms) as f64 / duration_ms as f64 * f64::from(SPAN);
    let rows = speakers
        .iter()
        .enumerate()
        .map(|(i, s)| Row {
            y: ROW * u32::try_from(i).unwrap_or(0),
            name: format!("{} {}%", s.name, s.share),
            color: s.color,
            rects: g
                .turns
                .iter()
                .filter(|t| t.speaker == s.name)
                .map(|t| Rect {
                    x: format!("{:.1}", x(t.start_ms)),
                    w: format!("{:.2}", (x(t.end_ms) - x(t.start_ms)).max(0.5)),
                })
                .collect(),
        })
        .collect();
    // A tick every 10 s, 15 s, 30 s, 1, 2, 5, 10, 15, 30 or 60 minutes: at most about ten.
    let step_ms = [10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000]
        .into_iter()
        .find(|s| duration_ms / s <= 10)
        .unwrap_or(7_200_000);
    let ticks = (0..=duration_ms / step_ms)
        .map(|k| Tick { x: format!("{:.1}", x(k * step_ms)), label: clock(k * step_ms) })
        .collect();
    let summary = speakers.iter().map(|s| format!("{} {}%", s.name, s.share)).collect::<Vec<_>>().join(", ");
    Timeline {
        width: LEFT + SPAN + 20,
        height: axis + 18,
        axis,
        left: LEFT,
        span: SPAN,
        duration: secs(duration_ms),
        summary,
        ticks,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_audio_keeps_overlaps_once_and_fills_gaps_with_silence() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a")).unwrap();
        let chunk = |name: &str, start: u64, value: f32, n: usize, overlap: u64| {
            debrief_media::write_wav_atomic(&root.join("a").join(name), &vec![value; n]).unwrap();
            AudioChunk {
                path: debrief_contracts::DataPath::new(format!("a/{name}")).unwrap(),
                start_sample: start,
                samples: n as u64,
                overlap_samples: overlap,
                channels: Vec::new(),
                recovered: false,
            }
        };
        // 0..100 at 0.5, 80..180 at 0.25 (20 samples overlap), a missing chunk, 300..350.
        let mut chunks = vec![chunk("one.wav", 0, 0.5, 100, 0), chunk("two.wav", 80, 0.25, 100, 20)];
        let mut gone = chunk("gone.wav", 180, 0.1, 50, 0);
        gone.path = debrief_contracts::DataPath::new("a/missing.wav").unwrap();
        chunks.push(gone);
        chunks.push(chunk("three.wav", 300, -0.5, 50, 0));
        let mut buf = std::io::Cursor::new(Vec::new());
        let read = |rel: &str| debrief_media::read_wav(&root.join(rel)).map_err(|e| e.to_string());
        let skipped = join_audio(&read, &chunks, &mut buf).unwrap();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(skipped[0].contains("missing.wav"));
        let path = root.join("joined.wav");
        std::fs::write(&path, buf.get_ref()).unwrap();
        let got = debrief_media::read_wav(&path).unwrap();
        assert_eq!(got.len(), 350);
        let near = |i: usize, v: f32| (got[i] - v).abs() < 1e-3;
        assert!(near(0, 0.5) && near(99, 0.5), "the first chunk whole");
        assert!(near(100, 0.25) && near(179, 0.25), "the second from where the first ended");
        assert!(near(180, 0.0) && near(299, 0.0), "silence where no chunk could be read");
        assert!(near(300, -0.5) && near(349, -0.5));
    }

    #[test]
    fn urls_and_files_folder() {
        assert_eq!(url_path("my report_files"), "my%20report_files");
        assert_eq!(url_path("a\"<b>"), "a%22%3Cb%3E");
        assert_eq!(files_dir(Path::new("/x/meeting-3.html")).unwrap(), PathBuf::from("/x/meeting-3_files"));
        assert!(data_url("audio/wav", b"RIFF").starts_with("data:audio/wav;base64,UklGRg=="));
        assert_eq!(day_and_time(86_400_000 + 3_723_000), "1970-01-02 01:02 UTC");
    }
}
