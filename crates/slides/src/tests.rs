use super::*;
use debrief_media::frame::RgbImage;

fn line(text: &str, left: u32, top: u32, height: u32, block: u32) -> OcrLine {
    OcrLine { text: text.into(), left, top, width: 400, height, conf: 90.0, block }
}

fn grid(shade: u8) -> LumaGrid {
    LumaGrid::of(&RgbImage { rgb: vec![shade; 64 * 36 * 3], width: 64, height: 36 })
}

fn frame(job: i64, t_ms: i64, shade: u8, lines: Vec<OcrLine>) -> Frame {
    Frame {
        job_id: JobId(job),
        t_ms,
        path: format!("meetings/1/screens/f{job}.png"),
        width: 1280,
        height: 720,
        grid: grid(shade),
        lines,
        ocr_ms: 5,
        description: None,
    }
}

fn budget(extra: bool) -> Vec<OcrLine> {
    let mut v = vec![
        line("Quarterly budget review", 80, 60, 60, 1),
        line("- Marketing spend 42000 euros", 120, 200, 36, 2),
        line("- Hiring two engineers in March", 120, 260, 36, 2),
    ];
    if extra {
        v.push(line("- Travel frozen until June", 120, 320, 36, 2));
    }
    v
}

#[test]
fn near_duplicates_become_one_slide_with_its_time_range() {
    let roadmap = vec![line("Roadmap 2027", 80, 60, 60, 1), line("Mobile app beta ships in May", 120, 200, 36, 2)];
    let frames = vec![
        frame(1, 0, 200, budget(false)),
        // A video tile changed the picture, the text is the same: the same slide.
        frame(2, 4_000, 120, budget(false)),
        // A bullet appeared: still the same slide, shown by its fullest frame.
        frame(3, 9_000, 110, budget(true)),
        frame(4, 15_000, 40, roadmap.clone()),
        // Identical picture (a cursor moved): merged even without text.
        frame(5, 20_000, 40, roadmap),
        frame(6, 31_000, 250, vec![]),
    ];
    let s = assemble(&frames);
    assert_eq!(s.len(), 3, "{s:#?}");
    assert_eq!((s[0].start_ms, s[0].end_ms, s[0].frames, s[0].job_id), (0, Some(15_000), 3, JobId(3)));
    assert_eq!(s[0].title.as_deref(), Some("Quarterly budget review"));
    assert!(s[0].text.contains("Travel frozen until June"));
    assert_eq!((s[1].start_ms, s[1].end_ms, s[1].frames), (15_000, Some(31_000), 2));
    assert_eq!(s[1].title.as_deref(), Some("Roadmap 2027"));
    assert_eq!((s[2].start_ms, s[2].end_ms, s[2].title.as_deref(), s[2].text.as_str()), (31_000, None, None, ""));
    assert_eq!(render::one_line(&s[2]), "(no text)");
    // Deterministic: the same frames give the same slides.
    assert_eq!(assemble(&frames), s);
}

#[test]
fn a_different_slide_with_the_same_title_is_a_new_slide() {
    let a = vec![line("Agenda", 80, 60, 60, 1), line("Budget and hiring plans for next year", 120, 200, 36, 2)];
    let b = vec![line("Agenda", 80, 60, 60, 1), line("Customer visits and the trade fair", 120, 200, 36, 2)];
    let s = assemble(&[frame(1, 0, 200, a), frame(2, 5_000, 150, b)]);
    assert_eq!(s.len(), 2);
}

#[test]
fn layout_keeps_blocks_and_bullet_levels() {
    let f = frame(
        1,
        0,
        0,
        vec![
            line("Plan", 80, 60, 60, 1),
            line("- first", 120, 200, 30, 2),
            line("- nested", 170, 240, 30, 2),
            line("- second", 120, 280, 30, 2),
        ],
    );
    // Indent step: width / 40 = 32 px.
    assert_eq!(f.text(), "Plan\n\n  - first\n    - nested\n  - second");
}

