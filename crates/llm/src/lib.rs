//! Debrief's local LLM engine: llama.cpp through llama-cpp-2.
//!
//! [`Engine::load`] loads a GGUF model (all layers on the GPU with the `cuda` feature and
//! `use_gpu`, else on the CPU); [`Engine::count_tokens`] counts with the model's own
//! tokenizer; [`Engine::chat`] applies the model's chat template and generates greedily,
//! optionally constrained by a GBNF grammar so that even a very small model returns text
//! of the required shape. Dropping the engine frees the model, its contexts and the
//! llama.cpp backend. A fresh context is made for every call, so calls share no state.
//!
//! This crate links llama.cpp, which vendors its own ggml: never link it into a binary
//! that also links whisper.cpp (`debrief-whisper`).
#![deny(missing_docs)]

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;

/// Errors of the engine; each names the model file or what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The model file is missing, unreadable or not GGUF.
    #[error("model {path}: {reason}")]
    BadModel {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// llama.cpp refused something (backend, context, template, decode, grammar).
    #[error("llama.cpp: {0}")]
    Llama(String),
    /// The prompt does not fit the context with room for the answer.
    #[error("the prompt has {prompt} tokens; with {answer} for the answer it exceeds the context of {n_ctx}")]
    TooLong {
        /// Prompt tokens.
        prompt: usize,
        /// Tokens reserved for the answer.
        answer: usize,
        /// Context size.
        n_ctx: usize,
    },
    /// Generation was stopped by the caller.
    #[error("generation interrupted")]
    Interrupted,
}

fn llama(e: impl std::fmt::Display) -> LlmError {
    LlmError::Llama(e.to_string())
}

/// How to load a model.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// A GGUF file.
    pub model: PathBuf,
    /// CPU threads for prompt processing and generation (never more than cores).
    pub threads: usize,
    /// Context size in tokens (capped at what the model was trained with).
    pub n_ctx: u32,
    /// Offload every layer to the GPU (needs the `cuda` feature).
    pub use_gpu: bool,
}

/// One generation request.
#[derive(Debug, Clone, Copy)]
pub struct Generate<'a> {
    /// GBNF grammar constraining the answer (root rule `root`), if any.
    pub grammar: Option<&'a str>,
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Penalty on tokens repeated within the last 64 (1.0: none). Greedy decoding of a
    /// small model loops otherwise.
    pub repeat_penalty: f32,
}

/// A loaded model.
pub struct Engine {
    // Field order is drop order: the model before the backend.
    model: LlamaModel,
    template: LlamaChatTemplate,
    backend: LlamaBackend,
    n_ctx: u32,
    threads: i32,
    path: PathBuf,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("model", &self.path).field("n_ctx", &self.n_ctx).finish()
    }
}

/// Checks that `path` is a readable GGUF file, for an error that says so (llama.cpp's
/// own loader only returns null).
fn check_gguf(path: &Path) -> Result<(), LlmError> {
    use std::io::Read;
    let bad = |reason: String| LlmError::BadModel { path: path.to_path_buf(), reason };
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| bad(format!("cannot read it: {e}")))?;
    if &magic != b"GGUF" {
        return Err(bad("not a GGUF file (llama.cpp models are .gguf)".into()));
    }
    Ok(())
}

impl Engine {
    /// Loads the model. llama.cpp's backend can exist once per process: load one engine
    /// at a time (drop the old one first).
    pub fn load(cfg: &EngineConfig) -> Result<Self, LlmError> {
        check_gguf(&cfg.model)?;
        let mut backend = LlamaBackend::init().map_err(llama)?;
        if std::env::var_os("DEBRIEF_LLAMA_LOG").is_none() {
            backend.void_logs();
        }
        let params = if cfg.use_gpu {
            LlamaModelParams::default().with_n_gpu_layers(u32::MAX / 2)
        } else {
            LlamaModelParams::default().with_n_gpu_layers(0)
        };
        let model = LlamaModel::load_from_file(&backend, &cfg.model, &params).map_err(|e| LlmError::BadModel {
            path: cfg.model.clone(),
            reason: format!("llama.cpp could not load it: {e}"),
        })?;
        let template = match model.chat_template(None) {
            Ok(t) => t,
            // A GGUF without a template (many base models): llama.cpp's built-in one for
            // its architecture, if it has one.
            Err(e) => {
                let arch = model.meta_val_str("general.architecture").unwrap_or_default();
                let name = builtin_template(&arch).ok_or_else(|| LlmError::BadModel {
                    path: cfg.model.clone(),
                    reason: format!("no usable chat template ({e}) and no built-in one for architecture {arch:?}"),
                })?;
                LlamaChatTemplate::new(name).map_err(|e| llama(e.to_string()))?
            }
        };
        let n_ctx = cfg.n_ctx.clamp(256, model.n_ctx_train().max(256));
        Ok(Self {
            model,
            template,
            backend,
            n_ctx,
            threads: i32::try_from(cfg.threads.max(1)).unwrap_or(1),
            path: cfg.model.clone(),
        })
    }

