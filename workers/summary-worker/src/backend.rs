//! The two ways to run the model: llama.cpp in this process, or an OpenAI-compatible
//! HTTP server (Ollama, llama.cpp's server, LM Studio, vLLM).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use debrief_summary::shape::Answer;
use serde_json::{json, Value};

/// A model the map-reduce loop can ask.
pub(crate) trait Llm {
    /// Names the model (stored with summaries and hashed into window checkpoints).
    fn id(&self) -> String;
    /// Context size in tokens.
    fn n_ctx(&self) -> usize;
    /// Tokens of `text` (exact with llama.cpp's tokenizer, estimated where the server
    /// cannot count).
    fn count(&mut self, text: &str) -> usize;
    /// Tokens of the whole templated prompt.
    fn prompt_tokens(&mut self, system: &str, user: &str) -> Result<usize>;
    /// One answer constrained by `answer`. `stop` is polled where the backend can stop.
    fn chat(&mut self, system: &str, user: &str, answer: &Answer, stop: &dyn Fn() -> bool) -> Result<String>;
}

/// Greedy decoding with a mild penalty on repeats (llama.cpp's server honours it too).
const REPEAT_PENALTY: f32 = 1.15;

/// llama.cpp in this process.
pub(crate) struct Llama {
    pub(crate) engine: debrief_llm::Engine,
    pub(crate) id: String,
}

impl Llm for Llama {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn n_ctx(&self) -> usize {
        self.engine.n_ctx()
    }

    fn count(&mut self, text: &str) -> usize {
        self.engine.count_tokens(text)
    }

    fn prompt_tokens(&mut self, system: &str, user: &str) -> Result<usize> {
        Ok(self.engine.prompt_tokens(system, user)?)
    }

    fn chat(&mut self, system: &str, user: &str, answer: &Answer, stop: &dyn Fn() -> bool) -> Result<String> {
        let gen = debrief_llm::Generate {
            grammar: Some(&answer.gbnf),
            max_tokens: answer.max_tokens,
            repeat_penalty: REPEAT_PENALTY,
        };
        Ok(self.engine.chat(system, user, &gen, stop)?)
    }
}

pub(crate) use debrief_openai::ServerConfig;

/// An OpenAI-compatible server.
pub(crate) struct Server {
    client: debrief_openai::Client,
    /// llama.cpp's server counts tokens exactly at `/tokenize`; others get an estimate.
    tokenize: Option<String>,
    n_ctx: usize,
    probed: bool,
}

/// Conservative characters per token where the server cannot count (English averages
/// about four; three leaves room).
const CHARS_PER_TOKEN: usize = 3;

impl Server {
    /// Prepares the client for a context of `n_ctx` tokens (capped by what the server
    /// reports); nothing is sent until the first job (a server that is down fails jobs,
    /// with retries, rather than the worker).
    pub(crate) fn new(cfg: ServerConfig, n_ctx: usize) -> Result<Self> {
        let client = debrief_openai::Client::new(cfg, "LLM server", "--server-url", "summary-worker")?;
        Ok(Self { client, n_ctx, tokenize: None, probed: false })
    }

    /// Checks the server answers (`GET /models`), and learns whether it can count
    /// tokens and its context size (llama.cpp's `/tokenize` and `/props`). Once per load.
    fn probe(&mut self) -> Result<()> {
        if self.probed {
            return Ok(());
        }
        self.client.get("models", "listing models", &debrief_runtime::signals::stop_requested)?;
        let root = self.client.root();
        let agent = self.client.agent();
        let probe = agent.post(format!("{root}/tokenize")).send_json(json!({"content": "hello world"}));
        if let Ok(mut r) = probe {
            if r.status().as_u16() == 200 && r.body_mut().read_json::<Value>().is_ok_and(|v| v["tokens"].is_array()) {
                self.tokenize = Some(format!("{root}/tokenize"));
            }
        }
        if let Ok(mut r) = agent.get(format!("{root}/props")).call() {
            if let Some(n) =
                r.body_mut().read_json::<Value>().ok().and_then(|v| v["default_generation_settings"]["n_ctx"].as_u64())
            {
                self.n_ctx = self.n_ctx.min(usize::try_from(n).unwrap_or(usize::MAX));
            }
        }
        self.probed = true;
        debrief_runtime::log(
            "summary-worker",
            &format!(
                "server {}: context {} tokens, tokens {}",
                self.client.config().url,
                self.n_ctx,
                if self.tokenize.is_some() {
                    "counted by the server (/tokenize)"
                } else {
                    "estimated at 3 characters per token"
                }
            ),
        );
        Ok(())
    }
}

impl Llm for Server {
    fn id(&self) -> String {
        let cfg = self.client.config();
        format!("{} via {}", if cfg.model.is_empty() { "server default model" } else { &cfg.model }, cfg.url)
    }

    fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    fn count(&mut self, text: &str) -> usize {
        let estimate = text.chars().count() / CHARS_PER_TOKEN + 1;
        let Some(url) = &self.tokenize else { return estimate };
        let exact = self
            .client
            .agent()
            .post(url)
            .send_json(json!({"content": text}))
            .ok()
            .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
            .and_then(|v| v["tokens"].as_array().map(Vec::len));
        exact.unwrap_or(estimate)
    }

    fn prompt_tokens(&mut self, system: &str, user: &str) -> Result<usize> {
        self.probe()?;
        // The server's chat template is unknown here: count the messages plus a margin
        // for the template's role markers.
        Ok(self.count(system) + self.count(user) + 32)
    }

    fn chat(&mut self, system: &str, user: &str, answer: &Answer, stop: &dyn Fn() -> bool) -> Result<String> {
        self.probe()?;
        let body = json!({
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": 0,
            "repeat_penalty": REPEAT_PENALTY,
            "max_tokens": answer.max_tokens,
            "stream": false,
            "response_format": {"type": "json_schema", "json_schema": {"name": answer.name, "strict": true, "schema": answer.schema}},
            // Ollama unloads the model right after answering, so the server never holds
            // GPU memory once this worker releases its lease (other servers ignore it).
            "keep_alive": 0,
        });
        self.client.chat(body, stop)
    }
}

/// A GGUF model: a path, or a pinned name fetched into the model cache.
pub(crate) fn gguf_path(model: &str, cache: Option<PathBuf>) -> Result<PathBuf> {
    let p = PathBuf::from(model);
    if p.is_file() {
        return Ok(p);
    }
    if model.contains('/') || model.ends_with(".gguf") {
        bail!("model file {} does not exist", p.display());
    }
    let cache = cache.unwrap_or_else(debrief_models::default_cache_dir);
    debrief_models::llm_model(model, &cache).with_context(|| format!("LLM model {model:?}"))
}
