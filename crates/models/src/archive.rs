//! Unpacking wheels, sdists and zip or tar archives, safely: no entry leaves the destination,
//! links and special entries are skipped, the total written is bounded, and every file is
//! written crash-safely ([`debrief_config::AtomicFile`]).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::error::PackageError;
use crate::fsutil::mkdirs;

/// Most bytes [`unpack`] writes from one archive (a guard against archive bombs).
const MAX_UNPACKED_BYTES: u64 = 8 << 30;

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
/// written); links and other special entries are skipped; at most 8 GiB is written. Each
/// file is written through `NAME.partial` and renamed, so it is absent or complete.
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
    let mut f = debrief_config::AtomicFile::create(&out).map_err(|e| PackageError::io(&out, e))?;
    let n = std::io::copy(&mut reader.take(*budget + 1), &mut f)
        .map_err(|e| PackageError::archive(archive, format!("reading entry {}: {e}", rel.display())))?;
    if n > *budget {
        // Dropping `f` removes the partial file.
        return Err(PackageError::archive(archive, "unpacks to more than 8 GiB; refusing"));
    }
    *budget -= n;
    f.commit().map_err(|e| PackageError::io(&out, e))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn unsafe_paths_are_refused() {
        let a = Path::new("x.whl");
        assert!(safe_relative(a, "../evil").is_err());
        assert!(safe_relative(a, "a/../../evil").is_err());
        assert!(safe_relative(a, "/etc/passwd").is_err());
        assert_eq!(safe_relative(a, "./a/b.txt").unwrap(), PathBuf::from("a/b.txt"));
    }

    fn zip_of(path: &Path, entries: &[(&str, &[u8])]) {
        let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        for (name, body) in entries {
            z.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            z.write_all(body).unwrap();
        }
        z.finish().unwrap();
    }

    #[test]
    fn zip_with_traversal_is_refused_and_good_zip_unpacks() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.whl");
        zip_of(&good, &[("pkg/data/model.bin", b"hello"), ("pkg/__init__.py", b"")]);
        let out = dir.path().join("out");
        let got = unpack_matching(&good, &out, &|n| n.ends_with("model.bin")).unwrap();
        assert_eq!(got, vec![out.join("pkg/data/model.bin")]);
        assert_eq!(std::fs::read(&got[0]).unwrap(), b"hello");
        assert!(!out.join("pkg/data/model.bin.partial").exists());
        assert_eq!(std::fs::metadata(&got[0]).unwrap().permissions().mode() & 0o777, 0o600);

        let bad = dir.path().join("bad.whl");
        zip_of(&bad, &[("../escaped.txt", b"x")]);
        let err = unpack(&bad, &dir.path().join("out2")).unwrap_err().to_string();
        assert!(err.contains("bad.whl") && err.contains("unsafe"), "{err}");
        assert!(!dir.path().join("escaped.txt").exists());
    }

    #[test]
    fn a_symlink_planted_in_the_destination_is_replaced_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(out.join("pkg")).unwrap();
        std::os::unix::fs::symlink(&victim, out.join("pkg/model.bin")).unwrap();
        std::os::unix::fs::symlink(&victim, out.join("pkg/model.bin.partial")).unwrap();
        let whl = dir.path().join("p.whl");
        zip_of(&whl, &[("pkg/model.bin", b"new")]);
        unpack(&whl, &out).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert_eq!(std::fs::read(out.join("pkg/model.bin")).unwrap(), b"new");
        assert!(!std::fs::symlink_metadata(out.join("pkg/model.bin")).unwrap().file_type().is_symlink());
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
}
