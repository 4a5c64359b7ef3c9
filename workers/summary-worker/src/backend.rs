//! The two ways to run the model: llama.cpp in this process, or an OpenAI-compatible
//! HTTP server (Ollama, llama.cpp's server, LM Studio, vLLM).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use debrief_summary::shape::Shape;
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
    /// One answer shaped by `shape`. `stop` is polled where the backend can stop.
    fn chat(&mut self, system: &str, user: &str, shape: &Shape, stop: &dyn Fn() -> bool) -> Result<String>;
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

    fn chat(&mut self, system: &str, user: &str, shape: &Shape, stop: &dyn Fn() -> bool) -> Result<String> {
        let grammar = shape.gbnf();
        let gen = debrief_llm::Generate {
            grammar: Some(&grammar),
            max_tokens: shape.max_tokens(),
            repeat_penalty: REPEAT_PENALTY,
        };
        Ok(self.engine.chat(system, user, &gen, stop)?)
    }
}

/// How to reach an OpenAI-compatible server.
#[derive(Debug, Clone)]
pub(crate) struct ServerConfig {
    /// Base URL including `/v1` (e.g. `http://127.0.0.1:11434/v1`).
    pub(crate) url: String,
    /// Model name the server knows (`llama3.2:3b`); empty lets the server choose.
    pub(crate) model: String,
    /// Bearer token, if the server wants one.
    pub(crate) api_key: Option<String>,
    /// Limit for one request, connection included.
    pub(crate) timeout: Duration,
    /// Extra tries of a request that failed in transport or with a 5xx/429.
    pub(crate) retries: u32,
    /// First pause between tries (doubles).
    pub(crate) retry_pause: Duration,
    /// Context size to plan windows for (capped by what the server reports).
    pub(crate) n_ctx: usize,
}

/// An OpenAI-compatible server.
pub(crate) struct Server {
    cfg: ServerConfig,
    agent: ureq::Agent,
    /// llama.cpp's server counts tokens exactly at `/tokenize`; others get an estimate.
    tokenize: Option<String>,
    n_ctx: usize,
    probed: bool,
}

/// Conservative characters per token where the server cannot count (English averages
/// about four; three leaves room).
const CHARS_PER_TOKEN: usize = 3;

