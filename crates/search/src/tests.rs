use super::*;
use debrief_jobq::{AnyQueue, NewJob, Queue, QueueConfig, QueueError, TaskType, WorkerIdent};
use debrief_transcript::{Segment, Word};

fn queue(d: &tempfile::TempDir) -> AnyQueue {
    AnyQueue::Sqlite(Queue::open(&d.path().join("debrief.db"), QueueConfig::default()).unwrap())
}

/// Runs `story` on a fresh SQLite queue and a fresh PostgreSQL one.
fn on_both(story: fn(&AnyQueue)) {
    let d = tempfile::tempdir().unwrap();
    story(&queue(&d));
    let pg = debrief_jobq::PgServer::start().expect("PostgreSQL server");
    story(&AnyQueue::Postgres(pg.queue_with(QueueConfig::default()).unwrap()));
}

fn count(q: &AnyQueue, m: MeetingId) -> i64 {
    q.read(|db| entries(db, m).map_err(|e| QueueError::Invalid(e.to_string()))).unwrap()
}

fn seg(start_ms: i64, speaker: &str, text: &str) -> Segment {
    Segment {
        start_ms,
        end_ms: start_ms + 4_000,
        speaker: Some(speaker.into()),
        text: text.into(),
        words: vec![Word { text: format!(" {text}"), start_ms, end_ms: start_ms + 4_000, p: 0.9, speaker: None }],
    }
}

fn store(q: &AnyQueue, m: MeetingId, segments: &[Segment]) {
    q.write(|tx| debrief_transcript::store_transcript(tx, m, segments)).unwrap();
}

fn find(q: &AnyQueue, text: &str, f: impl FnOnce(&mut Query)) -> Vec<Hit> {
    let mut query = Query { text: text.into(), limit: 20, ..Query::default() };
    f(&mut query);
    q.read(|db| search(db, &query).map_err(|e| QueueError::Invalid(e.to_string()))).unwrap()
}

#[test]
fn typed_words_are_quoted_never_syntax() {
    assert_eq!(fts_query("pricing").as_deref(), Some("\"pricing\""));
    assert_eq!(fts_query("Q3-budget can't").as_deref(), Some("\"Q3 budget\" \"can t\""));
    assert_eq!(fts_query("  \"launch date\"  ben ").as_deref(), Some("\"launch date\" \"ben\""));
    assert_eq!(fts_query("pric*").as_deref(), Some("\"pric\"*"));
    assert_eq!(fts_query("NOT (a OR b) NEAR").as_deref(), Some("\"NOT\" \"a\" \"OR\" \"b\" \"NEAR\""));
    assert_eq!(fts_query(" -- \"\" ' "), None);
    assert_eq!(fts_query("\"unclosed phrase"), Some("\"unclosed phrase\"".into()));
}

#[test]
fn typed_words_become_a_tsquery_never_syntax() {
    assert_eq!(ts_query("pricing").as_deref(), Some("pricing"));
    assert_eq!(ts_query("Q3-budget can't").as_deref(), Some("(Q3 <-> budget) & (can <-> t)"));
    assert_eq!(ts_query("\"launch date\" ben pric*").as_deref(), Some("(launch <-> date) & ben & pric:*"));
    assert_eq!(ts_query("!a | (b) <-> c:*").as_deref(), Some("a & b & c:*"), "a typed * is still a prefix");
    assert_eq!(ts_query(" -- \"\" ' "), None);
}

#[test]
fn lines_are_found_ranked_and_replaced_with_their_transcript() {
    on_both(lines_story);
}

