use debrief_jobq::AnyQueue;

use super::export::{render, Format, Meta};
use super::*;

fn w(text: &str, a: i64, b: i64) -> Word {
    Word { text: text.into(), start_ms: a, end_ms: b, p: 0.9, speaker: None }
}

fn seg(words: Vec<Word>) -> Segment {
    Segment {
        start_ms: words[0].start_ms,
        end_ms: words[words.len() - 1].end_ms,
        speaker: None,
        text: words.iter().map(|w| w.text.as_str()).collect::<String>().trim().to_owned(),
        words,
    }
}

fn chunk(seq: i64, start_ms: i64, overlap_ms: i64, segments: Vec<Segment>) -> Chunk {
    Chunk {
        job_id: debrief_jobq::JobId(seq + 1),
        seq,
        start_sample: start_ms * 16,
        overlap_samples: overlap_ms * 16,
        samples: 0,
        segments,
        failed: None,
    }
}

#[test]
fn overlaps_keep_each_word_once_whatever_the_order() {
    // Cut at 60 s; chunk 1 starts 1 s earlier and hears "right" again.
    let a = chunk(
        0,
        0,
        0,
        vec![seg(vec![w(" Okay", 57_000, 57_400), w(" right", 59_300, 59_700)]), seg(vec![w(" so", 60_200, 60_400)])],
    );
    let b = chunk(
        1,
        59_000,
        1_000,
        vec![seg(vec![w(" right", 59_350, 59_750), w(" so", 60_200, 60_450), w(" budget", 60_600, 61_000)])],
    );
    let t = assemble(&[b.clone(), a.clone()]);
    let words: Vec<&str> = t.iter().flat_map(|s| s.words.iter().map(|w| w.text.as_str())).collect();
    assert_eq!(words, vec![" Okay", " right", " so", " budget"]);
    assert_eq!(t, assemble(&[a, b]), "independent of the order chunks are given");
    assert_eq!(t.last().unwrap().text, "so budget");
}

/// Chunk results replace a re-run's, and transcripts and gaps round-trip, on `q`.
fn stores_round_trip(q: &AnyQueue) {
    let m = q.create_meeting(None, None).unwrap();
    let mut ids = Vec::new();
    for seq in 0..3 {
        let c = geometry(seq, None);
        let payload = serde_json::json!({"path": format!("meetings/1/audio/chunk-{seq:05}.wav"), "start_sample": c.start_sample, "overlap_samples": c.overlap_samples, "samples": c.samples});
        ids.push(
            q.enqueue(&debrief_jobq::NewJob::new(m, debrief_jobq::TaskType::Audio, seq).payload(payload)).unwrap().0,
        );
    }
    let w0 = debrief_jobq::WorkerIdent::current("t");
    for seq in 0..3 {
        let c = q.claim(&w0, debrief_jobq::TaskType::Audio).unwrap().unwrap();
        if seq == 1 {
            q.fail(&c, "chunk-00001.wav: not a WAV file", debrief_jobq::Retry::No).unwrap();
            continue;
        }
        let s = geometry(seq, None).segments[0].clone();
        // A re-run's rows replace the first run's.
        q.write(|tx| store_chunk(tx, c.job_id, m, &[(s.clone(), 0.1), (s.clone(), 0.2)])).unwrap();
        q.complete_with(&c, &serde_json::json!({}), |tx| Ok(store_chunk(tx, c.job_id, m, &[(s, 0.1)])?)).unwrap();
    }
    let chunks = q.read(|c| load_chunks(c, m)).unwrap();
    assert_eq!(chunks.iter().map(|c| c.segments.len()).collect::<Vec<_>>(), [1, 0, 1], "replaced, not appended");
    assert_eq!(chunks[0].segments, geometry(0, None).segments);
    assert_eq!(chunks[1].failed.as_deref(), Some("chunk-00001.wav: not a WAV file"));
    let (t, g) = (assemble(&chunks), gaps(&chunks));
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].job_id, Some(ids[1]));
    for _ in 0..2 {
        q.write(|tx| {
            store_transcript(tx, m, &t)?;
            store_gaps(tx, m, &g)
        })
        .unwrap();
    }
    assert_eq!(q.read(|c| load_transcript(c, m)).unwrap(), t);
    assert_eq!(q.read(|c| load_gaps(c, m)).unwrap(), g, "replaced, not appended");
}

