//! Where Debrief keeps its data and how it creates files there.
//!
//! Every binary takes `--data-dir DIR`; without it `DEBRIEF_HOME` is used, then
//! `$XDG_DATA_HOME/debrief`, then `~/.local/share/debrief`. The database is always
//! `DIR/debrief.db`. Recordings are private: the data directory (and every directory
//! Debrief creates below it) is mode 0700 and every file it creates is 0600, whatever
//! the caller's umask.
//!
//! Every file Debrief creates in its data directory or caches is written through
//! [`AtomicFile`] (or [`write_file_atomic`]): `NAME.partial` created exclusively with
//! `O_NOFOLLOW` (a symlink planted there is refused, never followed), fsynced, renamed
//! over `NAME`, and the directory fsynced, so after a crash `NAME` is absent or complete.
#![deny(missing_docs)]

mod atomic;

pub use atomic::{partial_path, write_file_atomic, AtomicFile};

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Environment variable naming the data directory when `--data-dir` is not given.
pub const HOME_ENV: &str = "DEBRIEF_HOME";
/// File name of the database inside the data directory.
pub const DB_FILE: &str = "debrief.db";
/// Mode of directories Debrief creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of files Debrief creates.
pub const FILE_MODE: u32 = 0o600;

/// Errors from resolving or preparing the data directory.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No flag, no `DEBRIEF_HOME`, no `XDG_DATA_HOME` and no `HOME`.
    #[error("no data directory: pass --data-dir DIR or set DEBRIEF_HOME (HOME is not set either)")]
    NoHome,
    /// No `DEBRIEF_CACHE`, no `XDG_CACHE_HOME` and no `HOME`.
    #[error("no cache directory: set DEBRIEF_CACHE (HOME is not set either)")]
    NoCache,
    /// The directory could not be created or fixed.
    #[error("data directory {path}: {source}")]
    Io {
        /// The directory or file concerned.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The path exists and is not a directory.
    #[error("data directory {0} exists and is not a directory")]
    NotADirectory(PathBuf),
}