/// A frame stored, replaced, hidden until its job completes and read back, on `q`.
fn frames_round_trip(q: &debrief_jobq::AnyQueue) {
    let m = q.create_meeting(None, None).unwrap();
    let (job, _) = q.enqueue(&debrief_jobq::NewJob::new(m, debrief_jobq::TaskType::Visual, 0)).unwrap();
    let c = q.claim(&debrief_jobq::WorkerIdent::current("t"), debrief_jobq::TaskType::Visual).unwrap().unwrap();
    let f = frame(job.0, 1_500, 90, budget(true));
    q.write(|tx| store_frame(tx, m, &frame(job.0, 1_500, 90, budget(false)))).unwrap();
    // Not COMPLETED yet: not shown.
    assert!(q.read(|db| slides(db, m)).unwrap().is_empty());
    let f2 = f.clone();
    q.complete_with(&c, &serde_json::json!({}), move |tx| Ok(store_frame(tx, m, &f2)?)).unwrap();
    let back = q.read(|db| load_frames(db, m)).unwrap();
    assert_eq!(back.len(), 1, "replaced, not appended");
    assert_eq!(back[0].lines, f.lines);
    assert_eq!((back[0].width, back[0].height), (f.width, f.height));
    assert_eq!(back[0].grid.to_bytes(), f.grid.to_bytes());
    let s = q.read(|db| slides(db, m)).unwrap();
    assert_eq!(s[0].title.as_deref(), Some("Quarterly budget review"));
    let md = render::markdown(&s);
    assert!(md.contains("### 1. Quarterly budget review (0:01-end)") && md.contains("Travel frozen"), "{md}");
    assert_eq!(render::json(&s)[0]["start_ms"], 1_500);
}

#[test]
fn frames_are_stored_replaced_and_read_back_for_completed_jobs() {
    let d = tempfile::tempdir().unwrap();
    let q = debrief_jobq::Queue::open(&d.path().join("debrief.db"), debrief_jobq::QueueConfig::default()).unwrap();
    q.read(|c| {
        for (file, (sql, _)) in crate::sql::ALL {
            c.prepare(sql).unwrap_or_else(|e| panic!("sql/{file}: {e}"));
        }
        Ok(())
    })
    .unwrap();
    frames_round_trip(&debrief_jobq::AnyQueue::Sqlite(q));
}

#[test]
fn pg_frames_are_stored_replaced_and_read_back_for_completed_jobs() {
    let pg = debrief_jobq::PgServer::start().expect("PostgreSQL server");
    let q = pg.queue_with(debrief_jobq::QueueConfig::default()).unwrap();
    q.read(|c| {
        for (file, (_, sql)) in crate::sql::ALL {
            c.prepare(sql).unwrap_or_else(|e| panic!("sql/pg/{file}: {e}"));
        }
        Ok(())
    })
    .unwrap();
    frames_round_trip(&debrief_jobq::AnyQueue::Postgres(q));
}

#[cfg(feature = "ocr")]
#[test]
fn tsv_rows_become_lines_and_low_confidence_words_are_dropped() {
    let tsv = "5\t1\t1\t1\t1\t1\t80\t60\t200\t50\t96.1\tQuarterly\n\
               5\t1\t1\t1\t1\t2\t290\t62\t150\t48\t95.0\tbudget\n\
               5\t1\t1\t1\t1\t3\t450\t60\t20\t20\t12.0\t~\n\
               4\t1\t2\t1\t1\t0\t120\t200\t400\t36\t-1\t\n\
               5\t1\t2\t1\t1\t1\t120\t200\t60\t36\t91.0\t-\n\
               5\t1\t2\t1\t1\t2\t190\t200\t200\t36\t93.0\t42000\n";
    let lines = ocr::parse_tsv(tsv);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        (lines[0].text.as_str(), lines[0].left, lines[0].width, lines[0].height),
        ("Quarterly budget", 80, 360, 50)
    );
    assert_eq!((lines[1].text.as_str(), lines[1].block), ("- 42000", 2));
}

#[test]
fn a_slide_keeps_the_description_of_whichever_of_its_frames_was_described() {
    // The visual-worker describes a slide's first frame and skips its near-duplicates;
    // the slide is shown by its fullest frame, and keeps the description.
    let mut first = frame(1, 0, 200, budget(false));
    first.description = Some("A bar chart of spend per quarter, rising.".into());
    let frames = vec![first, frame(2, 4_000, 110, budget(true)), frame(3, 9_000, 40, vec![])];
    let s = assemble(&frames);
    assert_eq!(s.len(), 2, "{s:#?}");
    assert_eq!(s[0].job_id, JobId(2), "shown by its fullest frame");
    assert_eq!(s[0].description.as_deref(), Some("A bar chart of spend per quarter, rising."));
    assert_eq!(s[1].description, None, "a slide no frame of which was described has none");
    assert!(
        render::one_line(&s[0]).ends_with("(A bar chart of spend per quarter, rising.)"),
        "{}",
        render::one_line(&s[0])
    );
}
