//! A client for OpenAI-compatible HTTP servers (llama.cpp's `llama-server`, Ollama, LM
//! Studio, vLLM), shared by the summary-worker (text) and the visual-worker (images).
//!
//! Only plain `http://` (a server on this machine or the user's network), no proxy. Each
//! request runs on a thread of its own while the caller's thread polls a stop function
//! (a stop request, a lost claim), so a server that hangs never keeps a stopping worker
//! waiting for the request timeout; transport errors, 429 and 5xx are retried with a
//! doubling pause, which a stop also cuts short. Errors name the server, what it said
//! and whether it was reachable.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// How to reach a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Base URL including `/v1` (e.g. `http://127.0.0.1:11434/v1`).
    pub url: String,
    /// Model name the server knows (`llama3.2:3b`); empty lets the server choose.
    pub model: String,
    /// Bearer token, if the server wants one.
    pub api_key: Option<String>,
    /// Limit for one request, connection included.
    pub timeout: Duration,
    /// Extra tries of a request that failed in transport or with a 5xx/429.
    pub retries: u32,
    /// First pause between tries (doubles).
    pub retry_pause: Duration,
}

/// A server, and how its messages name it (`"LLM server"`, `"VLM server"`).
#[derive(Debug)]
pub struct Client {
    cfg: ServerConfig,
    agent: ureq::Agent,
    kind: &'static str,
    log_name: &'static str,
}

/// How often a waiting request checks for a stop.
const POLL: Duration = Duration::from_millis(50);

impl Client {
    /// Prepares the client; nothing is sent yet. `flag` names the setting the URL came
    /// from, for the error about a URL that is not `http://`; `log_name` prefixes the
    /// retry log lines.
    pub fn new(cfg: ServerConfig, kind: &'static str, flag: &str, log_name: &'static str) -> Result<Self> {
        if !cfg.url.starts_with("http://") {
            bail!("{flag} {:?}: only plain http:// is supported (a server on this machine or your network)", cfg.url);
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .timeout_connect(Some(Duration::from_secs(5).min(cfg.timeout)))
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .into();
        Ok(Self { cfg, agent, kind, log_name })
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }

    /// The agent, for single unretried calls (probes).
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// The base URL without a trailing slash.
    pub fn base(&self) -> &str {
        self.cfg.url.trim_end_matches('/')
    }

    /// The server root (the base URL without `/v1`), where llama.cpp serves `/tokenize`.
    pub fn root(&self) -> String {
        self.base().trim_end_matches("/v1").to_owned()
    }

    /// `GET base/path`, retried; the body of a 2xx answer.
    pub fn get(&self, path: &str, what: &str, stop: &dyn Fn() -> bool) -> Result<String> {
        let send = self.sender(format!("{}/{path}", self.base()));
        self.retrying(what, stop, move || send(None))
    }

    /// `POST base/path` with a JSON body, retried; the body of a 2xx answer.
    pub fn post(&self, path: &str, body: Value, what: &str, stop: &dyn Fn() -> bool) -> Result<String> {
        let send = self.sender(format!("{}/{path}", self.base()));
        self.retrying(what, stop, move || send(Some(&body)))
    }

    /// `POST base/chat/completions` with `body` (its `model` set from the configuration
    /// when one is named); the answer's `choices[0].message.content`.
    pub fn chat(&self, mut body: Value, stop: &dyn Fn() -> bool) -> Result<String> {
        if !self.cfg.model.is_empty() {
            body["model"] = Value::String(self.cfg.model.clone());
        }
        let text = self.post("chat/completions", body, "chat completion", stop)?;
        let v: Value = serde_json::from_str(&text).with_context(|| {
            format!("the {} at {} answered with invalid JSON: {}", self.kind, self.cfg.url, snippet(&text))
        })?;
        v["choices"][0]["message"]["content"].as_str().map(str::to_owned).ok_or_else(|| {
            anyhow!(
                "the {} at {} answered without choices[0].message.content: {}",
                self.kind,
                self.cfg.url,
                snippet(&text)
            )
        })
    }

    /// Runs `call` until it gives a 2xx, retrying transport errors, 429 and 5xx with a
    /// doubling pause; a stop abandons the request (its thread ends with the timeout, or
    /// with the process) and fails the call as interrupted.
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
                    let e =
                        anyhow!("{what}: the {} at {} answered HTTP {s}: {}", self.kind, self.cfg.url, snippet(&body));
                    if s != 429 && s < 500 {
                        return Err(e);
                    }
                    e
                }
                Err(e) => anyhow!("{what}: cannot reach the {} at {} ({e}); is it running?", self.kind, self.cfg.url),
            };
            if tries > self.cfg.retries {
                return Err(err.context(format!("gave up after {tries} tries")));
            }
            debrief_jobq::log(self.log_name, &format!("{err:#}; retrying in {} ms", pause.as_millis()));
            let until = Instant::now() + pause;
            while Instant::now() < until {
                if stop() {
                    return Err(interrupted());
                }
                std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
            }
            pause *= 2;
        }
    }

    /// An owned request sender (agent, URL, auth) for `retrying`'s thread.
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

