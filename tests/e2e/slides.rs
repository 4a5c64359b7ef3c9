//! Issue 13: slides from screen frames. A real Xvfb shows slides (drawn with ffmpeg's
//! drawtext) while `ingest record --screens` captures it; the built-in foreman
//! configuration (the real audio-, visual- and summary-workers) then finishes the
//! meeting, and the exports carry the slides.

use std::path::Path;
use std::time::{Duration, Instant};

use debrief_jobq::{MeetingId, Queue, QueueConfig};
use serde_json::Value;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt as _, CreateGCAux, ImageFormat, Rectangle};

use crate::common::*;
use crate::record::Xvfb;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const BOLD: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

/// The slides: a title and bullets each.
pub(crate) const SLIDES: [(&str, &[&str]); 3] = [
    ("Quarterly budget review", &["- Marketing spend 42000 euros", "- Hiring two engineers in March"]),
    ("Product roadmap", &["- Mobile app beta ships in May", "- Offline mode after the summer"]),
    ("Open questions", &["- Who owns the customer survey", "- Travel budget for the trade fair"]),
];

/// Draws a 1280x720 slide with ffmpeg and returns its RGB pixels.
pub(crate) fn draw_slide(dir: &Path, i: usize, title: &str, bullets: &[&str]) -> Vec<u8> {
    let png = dir.join(format!("slide-{i}.png"));
    let mut filters = vec![format!("drawtext=fontfile={BOLD}:text='{title}':fontsize=60:x=80:y=70:fontcolor=black")];
    for (k, b) in bullets.iter().enumerate() {
        filters
            .push(format!("drawtext=fontfile={FONT}:text='{b}':fontsize=40:x=120:y={}:fontcolor=black", 230 + k * 80));
    }
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=white:s=1280x720"])
        .args(["-vf", &filters.join(","), "-frames:v", "1"])
        .arg(&png)
        .status()
        .expect("ffmpeg (scripts/setup installs it)");
    assert!(st.success(), "ffmpeg could not draw slide {i}");
    let img = debrief_media::frame::read_png(&png).unwrap();
    assert_eq!((img.width, img.height), (1280, 720));
    img.rgb
}

