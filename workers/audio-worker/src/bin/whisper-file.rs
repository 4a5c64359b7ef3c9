//! `whisper-file FILE`: plain whisper.cpp over a whole recording at once (no VAD, no
//! chunking), printing the text. The baseline of `scripts/eval-asr` and
//! `scripts/bench-pipeline`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use debrief_whisper::{Engine, EngineConfig};

#[derive(Parser)]
struct Cli {
    /// The recording (any format `ingest import` reads).
    file: PathBuf,
    /// Whisper model name (tiny.en, base) or ggml path.
    #[arg(long, default_value = "tiny.en")]
    model: String,
    /// Decoder threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Decode the way the audio-worker does (silero VAD; silences of 2 s or more
    /// skipped) but over the whole file, without chunks: tells chunking effects from VAD
    /// ones.
    #[arg(long)]
    vad: bool,
    /// Decode every 30 s window without the text of the windows before it.
    #[arg(long)]
    no_carry: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let cache = debrief_models::default_cache_dir();
    let model = if std::path::Path::new(&cli.model).is_file() {
        PathBuf::from(&cli.model)
    } else {
        debrief_models::whisper_model(&cli.model, &cache)?
    };
    let mut src = debrief_media::AudioSource::open(&cli.file)?;
    let mut samples = Vec::new();
    while let Some(b) = src.next_block()? {
        samples.extend(b);
    }
    let language = model.to_string_lossy().contains(".en").then(|| "en".to_owned());
    let mut engine = Engine::load(EngineConfig {
        model,
        vad_model: debrief_models::vad_model(&cache)?,
        threads: cli.threads,
        use_gpu: false,
        language,
        vocabulary: None,
        carry_text: !cli.no_carry,
    })
    .context("loading the model")?;
    let started = std::time::Instant::now();
    let segs = if cli.vad { engine.transcribe(&samples)?.segments } else { engine.transcribe_plain(&samples)? };
    eprintln!(
        "whisper-file: {:.1} s of audio in {:.2} s",
        samples.len() as f64 / 16_000.0,
        started.elapsed().as_secs_f64()
    );
    for s in segs {
        println!("{}", s.text);
    }
    Ok(())
}
