//! The prompts, as files a user can read and override.
//!
//! Defaults are embedded from `crates/summary/prompts/`: `map.system.txt`,
//! `map.user.txt`, `reduce.system.txt`, `reduce.user.txt`. A directory given to
//! [`Prompts::load`] may hold any of these four files; each one present replaces its
//! default. The user templates must contain `{{input}}`, where the transcript window
//! (map) or the notes (reduce) go.

use std::path::{Path, PathBuf};

/// Placeholder for the window text or the notes in a user template.
pub const INPUT: &str = "{{input}}";

/// The four prompt texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompts {
    /// System message of the map phase.
    pub map_system: String,
    /// User message of the map phase, with `{{input}}`.
    pub map_user: String,
    /// System message of the reduce phase.
    pub reduce_system: String,
    /// User message of the reduce phase, with `{{input}}`.
    pub reduce_user: String,
}

/// A prompt file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("prompt file {path}: {reason}")]
pub struct PromptError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

impl Default for Prompts {
    fn default() -> Self {
        Self {
            map_system: include_str!("../prompts/map.system.txt").into(),
            map_user: include_str!("../prompts/map.user.txt").into(),
            reduce_system: include_str!("../prompts/reduce.system.txt").into(),
            reduce_user: include_str!("../prompts/reduce.user.txt").into(),
        }
    }
}

/// Names of the prompt files, in [`Prompts`] field order.
pub const FILES: [&str; 4] = ["map.system.txt", "map.user.txt", "reduce.system.txt", "reduce.user.txt"];

impl Prompts {
    /// The defaults, with every file of `dir` (if given and present) taking its place.
    /// Also returns the files that were used.
    pub fn load(dir: Option<&Path>) -> Result<(Self, Vec<PathBuf>), PromptError> {
        let mut p = Self::default();
        let mut used = Vec::new();
        let Some(dir) = dir else { return Ok((p, used)) };
        for (name, slot) in
            FILES.into_iter().zip([&mut p.map_system, &mut p.map_user, &mut p.reduce_system, &mut p.reduce_user])
        {
            let path = dir.join(name);
            if !path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| PromptError { path: path.clone(), reason: e.to_string() })?;
            if text.trim().is_empty() {
                return Err(PromptError { path, reason: "is empty".into() });
            }
            if name.ends_with(".user.txt") && !text.contains(INPUT) {
                return Err(PromptError {
                    path,
                    reason: format!("has no {INPUT} placeholder for the transcript or notes"),
                });
            }
            *slot = text;
            used.push(path);
        }
        Ok((p, used))
    }

    /// The map user message for a window's text.
    pub fn map(&self, input: &str) -> String {
        self.map_user.replace(INPUT, input)
    }

    /// The reduce user message for rendered notes.
    pub fn reduce(&self, input: &str) -> String {
        self.reduce_user.replace(INPUT, input)
    }
}