/// Puts `rgb` (1280x720) on the root window, in strips that fit one X request.
fn show(conn: &impl Connection, root: u32, gc: u32, rgb: &[u8]) {
    const W: usize = 1280;
    const STRIP: usize = 32;
    for y in (0..720).step_by(STRIP) {
        let rows = STRIP.min(720 - y);
        let mut data = Vec::with_capacity(W * rows * 4);
        for p in rgb[y * W * 3..(y + rows) * W * 3].chunks_exact(3) {
            data.extend_from_slice(&[p[2], p[1], p[0], 0]);
        }
        conn.put_image(ImageFormat::Z_PIXMAP, root, gc, W as u16, rows as u16, 0, y as i16, 0, 24, &data).unwrap();
    }
    conn.get_input_focus().unwrap().reply().unwrap();
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

#[test]
fn issue13_a_recording_with_screens_ends_with_its_slides_read_and_summarised() {
    let s = Scratch::new();
    let data = s.path("data");
    let pixels: Vec<Vec<u8>> = SLIDES.iter().enumerate().map(|(i, (t, b))| draw_slide(&s.path(""), i, t, b)).collect();
    let x = Xvfb::start();
    let (conn, n) = x11rb::connect(Some(&x.display)).expect("connect to Xvfb");
    let root = conn.setup().roots[n].root;
    let gc = conn.generate_id().unwrap();
    conn.create_gc(gc, root, &CreateGCAux::new().foreground(0x40_40_40)).unwrap();
    show(&conn, root, gc, &pixels[0]);

    let mut cmd = debrief("ingest", &data);
    cmd.args(["record", "--no-audio", "--screens", "--every", "0.5", "--display", &x.display, "--for", "10"]);
    let (mut child, err) = spawn_drained(cmd.stdout(std::process::Stdio::piped()));
    let t = Instant::now();
    let at = |secs: f64| std::thread::sleep(Duration::from_secs_f64(secs).saturating_sub(t.elapsed()));
    at(2.0);
    // A cursor over slide 1: the same slide.
    conn.poly_fill_rectangle(root, gc, &[Rectangle { x: 900, y: 500, width: 12, height: 20 }]).unwrap();
    conn.get_input_focus().unwrap().reply().unwrap();
    at(4.0);
    show(&conn, root, gc, &pixels[1]);
    at(7.0);
    show(&conn, root, gc, &pixels[2]);
    let st = wait_for(&mut child, Duration::from_secs(40), "ingest record --screens");
    let err = err.join().unwrap();
    assert!(st.success(), "{err}");

    // The built-in workers (audio-, visual- and summary-worker next to the foreman).
    let started = Instant::now();
    let mut fm = debrief("foreman", &data);
    fm.args(["run", "--spawn", "--until-idle", "--interval", "0.2"]);
    let (st, _, err) = run_out(&mut fm, Duration::from_secs(600));
    assert!(st.success(), "{err}");
    eprintln!("pipeline finished in {:.1} s", started.elapsed().as_secs_f64());
    let q = Queue::open(&data.join("debrief.db"), QueueConfig::default()).unwrap();
    let m = MeetingId(1);
    let rec = q.meeting(m).unwrap().unwrap();
    assert_eq!((rec.status.as_str(), rec.partial.as_deref()), ("DONE", None), "{err}");
    let jobs = q.meeting_jobs(m).unwrap();
    let visual: Vec<_> = jobs.iter().filter(|j| j.task_type == "VISUAL").collect();
    assert!(visual.len() >= 3, "at least one frame per slide: {}", visual.len());
    let ocr_ms: Vec<i64> = visual.iter().map(|j| j.result.as_ref().unwrap()["ocr_ms"].as_i64().unwrap()).collect();
    eprintln!("OCR per frame (ms): {ocr_ms:?}");

    // Three slides, at the times they were shown.
    let slides = q.read(|c| debrief_slides::slides(&mut debrief_jobq::Db::Sqlite(c), m)).unwrap();
    assert_eq!(slides.len(), 3, "{slides:#?}");
    for (sl, (start, title)) in slides.iter().zip([(0, SLIDES[0].0), (4_000, SLIDES[1].0), (7_000, SLIDES[2].0)]) {
        assert!((start..start + 1_200).contains(&sl.start_ms), "slide {} at {} ms", sl.idx, sl.start_ms);
        assert_eq!(sl.title.as_deref(), Some(title));
    }
    // OCR word recall over every word on the slides.
    let expected: Vec<String> =
        SLIDES.iter().flat_map(|(t, b)| std::iter::once(*t).chain(b.iter().copied())).flat_map(words).collect();
    let read: Vec<String> = slides.iter().flat_map(|s| words(&s.text)).collect();
    let found = expected.iter().filter(|w| read.contains(w)).count();
    let recall = found as f64 / expected.len() as f64;
    eprintln!("OCR word recall {found}/{} = {recall:.3}", expected.len());
    assert!(recall >= 0.9, "recall {recall:.3}: {read:?}");

    // The exports carry them.
    let export = |format: &str| {
        let (st, out, err) =
            run_out(debrief("foreman", &data).args(["export", "1", "--format", format]), Duration::from_secs(60));
        assert!(st.success(), "{err}");
        out
    };
    let md = export("md");
    assert!(md.contains("## Slides") && md.contains("### 1. Quarterly budget review"), "{md}");
    assert!(md.contains("Marketing spend 42000 euros") && md.contains("Slide 2: Product roadmap"), "{md}");
    let json: Value = serde_json::from_str(&export("json")).unwrap();
    assert_eq!(json["slides"].as_array().unwrap().len(), 3);
    assert!(json["slides"][2]["text"].as_str().unwrap().contains("customer survey"));

    // Summarised from the slides: with no speech, only slide lines can make a window.
    let summary = jobs.iter().find(|j| j.task_type == "SUMMARY").unwrap();
    let windows = summary.result.as_ref().unwrap()["windows"].as_u64().unwrap();
    assert!(windows >= 1, "the slides reached the summary's map phase: {:?}", summary.result);

    // The report shows each slide with its picture (copied beside the page) and marks it
    // in the transcript; with no audio recorded it has no player.
    let page = s.path("report/slides.html");
    std::fs::create_dir_all(page.parent().unwrap()).unwrap();
    let (st, _, err) = run_out(
        debrief("foreman", &data).args(["report", "1", "--out", page.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    assert!(st.success(), "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("<li class=\"slide\"").count(), 3, "{html}");
    assert_eq!(html.matches("<li class=\"shown\">").count(), 3, "each slide marked at its time");
    assert!(html.contains("Marketing spend 42000 euros") && !html.contains("<audio"), "{html}");
    for sl in &slides {
        let copied = s.path(&format!("report/slides_files/slide-{}.png", sl.idx + 1));
        assert_eq!(std::fs::read(copied).unwrap(), std::fs::read(data.join(&sl.path)).unwrap());
    }
    // Search finds slide text once per slide (not once per frame).
    let (st, out, err) =
        run_out(debrief("foreman", &data).args(["search", "customer survey", "--json"]), Duration::from_secs(60));
    assert!(st.success(), "{err}");
    let hits: Value = serde_json::from_str(&out).unwrap();
    let slide_hits: Vec<&Value> = hits["hits"].as_array().unwrap().iter().filter(|h| h["kind"] == "slide").collect();
    assert_eq!(slide_hits.len(), 1, "{hits}");
    assert_eq!(slide_hits[0]["slide"], 2);
}

/// Slides of the imported screen recording: the three above and a fourth, shown from
/// these meeting times (ms) over the sample meeting's speech.
const VIDEO_SLIDES: [(&str, &[&str]); 4] =
    [SLIDES[0], SLIDES[1], SLIDES[2], ("Next steps", &["- Release notes by Thursday", "- Book club on Wednesday"])];
const VIDEO_STARTS: [i64; 4] = [0, 15_000, 35_000, 55_000];

/// A screen recording as Zoom or OBS writes one: H.264 video at 5 fps showing each
/// slide from its start, AAC audio (the sample meeting), in `name` (MP4 or MKV).
pub(crate) fn screen_recording(dir: &Path, name: &str) -> std::path::PathBuf {
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y"]);
    let ends = [15.0, 20.0, 20.0, 21.0];
    for (i, (t, b)) in VIDEO_SLIDES.iter().enumerate() {
        draw_slide(dir, i, t, b);
        cmd.args(["-loop", "1", "-t", &ends[i].to_string(), "-i"]).arg(dir.join(format!("slide-{i}.png")));
    }
    cmd.arg("-i").arg(crate::asr::sample());
    cmd.args(["-filter_complex", "[0:v][1:v][2:v][3:v]concat=n=4:v=1:a=0,fps=5,format=yuv420p[v]"]);
    cmd.args(["-map", "[v]", "-map", "4:a", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", "-shortest"]);
    let out = dir.join(name);
    let st = cmd.arg(&out).status().expect("ffmpeg");
    assert!(st.success(), "ffmpeg could not make the screen recording");
    out
}

fn import(data: &Path, file: &Path, extra: &[&str]) -> (MeetingId, String) {
    let (st, out, err) = run_out(debrief("ingest", data).arg("import").arg(file).args(extra), Duration::from_secs(300));
    assert!(st.success(), "{err}");
    (out.lines().last().unwrap().trim().parse().unwrap(), err)
}

#[test]
fn issue13_an_imported_screen_recording_gives_its_slides_at_their_times_and_a_summary() {
    let s = Scratch::new();
    let video = screen_recording(&s.path(""), "call.mp4");
    let data = s.path("data");
    let (m, err) = import(&data, &video, &["--title", "Screen recording"]);
    assert!(err.contains("4 changed frame(s) of video queued"), "{err}");
    let started = Instant::now();
    let (st, _, err) = run_out(
        debrief("foreman", &data).args(["run", "--spawn", "--until-idle", "--interval", "0.2"]),
        Duration::from_secs(900),
    );
    assert!(st.success(), "{err}");
    eprintln!("pipeline finished in {:.1} s", started.elapsed().as_secs_f64());
    let q = Queue::open(&data.join("debrief.db"), QueueConfig::default()).unwrap();
    let rec = q.meeting(m).unwrap().unwrap();
    assert_eq!((rec.status.as_str(), rec.partial.as_deref(), rec.error.as_deref()), ("DONE", None, None));

    // Exactly four slides, each within 1 s of when it came on screen, read by OCR.
    let slides = q.read(|c| debrief_slides::slides(&mut debrief_jobq::Db::Sqlite(c), m)).unwrap();
    assert_eq!(slides.len(), 4, "{slides:#?}");
    for (sl, (start, (title, _))) in slides.iter().zip(VIDEO_STARTS.iter().zip(VIDEO_SLIDES)) {
        assert!((sl.start_ms - start).abs() <= 1_000, "slide {} at {} ms, shown at {start}", sl.idx, sl.start_ms);
        assert_eq!(sl.title.as_deref(), Some(title));
    }
    let expected: Vec<String> =
        VIDEO_SLIDES.iter().flat_map(|(t, b)| std::iter::once(*t).chain(b.iter().copied())).flat_map(words).collect();
    let read: Vec<String> = slides.iter().flat_map(|s| words(&s.text)).collect();
    let found = expected.iter().filter(|w| read.contains(w)).count();
    let recall = found as f64 / expected.len() as f64;
    eprintln!("OCR word recall {found}/{} = {recall:.3}", expected.len());
    assert!(recall >= 0.9, "recall {recall:.3}: {read:?}");

    // In the exports, beside the speech, and summarised.
    let md = export_meeting(&data, m, "md");
    assert!(md.contains("## Slides") && md.contains("### 4. Next steps"), "{md}");
    assert!(md.contains("Slide 2: Product roadmap") && md.to_lowercase().contains("budget"), "{md}");
    let json: Value = serde_json::from_str(&export_meeting(&data, m, "json")).unwrap();
    assert_eq!(json["slides"].as_array().unwrap().len(), 4);
    assert!(json["slides"][3]["text"].as_str().unwrap().contains("Release notes by Thursday"));
    assert!(json["summary"]["model"].is_string(), "the meeting was summarised: {}", json["summary"]);

    // --no-video: the same audio, no frames.
    let plain = s.path("plain");
    let (m2, _) = import(&plain, &video, &["--no-video"]);
    let q2 = Queue::open(&plain.join("debrief.db"), QueueConfig::default()).unwrap();
    let jobs = q2.meeting_jobs(m2).unwrap();
    assert!(jobs.iter().all(|j| j.task_type == "AUDIO"), "no VISUAL jobs");
    assert_eq!(jobs.len(), q.meeting_jobs(m).unwrap().iter().filter(|j| j.task_type == "AUDIO").count());

    // A truncated recording (the file cut at 60%, as a crash of the recording app
    // leaves it): the audio and slides up to the cut are imported, and the meeting says
    // what is missing.
    let mkv = s.path("call.mkv");
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&video)
        .args(["-c", "copy"])
        .arg(&mkv)
        .status()
        .unwrap();
    assert!(st.success());
    let bytes = std::fs::read(&mkv).unwrap();
    let cut = s.path("cut.mkv");
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let damaged = s.path("damaged");
    let (m3, err) = import(&damaged, &cut, &[]);
    let q3 = Queue::open(&damaged.join("debrief.db"), QueueConfig::default()).unwrap();
    let rec = q3.meeting(m3).unwrap().unwrap();
    assert!(rec.error.as_deref().unwrap_or("").contains("truncated"), "{rec:?} {err}");
    assert!(rec.duration_ms.unwrap() > 30_000, "the audio before the cut: {:?}", rec.duration_ms);
    let visual = q3.meeting_jobs(m3).unwrap().iter().filter(|j| j.task_type == "VISUAL").count();
    assert!((2..=3).contains(&visual), "the slides before the cut: {visual}");
}
