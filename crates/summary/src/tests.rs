use debrief_transcript::Segment;

use crate::cite::{self, Kind};
use crate::dates::{self, Day};
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
fn lines_carry_number_time_and_speaker_and_windows_pack_within_the_budget() {
    let segs = vec![
        seg(0, Some("Ana"), "  Good   morning everyone "),
        seg(5, None, ""),
        seg(10, None, "one two three four five six seven eight"),
    ];
    let l = lines(&segs);
    assert_eq!(l.len(), 2);
    assert_eq!(l[0].text, "L1 [0:00] Ana: Good morning everyone");
    assert_eq!(
        (l[0].said.as_str(), l[0].speaker.as_deref(), l[0].segment),
        ("Good morning everyone", Some("Ana"), Some(0))
    );
    assert_eq!(l[1].text, "L2 [0:10] one two three four five six seven eight");
    assert_eq!((l[1].n, l[1].segment), (2, Some(2)), "numbered in order, citing the segment's index");
    let w = windows(&l, 100, &mut count);
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].start_ms, w[0].end_ms), (0, 14_000));
    // A budget of 16 tokens: the long line is split, every piece keeps its number and stamp.
    let long: Vec<Line> = lines(&[seg(3, None, &"word ".repeat(40))]);
    let w = windows(&long, 16, &mut count);
    assert!(w.len() >= 3, "{w:?}");
    for win in &w {
        assert!(count(&win.text()) <= 16, "{}", win.text());
        assert!(win.text().starts_with("L1 [0:03] word"), "{}", win.text());
        assert_eq!((win.start_ms, win.lines[0].n), (3000, 1));
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
            "L1 [0:00] Ana: Let us look at the budget",
            "L2 [0:20] Slide 1: Budget / Marketing 42000 euros",
            "L3 [0:20] Any questions"
        ]
    );
    assert_eq!((l[1].slide, l[1].segment, l[2].segment), (Some(0), None, Some(1)));
    let w = windows(&l, 100, &mut count);
    assert!(w[0].text().contains("42000 euros"));
}

/// The sample stand-up's lines as Whisper writes them.
fn standup() -> Vec<Line> {
    lines(&[
        seg(0, Some("Ana"), "Good morning everyone. Let's start the weekly planning meeting."),
        seg(4, Some("Ben"), "The budget review is finished. We decided to move the product launch to March fifteenth."),
        seg(9, Some("Ana"), "Good. Ben will send the revised budget to the finance team by Friday."),
        seg(14, Some("Ben"), "Yes, I will also update the roadmap document this week."),
        seg(18, Some("Ana"), "Carol, please read the passage for our book club."),
        seg(22, Some("Carol"), "he was not an ill disposed young man"),
        seg(30, Some("Dana"), "Thank you, Carol. One open question remains. Who owns the customer survey?"),
        seg(36, Some("Ana"), "We will decide that next week. Dana will draft the survey questions by Wednesday."),
        seg(42, Some("Ben"), "We have not decided the venue yet."),
    ])
}

#[test]
fn a_line_supports_only_the_types_its_words_carry() {
    let l = standup();
    let k = |n: usize| cite::kinds(&l[n - 1].said);
    assert_eq!(k(1), vec![Kind::Point]);
    assert_eq!(k(2), vec![Kind::Decision, Kind::Point]);
    assert_eq!(k(3), vec![Kind::Action, Kind::Point]);
    assert_eq!(k(5), vec![Kind::Action, Kind::Point], "a request");
    assert_eq!(k(6), vec![Kind::Point], "not a decision, not a task");
    assert_eq!(k(7), vec![Kind::Question, Kind::Point]);
    assert!(!k(9).contains(&Kind::Decision), "a negated decision is none");
    assert_eq!(cite::kinds("Okay."), vec![]);
}

