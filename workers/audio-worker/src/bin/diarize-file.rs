//! `diarize-file FILE.wav`: speaker analysis and clustering of one 16 kHz WAV outside the
//! queue, printing RTTM. With `--chunk-s 0` (the default) the whole file is analysed as one
//! piece: the baseline `scripts/eval-diarization` compares the chunked pipeline with. With
//! `--chunk-s 90` it cuts the file like `ingest import` (with 5 s of overlap) and clusters
//! the chunks' windows together, as the TRANSCRIPT job does.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use debrief_openvino::{EngineConfig, SpeakerEngine};
use debrief_speakers::{diarize, Channel, Hints, Params};

#[derive(Parser)]
struct Cli {
    /// The recording: 16 kHz WAV, mono, or two channels (microphone, system audio).
    file: PathBuf,
    /// Analyse in chunks of this many seconds (0: the whole file at once).
    #[arg(long, default_value_t = 0.0)]
    chunk_s: f64,
    /// With a two-channel file: microphone and system audio apart (else their mix).
    #[arg(long)]
    split_channels: bool,
    /// Exactly this many speakers.
    #[arg(long)]
    speakers: Option<usize>,
    /// Clustering threshold (cosine distance; default: the encoder's tuned one).
    #[arg(long)]
    threshold: Option<f32>,
    /// Tuning: also cluster the same analyses at each of these thresholds, writing
    /// `DIR/<file stem>-t<threshold>.rttm` for each (no model runs again).
    #[arg(long, value_delimiter = ',', requires = "sweep_dir")]
    sweep: Vec<f32>,
    /// Where `--sweep` writes its RTTM files.
    #[arg(long)]
    sweep_dir: Option<PathBuf>,
    /// OpenVINO device.
    #[arg(long, default_value = "CPU")]
    device: String,
    /// Threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Window step (ms).
    #[arg(long, default_value_t = 2500)]
    step_ms: i64,
    /// Model cache.
    #[arg(long)]
    model_cache: Option<PathBuf>,
    /// Speaker encoder: wespeaker-resnet34, ge2e or wespeaker-resnet34-lm.
    #[arg(long, default_value = "wespeaker-resnet34")]
    speaker_model: String,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let cache = cli.model_cache.clone().unwrap_or_else(debrief_models::default_cache_dir);
    let m = debrief_models::speaker_models_with(&cache, &cli.speaker_model).context("speaker models")?;
    let model_id = m.id.clone();
    let t0 = std::time::Instant::now();
    let mut engine = SpeakerEngine::load(&EngineConfig::new(m, &cli.device, cli.threads, cli.step_ms))?;
    let load_s = t0.elapsed().as_secs_f64();
    let chans = debrief_media::read_wav_channels(&cli.file).with_context(|| cli.file.display().to_string())?;
    let n = chans[0].len();
    let tracks: Vec<(Vec<f32>, Channel)> = if cli.split_channels && chans.len() == 2 {
        vec![(chans[0].clone(), Channel::Mic), (chans[1].clone(), Channel::System)]
    } else {
        vec![(debrief_media::mix_channels(&chans), Channel::Mix)]
    };
    let chunk = if cli.chunk_s > 0.0 { (cli.chunk_s * 16_000.0) as usize } else { n };
    let overlap = if cli.chunk_s > 0.0 { 5 * 16_000 } else { 0 };
    let t1 = std::time::Instant::now();
    let mut analyses = Vec::new();
    let mut start = 0usize;
    while start < n {
        let a = start.saturating_sub(if start > 0 { overlap } else { 0 });
        let z = (start + chunk).min(n);
        let parts: Vec<(&[f32], Channel)> = tracks.iter().map(|(s, c)| (&s[a..z], *c)).collect();
        analyses.push(engine.analyse_chunk(&parts, (a * 1000 / 16_000) as i64, &mut |_, _| {})?);
        start = z;
    }
    let analyse_s = t1.elapsed().as_secs_f64();
    let mut params = Params::for_model(&model_id);
    if let Some(t) = cli.threshold {
        params.threshold = t;
    }
    let t2 = std::time::Instant::now();
    let d = diarize(&analyses, &Hints { num: cli.speakers, ..Hints::default() }, &params);
    let id = cli.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    print!("{}", debrief_speakers::rttm(&id, &d.turns, &|l| l.to_string()));
    if let Some(dir) = &cli.sweep_dir {
        for &t in &cli.sweep {
            let p = Params { threshold: t, ..params };
            let d = diarize(&analyses, &Hints { num: cli.speakers, ..Hints::default() }, &p);
            let out = dir.join(format!("{id}-t{t}.rttm"));
            std::fs::write(&out, debrief_speakers::rttm(&id, &d.turns, &|l| l.to_string()))
                .with_context(|| out.display().to_string())?;
        }
    }
    eprintln!(
        "{}",
        serde_json::json!({
            "audio_s": n as f64 / 16_000.0,
            "chunks": analyses.len(),
            "embeddings": d.embeddings,
            "speakers": d.speakers.len(),
            "load_s": load_s,
            "analyse_s": analyse_s,
            "cluster_s": t2.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}
