//! Breadcrumbs: where a running job got to, for the reaper to read if its worker dies.
//!
//! A handler may report progress many times a second (the audio worker reports every
//! whisper.cpp compute pass, so that random kills land on different steps). A database
//! write per step would put the writer gate on the decoding thread's hot path, so each
//! step goes to a small per-claim file instead: `run/crumbs/JOB` beside the database,
//! 24 bytes rewritten in place with one `pwrite` (claim token, step, a check word). A
//! process killed by any signal leaves what it wrote in the page cache, so the reaper,
//! finding the worker dead, reads the exact last step; after a power cut the file may be
//! stale or torn, the check word fails, and the step the database holds (written at
//! most once a second) is used instead. Files belong to one claim (the token must
//! match); the worker removes its file when the job ends and the reaper when it judges
//! the death.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Fence, JobId};

const CHECK: i64 = 0x5eed_c0ff_ee15_600d;

/// The crumb directory of the database at `db`.
fn dir(db: &Path) -> PathBuf {
    db.parent().unwrap_or(Path::new(".")).join("run").join("crumbs")
}

fn path(db: &Path, job: JobId) -> PathBuf {
    dir(db).join(job.0.to_string())
}

/// The open breadcrumb file of one claim; cheap to clone.
#[derive(Debug, Clone)]
pub struct Crumb {
    file: Arc<File>,
    path: Arc<PathBuf>,
    token: i64,
}

impl Crumb {
    /// Creates (or truncates) the crumb file of `fence`'s claim (directories 0700, the
    /// file 0600, never through a symlink).
    pub(crate) fn create(db: &Path, fence: &Fence) -> io::Result<Crumb> {
        let d = dir(db);
        debrief_config::create_private_dir(&d).map_err(io::Error::other)?;
        let p = path(db, fence.job_id);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&p)?;
        Ok(Crumb { file: Arc::new(file), path: Arc::new(p), token: fence.token })
    }

    /// Records `step` (one `pwrite`, no fsync).
    pub fn mark(&self, step: i64) -> io::Result<()> {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&self.token.to_le_bytes());
        b[8..16].copy_from_slice(&step.to_le_bytes());
        b[16..].copy_from_slice(&(self.token ^ step ^ CHECK).to_le_bytes());
        self.file.write_all_at(&b, 0)
    }

    /// Removes the file (the job ended).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&*self.path);
    }
}

/// The last step the claim with `token` recorded for `job`, if its file is there, whole
/// and of that claim; the file is removed either way.
pub(crate) fn take(db: &Path, job: JobId, token: i64) -> Option<i64> {
    let p = path(db, job);
    let b = std::fs::read(&p).ok();
    let _ = std::fs::remove_file(&p);
    let b = b?;
    if b.len() != 24 {
        return None;
    }
    let word = |i: usize| i64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let (t, step, check) = (word(0), word(8), word(16));
    (t == token && check == t ^ step ^ CHECK).then_some(step)
}
