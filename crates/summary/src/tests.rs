use debrief_transcript::Segment;

use crate::parse::Anchor;
use crate::window::{lines, windows, with_slides, Line};
use crate::*;

fn seg(start_s: i64, speaker: Option<&str>, text: &str) -> Segment {
    Segment {
        start_ms: start_s * 1000,
        end_ms: start_s * 1000 + 4000,
        speaker: speaker.map(str::to_owned),
        text: text.into(),
        words: Vec::new(),
    }
}

/// A whitespace "tokenizer": one token per word.
fn count(s: &str) -> usize {
    s.split_whitespace().count()
}

#[test]
fn times_format_and_parse() {
    assert_eq!(mmss(75_400), "1:15");
    assert_eq!(mmss(3_725_000), "62:05");
    assert_eq!(parse_mmss("[1:15]"), Some(75_000));
    assert_eq!(parse_mmss("1:02:05"), Some(3_725_000));
    assert_eq!(parse_mmss("1:75"), None);
    assert_eq!(parse_mmss("soon"), None);
}

#[test]
fn lines_carry_time_and_speaker_and_windows_pack_within_the_budget() {
    let segs = vec![
        seg(0, Some("Ana"), "  Good   morning everyone "),
        seg(5, None, ""),
        seg(10, None, "one two three four five six seven eight"),
    ];
    let l = lines(&segs);
    assert_eq!(l.len(), 2);
    assert_eq!(l[0].text, "[0:00] Ana: Good morning everyone");
    assert_eq!(l[1].text, "[0:10] one two three four five six seven eight");
    let w = windows(&l, 100, &mut count);
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].start_ms, w[0].end_ms), (0, 14_000));
    // A budget of 16 tokens: the long line is split, every piece keeps its stamp.
    let long: Vec<Line> = lines(&[seg(3, None, &"word ".repeat(40))]);
    let w = windows(&long, 16, &mut count);
    assert!(w.len() >= 3, "{w:?}");
    for win in &w {
        assert!(count(&win.text()) <= 16, "{}", win.text());
        assert!(win.text().starts_with("[0:03] word"));
        assert_eq!(win.start_ms, 3000);
    }
    let again = windows(&long, 16, &mut count);
    assert_eq!(w, again, "deterministic");
    assert_ne!(w[0].input_hash(&["model-a"]), w[0].input_hash(&["model-b"]));
    assert_eq!(w[0].input_hash(&["model-a"]), again[0].input_hash(&["model-a"]));
}

#[test]
fn slides_join_the_lines_at_the_time_they_appeared() {
    let l = lines(&[seg(0, Some("Ana"), "Let us look at the budget"), seg(20, None, "Any questions")]);
    let slides = vec![(20_000, "Slide 1: Budget / Marketing  42000 euros".to_owned()), (9_000, "  ".to_owned())];
    let l = with_slides(l, &slides);
    let text: Vec<&str> = l.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        text,
        [
            "[0:00] Ana: Let us look at the budget",
            "[0:20] Slide 1: Budget / Marketing 42000 euros",
            "[0:20] Any questions"
        ]
    );
    let w = windows(&l, 100, &mut count);
    assert!(w[0].text().contains("42000 euros"));
}

fn anchors() -> Vec<Anchor> {
    [
        (0, "[0:00] Let's start the weekly planning meeting."),
        (4, "[0:04] We decided to move the product launch to March fifteenth."),
        (9, "[0:09] Ben will send the revised budget to the finance team by Friday."),
        (30, "[0:30] Who owns the customer survey?"),
    ]
    .iter()
    .map(|(s, t)| Anchor { start_ms: s * 1000, end_ms: s * 1000 + 4000, text: (*t).into() })
    .collect()
}