/// The resolved data directory. Creating one makes the directory (0700) if needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Resolves the data directory from an explicit flag or the environment, without
    /// touching the file system.
    pub fn resolve(flag: Option<&Path>) -> Result<PathBuf, ConfigError> {
        Self::resolve_with(flag, |k| std::env::var_os(k))
    }

    /// [`DataDir::resolve`] with an injectable environment (for tests).
    pub fn resolve_with(
        flag: Option<&Path>,
        env: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<PathBuf, ConfigError> {
        match flag {
            Some(p) => Ok(p.to_path_buf()),
            None => xdg_dir(&env, HOME_ENV, "XDG_DATA_HOME", ".local/share").ok_or(ConfigError::NoHome),
        }
    }

    /// Resolves (see [`DataDir::resolve`]) and prepares the directory.
    pub fn open(flag: Option<&Path>) -> Result<Self, ConfigError> {
        Self::at(Self::resolve(flag)?)
    }

    /// Uses `root` as the data directory, creating it 0700 if it does not exist.
    /// An existing directory that is readable by others is tightened to 0700: it holds
    /// recordings.
    pub fn at(root: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        let root = root.into();
        create_private_dir(&root)?;
        Ok(Self { root })
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `DIR/debrief.db`.
    pub fn db_path(&self) -> PathBuf {
        self.root.join(DB_FILE)
    }

    /// A private subdirectory (created 0700 on demand), e.g. `chunks/<meeting>`.
    pub fn subdir(&self, rel: impl AsRef<Path>) -> Result<PathBuf, ConfigError> {
        let p = self.root.join(rel);
        create_private_dir(&p)?;
        Ok(p)
    }
}

/// Environment variable naming the cache directory (downloaded and converted models,
/// build outputs of the scripts).
pub const CACHE_ENV: &str = "DEBRIEF_CACHE";

/// The cache directory: `DEBRIEF_CACHE`, else `$XDG_CACHE_HOME/debrief`, else
/// `~/.cache/debrief`. Unlike the data directory it holds nothing private to a meeting, and
/// losing it costs only a download.
pub fn cache_dir() -> Result<PathBuf, ConfigError> {
    cache_dir_with(|k| std::env::var_os(k))
}

/// [`cache_dir`] with an injectable environment (for tests).
pub fn cache_dir_with(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<PathBuf, ConfigError> {
    xdg_dir(&env, CACHE_ENV, "XDG_CACHE_HOME", ".cache").ok_or(ConfigError::NoCache)
}

/// The XDG lookup both directories share: `$OVERRIDE`, else `$XDG_VAR/debrief`, else
/// `$HOME/HOME_REL/debrief`. Empty variables count as unset.
fn xdg_dir(
    env: &impl Fn(&str) -> Option<std::ffi::OsString>,
    override_var: &str,
    xdg_var: &str,
    home_rel: &str,
) -> Option<PathBuf> {
    let non_empty = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    non_empty(override_var)
        .or_else(|| non_empty(xdg_var).map(|p| p.join("debrief")))
        .or_else(|| non_empty("HOME").map(|h| h.join(home_rel).join("debrief")))
}

/// Creates `path` and any missing parents with mode 0700. If `path` already existed, its
/// group and other bits are cleared; its owner bits stay as they were (a read-only
/// directory is not made writable).
pub fn create_private_dir(path: &Path) -> Result<(), ConfigError> {
    let io_err = |source| ConfigError::Io { path: path.to_path_buf(), source };
    match fs::metadata(path) {
        Ok(m) if !m.is_dir() => return Err(ConfigError::NotADirectory(path.to_path_buf())),
        Ok(m) => return clear_group_other(path, m.permissions().mode()).map_err(io_err),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(path).map_err(io_err)?;
    // DirBuilder's mode is filtered by the umask; make the leaf exact.
    fs::set_permissions(path, fs::Permissions::from_mode(DIR_MODE)).map_err(io_err)
}

/// Creates (or opens for writing, truncating) a file with mode 0600. A symlink at `path`
/// is refused (`O_NOFOLLOW`), never written through. For files that must appear complete
/// or not at all, use [`AtomicFile`].
pub fn create_private_file(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)?;
    f.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// Makes sure `path` exists as a 0600 file without changing its contents. Used for the
/// database before SQLite opens it: SQLite gives its `-wal` and `-shm` files the mode of
/// the main database file, so this keeps all three private.
pub fn touch_private_file(path: &Path) -> io::Result<()> {
    let f = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(FILE_MODE).open(path)?;
    let mode = f.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        f.set_permissions(fs::Permissions::from_mode(mode & 0o7700))?;
    }
    Ok(())
}

/// Clears the group and other permission bits of an existing path, keeping the owner's.
fn clear_group_other(path: &Path, mode: u32) -> io::Result<()> {
    if mode & 0o077 == 0 {
        return Ok(());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7700))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn resolution_order_is_flag_env_xdg_home() {
        let all = [("DEBRIEF_HOME", "/d"), ("XDG_DATA_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(DataDir::resolve_with(Some(Path::new("/f")), env(&all)).unwrap(), PathBuf::from("/f"));
        assert_eq!(DataDir::resolve_with(None, env(&all)).unwrap(), PathBuf::from("/d"));
        assert_eq!(DataDir::resolve_with(None, env(&all[1..])).unwrap(), PathBuf::from("/x/debrief"));
        assert_eq!(DataDir::resolve_with(None, env(&all[2..])).unwrap(), PathBuf::from("/h/.local/share/debrief"));
        // Empty variables count as unset.
        assert_eq!(
            DataDir::resolve_with(None, env(&[("DEBRIEF_HOME", ""), ("HOME", "/h")])).unwrap(),
            PathBuf::from("/h/.local/share/debrief")
        );
        assert!(matches!(DataDir::resolve_with(None, env(&[])), Err(ConfigError::NoHome)));
    }

    #[test]
    fn cache_resolution_order_is_env_xdg_home() {
        let all = [("DEBRIEF_CACHE", "/c"), ("XDG_CACHE_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(cache_dir_with(env(&all)).unwrap(), PathBuf::from("/c"));
        assert_eq!(cache_dir_with(env(&all[1..])).unwrap(), PathBuf::from("/x/debrief"));
        assert_eq!(cache_dir_with(env(&all[2..])).unwrap(), PathBuf::from("/h/.cache/debrief"));
        assert!(matches!(cache_dir_with(env(&[])), Err(ConfigError::NoCache)));
    }

    #[test]
    fn directories_are_0700_and_files_0600() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::at(tmp.path().join("a/b")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dd.root()), 0o700);
        let sub = dd.subdir("chunks/1").unwrap();
        assert_eq!(mode(&sub), 0o700);
        touch_private_file(&dd.db_path()).unwrap();
        assert_eq!(mode(&dd.db_path()), 0o600);
        let f = sub.join("x.wav");
        create_private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);

        // A world-readable existing directory is tightened.
        let loose = tmp.path().join("loose");
        fs::create_dir(&loose).unwrap();
        fs::set_permissions(&loose, fs::Permissions::from_mode(0o755)).unwrap();
        DataDir::at(&loose).unwrap();
        assert_eq!(mode(&loose), 0o700);
    }

    #[test]
    fn tightening_only_clears_group_and_other_bits() {
        let tmp = tempfile::tempdir().unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let ro = tmp.path().join("ro");
        fs::create_dir(&ro).unwrap();
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
        create_private_dir(&ro).unwrap();
        assert_eq!(mode(&ro), 0o500, "a read-only directory must not become writable");
        let f = tmp.path().join("ro.db");
        fs::write(&f, b"x").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o444)).unwrap();
        clear_group_other(&f, 0o444).unwrap();
        assert_eq!(mode(&f), 0o400, "a read-only file must not become writable");
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        touch_private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o700)).unwrap();
    }

    #[test]
    fn a_file_in_the_way_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("file");
        fs::write(&f, b"x").unwrap();
        let err = DataDir::at(&f).unwrap_err().to_string();
        assert!(err.contains("is not a directory") && err.contains("file"), "{err}");
    }
}