#[test]
fn owners_are_copied_from_the_line() {
    let o = |s: &str, who: Option<&str>| cite::owner(s, who);
    assert_eq!(o("Ben will send the revised budget by Friday.", Some("Ana")).as_deref(), Some("Ben"));
    assert_eq!(o("Yes, I will also update the roadmap document this week.", Some("Ben")).as_deref(), Some("Ben"));
    assert_eq!(o("I'll fix the login bug.", Some("Carol")).as_deref(), Some("Carol"));
    assert_eq!(o("I will fix it.", None), None, "the speaker is not known");
    assert_eq!(o("Carol, please read the passage.", Some("Ana")).as_deref(), Some("Carol"));
    assert_eq!(o("Can you send the notes, Dana?", Some("Ana")).as_deref(), Some("Dana"));
    assert_eq!(o("Dana and Ben will draft the survey.", None).as_deref(), Some("Dana and Ben"));
    assert_eq!(o("We will decide that next week.", Some("Ana")), None);
    assert_eq!(o("The team will ship it.", None), None);
    assert_eq!(o("Someone needs to book the room.", None), None);
}

#[test]
fn due_dates_are_kept_as_said_and_named_relative_to_the_meeting_day() {
    // Wednesday 2026-12-02.
    let wed = Day::from_ymd(2026, 12, 2);
    assert_eq!((wed.weekday(), wed.iso(), Day::of_ms(0).iso()), (2, "2026-12-02".to_owned(), "1970-01-01".to_owned()));
    for y in [1999, 2000, 2024, 2100] {
        for (m, d) in [(1, 1), (2, 28), (3, 1), (12, 31)] {
            assert_eq!(Day::from_ymd(y, m, d).ymd(), (y, m, d));
        }
    }
    let due = |s: &str| dates::due(s, Some(wed)).map(|d| (d.said, d.day.map(Day::iso)));
    let some = |said: &str, day: Option<&str>| Some((said.to_owned(), day.map(str::to_owned)));
    assert_eq!(due("Ben will send it by Friday."), some("by Friday", Some("2026-12-04")));
    assert_eq!(due("Dana drafts them by Wednesday"), some("by Wednesday", Some("2026-12-02")));
    assert_eq!(due("on Monday"), some("on Monday", Some("2026-12-07")));
    assert_eq!(due("next Friday"), some("next Friday", Some("2026-12-11")));
    assert_eq!(due("send it tomorrow"), some("tomorrow", Some("2026-12-03")));
    assert_eq!(due("before March fifteenth"), some("before March fifteenth", Some("2027-03-15")));
    assert_eq!(due("by December 24th"), some("by December 24th", Some("2026-12-24")));
    assert_eq!(due("by 3 May"), some("by 3 May", Some("2027-05-03")));
    assert_eq!(due("by January twenty fifth"), some("by January twenty fifth", Some("2027-01-25")));
    assert_eq!(due("by the end of the week"), some("end of the week", Some("2026-12-04")));
    assert_eq!(due("by the end of the month"), some("end of the month", Some("2026-12-31")));
    assert_eq!(due("this week"), some("this week", None));
    assert_eq!(due("February 30th"), some("February 30th", None), "no such day");
    assert_eq!(due("the budget review"), None);
    assert_eq!(dates::due("by Friday", None), Some(dates::Due { said: "by Friday".into(), day: None }));
}