#[test]
fn notes_are_repaired_and_grounded_in_the_window() {
    let answer = r#"Sure! ```json
    {"key_points": [{"time": "0:00", "text": "weekly planning"}, {"time": "0:00", "text": "Weekly  planning"}, {"time": "0:01", "text": " "}],
     "decisions": [{"time": "9:59", "text": "Launch moved to March fifteenth"}],
     "action_items": [{"time": "0:09", "owner": "Ben", "task": "send revised budget to finance", "due": "Friday"},
                      {"time": "0:30", "owner": "Zed", "task": "own the survey", "due": "none"}],
     "open_questions": ["Who owns the customer survey?"]}
    ```"#;
    let n = parse::notes(answer, &anchors(), 3).unwrap();
    assert_eq!(n.key_points.len(), 1, "duplicates and empty items dropped: {n:?}");
    // The cited time is outside the window: the item goes to the line it matches.
    assert_eq!((n.decisions[0].start_ms, n.decisions[0].end_ms), (4000, 8000));
    let a = &n.action_items[0];
    assert_eq!((a.owner.as_deref(), a.due.as_deref(), a.start_ms), (Some("Ben"), Some("Friday"), 9000));
    // An owner nobody mentioned is dropped, as is a "none" due date.
    assert_eq!((n.action_items[1].owner.as_deref(), n.action_items[1].due.as_deref()), (None, None));
    assert_eq!(n.open_questions[0].start_ms, 30_000);
    for (_, i) in n.items() {
        assert!((0..=34_000).contains(&i.start_ms) && i.end_ms >= i.start_ms, "{i:?}");
    }
    let err = parse::notes("I cannot help with that", &anchors(), 3).unwrap_err().to_string();
    assert!(err.contains("not a JSON object") && err.contains("cannot help"), "{err}");
    assert!(parse::notes("[1, 2]", &anchors(), 3).unwrap_err().to_string().contains("array"));
}

#[test]
fn reduce_groups_shrink_and_summaries_keep_times() {
    let one = parse::notes(
        r#"{"key_points":[{"time":"0:00","text":"planning"}],"decisions":[{"time":"0:04","text":"launch moved to March fifteenth"}],"action_items":[],"open_questions":[]}"#,
        &anchors(),
        3,
    )
    .unwrap();
    let text = reduce::render(std::slice::from_ref(&one));
    assert_eq!(text, "Key points:\n[0:00] planning\nDecisions:\n[0:04] launch moved to March fifteenth\n");
    let g = reduce::groups(vec![one.clone(); 5], 20, &mut count);
    assert!(g.len() < 5 && g.iter().all(|g| count(&reduce::render(g)) <= 20), "{g:?}");
    let s = parse::summary(
        r#"{"overview":"The team moved the launch to March fifteenth.","decisions":[{"time":"0:00","text":"Launch moved to March fifteenth"}],"action_items":[],"open_questions":[]}"#,
        &reduce::anchors(std::slice::from_ref(&one)),
        5,
    )
    .unwrap();
    assert_eq!(s.overview, "The team moved the launch to March fifteenth.");
    let invented = parse::summary(
        r#"{"overview":"The meeting was about [insert topic].","decisions":[],"action_items":[],"open_questions":[]}"#,
        &reduce::anchors(std::slice::from_ref(&one)),
        5,
    )
    .unwrap();
    assert_eq!(invented.overview, "", "ungrounded overviews are dropped");
    let done = reduce::complete(invented, std::slice::from_ref(&one), 5);
    assert_eq!(
        (done.decisions.len(), done.overview.as_str()),
        (1, "Discussed: planning. Decided: launch moved to March fifteenth.")
    );
    assert_eq!(s.decisions[0].start_ms, 4000, "grounded in the decision note, not the cited 0:00");
}

#[test]
fn grammar_and_schema_describe_the_same_fields() {
    for shape in [shape::MAP, shape::REDUCE, shape::OVERVIEW] {
        let g = shape.gbnf();
        let schema = shape.json_schema();
        for (key, _) in shape.lists() {
            assert!(g.contains(&format!("\\\"{key}\\\"")), "{key} in {g}");
            assert_eq!(schema["properties"][key]["maxItems"], shape.max_items);
        }
        assert_eq!(g.contains("\\\"overview\\\""), shape.overview);
        assert!(shape.max_tokens() > 100 && shape.max_tokens() < 2500, "{}", shape.max_tokens());
    }
}

#[test]
fn prompt_overrides_replace_defaults_and_bad_files_are_named() {
    let d = tempfile::tempdir().unwrap();
    let (p, used) = prompts::Prompts::load(Some(d.path())).unwrap();
    assert_eq!((p, used.len()), (prompts::Prompts::default(), 0));
    std::fs::write(d.path().join("map.system.txt"), "Be brief.").unwrap();
    let (p, used) = prompts::Prompts::load(Some(d.path())).unwrap();
    assert_eq!((p.map_system.as_str(), used.len()), ("Be brief.", 1));
    assert!(p.map("X").contains('X') && p.reduce("Y").contains('Y'));
    std::fs::write(d.path().join("reduce.user.txt"), "no placeholder").unwrap();
    let err = prompts::Prompts::load(Some(d.path())).unwrap_err().to_string();
    assert!(err.contains("reduce.user.txt") && err.contains("{{input}}"), "{err}");
}

#[test]
fn statements_run_on_a_fresh_schema_and_rows_round_trip() {
    let d = tempfile::tempdir().unwrap();
    let q = debrief_jobq::Queue::open(&d.path().join("debrief.db"), debrief_jobq::QueueConfig::default()).unwrap();
    let m = q.create_meeting(Some("t"), None).unwrap();
    q.read(|c| {
        for sql in store::ALL {
            c.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        let notes = Notes {
            decisions: vec![Item { text: "ship".into(), owner: None, due: None, start_ms: 1, end_ms: 2 }],
            ..Notes::default()
        };
        for idx in 0..3 {
            store::put_window(
                c,
                &store::WindowRow { meeting_id: m, idx, start_ms: 0, end_ms: 10, input_sha256: "h", notes: &notes },
            )
            .unwrap();
        }
        let before = store::windows(c, m).unwrap();
        assert_eq!(before.len(), 3);
        assert_eq!(before[0].notes, notes);
        store::put_window(
            c,
            &store::WindowRow { meeting_id: m, idx: 0, start_ms: 0, end_ms: 10, input_sha256: "h2", notes: &notes },
        )
        .unwrap();
        let s = Summary { overview: "o".into(), ..Summary::default() };
        store::put_summary(c, m, &s, "smollm2", 1).unwrap();
        let after = store::windows(c, m).unwrap();
        assert_eq!((after.len(), after[0].window_id, after[0].input_sha256.as_str()), (1, before[0].window_id, "h2"));
        let got = store::summary(c, m).unwrap().unwrap();
        assert_eq!((got.summary, got.model.as_str()), (s, "smollm2"));
        let md = render::markdown(&store::summary(c, m).unwrap().unwrap());
        assert!(md.starts_with("## Summary\n\no\n\n### Decisions\n\n- none noted"), "{md}");
        assert!(store::summary(c, debrief_jobq::MeetingId(m.0 + 1)).unwrap().is_none());
        Ok(())
    })
    .unwrap();
}