fn lines_story(q: &AnyQueue) {
    let q = q.clone();
    let a = q.create_meeting(Some("Pricing review"), None).unwrap();
    let b = q.create_meeting(Some("Standup"), None).unwrap();
    store(
        &q,
        a,
        &[
            seg(0, "S1", "Welcome everyone."),
            seg(4_000, "S2", "The pricing page needs new prices for the pricing tiers."),
            seg(8_000, "S1", "We also looked at hiring."),
        ],
    );
    store(&q, b, &[seg(0, "S1", "Pricing came up once."), seg(5_000, "S2", "Nothing else.")]);
    let hits = find(&q, "pricing", |_| {});
    assert_eq!(hits.len(), 2, "{hits:?}");
    // The line that says it three times (price, prices, pricing share a stem) ranks first.
    assert_eq!((hits[0].meeting_id, hits[0].segment, hits[0].t_ms), (a, Some(1), 4_000));
    assert_eq!(hits[0].title.as_deref(), Some("Pricing review"));
    assert!(hits[0].snippet.contains("\u{2}pricing\u{3}"), "{}", hits[0].snippet);
    assert_eq!(highlight("a \u{2}b\u{3}", "[", "]"), "a [b]");
    // A stem: "price" finds "prices" and "pricing".
    assert_eq!(find(&q, "price", |_| {}).len(), 2);
    assert_eq!(find(&q, "pricing", |x| x.meeting = Some(b)).len(), 1);
    // A re-run replaces the transcript: no duplicate or stale hits.
    assert_eq!(count(&q, a), 3);
    store(&q, a, &[seg(0, "S1", "Welcome everyone."), seg(4_000, "S2", "The pricing page is done.")]);
    assert_eq!(count(&q, a), 2);
    assert_eq!(find(&q, "pricing", |x| x.meeting = Some(a)).len(), 1);
    assert!(find(&q, "hiring", |_| {}).is_empty());
    // A cancelled meeting is not shown; a deleted one leaves nothing behind.
    q.cancel_meeting(b).unwrap();
    assert_eq!(find(&q, "pricing", |_| {}).iter().map(|h| h.meeting_id).collect::<Vec<_>>(), vec![a]);
    assert!(q.delete_meeting(b).unwrap());
    assert_eq!(count(&q, b), 0);
    assert_eq!(count(&q, a), 2);
    assert!(matches!(q.read(|db| Ok(search(db, &Query { text: "--".into(), ..Query::default() }).is_err())), Ok(true)));
}

#[test]
fn speakers_are_searched_by_label_name_and_merge() {
    on_both(speakers_story);
}

fn speakers_story(q: &AnyQueue) {
    let q = q.clone();
    let m = q.create_meeting(Some("Budget"), None).unwrap();
    store(
        &q,
        m,
        &[
            seg(0, "S1", "The budget is fine."),
            seg(4_000, "S2", "I disagree about the budget."),
            seg(8_000, "S3", "Budget again from me."),
        ],
    );
    let who = |hits: Vec<Hit>| {
        let mut v: Vec<(i64, Option<String>)> = hits.into_iter().map(|h| (h.t_ms, h.speaker)).collect();
        v.sort();
        v
    };
    assert_eq!(who(find(&q, "budget", |x| x.speaker = Some("s2".into()))), vec![(4_000, Some("S2".into()))]);
    let d2 = debrief_speakers::Diarization {
        speakers: ["S1", "S2", "S3"]
            .iter()
            .map(|l| debrief_speakers::Speaker { label: (*l).into(), talk_ms: 4_000, local: false })
            .collect(),
        turns: Vec::new(),
        embeddings: 0,
    };
    q.write(|tx| debrief_speakers::store_diarization(tx, m, &d2)).unwrap();
    q.write(|tx| debrief_speakers::rename_speaker(tx, m, "S2", Some("Carol"))).unwrap();
    // Renamed: found by the name, shown by the name, and the index was not rewritten.
    assert_eq!(who(find(&q, "budget", |x| x.speaker = Some("carol".into()))), vec![(4_000, Some("Carol".into()))]);
    // S3 merged into Carol: her lines too.
    q.write(|tx| debrief_speakers::merge_speakers(tx, m, "S3", "S2")).unwrap();
    assert_eq!(
        who(find(&q, "budget", |x| x.speaker = Some("Carol".into()))),
        vec![(4_000, Some("Carol".into())), (8_000, Some("Carol".into()))]
    );
    assert!(find(&q, "budget", |x| x.speaker = Some("Nobody".into())).is_empty());
}

#[test]
fn summary_items_and_slides_are_found_once() {
    on_both(summary_story);
}

