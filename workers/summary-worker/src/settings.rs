//! The worker's model settings: command line over configuration file over defaults.
//!
//! The file is `--config FILE`, else `DIR/summary.toml` when it exists:
//!
//! ```toml
//! backend = "openai"                       # or "llama" (default)
//! model = "gemma3-270m"                    # llama: a pinned name or a GGUF path
//! server_url = "http://127.0.0.1:11434/v1" # openai: the server's base URL
//! server_model = "llama3.2:3b"             # openai: the model the server should use
//! context = 4096                           # tokens per call (prompt + answer)
//! timeout_s = 300                          # openai: limit per request
//! retries = 2                              # openai: extra tries per request
//! prompts_dir = "/home/me/debrief-prompts" # map/reduce prompt overrides
//! grounding = "prose"                      # or "extract"; see below
//! ```
//!
//! `grounding`: every item cites a transcript line either way. With `extract` the words
//! shown are the cited line's own; with `prose` the model also words each item and its
//! wording is shown where the line supports it, and it writes the overview from the
//! items. The default is `prose` for a server or a GGUF of 1 GB or more (a 2-3B model),
//! `extract` for smaller models (the embedded SmolLM2-135M).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::backend::ServerConfig;

/// Model options on the command line (each overrides the file).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SettingsArgs {
    /// Configuration file (default: DIR/summary.toml if it exists).
    #[arg(long)]
    config: Option<PathBuf>,
    /// llama (llama.cpp in this process) or openai (an OpenAI-compatible server).
    #[arg(long, env = "DEBRIEF_SUMMARY_BACKEND")]
    backend: Option<String>,
    /// GGUF model for the llama backend: a pinned name (gemma3-270m, the default, or smollm2-135m) fetched into the
    /// model cache, or a path.
    #[arg(long, env = "DEBRIEF_LLM_MODEL")]
    model: Option<String>,
    /// Model cache (default: $DEBRIEF_CACHE/models or ~/.cache/debrief/models).
    #[arg(long)]
    model_cache: Option<PathBuf>,
    /// OpenAI-compatible server base URL, e.g. http://127.0.0.1:11434/v1 (Ollama).
    #[arg(long, env = "DEBRIEF_LLM_SERVER")]
    server_url: Option<String>,
    /// Model name on the server (e.g. llama3.2:3b); default: the server's own.
    #[arg(long)]
    server_model: Option<String>,
    /// Context tokens per call (prompt and answer).
    #[arg(long)]
    context: Option<u32>,
    /// Seconds one server request may take.
    #[arg(long)]
    timeout: Option<f64>,
    /// Extra tries of a failed server request (transport errors, 429, 5xx).
    #[arg(long)]
    retries: Option<u32>,
    /// Milliseconds before the first retry of a server request (doubles).
    #[arg(long)]
    retry_pause_ms: Option<u64>,
    /// Most transcript tokens per map window (default: all the context leaves).
    #[arg(long)]
    window_tokens: Option<usize>,
    /// Directory with prompt overrides (default: DIR/prompts if it exists).
    #[arg(long)]
    prompts_dir: Option<PathBuf>,
    /// extract (items in the cited lines' words) or prose (a big model's wording, checked
    /// against the cited line); default by model size.
    #[arg(long, value_parser = ["extract", "prose"])]
    grounding: Option<String>,
}

/// The configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    backend: Option<String>,
    model: Option<String>,
    model_cache: Option<PathBuf>,
    server_url: Option<String>,
    server_model: Option<String>,
    api_key: Option<String>,
    context: Option<u32>,
    timeout_s: Option<f64>,
    retries: Option<u32>,
    window_tokens: Option<usize>,
    prompts_dir: Option<PathBuf>,
    grounding: Option<String>,
}

/// Which backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// llama.cpp in this process.
    Llama,
    /// An OpenAI-compatible server.
    Openai,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) backend: Backend,
    pub(crate) model: String,
    pub(crate) model_cache: Option<PathBuf>,
    pub(crate) context: u32,
    pub(crate) window_tokens: Option<usize>,
    pub(crate) prompts_dir: Option<PathBuf>,
    /// `Some(true)`: prose, `Some(false)`: extract, `None`: by model size.
    pub(crate) prose: Option<bool>,
    server_url: Option<String>,
    server_model: String,
    api_key: Option<String>,
    timeout: Duration,
    retries: u32,
    retry_pause: Duration,
}

fn read_file(path: &Path) -> Result<File> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid summary-worker configuration", path.display()))
}

impl Settings {
    /// Command line over the file over the defaults.
    pub(crate) fn resolve(a: &SettingsArgs, data_dir: &Path) -> Result<Self> {
        let file = match &a.config {
            Some(p) => read_file(p)?,
            None => {
                let p = data_dir.join("summary.toml");
                if p.is_file() {
                    read_file(&p)?
                } else {
                    File::default()
                }
            }
        };
        let backend = match a.backend.clone().or(file.backend).as_deref() {
            None | Some("llama") | Some("llama.cpp") => Backend::Llama,
            Some("openai") | Some("server") => Backend::Openai,
            Some(other) => bail!("unknown backend {other:?} (llama or openai)"),
        };
        let timeout = a.timeout.or(file.timeout_s).unwrap_or(300.0);
        let timeout = Duration::try_from_secs_f64(timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .context("--timeout must be a positive number of seconds")?;
        let s = Self {
            backend,
            model: a.model.clone().or(file.model).unwrap_or_else(|| debrief_models::DEFAULT_LLM.into()),
            model_cache: a.model_cache.clone().or(file.model_cache),
            context: a.context.or(file.context).unwrap_or(4096),
            window_tokens: a.window_tokens.or(file.window_tokens),
            prompts_dir: a.prompts_dir.clone().or(file.prompts_dir),
            prose: match a.grounding.clone().or(file.grounding).as_deref() {
                None => None,
                Some("prose") => Some(true),
                Some("extract") => Some(false),
                Some(other) => bail!("unknown grounding {other:?} (extract or prose)"),
            },
            server_url: a.server_url.clone().or(file.server_url),
            server_model: a.server_model.clone().or(file.server_model).unwrap_or_default(),
            api_key: std::env::var("DEBRIEF_LLM_API_KEY").ok().or(file.api_key),
            timeout,
            retries: a.retries.or(file.retries).unwrap_or(2),
            retry_pause: Duration::from_millis(a.retry_pause_ms.unwrap_or(1000)),
        };
        if s.backend == Backend::Openai && s.server_url.is_none() {
            bail!("the openai backend needs --server-url (or server_url in the configuration), e.g. http://127.0.0.1:11434/v1 for Ollama");
        }
        Ok(s)
    }

    /// The server settings of the openai backend.
    pub(crate) fn server(&self) -> ServerConfig {
        ServerConfig {
            url: self.server_url.clone().unwrap_or_default(),
            model: self.server_model.clone(),
            api_key: self.api_key.clone(),
            timeout: self.timeout,
            retries: self.retries,
            retry_pause: self.retry_pause,
        }
    }
}