impl Server {
    /// Prepares the client; nothing is sent until the first job (a server that is down
    /// fails jobs, with retries, rather than the worker).
    pub(crate) fn new(cfg: ServerConfig) -> Result<Self> {
        if !cfg.url.starts_with("http://") {
            bail!(
                "--server-url {:?}: only plain http:// is supported (a server on this machine or your network)",
                cfg.url
            );
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .timeout_connect(Some(Duration::from_secs(5).min(cfg.timeout)))
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .into();
        Ok(Self { n_ctx: cfg.n_ctx, cfg, agent, tokenize: None, probed: false })
    }

    /// Checks the server answers (`GET /models`), and learns whether it can count
    /// tokens and its context size (llama.cpp's `/tokenize` and `/props`). Once per load.
    fn probe(&mut self) -> Result<()> {
        if self.probed {
            return Ok(());
        }
        let send = self.sender(format!("{}/models", self.base()));
        self.retrying("listing models", &debrief_runtime::signals::stop_requested, move || send(None))?;
        let root = self.root();
        let probe = self.agent.post(format!("{root}/tokenize")).send_json(json!({"content": "hello world"}));
        if let Ok(mut r) = probe {
            if r.status().as_u16() == 200 && r.body_mut().read_json::<Value>().is_ok_and(|v| v["tokens"].is_array()) {
                self.tokenize = Some(format!("{root}/tokenize"));
            }
        }
        if let Ok(mut r) = self.agent.get(format!("{root}/props")).call() {
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
                self.cfg.url,
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

    fn base(&self) -> &str {
        self.cfg.url.trim_end_matches('/')
    }

    /// The server root (the base URL without `/v1`), where llama.cpp serves `/tokenize`.
    fn root(&self) -> String {
        self.base().trim_end_matches("/v1").to_owned()
    }

    /// Runs `call` until it gives a 2xx, retrying transport errors, 429 and 5xx with a
    /// doubling pause. Errors name the server and what it said. Each request runs on its
    /// own thread while this one polls `stop` (a stop request, a lost claim), so a
    /// server that hangs never keeps a stopping worker waiting for the request timeout:
    /// the request is abandoned (its thread ends with the timeout, or with the process)
    /// and the call fails as interrupted; pauses between tries are cut short likewise.
    fn retrying<C>(&self, what: &str, stop: &dyn Fn() -> bool, call: C) -> Result<String>
    where
        C: Fn() -> Result<(u16, String), ureq::Error> + Clone + Send + 'static,
    {
        let interrupted = || anyhow!("{what}: interrupted (the worker is stopping or lost its claim)");
        let mut pause = self.cfg.retry_pause;
        let mut tries = 0;
        loop {
            tries += 1;
            let Some(answer) = interruptible(stop, call.clone()) else { return Err(interrupted()) };
            let err = match answer {
                Ok((s, body)) if (200..300).contains(&s) => return Ok(body),
                Ok((s, body)) => {
                    let e = anyhow!("{what}: the LLM server at {} answered HTTP {s}: {}", self.cfg.url, snippet(&body));
                    if s != 429 && s < 500 {
                        return Err(e);
                    }
                    e
                }
                Err(e) => anyhow!("{what}: cannot reach the LLM server at {} ({e}); is it running?", self.cfg.url),
            };
            if tries > self.cfg.retries {
                return Err(err.context(format!("gave up after {tries} tries")));
            }
            debrief_runtime::log("summary-worker", &format!("{err:#}; retrying in {} ms", pause.as_millis()));
            let until = std::time::Instant::now() + pause;
            while std::time::Instant::now() < until {
                if stop() {
                    return Err(interrupted());
                }
                std::thread::sleep(POLL.min(until.saturating_duration_since(std::time::Instant::now())));
            }
            pause *= 2;
        }
    }

    /// An owned request sender (agent, URL, auth) for [`Server::retrying`]'s thread.
    fn sender(&self, url: String) -> impl Fn(Option<&Value>) -> Result<(u16, String), ureq::Error> + Clone + Send {
        let (agent, key) = (self.agent.clone(), self.cfg.api_key.clone());
        move |body: Option<&Value>| {
            let auth = key.as_ref().map(|k| format!("Bearer {k}"));
            let mut r = match body {
                Some(b) => {
                    let mut rq = agent.post(&url);
                    if let Some(a) = &auth {
                        rq = rq.header("Authorization", a);
                    }
                    rq.send_json(b)?
                }
                None => {
                    let mut rq = agent.get(&url);
                    if let Some(a) = &auth {
                        rq = rq.header("Authorization", a);
                    }
                    rq.call()?
                }
            };
            let status = r.status().as_u16();
            Ok((status, r.body_mut().read_to_string()?))
        }
    }
}

/// How often a waiting request checks for a stop.
const POLL: Duration = Duration::from_millis(50);

/// Runs `call` on a thread of its own and waits for it, polling `stop`: `None` if a
/// stop came first (the thread is left to finish on its own) or the call panicked.
fn interruptible<T: Send + 'static>(stop: &dyn Fn() -> bool, call: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(call());
    });
    loop {
        match rx.recv_timeout(POLL) {
            Ok(v) => return Some(v),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if stop() => return None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

fn snippet(s: &str) -> String {
    let s: String = s.chars().take(300).collect();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Llm for Server {
    fn id(&self) -> String {
        format!(
            "{} via {}",
            if self.cfg.model.is_empty() { "server default model" } else { &self.cfg.model },
            self.cfg.url
        )
    }

    fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    fn count(&mut self, text: &str) -> usize {
        let estimate = text.chars().count() / CHARS_PER_TOKEN + 1;
        let Some(url) = &self.tokenize else { return estimate };
        let exact = self
            .agent
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

    fn chat(&mut self, system: &str, user: &str, shape: &Shape, stop: &dyn Fn() -> bool) -> Result<String> {
        self.probe()?;
        let mut body = json!({
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": 0,
            "repeat_penalty": REPEAT_PENALTY,
            "max_tokens": shape.max_tokens(),
            "stream": false,
            "response_format": {"type": "json_schema", "json_schema": {"name": shape.name, "strict": true, "schema": shape.json_schema()}},
            // Ollama unloads the model right after answering, so the server never holds
            // GPU memory once this worker releases its lease (other servers ignore it).
            "keep_alive": 0,
        });
        if !self.cfg.model.is_empty() {
            body["model"] = json!(self.cfg.model);
        }
        let send = self.sender(format!("{}/chat/completions", self.base()));
        let text = self.retrying("chat completion", stop, move || send(Some(&body)))?;
        let v: Value = serde_json::from_str(&text).with_context(|| {
            format!("the LLM server at {} answered with invalid JSON: {}", self.cfg.url, snippet(&text))
        })?;
        v["choices"][0]["message"]["content"].as_str().map(str::to_owned).ok_or_else(|| {
            anyhow!(
                "the LLM server at {} answered without choices[0].message.content: {}",
                self.cfg.url,
                snippet(&text)
            )
        })
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