#[test]
fn the_map_grammar_labels_every_line_that_can_carry_an_item_with_the_types_it_supports() {
    let l = standup();
    let a = cite::answer(&l, false);
    assert!(
        a.gbnf.contains(
            r#""{" ws "\"line\": 2," ws "\"type\":" ws ("\"none\"" | ("\"decision\"" | "\"point\"")) ws "}""#
        ),
        "{}",
        a.gbnf
    );
    assert!(a.gbnf.contains(r#""\"line\": 7," ws "\"type\":" ws ("\"none\"" | ("\"question\"" | "\"point\""))"#));
    assert!(!a.gbnf.contains("\\\"text\\\""), "no wording without prose");
    let shapes = a.schema["properties"]["lines"]["items"]["anyOf"].as_array().unwrap();
    assert_eq!(shapes.len(), 9);
    assert_eq!(shapes[1]["properties"]["line"]["enum"], serde_json::json!([2]));
    assert_eq!(shapes[1]["properties"]["type"]["enum"], serde_json::json!(["decision", "point", "none"]));
    assert_eq!(a.max_tokens, 9 * cite::answer_tokens_per_line(false) + 30);
    let p = cite::answer(&l, true);
    assert!(p.gbnf.contains(r#"("\"decision\"" | "\"point\"") "," ws "\"text\":" ws text)"#), "{}", p.gbnf);
    assert!(p.max_tokens > a.max_tokens);
    // A window where no line can carry anything: an empty list.
    let empty = cite::answer(&lines(&[seg(0, None, "Okay.")]), false);
    assert!(empty.gbnf.starts_with(r#"root ::= "{" ws "\"lines\":" ws "[" ws  ws "]""#), "{}", empty.gbnf);
}

#[test]
fn cited_lines_become_items_in_their_own_words_filed_by_what_they_say() {
    let l = standup();
    let day = Some(Day::from_ymd(2026, 12, 2));
    let answer = r#"Sure! ```json
    {"lines": [{"line": 1, "type": "none"}, {"line": 2, "type": "decision"}, {"line": 2, "type": "decision"}, {"line": 3, "type": "action"},
               {"line": 6, "type": "decision"}, {"line": 99, "type": "action"}, {"line": "L7", "type": "question"},
               {"line": 4, "type": "action", "text": "Ben will rewrite the whole company strategy"},
               {"line": 1, "type": "summary"}, {"line": 9, "type": "decision"}]}
    ```"#;
    let n = cite::notes(answer, &l, false, day).unwrap();
    assert_eq!(
        n.decisions.len(),
        1,
        "a repeat counts once; lines whose words decide nothing are filed as what they say: {n:?}"
    );
    let d = &n.decisions[0];
    assert_eq!(d.text, "We decided to move the product launch to March fifteenth.");
    assert_eq!(
        (d.start_ms, d.lines.clone(), d.speaker.as_deref(), d.owner.as_deref()),
        (4000, vec![1], Some("Ben"), None)
    );
    let a = &n.action_items;
    assert_eq!(a.len(), 3, "{a:?}");
    // Dana's line was not labelled, but it commits someone named to something by a day:
    // it is listed all the same, in its own words.
    assert_eq!((a[2].lines.clone(), a[2].owner.as_deref()), (vec![7], Some("Dana")));
    assert_eq!(a[0].text, "Ben will send the revised budget to the finance team by Friday.");
    assert_eq!(
        (a[0].owner.as_deref(), a[0].due.as_deref(), a[0].due_date.as_deref()),
        (Some("Ben"), Some("by Friday"), Some("2026-12-04"))
    );
    // Without prose the model's wording is ignored: the line's words are shown.
    assert_eq!(a[1].text, "Yes, I will also update the roadmap document this week.");
    assert_eq!(
        (a[1].owner.as_deref(), a[1].due.as_deref(), a[1].due_date.as_deref()),
        (Some("Ben"), Some("this week"), None)
    );
    assert_eq!(n.open_questions[0].text, "Who owns the customer survey?");
    // A line that decides nothing is filed as what it is, and a negated decision ("We have
    // not decided the venue yet") as the open question it is; a line outside the window
    // and an unknown type are dropped.
    let points: Vec<usize> = n.key_points.iter().flat_map(|i| i.lines.clone()).collect();
    assert_eq!(points, vec![5]);
    let open: Vec<usize> = n.open_questions.iter().flat_map(|i| i.lines.clone()).collect();
    assert_eq!(open, vec![6, 8]);
    // With prose, wording the line supports is kept; an item whose wording the cited line
    // does not support is dropped, never shown (and the line may still carry another
    // label); an item without wording shows the line's words.
    let prose = r#"{"items": [{"line": 3, "type": "action", "text": "Ben sends the revised budget to finance"},
                               {"line": 4, "type": "action", "text": "Ben rewrites the company strategy"},
                               {"line": 2, "type": "decision", "text": "We decided to cancel the launch"},
                               {"line": 2, "type": "decision"}]}"#;
    let n = cite::notes(prose, &l, true, day).unwrap();
    let texts: Vec<&str> = n.items().map(|(_, i)| i.text.as_str()).collect();
    // What the lines state plainly follows in their own words: line 4 too, whose invented
    // rewording was dropped.
    assert_eq!(
        texts,
        [
            "We decided to move the product launch to March fifteenth.",
            "Ben sends the revised budget to finance",
            "Yes, I will also update the roadmap document this week.",
            "We will decide that next week. Dana will draft the survey questions by Wednesday.",
            "We have not decided the venue yet."
        ],
        "{n:?}"
    );
    assert!(!texts.iter().any(|t| t.contains("strategy") || t.contains("cancel")));
    // A line kept as a topic whose words decide something is filed as a decision.
    let n = cite::notes(r#"{"lines": [{"line": 2, "type": "point"}, {"line": 1, "type": "point"}]}"#, &l, false, day)
        .unwrap();
    assert_eq!((n.decisions.len(), n.key_points.len(), n.key_points[0].lines.clone()), (1, 1, vec![0]));
    let err = cite::notes("I cannot help with that", &l, false, day).unwrap_err().to_string();
    assert!(err.contains("not a JSON object") && err.contains("cannot help"), "{err}");
    assert!(cite::notes("[1, 2]", &l, false, day).unwrap_err().to_string().contains("array"));
}

#[test]
fn the_summary_merges_cited_lines_and_its_overview_says_only_what_is_known() {
    let l = standup();
    let day = Some(Day::from_ymd(2026, 12, 2));
    let first = cite::notes(
        r#"{"items": [{"line": 1, "type": "point"}, {"line": 2, "type": "decision"}, {"line": 3, "type": "action"}]}"#,
        &l,
        false,
        day,
    )
    .unwrap();
    let second = cite::notes(
        r#"{"items": [{"line": 3, "type": "action"}, {"line": 8, "type": "action"}, {"line": 7, "type": "question"}]}"#,
        &l,
        false,
        day,
    )
    .unwrap();
    let s = reduce::merge(&[second, first]);
    let starts: Vec<i64> = s.action_items.iter().map(|i| i.start_ms).collect();
    // Line 4's commitment ("I will also update the roadmap document this week": an owner
    // and a due date) is listed although neither answer labelled it.
    assert_eq!(starts, vec![9000, 14_000, 36_000], "a line cited twice counts once, in time order");
    assert_eq!(
        s.action_items[2].text,
        "We will decide that next week. Dana will draft the survey questions by Wednesday."
    );
    assert_eq!(s.action_items[2].owner.as_deref(), Some("Dana"), "the first named owner of the sentences shown");
    let f = reduce::facts(&l, &s);
    assert_eq!(f.speakers, ["Ana", "Ben", "Carol", "Dana"]);
    assert_eq!(f.topics, ["budget", "survey"], "content words said twice, not fillers or names");
    let plain = reduce::plain_overview(&s, &f);
    assert_eq!(
        plain,
        "4 speakers (Ana, Ben, Carol and Dana) over 0:46. Words said most: budget, survey. \
         Listed below with the lines they come from: 1 decision, 3 action items and 2 open questions."
    );
    let empty = reduce::plain_overview(&Summary::default(), &reduce::facts(&l[..1], &Summary::default()));
    assert_eq!(empty, "Ana spoke for 0:04. No decision, action item or open question was found in what was said.");
    // A big model's overview is shown only when its words are the items'.
    let ok = r#"{"overview": "Ben moved the product launch to March fifteenth; Ben sends the revised budget by Friday and Dana drafts the survey questions."}"#;
    assert!(reduce::checked_overview(ok, &s, &f).is_some());
    let invented = r#"{"overview": "Debunked our plans for the product launch last week. We want more amiable people in this business."}"#;
    assert_eq!(reduce::checked_overview(invented, &s, &f), None);
    assert_eq!(reduce::checked_overview(r#"{"overview": "The meeting was about [insert topic]."}"#, &s, &f), None);
    let rendered = reduce::render(&s);
    assert!(rendered.starts_with("Topic [0:00] Good morning everyone."), "{rendered}");
    assert!(
        rendered.contains(
            "Action [0:09] (owner Ben) Ben will send the revised budget to the finance team by Friday. (due by Friday)"
        ),
        "{rendered}"
    );
    let small = reduce::fit(s.clone(), 30, &mut count);
    assert!(count(&reduce::render(&small)) <= 30 && small.key_points.is_empty(), "{small:?}");
}

#[test]
fn a_negation_before_the_cue_undoes_a_decision_but_one_after_it_does_not() {
    for (said, decides) in [
        ("Then we decided to use the embedded search library and not the managed cluster.", true),
        ("We have not decided the venue yet.", false),
        ("We haven't agreed on the budget.", false),
        ("No one agreed to the new plan.", false),
        ("Nothing was decided about the venue.", false),
        ("Nobody knows the answer, but we agreed to ship on Monday.", true),
    ] {
        assert_eq!(cite::kinds(said).contains(&Kind::Decision), decides, "{said}");
    }
    for (said, asks) in [("Planter?", false), ("And you?", false), ("Who owns the customer survey?", true)] {
        assert_eq!(cite::kinds(said).contains(&Kind::Question), asks, "{said}");
    }
}

#[test]
fn explicit_lines_are_listed_without_labels_and_longer_meetings_keep_more() {
    let said: Vec<String> = (0..30).map(|i| format!("We decided to rename service number {i}.")).collect();
    let segs = |step_s: i64| -> Vec<Segment> {
        said.iter().enumerate().map(|(i, t)| seg(i as i64 * step_s, Some("Ana"), t)).collect()
    };
    // 30 decisions over 25 minutes: all kept (the cap is 10 per started ten minutes).
    let long = lines(&segs(50));
    let n = cite::notes("{}", &long, false, None).unwrap();
    assert_eq!(n.decisions.len(), 30, "an answer without labels still lists what is explicit");
    assert_eq!(reduce::merge(&[n]).decisions.len(), 30);
    // The same 30 over 2.5 minutes: 10, spread over the meeting.
    let short = lines(&segs(5));
    let s = reduce::merge(&[cite::notes("{}", &short, false, None).unwrap()]);
    let at: Vec<i64> = s.decisions.iter().map(|i| i.start_ms).collect();
    assert_eq!(at, (0..10).map(|j| j * 3 * 5000).collect::<Vec<_>>());
}

/// A transcript segment with Whisper's word probabilities, all `p`.
fn heard_at(start_s: i64, text: &str, p: f32) -> Segment {
    Segment {
        words: text
            .split_whitespace()
            .map(|w| debrief_transcript::Word { text: format!(" {w}"), start_ms: 0, end_ms: 0, p, speaker: None })
            .collect(),
        ..seg(start_s, Some("Ana"), text)
    }
}

#[test]
fn measured_figures_heard_clearly_are_kept_past_the_key_point_cap() {
    // Eight plain points and four figures in five minutes: the five most informative,
    // and the clearly heard figures the ranking left out, up to the list cap; a figure
    // heard at 0.7 (citable, but likely misheard) is not added.
    let mut said: Vec<(String, f32)> = (0..8)
        .map(|i| (format!("The team discussed the onboarding checklist item number {i} at length."), 0.9))
        .collect();
    said.insert(2, ("Our goal is under 200 milliseconds.".into(), 0.9));
    said.insert(4, ("The largest $1,440 million per customer.".into(), 0.7));
    said.insert(6, ("The budget is about $30,000 this year.".into(), 0.9));
    said.push(("The first customers move in six weeks.".into(), 0.9));
    let segs: Vec<Segment> = said.iter().enumerate().map(|(i, (t, p))| heard_at(i as i64 * 20, t, *p)).collect();
    let answer = format!(
        r#"{{"lines": [{}]}}"#,
        (1..=said.len()).map(|n| format!(r#"{{"line": {n}, "type": "point"}}"#)).collect::<Vec<_>>().join(", ")
    );
    let s = reduce::merge(&[cite::notes(&answer, &lines(&segs), false, None).unwrap()]);
    let kept: Vec<&str> = s.key_points.iter().map(|i| i.text.as_str()).collect();
    for figure in ["200 milliseconds", "$30,000", "six weeks"] {
        assert!(kept.iter().any(|k| k.contains(figure)), "{figure} missing from {kept:?}");
    }
    assert!(!kept.iter().any(|k| k.contains("$1,440")), "{kept:?}");
    assert!(kept.len() > reduce::KEY_POINTS && kept.len() <= reduce::CAP, "{kept:?}");
    assert_eq!(s.key_points[0].heard, Some(90));
    let at: Vec<i64> = s.key_points.iter().map(|i| i.start_ms).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "in time order: {at:?}");
}

#[test]
fn a_measured_figure_is_a_key_point_without_a_label() {
    let segs = vec![
        seg(0, Some("Victor"), "Our goal is under 200 milliseconds."),
        seg(5, Some("Hana"), "The managed cluster costs about $4,000 a month at our size."),
        seg(10, Some("Sam"), "The first ten customers could move in six weeks."),
        seg(15, Some("Victor"), "I collected two hundred real queries from the support team."),
        seg(20, Some("Grace"), "Is it under 200 milliseconds?"),
        seg(25, Some("Grace"), "We have two options."),
    ];
    let n = cite::notes("{}", &lines(&segs), false, None).unwrap();
    let points: Vec<&str> = n.key_points.iter().map(|i| i.text.as_str()).collect();
    assert_eq!(
        points,
        [
            "Our goal is under 200 milliseconds.",
            "The managed cluster costs about $4,000 a month at our size.",
            "The first ten customers could move in six weeks."
        ],
        "a figure with a unit or an amount of money is listed; a count of things, a question and a bare number are not"
    );
    assert!(n.decisions.is_empty() && n.action_items.is_empty() && n.open_questions.is_empty());
}

#[test]
fn the_overview_grammar_is_capped() {
    let o = shape::overview();
    assert!(o.gbnf.contains("\\\"overview\\\"") || o.gbnf.contains("overview"));
    assert_eq!(o.schema["properties"]["overview"]["maxLength"], shape::OVERVIEW_CHARS);
    assert!(o.max_tokens > 100 && o.max_tokens < 400, "{}", o.max_tokens);
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

/// Window checkpoints stored, replaced (keeping their row id) and trimmed by the summary,
/// and the summary read back, on `q`.
fn store_round_trip(q: &debrief_jobq::AnyQueue) -> debrief_jobq::MeetingId {
    let m = q.create_meeting(Some("t"), None).unwrap();
    let notes = Notes {
        decisions: vec![Item {
            text: "ship".into(),
            owner: None,
            due: None,
            due_date: None,
            start_ms: 1,
            end_ms: 2,
            lines: vec![0],
            slides: Vec::new(),
            speaker: None,
            heard: None,
        }],
        ..Notes::default()
    };
    let row = |idx, input_sha256| store::WindowRow {
        meeting_id: m,
        idx,
        start_ms: 0,
        end_ms: 10,
        input_sha256,
        notes: &notes,
    };
    for idx in 0..3 {
        q.write(|tx| store::put_window(tx, &row(idx, "h"))).unwrap();
    }
    let before = q.read(|db| store::windows(db, m)).unwrap();
    assert_eq!(before.len(), 3);
    assert_eq!(before[0].notes, notes);
    q.write(|tx| store::put_window(tx, &row(0, "h2"))).unwrap();
    let s = Summary { overview: "o".into(), ..Summary::default() };
    q.write(|tx| store::put_summary(tx, m, &s, "smollm2", 1)).unwrap();
    let after = q.read(|db| store::windows(db, m)).unwrap();
    assert_eq!((after.len(), after[0].window_id, after[0].input_sha256.as_str()), (1, before[0].window_id, "h2"));
    let got = q.read(|db| store::summary(db, m)).unwrap().unwrap();
    assert_eq!((got.summary, got.model.as_str()), (s, "smollm2"));
    assert!(q.read(|db| store::summary(db, debrief_jobq::MeetingId(m.0 + 1))).unwrap().is_none());
    m
}

#[test]
fn statements_run_on_a_fresh_schema_and_rows_round_trip() {
    let d = tempfile::tempdir().unwrap();
    let q = debrief_jobq::Queue::open(&d.path().join("debrief.db"), debrief_jobq::QueueConfig::default()).unwrap();
    q.read(|c| {
        for (file, sql, _) in store::ALL {
            c.prepare(sql).unwrap_or_else(|e| panic!("sql/{file}: {e}"));
        }
        Ok(())
    })
    .unwrap();
    let q = debrief_jobq::AnyQueue::Sqlite(q);
    let m = store_round_trip(&q);
    let md = render::markdown(&q.read(|db| store::summary(db, m)).unwrap().unwrap());
    assert!(md.starts_with("## Summary\n\no\n\n### Decisions\n\n- none noted"), "{md}");
    // Items show their citation time, owner and due date; the JSON has the cited lines.
    let l = standup();
    let n = cite::notes(r#"{"items": [{"line": 3, "type": "action"}]}"#, &l, false, Some(Day::from_ymd(2026, 12, 2)))
        .unwrap();
    let s = Summary { overview: "o".into(), action_items: n.action_items, ..Summary::default() };
    q.write(|tx| store::put_summary(tx, m, &s, "smollm2", 1)).unwrap();
    let got = q.read(|db| store::summary(db, m)).unwrap().unwrap();
    let md = render::markdown(&got);
    assert!(
        md.contains("- [0:09] **Ben**: Ben will send the revised budget to the finance team by Friday. (due by Friday: 2026-12-04)"),
        "{md}"
    );
    let j = render::json(&got);
    assert_eq!(j["action_items"][0]["lines"], serde_json::json!([2]), "{j:#}");
    assert_eq!(j["action_items"][0]["due_date"], "2026-12-04");
    assert_eq!(j["model"], "smollm2");
}

#[test]
fn pg_windows_and_summaries_round_trip() {
    let pg = debrief_jobq::PgServer::start().expect("PostgreSQL server");
    let q = pg.queue_with(debrief_jobq::QueueConfig::default()).unwrap();
    q.read(|c| {
        for (file, _, sql) in store::ALL {
            c.prepare(sql).unwrap_or_else(|e| panic!("sql/pg/{file}: {e}"));
        }
        Ok(())
    })
    .unwrap();
    store_round_trip(&debrief_jobq::AnyQueue::Postgres(q));
}

/// A line Whisper was unsure of (mean word probability under 0.6) is a likely mishearing:
/// it stays in the transcript but no item may cite it, whether the model labels it or its
/// words state a decision plainly; the same line heard clearly is listed.
#[test]
fn a_line_whisper_was_unsure_of_is_never_cited() {
    let heard = |text: &str, p: f32| heard_at(0, text, p);
    let said = "We decided to ship version two on May 3rd.";
    let unsure = lines(&[heard(said, 0.3), heard("Thanks everyone.", 0.9)]);
    assert!(unsure[0].unsure && !unsure[1].unsure);
    assert!(cite::citable(&unsure).is_empty(), "{:?}", cite::citable(&unsure));
    let answer = r#"{"lines": [{"line": 1, "type": "decision"}]}"#;
    let n = cite::notes(answer, &unsure, false, None).unwrap();
    assert!(n.decisions.is_empty() && n.key_points.is_empty(), "{n:?}");
    let clear = lines(&[heard(said, 0.8)]);
    assert_eq!(cite::citable(&clear).len(), 1);
    let n = cite::notes(answer, &clear, false, None).unwrap();
    assert_eq!(n.decisions.len(), 1, "{n:?}");
    // Segments without probabilities (tests, older databases) are not unsure.
    assert!(!lines(&[seg(0, None, said)])[0].unsure);
}

/// A misheard sentence inside a clear line is judged on its own words.
#[test]
fn a_misheard_sentence_in_a_clear_line_is_never_shown() {
    let said = "Good. The release date is April 22nd. Omar, what am out in the Lord test?";
    let heard = |p_tail: f32| Segment {
        words: said
            .split_whitespace()
            .enumerate()
            .map(|(i, w)| debrief_transcript::Word {
                text: format!(" {w}"),
                start_ms: 0,
                end_ms: 0,
                p: if i < 7 { 0.95 } else { p_tail },
                speaker: None,
            })
            .collect(),
        ..seg(0, Some("Maya"), said)
    };
    let answer = r#"{"lines": [{"line": 1, "type": "question"}]}"#;
    let misheard = lines(&[heard(0.3)]);
    assert!(!misheard[0].unsure, "the line as a whole is clear enough");
    assert!(misheard[0].unsure_text("Omar, what am out in the Lord test?"));
    assert!(!misheard[0].unsure_text("The release date is April 22nd."));
    let n = cite::notes(answer, &misheard, false, None).unwrap();
    assert!(n.open_questions.is_empty(), "{n:?}");
    let n = cite::notes(answer, &lines(&[heard(0.9)]), false, None).unwrap();
    assert_eq!(n.open_questions.len(), 1, "{n:?}");
}

/// Past the cap, key points are the lines that tell most (figures first), kept in time
/// order; the other lists stay spread over the meeting.
#[test]
fn key_points_past_the_cap_keep_the_lines_with_figures() {
    let said = [
        "The old index is deleted after a while.",
        "Our goal is under 200 milliseconds for every query.",
        "Yes, that sounds fine to me.",
        "It reads the change log of the main database.",
        "How do we test the ranking quality?",
        "Small customers share a machine and large customers get their own.",
        "The first ten customers can move in six weeks.",
        "Let us look at that later.",
        "Search runs inside the main database with simple text queries.",
        "The embedded library needs careful monitoring in production.",
        "Permissions change often for the support team members.",
    ];
    let answer = format!(
        r#"{{"lines": [{}]}}"#,
        (1..=said.len()).map(|n| format!(r#"{{"line": {n}, "type": "point"}}"#)).collect::<Vec<_>>().join(", ")
    );
    let segs: Vec<Segment> = said.iter().enumerate().map(|(i, t)| seg(i as i64 * 5, Some("Ana"), t)).collect();
    let notes = cite::notes(&answer, &lines(&segs), false, None).unwrap();
    let points: Vec<String> = notes.key_points.iter().map(|i| i.text.clone()).collect();
    assert!(points.len() > reduce::KEY_POINTS, "{points:?}");
    let s = reduce::merge(&[notes]);
    let kept: Vec<&str> = s.key_points.iter().map(|i| i.text.as_str()).collect();
    assert_eq!(kept.len(), reduce::KEY_POINTS, "{kept:?}");
    for must in ["200 milliseconds", "ten customers"] {
        assert!(kept.iter().any(|k| k.contains(must)), "{must} missing from {kept:?}");
    }
    assert!(!kept.iter().any(|k| k.starts_with("Yes") || k.starts_with("Let us")), "{kept:?}");
    let at: Vec<i64> = s.key_points.iter().map(|i| i.start_ms).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "in time order: {at:?}");
    assert!(
        reduce::informativeness("Our goal is under 200 milliseconds.")
            > reduce::informativeness("The old index is deleted after a while.")
    );
}