/// The first 300 characters of a server's answer, on one line.
pub fn snippet(s: &str) -> String {
    let s: String = s.chars().take(300).collect();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    /// A loopback server answering each connection with the next of `answers`
    /// (status, body), recording each request's first line and body.
    fn serve(answers: Vec<(u16, &'static str)>) -> (String, std::thread::JoinHandle<Vec<(String, String)>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for (status, body) in answers {
                let (s, _) = l.accept().unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut first = String::new();
                r.read_line(&mut first).unwrap();
                let mut len = 0;
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    if h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut b = vec![0; len];
                r.read_exact(&mut b).unwrap();
                seen.push((first.trim().to_owned(), String::from_utf8(b).unwrap()));
                let mut s = s;
                write!(s, "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                    .unwrap();
            }
            seen
        });
        (url, h)
    }

    fn client(url: String) -> Client {
        let cfg = ServerConfig {
            url,
            model: "m".into(),
            api_key: None,
            timeout: Duration::from_secs(5),
            retries: 2,
            retry_pause: Duration::from_millis(10),
        };
        Client::new(cfg, "VLM server", "--vlm-url", "test").unwrap()
    }

    #[test]
    fn a_chat_is_retried_after_a_5xx_and_names_the_model() {
        let ok = r#"{"choices":[{"message":{"content":"a bar chart"}}]}"#;
        let (url, h) = serve(vec![(503, "loading"), (200, ok)]);
        let c = client(url);
        assert_eq!(c.chat(serde_json::json!({"messages": []}), &|| false).unwrap(), "a bar chart");
        let seen = h.join().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen[1].0.starts_with("POST /v1/chat/completions"), "{seen:?}");
        let body: Value = serde_json::from_str(&seen[1].1).unwrap();
        assert_eq!(body["model"], "m");
    }

    #[test]
    fn a_4xx_is_not_retried_and_the_error_says_what_the_server_said() {
        let (url, h) = serve(vec![(400, "image input is not supported")]);
        let e = client(url.clone()).chat(serde_json::json!({}), &|| false).unwrap_err().to_string();
        assert!(e.contains(&format!("the VLM server at {url} answered HTTP 400: image input is not supported")), "{e}");
        assert_eq!(h.join().unwrap().len(), 1);
    }

    #[test]
    fn a_url_that_is_not_plain_http_is_refused() {
        let cfg = ServerConfig {
            url: "https://example.com/v1".into(),
            model: String::new(),
            api_key: None,
            timeout: Duration::from_secs(1),
            retries: 0,
            retry_pause: Duration::from_millis(1),
        };
        let e = Client::new(cfg, "VLM server", "--vlm-url", "test").err().unwrap().to_string();
        assert!(e.starts_with("--vlm-url \"https://example.com/v1\": only plain http://"), "{e}");
    }
}