    /// Context size in tokens.
    pub fn n_ctx(&self) -> usize {
        self.n_ctx as usize
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tokens of `text` under the model's tokenizer (no special tokens added).
    pub fn count_tokens(&self, text: &str) -> usize {
        self.model.vocab().tokenize(text.as_bytes(), false, false).len()
    }

    /// The full prompt for a system and a user message, with the model's chat template
    /// applied and the assistant turn opened.
    pub fn prompt(&self, system: &str, user: &str) -> Result<String, LlmError> {
        let msgs = [
            LlamaChatMessage::new("system".into(), system.into()).map_err(llama)?,
            LlamaChatMessage::new("user".into(), user.into()).map_err(llama)?,
        ];
        self.model.apply_chat_template(&self.template, &msgs, true).map_err(llama)
    }

    /// Tokens the templated prompt of `system` and `user` takes.
    pub fn prompt_tokens(&self, system: &str, user: &str) -> Result<usize, LlmError> {
        let p = self.prompt(system, user)?;
        Ok(self.model.vocab().tokenize(p.as_bytes(), true, true).len())
    }

    /// Answers the chat `system` + `user` greedily (deterministic), constrained by
    /// `gen.grammar` if given. `stop` is polled between tokens; when it returns true
    /// generation ends with [`LlmError::Interrupted`].
    pub fn chat(
        &self,
        system: &str,
        user: &str,
        gen: &Generate<'_>,
        stop: &dyn Fn() -> bool,
    ) -> Result<String, LlmError> {
        let prompt = self.prompt(system, user)?;
        let vocab = self.model.vocab();
        let tokens = vocab.tokenize(prompt.as_bytes(), true, true);
        let n_ctx = self.n_ctx();
        if tokens.len() + gen.max_tokens > n_ctx {
            return Err(LlmError::TooLong { prompt: tokens.len(), answer: gen.max_tokens, n_ctx });
        }
        let n_batch = 512usize;
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(self.n_ctx))
            .with_n_batch(n_batch as u32)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads);
        let mut ctx = self.model.new_context(&self.backend, params).map_err(llama)?;
        let mut batch = LlamaBatch::new(n_batch, 1);
        let last = tokens.len() - 1;
        for (start, piece) in tokens.chunks(n_batch).enumerate().map(|(i, c)| (i * n_batch, c)) {
            batch.clear();
            for (j, &t) in piece.iter().enumerate() {
                let pos = start + j;
                batch.add(t, pos as i32, &[0], pos == last).map_err(llama)?;
            }
            ctx.decode(&mut batch).map_err(llama)?;
            if stop() {
                return Err(LlmError::Interrupted);
            }
        }
        let mut samplers = vec![LlamaSampler::penalties(self.model.n_vocab(), 64, gen.repeat_penalty, 0.0, 0.0)];
        if let Some(g) = gen.grammar {
            samplers.push(LlamaSampler::grammar(&self.model, g, "root").map_err(|e| llama(format!("grammar: {e}")))?);
        }
        samplers.push(LlamaSampler::greedy());
        let mut sampler = LlamaSampler::chain_simple(samplers);
        let mut out = Vec::new();
        for pos in tokens.len()..tokens.len() + gen.max_tokens {
            // `sample` also accepts the token (advancing the grammar).
            let t = sampler.sample(&ctx, batch.n_tokens() - 1);
            if vocab.is_eog(t) {
                break;
            }
            out.extend(vocab.token_to_piece(t, false, None));
            batch.clear();
            batch.add(t, pos as i32, &[0], true).map_err(llama)?;
            ctx.decode(&mut batch).map_err(llama)?;
            if stop() {
                return Err(LlmError::Interrupted);
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// llama.cpp's built-in chat template for a model architecture without its own.
fn builtin_template(arch: &str) -> Option<&'static str> {
    match arch {
        a if a.starts_with("gemma") => Some("gemma"),
        "llama" => Some("llama3"),
        "qwen2" | "qwen3" | "smollm" | "smollm3" => Some("chatml"),
        "phi3" => Some("phi3"),
        "granite" => Some("granite"),
        _ => None,
    }
}

#[cfg(test)]
mod template_tests {
    #[test]
    fn template_less_architectures_get_llama_cpps_built_in_template() {
        assert_eq!(super::builtin_template("gemma3"), Some("gemma"));
        assert_eq!(super::builtin_template("llama"), Some("llama3"));
        assert_eq!(super::builtin_template("qwen2"), Some("chatml"));
        assert_eq!(super::builtin_template("mamba"), None);
    }
}
