//! The few file-system steps this crate adds to `debrief_config`'s crash-safe writer.
//!
//! Files are written with [`debrief_config::AtomicFile`]. A file made in a private temporary
//! folder (by pip, or by a converter writing there so that concurrent callers never share a
//! `.partial`) is moved into the cache with [`rename_into`], which also fsyncs the folder it
//! lands in.

use std::fs::File;
use std::path::Path;

use crate::error::PackageError;

/// Creates `dir` and its missing parents.
pub(crate) fn mkdirs(dir: &Path) -> Result<(), PackageError> {
    std::fs::create_dir_all(dir).map_err(|e| PackageError::io(dir, e))
}

/// Renames `from` (a complete, synced file on the same file system) over `to`, creating
/// `to`'s folder if needed, and fsyncs that folder so the rename survives a crash.
pub(crate) fn rename_into(from: &Path, to: &Path) -> Result<(), PackageError> {
    let dir = parent(to);
    mkdirs(dir)?;
    std::fs::rename(from, to).map_err(|e| PackageError::io(to, e))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| PackageError::io(dir, e))
}

/// fsyncs a file another program wrote (pip), before it is renamed into the cache.
pub(crate) fn sync_file(path: &Path) -> Result<(), PackageError> {
    File::open(path).and_then(|f| f.sync_all()).map_err(|e| PackageError::io(path, e))
}

/// The folder holding `path` (`.` for a bare file name).
pub(crate) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}