fn summary_story(q: &AnyQueue) {
    let q = q.clone();
    let m = q.create_meeting(Some("Launch"), None).unwrap();
    let item = |text: &str, at: i64| debrief_summary::Item {
        text: text.into(),
        owner: None,
        due: None,
        due_date: None,
        start_ms: at,
        end_ms: at + 1_000,
        lines: vec![0],
        slides: Vec::new(),
        speaker: Some("S1".into()),
        heard: None,
    };
    let mut s = debrief_summary::Summary {
        overview: "Two speakers talked about the launch.".into(),
        decisions: vec![item("We decided to launch in May.", 60_000)],
        action_items: vec![item("Ben will book the venue.", 90_000)],
        ..Default::default()
    };
    q.write(|tx| debrief_summary::store::put_summary(tx, m, &s, "test", 1)).unwrap();
    let hits = find(&q, "launch", |_| {});
    let kinds: Vec<&str> = hits.iter().map(|h| h.kind.as_str()).collect();
    assert!(kinds.contains(&"decision") && kinds.contains(&"overview"), "{kinds:?}");
    assert_eq!(find(&q, "venue", |_| {})[0].t_ms, 90_000);
    // A re-written summary replaces its items.
    s.action_items.clear();
    q.write(|tx| debrief_summary::store::put_summary(tx, m, &s, "test", 1)).unwrap();
    assert!(find(&q, "venue", |_| {}).is_empty());
    assert_eq!(count(&q, m), 2);

    // Three frames: the same slide twice (a bullet added), then another slide.
    let ocr = |t: &str| debrief_slides::OcrLine {
        text: t.into(),
        left: 80,
        top: 60,
        width: 400,
        height: 40,
        conf: 90.0,
        block: 1,
    };
    let grid = |shade: u8| {
        debrief_media::frame::LumaGrid::of(&debrief_media::frame::RgbImage {
            rgb: vec![shade; 64 * 36 * 3],
            width: 64,
            height: 36,
        })
    };
    let texts: [(i64, u8, Vec<&str>); 3] = [
        (10_000, 50, vec!["Venue shortlist", "Harbour hall seats 200", "Old mill seats 120"]),
        (20_000, 50, vec!["Venue shortlist", "Harbour hall seats 200", "Old mill seats 120", "Decision by Friday"]),
        (30_000, 200, vec!["Timeline", "Invitations in April"]),
    ];
    let w = WorkerIdent::current("t");
    for (t, shade, lines) in texts {
        q.enqueue(&NewJob::new(m, TaskType::Visual, t)).unwrap();
        let c = q.claim(&w, TaskType::Visual).unwrap().unwrap();
        let f = debrief_slides::Frame {
            job_id: c.job_id,
            t_ms: t,
            path: format!("meetings/{m}/screens/{t}.png"),
            width: 1280,
            height: 720,
            grid: grid(shade),
            lines: lines.into_iter().map(ocr).collect(),
            ocr_ms: 1,
            description: None,
        };
        q.complete_with(&c, &serde_json::json!({}), move |tx| Ok(debrief_slides::store_frame(tx, m, &f)?)).unwrap();
    }
    let hits = find(&q, "harbour hall", |_| {});
    assert_eq!(hits.len(), 1, "two frames of one slide are one hit: {hits:?}");
    assert_eq!((hits[0].kind.as_str(), hits[0].slide, hits[0].t_ms), ("slide", Some(0), 10_000));
    assert_eq!(find(&q, "invitations", |_| {})[0].slide, Some(1));
}

#[test]
fn upgrading_a_version_5_database_indexes_what_it_already_holds() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("debrief.db");
    let m = {
        let q = AnyQueue::Sqlite(Queue::open(&path, QueueConfig::default()).unwrap());
        let m = q.create_meeting(Some("Before search existed"), None).unwrap();
        store(&q, m, &[seg(0, "S1", "The warehouse lease ends in June."), seg(4_000, "S2", "Renew the lease.")]);
        let s = debrief_summary::Summary {
            overview: "Two speakers on the lease.".into(),
            decisions: vec![debrief_summary::Item {
                text: "We decided to renew the warehouse lease.".into(),
                owner: None,
                due: None,
                due_date: None,
                start_ms: 4_000,
                end_ms: 8_000,
                lines: vec![1],
                slides: Vec::new(),
                speaker: Some("S2".into()),
                heard: None,
            }],
            ..Default::default()
        };
        q.write(|tx| debrief_summary::store::put_summary(tx, m, &s, "test", 1)).unwrap();
        m
    };
    // Make it what version 5 left: no index, no triggers.
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        let triggers: Vec<String> = c
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'search_%'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(triggers.len(), 10);
        for t in triggers {
            c.execute_batch(&format!("DROP TRIGGER {t}")).unwrap();
        }
        c.execute_batch("DROP VIEW search_summary_entries; DROP TABLE search_index; PRAGMA user_version = 5;").unwrap();
    }
    let q = AnyQueue::Sqlite(Queue::open(&path, QueueConfig::default()).unwrap());
    assert_eq!(count(&q, m), 4, "two lines, one decision, the overview");
    let kinds: Vec<String> = find(&q, "lease", |_| {}).into_iter().map(|h| h.kind).collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert!(kinds.contains(&"decision".to_string()) && kinds.contains(&"overview".to_string()));
    // And the triggers work from then on.
    store(&q, m, &[seg(0, "S1", "Nothing about it now.")]);
    assert_eq!(find(&q, "lease", |x| x.speaker = Some("S1".into())).len(), 0);
}
