//! The one crash-safe way Debrief writes a file it creates.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::FILE_MODE;

/// `path` with `.partial` appended to its file name.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(".partial");
    PathBuf::from(s)
}

/// A file being written crash-safely: the bytes go to `NAME.partial` (created with mode
/// 0600, exclusively, never through a symlink), and [`AtomicFile::commit`] fsyncs it,
/// renames it over `NAME` and fsyncs the directory. Dropped without a commit, the partial
/// file is removed. A stale `.partial` left by a crash is unlinked first (unlinking a
/// symlink removes the link, never its target).
///
/// One writer per target at a time: a second process writing the same target would
/// unlink the first one's `.partial` as stale. Where several processes may produce the
/// same file (model conversion), each writes in a private temporary directory and
/// renames the result into place, as `debrief-models` does.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    partial: PathBuf,
    target: PathBuf,
}

impl AtomicFile {
    /// Starts writing `target`. Its directory must exist.
    pub fn create(target: &Path) -> io::Result<Self> {
        let partial = partial_path(target);
        match fs::remove_file(&partial) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(&partial)?;
        // The mode above is filtered by the umask; make it exact.
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(FILE_MODE))?;
        Ok(Self { file: Some(file), partial, target: target.to_path_buf() })
    }

    /// The `.partial` file's path (for error messages).
    pub fn partial(&self) -> &Path {
        &self.partial
    }

    /// The open `.partial` file.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("an AtomicFile is committed only once")
    }

    /// fsync, rename over the target, fsync the directory.
    pub fn commit(mut self) -> io::Result<()> {
        let file = self.file.take().expect("an AtomicFile is committed only once");
        file.sync_all()?;
        drop(file);
        fs::rename(&self.partial, &self.target)?;
        sync_dir_of(&self.target)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Best effort: the caller is already returning the error that stopped it.
            let _ = fs::remove_file(&self.partial);
        }
    }
}

/// Writes `bytes` to `path` through an [`AtomicFile`].
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes)?;
    f.commit()
}

/// fsyncs the directory holding `path`, so a rename into it survives power loss.
fn sync_dir_of(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_complete_private_files_and_leaves_no_partial() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("a.bin");
        fs::write(partial_path(&p), b"stale junk from a crash").unwrap();
        write_file_atomic(&p, b"hello").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!partial_path(&p).exists());
        // Replacing keeps the rule.
        write_file_atomic(&p, b"again").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"again");
    }

    #[test]
    fn a_planted_symlink_is_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        fs::write(&victim, b"keep me").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
        let p = tmp.path().join("chunk.wav");
        std::os::unix::fs::symlink(&victim, partial_path(&p)).unwrap();
        write_file_atomic(&p, b"data").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep me");
        assert_eq!(fs::metadata(&victim).unwrap().permissions().mode() & 0o777, 0o644, "target not chmodded");
        assert_eq!(fs::read(&p).unwrap(), b"data");
        assert!(!fs::symlink_metadata(&p).unwrap().file_type().is_symlink());
    }

    #[test]
    fn an_abandoned_write_removes_its_partial_and_keeps_the_old_file() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("m.gguf");
        fs::write(&p, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&p).unwrap();
            f.write_all(b"half").unwrap();
        }
        assert!(!partial_path(&p).exists());
        assert_eq!(fs::read(&p).unwrap(), b"old");
    }
}
