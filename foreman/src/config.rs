//! Which workers the foreman knows about: what they run and which task types they take.
//!
//! Read from `--config FILE`, else `DIR/foreman.toml` in the data directory, else the
//! defaults (one audio-worker, one visual-worker, one summary-worker):
//!
//! ```toml
//! [[worker]]
//! name = "audio-worker"
//! command = ["audio-worker", "run"]   # found next to foreman, then on PATH
//! tasks = ["AUDIO", "TRANSCRIPT"]
//! count = 1
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use debrief_jobq::TaskType;
use serde::Deserialize;

/// One kind of worker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkerSpec {
    pub(crate) name: String,
    pub(crate) command: Vec<String>,
    pub(crate) tasks: Vec<String>,
    #[serde(default = "one")]
    pub(crate) count: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    worker: Vec<WorkerSpec>,
}

impl WorkerSpec {
    pub(crate) fn task_types(&self) -> Result<Vec<TaskType>> {
        self.tasks
            .iter()
            .map(|t| t.parse::<TaskType>().map_err(anyhow::Error::msg))
            .collect::<Result<_>>()
            .with_context(|| format!("worker {:?}", self.name))
    }

    /// The program to start: an absolute or relative path as given, else a file of that
    /// name next to the foreman binary, else on PATH.
    pub(crate) fn program(&self) -> Option<PathBuf> {
        let first = self.command.first()?;
        let p = Path::new(first);
        if p.components().count() > 1 {
            return p.is_file().then(|| p.to_path_buf());
        }
        let beside = std::env::current_exe().ok()?.parent()?.join(first);
        if beside.is_file() {
            return Some(beside);
        }
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(first)).find(|c| c.is_file()))
    }
}

/// Which task types some configured worker whose program is installed takes, and the
/// workers that take each.
pub(crate) fn served(workers: &[WorkerSpec]) -> Result<BTreeMap<TaskType, Vec<String>>> {
    let mut served: BTreeMap<TaskType, Vec<String>> = BTreeMap::new();
    for w in workers.iter().filter(|w| w.program().is_some()) {
        for t in w.task_types()? {
            served.entry(t).or_default().push(w.name.clone());
        }
    }
    Ok(served)
}

/// The workers to supervise or to expect.
pub(crate) fn load(explicit: Option<&Path>, data_dir: &Path) -> Result<Vec<WorkerSpec>> {
    let default_file = data_dir.join("foreman.toml");
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => default_file.is_file().then_some(default_file),
    };
    let Some(path) = path else {
        return Ok(defaults());
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading config {}", path.display()))?;
    let file: File = toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
    for w in &file.worker {
        if w.command.is_empty() {
            bail!("config {}: worker {:?} has an empty command", path.display(), w.name);
        }
        w.task_types().with_context(|| format!("config {}", path.display()))?;
    }
    Ok(file.worker)
}

fn defaults() -> Vec<WorkerSpec> {
    let spec = |name: &str, tasks: &[&str]| WorkerSpec {
        name: name.to_owned(),
        command: vec![name.to_owned(), "run".to_owned()],
        tasks: tasks.iter().map(|t| (*t).to_owned()).collect(),
        count: 1,
    };
    vec![
        spec("audio-worker", &["AUDIO", "TRANSCRIPT"]),
        spec("visual-worker", &["VISUAL"]),
        spec("summary-worker", &["SUMMARY"]),
    ]
}
