//! A private PostgreSQL server for tests, benchmarks and trying the PostgreSQL backend
//! on one machine: Debian's `postgresql` package (scripts/setup installs it), a fresh
//! cluster in a temp dir (`initdb`; as the `postgres` user when run as root, since
//! initdb refuses root), listening on a free loopback port only, with `fsync=on` and
//! `synchronous_commit=on`; stopped and removed on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{PgQueue, QueueConfig, Result};

/// A running PostgreSQL server of its own.
#[derive(Debug)]
pub struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    root: bool,
    port: u16,
    url: String,
}

/// The newest installed server's `bin` folder.
fn server_bin() -> std::result::Result<PathBuf, String> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).ok_or_else(|| {
        "PostgreSQL's server is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/setup".to_owned()
    })
}

impl PgServer {
    /// Creates and starts a server; an error says which step failed and why (with the
    /// server's log).
    pub fn start() -> std::result::Result<Self, String> {
        let bin = server_bin()?;
        let root =
            std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").map_err(|e| e.to_string())?) == 0;
        let dir = std::env::temp_dir().join(format!("debrief-pg-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free port: {e}"))?
            .port();
        let s = Self { dir, bin, root, port, url: format!("postgres://debrief@127.0.0.1:{port}/postgres") };
        if root {
            let ok = Command::new("chown").arg("postgres:postgres").arg(&s.dir).status().map_err(|e| e.to_string())?;
            if !ok.success() {
                return Err(format!("chown postgres {}: {ok}", s.dir.display()));
            }
        }
        let data = s.dir.join("data");
        s.run("initdb", &["-D", p(&data), "-U", "debrief", "-A", "trust", "-E", "UTF8", "--no-sync"])?;
        let opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=on -c synchronous_commit=on -c max_connections=200",
            p(&s.dir)
        );
        let log = s.dir.join("server.log");
        s.run("pg_ctl", &["-D", p(&data), "-o", &opts, "-l", p(&log), "-w", "-t", "60", "start"])?;
        Ok(s)
    }

    /// `postgres://debrief@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL of database `name` on this server.
    pub fn url_of(&self, name: &str) -> String {
        format!("{}/{name}", self.url.trim_end_matches("/postgres"))
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> std::result::Result<String, String> {
        let port = self.port.to_string();
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &port, "-U", "debrief", name])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("createdb {name}: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(self.url_of(name))
    }

    /// Connects a queue to the server's default database.
    pub fn queue_with(&self, cfg: QueueConfig) -> Result<PgQueue> {
        PgQueue::connect(&self.url, cfg)
    }

    fn run(&self, tool: &str, args: &[&str]) -> std::result::Result<(), String> {
        let exe = self.bin.join(tool);
        let out = if self.root {
            Command::new("runuser").args(["-u", "postgres", "--"]).arg(&exe).args(args).output()
        } else {
            Command::new(&exe).args(args).output()
        }
        .map_err(|e| format!("{}: {e}", exe.display()))?;
        if out.status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        Err(format!(
            "{tool} {args:?}: {}\n{}\nserver log:\n{log}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.run("pg_ctl", &["-D", p(&data), "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}
