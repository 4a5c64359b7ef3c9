//! Fetches and converts offline models into the default cache (`$DEBRIEF_CACHE/models`) and
//! prints their paths: `cargo run --release -p debrief-models --example fetch_models [NAME...]`
//! (names: `tiny.en`, `base`, `silero-vad`, `smollm2-135m`; default: all but `base`).

fn main() -> Result<(), debrief_models::PackageError> {
    let cache = debrief_models::default_cache_dir();
    let mut names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() {
        names = ["tiny.en", "silero-vad", "smollm2-135m"].map(String::from).to_vec();
    }
    for name in &names {
        let path = match name.as_str() {
            "silero-vad" => debrief_models::vad_model(&cache)?,
            "smollm2-135m" => debrief_models::llm_model(name, &cache)?,
            other => debrief_models::whisper_model(other, &cache)?,
        };
        println!("{}", path.display());
    }
    Ok(())
}
