use super::*;

/// A unit vector near speaker `s`'s direction (deterministic noise).
fn voice(s: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut v: Vec<f32> = (0..16)
        .map(|i| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let noise = ((x >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.2;
            (if i == s { 1.0 } else { 0.0 }) + noise
        })
        .collect();
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.iter_mut().for_each(|a| *a /= n);
    v
}

/// A meeting where speaker `who(t)` (t in seconds) talks alone, chunked into 60 s chunks of
/// 10 s windows every 5 s.
fn meeting(secs: i64, who: impl Fn(i64) -> usize) -> Vec<ChunkAnalysis> {
    let mut chunks = Vec::new();
    let mut seed = 1;
    for c0 in (0..secs).step_by(60) {
        let mut windows = Vec::new();
        let mut w0 = c0;
        while w0 + 10 <= (c0 + 60).min(secs) {
            // Local speakers: in order of appearance in this window.
            let mut locals: Vec<usize> = Vec::new();
            let mut activity = String::new();
            for f in 0..FRAMES_PER_WINDOW {
                let t_ms = w0 * 1000 + f as i64 * WINDOW_MS / FRAMES_PER_WINDOW as i64;
                let s = who(t_ms / 1000);
                let l = locals.iter().position(|&x| x == s).unwrap_or_else(|| {
                    locals.push(s);
                    locals.len() - 1
                });
                activity.push((b'0' + (1u8 << l)) as char);
            }
            let speakers = locals
                .iter()
                .enumerate()
                .map(|(l, &s)| {
                    seed += 1;
                    LocalSpeaker { local: l as u8, solo_ms: 3000, embedding: Some(voice(s, seed)) }
                })
                .collect();
            windows.push(Window {
                start_ms: w0 * 1000,
                valid_frames: FRAMES_PER_WINDOW,
                activity,
                channel: Channel::Mix,
                speakers,
            });
            w0 += 5;
        }
        chunks.push(ChunkAnalysis { model: "test".into(), step_ms: 5000, windows, seconds: 0.0 });
    }
    chunks
}

#[test]
fn one_clustering_keeps_each_voice_one_label_across_chunks() {
    // Three voices taking 20 s turns for ten minutes: A B C A B C ...
    let who = |t: i64| ((t / 20) % 3) as usize;
    let d = diarize(&meeting(600, who), &Hints::default(), &Params::default());
    assert_eq!(d.speakers.len(), 3, "{:?}", d.speakers);
    // Every second (away from turn edges) has its speaker's label, the same all meeting.
    let mut map = std::collections::BTreeMap::new();
    let mut right = 0;
    let mut total = 0;
    for t in (0..590).filter(|t| t % 20 > 1 && t % 20 < 19) {
        total += 1;
        if let Some(l) = speaker_at(&d.turns, t * 1000, t * 1000 + 500) {
            let want = map.entry(who(t)).or_insert_with(|| l.to_string());
            if want == l {
                right += 1;
            }
        }
    }
    assert!(right * 100 >= total * 98, "{right}/{total}: {map:?}");
    assert_eq!(map.values().collect::<std::collections::BTreeSet<_>>().len(), 3);
    assert_eq!(d.speakers[0].label, "S1");
}

#[test]
fn hints_set_the_count_and_reclustering_needs_only_the_stored_numbers() {
    let who = |t: i64| ((t / 15) % 4) as usize;
    let chunks = meeting(300, who);
    assert_eq!(diarize(&chunks, &Hints::default(), &Params::default()).speakers.len(), 4);
    let two = diarize(&chunks, &Hints { num: Some(2), ..Hints::default() }, &Params::default());
    assert_eq!(two.speakers.len(), 2);
    let at_most3 = diarize(&chunks, &Hints { max: Some(3), ..Hints::default() }, &Params::default());
    assert_eq!(at_most3.speakers.len(), 3);
    // Same input, same answer.
    assert_eq!(two, diarize(&chunks, &Hints { num: Some(2), ..Hints::default() }, &Params::default()));
}

#[test]
fn the_microphone_is_one_local_speaker_without_clustering() {
    let mut chunks = meeting(120, |t| ((t / 20) % 2) as usize);
    // The local person talks 5-9 s into every 30 s on the microphone channel.
    for ch in chunks.iter_mut() {
        let mic: Vec<Window> = ch
            .windows
            .iter()
            .map(|w| {
                let activity = (0..FRAMES_PER_WINDOW)
                    .map(|f| {
                        let t = w.frame_ms(f) / 1000;
                        if (5..9).contains(&(t % 30)) {
                            '1'
                        } else {
                            '0'
                        }
                    })
                    .collect();
                Window { channel: Channel::Mic, activity, speakers: vec![], ..w.clone() }
            })
            .collect();
        ch.windows.iter_mut().for_each(|w| w.channel = Channel::System);
        ch.windows.extend(mic);
    }
    let d = diarize(&chunks, &Hints::default(), &Params::default());
    let local: Vec<_> = d.speakers.iter().filter(|s| s.local).collect();
    assert_eq!(local.len(), 1, "{:?}", d.speakers);
    assert_eq!(d.speakers.len(), 3);
    // The local person overlaps the remote speaker: both are heard at 6 s.
    let at6: Vec<_> = d.turns.iter().filter(|t| t.start_ms <= 6_500 && t.end_ms >= 7_000).collect();
    assert_eq!(at6.len(), 2, "{at6:?}");
}

#[test]
fn ahc_cuts_and_distinct_assignment() {
    let pts = [0.0f32, 0.1, 0.2, 5.0, 5.1, 9.0];
    let merges = ahc_average(&pts, |a, b| (a - b).abs());
    assert_eq!(merges.len(), 5);
    assert!(merges.windows(2).all(|w| w[0].distance <= w[1].distance));
    assert_eq!(cut(6, &merges, 3), vec![0, 0, 0, 1, 1, 2]);
    assert_eq!(cut(6, &merges, 1), vec![0; 6]);
    // Two local speakers both closest to cluster 0: the better one gets it.
    let sims = vec![vec![0.9, 0.1], vec![0.8, 0.7]];
    assert_eq!(best_distinct(&sims), vec![Some(0), Some(1)]);
}

#[test]
fn rttm_lines_are_standard() {
    let turns = vec![Turn { start_ms: 1500, end_ms: 4250, speaker: "S1".into() }];
    let out = rttm("my meeting", &turns, &|l| if l == "S1" { "Dana Lee".into() } else { l.into() });
    assert_eq!(out, "SPEAKER my_meeting 1 1.500 2.750 <NA> <NA> Dana_Lee <NA> <NA>\n");
}

#[test]
fn embeddings_of_another_encoder_are_not_clustered_with_the_meetings_own() {
    // Three voices over ten chunks; two chunks re-analysed with another encoder whose
    // vectors point elsewhere (here: voice 5's direction for everyone) must not add a
    // fourth speaker nor pull anyone's words to it.
    let who = |t: i64| ((t / 20) % 3) as usize;
    let mut chunks = meeting(600, who);
    for c in [3, 7] {
        chunks[c].model = "pyannote-seg-3.0:x+wespeaker-resnet34:y".into();
        for w in &mut chunks[c].windows {
            for s in &mut w.speakers {
                s.embedding = Some(voice(5, u64::from(s.local) + 100));
            }
        }
    }
    assert_eq!(main_model(&chunks), Some("test"));
    let d = diarize(&chunks, &Hints::default(), &Params::for_model("test"));
    assert_eq!(d.speakers.len(), 3, "{:?}", d.speakers);
    assert_eq!(main_model(&[]), None);
    // Each encoder has its own cut.
    assert_ne!(Params::for_model("seg+wespeaker-resnet34:abc").threshold, Params::for_model("seg+ge2e:abc").threshold);
    assert_eq!(Params::for_model("seg+ge2e:abc"), Params::default());
}

/// What the audio-worker stores (analyses replaced per job, only completed jobs' read;
/// a diarization replacing turns and labels while keeping names) on `q`.
fn store_round_trip(q: &debrief_jobq::AnyQueue) {
    use debrief_jobq::{NewJob, TaskType, WorkerIdent};
    let m = q.create_meeting(None, None).unwrap();
    let chunks = meeting(180, |t| ((t / 20) % 3) as usize);
    let who = WorkerIdent::current("t");
    for (seq, a) in chunks.iter().enumerate() {
        q.enqueue(&NewJob::new(m, TaskType::Audio, seq as i64)).unwrap();
        let c = q.claim(&who, TaskType::Audio).unwrap().unwrap();
        let mut first = a.clone();
        first.model = "replaced".into();
        q.write(|tx| store_analysis(tx, c.job_id, m, &first)).unwrap();
        if seq < 2 {
            q.complete_with(&c, &serde_json::json!({}), |tx| Ok(store_analysis(tx, c.job_id, m, a)?)).unwrap();
        }
    }
    let loaded = q.read(|db| load_analyses(db, m)).unwrap();
    assert_eq!(loaded, chunks[..2], "the completed chunks' analyses, replaced, in order");
    assert_eq!(q.read(|db| load_hints(db, m)).unwrap(), Hints::default());
    let d = diarize(&loaded, &Hints::default(), &Params::default());
    assert_eq!(d.speakers.len(), 3);
    q.write(|tx| store_diarization(tx, m, &d)).unwrap();
    // Names, merges and hints a person gives.
    assert!(q.write(|tx| rename_speaker(tx, m, "S2", Some("Carol"))).unwrap());
    assert!(q.write(|tx| merge_speakers(tx, m, "S3", "S2")).unwrap());
    assert!(!q.write(|tx| rename_speaker(tx, m, "S9", Some("Nobody"))).unwrap(), "no such label");
    let two = Hints { num: Some(2), ..Hints::default() };
    assert!(q.write(|tx| set_hints(tx, m, &two)).unwrap());
    assert_eq!(q.read(|db| load_hints(db, m)).unwrap(), two);
    let rows = q.read(|db| load_speakers(db, m)).unwrap();
    assert_eq!(SpeakerRow::display(&rows, "S3"), "Carol", "{rows:?}");
    let mut fewer = diarize(&loaded, &two, &Params::default());
    fewer.speakers.truncate(2);
    q.write(|tx| store_diarization(tx, m, &fewer)).unwrap();
    let rows = q.read(|db| load_speakers(db, m)).unwrap();
    let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["S1", "S2"], "the labels of the new clustering only");
    assert_eq!(rows[1].name.as_deref(), Some("Carol"), "a kept label keeps its name");
    assert_eq!(q.read(|db| load_turns(db, m)).unwrap(), fewer.turns, "turns replaced");
    // Labels sort by number on both backends: S2 before S10.
    let mut many = fewer.clone();
    many.speakers[0].label = "S10".into();
    q.write(|tx| store_diarization(tx, m, &many)).unwrap();
    let labels: Vec<String> = q.read(|db| load_speakers(db, m)).unwrap().into_iter().map(|r| r.label).collect();
    assert_eq!(labels, ["S2", "S10"]);
}

#[test]
fn analyses_and_diarizations_are_stored_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let q = debrief_jobq::Queue::open(&dir.path().join("d.db"), debrief_jobq::QueueConfig::default()).unwrap();
    q.read(|c| {
        for (file, sql, _) in crate::store::BOTH {
            c.prepare(sql).unwrap_or_else(|e| panic!("sql/{file}: {e}"));
        }
        Ok(())
    })
    .unwrap();
    store_round_trip(&debrief_jobq::AnyQueue::Sqlite(q));
}

#[test]
fn pg_analyses_and_diarizations_are_stored_and_replaced() {
    let pg = debrief_jobq::PgServer::start().expect("PostgreSQL server");
    let q = pg.queue_with(debrief_jobq::QueueConfig::default()).unwrap();
    q.read(|c| {
        for (file, _, sql) in crate::store::BOTH {
            c.prepare(sql).unwrap_or_else(|e| panic!("sql/pg/{file}: {e}"));
        }
        Ok(())
    })
    .unwrap();
    store_round_trip(&debrief_jobq::AnyQueue::Postgres(q));
}