#[test]
fn stored_chunks_replace_and_transcripts_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let q = debrief_jobq::Queue::open(&dir.path().join("d.db"), debrief_jobq::QueueConfig::default()).unwrap();
    stores_round_trip(&AnyQueue::Sqlite(q));
}

#[test]
fn pg_stored_chunks_replace_and_transcripts_round_trip() {
    let pg = debrief_jobq::PgServer::start().expect("PostgreSQL server");
    let q = pg.queue_with(debrief_jobq::QueueConfig::default()).unwrap();
    stores_round_trip(&AnyQueue::Postgres(q.clone()));
    // Every statement prepares against the PostgreSQL schema.
    q.read(|c| {
        for (file, _, sql) in crate::store::ALL {
            c.prepare(sql).unwrap_or_else(|e| panic!("sql/pg/{file}: {e}"));
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn subtitle_formats_have_correct_timing_and_escaping() {
    let mut a = seg(vec![w(" Use", 1_000, 1_300), w(" <b>&", 1_400, 1_900)]);
    a.text = "Use <b> & --> now\n\nplease".into();
    let mut b = seg(vec![w(" Next", 3_723_004, 3_724_000)]);
    b.speaker = Some("Ana".into());
    let segs = vec![a, b];
    let meta = Meta {
        meeting_id: debrief_jobq::MeetingId(7),
        title: Some("Weekly".into()),
        duration_ms: Some(3_725_000),
        created: None,
        ..Meta::default()
    };
    let srt = render(Format::Srt, &meta, &segs);
    assert_eq!(
        srt,
        "1\n00:00:01,000 --> 00:00:01,900\nUse <b> & -> now please\n\n2\n01:02:03,004 --> 01:02:04,000\nAna: Next\n\n"
    );
    let vtt = render(Format::Vtt, &meta, &segs);
    assert_eq!(
        vtt,
        "WEBVTT\n\n00:00:01.000 --> 00:00:01.900\nUse &lt;b&gt; &amp; -&gt; now please\n\n01:02:03.004 --> 01:02:04.000\n<v Ana>Next\n\n"
    );
    let txt = render(Format::Txt, &meta, &segs);
    assert!(txt.starts_with("[0:00:01] Use <b>") && txt.contains("[1:02:03] Ana: Next"), "{txt}");
    let md = render(Format::Md, &meta, &segs);
    assert!(md.starts_with("# Weekly\n") && md.contains("**[1:02:03]** **Ana:** Next"), "{md}");
    let v: serde_json::Value = serde_json::from_str(&render(Format::Json, &meta, &segs)).unwrap();
    assert_eq!(v["segments"][1]["words"][0]["start_ms"], 3_723_004);
    assert_eq!(v["meeting"]["title"], "Weekly");
    // Overlapping cues are clipped so players show them in order.
    let c = vec![seg(vec![w(" a", 0, 2_000)]), seg(vec![w(" b", 1_500, 2_500)])];
    assert!(render(Format::Srt, &meta, &c).contains("00:00:00,000 --> 00:00:01,500"));
}

#[test]
fn every_statement_matches_the_schema() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(debrief_jobq::SCHEMA_SQL).unwrap();
    for (file, sql, _) in crate::store::ALL {
        conn.prepare(sql).unwrap_or_else(|e| panic!("sql/{file}: {e}"));
    }
}

/// Chunks of 60 s own audio with 1 s overlap, like the importer's: chunk k spans
/// [60k - 1, 60(k+1)] s (chunk 0 from 0).
fn geometry(seq: i64, failed: Option<&str>) -> Chunk {
    let start_ms = (seq * 60_000 - 1_000).max(0);
    let overlap_ms = if seq == 0 { 0 } else { 1_000 };
    let w0 = w(&format!(" chunk{seq}"), seq * 60_000 + 100, seq * 60_000 + 500);
    Chunk {
        samples: ((seq + 1) * 60_000 - start_ms) * 16,
        failed: failed.map(str::to_owned),
        ..chunk(seq, start_ms, overlap_ms, vec![seg(vec![w0])])
    }
}

#[test]
fn failed_chunks_leave_gaps_less_what_neighbours_overlap_and_touching_gaps_merge() {
    let chunks = vec![
        geometry(0, None),
        geometry(1, Some("chunk-00001.wav: not a WAV file")),
        geometry(2, Some("killed its worker 3 times")),
        geometry(3, None),
        geometry(4, Some("truncated")),
    ];
    let g = gaps(&chunks);
    // Chunk 1 spans 59-120 s, chunk 0 covers up to 60 s; chunk 2 spans 119-180 s and
    // chunk 3 covers from 179 s: one merged gap 60-179 s, named after chunk 1's job.
    assert_eq!(
        g,
        vec![
            Gap {
                start_ms: 60_000,
                end_ms: 179_000,
                job_id: Some(JobId(2)),
                reason: "chunk-00001.wav: not a WAV file".into()
            },
            Gap { start_ms: 240_000, end_ms: 300_000, job_id: Some(JobId(5)), reason: "truncated".into() },
        ]
    );
    // Their words (from an earlier run) are not in the transcript; the others' are.
    let words: Vec<String> = assemble(&chunks).iter().map(|s| s.text.clone()).collect();
    assert_eq!(words, vec!["chunk0", "chunk3"]);
    assert!(gaps(&[geometry(0, None), geometry(1, None)]).is_empty());
}

#[test]
fn gaps_are_stored_with_the_transcript_and_marked_in_exports() {
    let dir = tempfile::tempdir().unwrap();
    let q = debrief_jobq::Queue::open(&dir.path().join("d.db"), debrief_jobq::QueueConfig::default()).unwrap();
    let m = q.create_meeting(None, None).unwrap();
    let mut ids = Vec::new();
    for seq in 0..3 {
        let c = geometry(seq, None);
        let payload = serde_json::json!({"path": format!("meetings/1/audio/chunk-{seq:05}.wav"), "start_sample": c.start_sample, "overlap_samples": c.overlap_samples, "samples": c.samples});
        let (job, _) =
            q.enqueue(&debrief_jobq::NewJob::new(m, debrief_jobq::TaskType::Audio, seq).payload(payload)).unwrap();
        ids.push(job);
    }
    let w0 = debrief_jobq::WorkerIdent::current("t");
    for seq in 0..3 {
        let c = q.claim(&w0, debrief_jobq::TaskType::Audio).unwrap().unwrap();
        if seq == 1 {
            q.fail(&c, "chunk-00001.wav: not a WAV file", debrief_jobq::Retry::No).unwrap();
        } else {
            let s = geometry(seq, None).segments[0].clone();
            q.complete_with(&c, &serde_json::json!({}), |tx| {
                Ok(store_chunk(&mut debrief_jobq::Tx::Sqlite(tx), c.job_id, m, &[(s, 0.1)])?)
            })
            .unwrap();
        }
    }
    let chunks = q.read(|c| load_chunks(&mut debrief_jobq::Db::Sqlite(c), m)).unwrap();
    assert_eq!(chunks[1].failed.as_deref(), Some("chunk-00001.wav: not a WAV file"));
    let (t, g) = (assemble(&chunks), gaps(&chunks));
    assert_eq!(
        g,
        vec![Gap {
            start_ms: 60_000,
            end_ms: 119_000,
            job_id: Some(ids[1]),
            reason: "chunk-00001.wav: not a WAV file".into()
        }]
    );
    for _ in 0..2 {
        q.write(|tx| {
            let tx = &mut debrief_jobq::Tx::Sqlite(tx);
            store_transcript(tx, m, &t)?;
            store_gaps(tx, m, &g)
        })
        .unwrap();
    }
    assert_eq!(q.read(|c| load_gaps(&mut debrief_jobq::Db::Sqlite(c), m)).unwrap(), g, "replaced, not appended");

    let meta = Meta { meeting_id: m, gaps: g, ..Meta::default() };
    let marked = Meta {
        marks: vec![crate::export::Mark { at_ms: 0, text: "Slide 1: Budget / 42000 euros".into() }],
        slides_md: Some("## Slides\n\n".into()),
        ..meta.clone()
    };
    let md = render(Format::Md, &marked, &t);
    let (slides, transcript) = (md.find("## Slides").unwrap(), md.find("## Transcript").unwrap());
    assert!(slides < transcript, "{md}");
    let mark = md.find("> **[0:00:00]** Slide 1: Budget / 42000 euros").expect("the slide is marked at its time");
    assert!(mark > transcript, "{md}");
    assert!(render(Format::Txt, &marked, &t).contains("[0:00:00] [Slide 1: Budget / 42000 euros]\n"));
    let txt = render(Format::Txt, &meta, &t);
    assert_eq!(
        txt,
        "[0:00:00] chunk0\n[0:01:00] [not transcribed until 0:01:59: chunk-00001.wav: not a WAV file]\n[0:02:00] chunk2\n"
    );
    let md = render(Format::Md, &meta, &t);
    assert!(md.contains("> 0:00:59 of audio could not be transcribed (1 gap(s), marked below)."), "{md}");
    assert!(md.contains("**[0:01:00]** *[not transcribed until 0:01:59: chunk-00001.wav: not a WAV file]*"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&render(Format::Json, &meta, &t)).unwrap();
    assert_eq!(json["gaps"][0]["start_ms"], 60_000);
    assert_eq!(json["gaps"][0]["job_id"], ids[1].0);
    assert!(!render(Format::Srt, &meta, &t).contains("not transcribed"), "subtitles stay silent in gaps");
}

#[test]
fn speakers_split_segments_at_real_changes_but_not_at_a_stray_word() {
    use debrief_speakers::Turn;
    let t = |a: i64, b: i64, s: &str| Turn { start_ms: a, end_ms: b, speaker: s.into() };
    // S1 until 2.0 s, S2 after; the turn edge is a little early, catching "We".
    let turns = vec![t(0, 1_950, "S1"), t(1_950, 6_000, "S2")];
    let words = vec![
        w(" So", 0, 300),
        w(" that", 300, 600),
        w(" is", 600, 900),
        w(" settled.", 900, 1_500),
        w(" We", 1_500, 2_000),
        w(" will", 2_100, 2_400),
        w(" decide", 2_400, 2_900),
        w(" next", 2_900, 3_300),
        w(" week.", 3_300, 3_800),
    ];
    let seg = Segment {
        start_ms: 0,
        end_ms: 3_800,
        speaker: None,
        text: " So that is settled. We will decide next week.".into(),
        words: words.clone(),
    };
    let out = assign_speakers(vec![seg.clone()], &turns);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!((out[0].speaker.as_deref(), out[0].text.as_str()), (Some("S1"), " So that is settled. We"));
    assert_eq!((out[1].speaker.as_deref(), out[1].text.as_str()), (Some("S2"), " will decide next week."));
    assert!(out.iter().all(|s| s.words.iter().all(|w| w.speaker == s.speaker)));
    // A single word heard as someone else inside one person's sentence is not a turn.
    let turns = vec![t(0, 2_400, "S1"), t(2_400, 2_900, "S2"), t(2_900, 6_000, "S1")];
    let out = assign_speakers(vec![seg], &turns);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].speaker.as_deref(), Some("S1"));
}
