//! Servers and Redis as separate processes: the real `livepk` binary as a child process (killed
//! when dropped; the real-time smoke tests and the kill -9 tests use it), and a private
//! `redis-server` on a Unix socket for outage tests. Neither needs a port chosen in advance: the
//! binary listens on port 0 and writes the address it got to a file (`LIVEPK_ADDRESS_FILE`);
//! Redis listens on a socket file in a temporary directory.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use livepk_core::SystemClock;

use super::{Client, READY_TIMEOUT, eventually, fresh_prefix, redis_cluster_url, redis_url};

/// What several server processes share: the Redis key prefix and the SQLite file (in a
/// temporary directory that also holds the servers' logs).
pub struct Deployment {
    /// Temporary directory (database, logs, address files); removed when dropped.
    pub dir: tempfile::TempDir,
    /// `LIVEPK_KEY_PREFIX`.
    pub prefix: String,
    /// `LIVEPK_DATABASE_URL`.
    pub database_url: String,
    /// `LIVEPK_REDIS_URL`: the test Redis, or the test Redis Cluster.
    pub redis_url: String,
    spawned: Mutex<u32>,
}

impl Deployment {
    /// A fresh prefix and a fresh SQLite file.
    pub fn new() -> Deployment {
        Deployment::on(redis_url())
    }

    /// [`Deployment::new`] on the test Redis Cluster (`LIVEPK_TEST_REDIS_CLUSTER_URL`).
    pub fn on_cluster() -> Deployment {
        Deployment::on(redis_cluster_url())
    }

    /// A fresh prefix and a fresh SQLite file on the Redis (or `redis+cluster://`) at `redis_url`.
    pub fn on(redis_url: String) -> Deployment {
        let dir = tempfile::tempdir().expect("temporary directory");
        let database_url = format!("sqlite://{}/livepk.db?mode=rwc", dir.path().display());
        Deployment { dir, prefix: fresh_prefix(), database_url, redis_url, spawned: Mutex::new(0) }
    }

    /// Starts one more `livepk` process on this deployment and waits until it is SERVING.
    pub async fn spawn(&self) -> Spawned {
        self.spawn_with_env(&[]).await
    }

    /// [`Deployment::spawn`] with more environment variables (set after the usual ones).
    pub async fn spawn_with_env(&self, env: &[(&str, &str)]) -> Spawned {
        let n = {
            let mut spawned = self.spawned.lock().unwrap();
            *spawned += 1;
            *spawned
        };
        let log = self.dir.path().join(format!("server-{n}.log"));
        let address_file = self.dir.path().join(format!("server-{n}.address"));
        let log_file = std::fs::File::create(&log).expect("server log file");
        let child = Command::new(env!("CARGO_BIN_EXE_livepk"))
            .current_dir(self.dir.path())
            .env_remove("LIVEPK_CONFIG")
            .env_remove("LIVEPK_AUTH_TOKEN")
            .env_remove("LIVEPK_ADMIN_TOKEN")
            .env_remove("LIVEPK_LOG_FORMAT")
            .env("LIVEPK_LISTEN", "127.0.0.1:0")
            .env("LIVEPK_ADDRESS_FILE", &address_file)
            .env("LIVEPK_METRICS_LISTEN", "")
            .env("LIVEPK_REDIS_URL", &self.redis_url)
            .env("LIVEPK_KEY_PREFIX", &self.prefix)
            .env("LIVEPK_DATABASE_URL", &self.database_url)
            // A Redis deployment without tokens starts only when told it may (issue 12 item 3).
            .env("LIVEPK_INSECURE", "1")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file handle"))
            .stderr(log_file)
            .spawn()
            .expect("spawn the livepk binary");
        let mut spawned = Spawned {
            client: None,
            child: Arc::new(Mutex::new(Some(child))),
            log,
            name: format!("server-{n}"),
        };
        let address =
            eventually(&format!("{} to write its address", spawned.name), READY_TIMEOUT, || {
                if let Some(reason) = spawned.exited() {
                    panic!(
                        "{} exited before it listened ({reason}):\n{}",
                        spawned.name,
                        spawned.log_tail()
                    );
                }
                let address = std::fs::read_to_string(&address_file)
                    .ok()
                    .and_then(|text| text.trim().parse::<std::net::SocketAddr>().ok());
                async move { address }
            })
            .await;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(1))
            .connect_lazy();
        let client = Client { name: spawned.name.clone(), channel, clock: Arc::new(SystemClock) };
        let child = spawned.child.clone();
        let log = spawned.log.clone();
        client
            .wait_serving(|| {
                let status =
                    child.lock().unwrap().as_mut().and_then(|c| c.try_wait().ok().flatten());
                status.map(|status| format!("{status}:\n{}", tail(&log)))
            })
            .await;
        spawned.client = Some(client);
        spawned
    }
}

/// Runs the `livepk` binary with only `env` (besides `PATH`/`HOME`-free defaults: no config
/// file, listening on port 0, no metrics) until it exits or `timeout` passes; returns its exit
/// code (`None`: still running after `timeout`, then killed) and its output.
pub fn run_binary(env: &[(&str, &str)], timeout: Duration) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let log = dir.path().join("server.log");
    let log_file = std::fs::File::create(&log).expect("server log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_livepk"));
    command
        .current_dir(dir.path())
        .env_clear()
        .env("LIVEPK_LISTEN", "127.0.0.1:0")
        .env("LIVEPK_METRICS_LISTEN", "")
        .env("LIVEPK_DATABASE_URL", format!("sqlite://{}/livepk.db?mode=rwc", dir.path().display()))
        .env("RUST_LOG", "info");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file handle"))
        .stderr(log_file)
        .spawn()
        .expect("spawn the livepk binary");
    let deadline = std::time::Instant::now() + timeout;
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait for livepk") {
            break status.code();
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, std::fs::read_to_string(&log).unwrap_or_default())
}

impl Default for Deployment {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Deployment {
    /// Best effort: removes every Redis key of the prefix (servers are gone by now: they are
    /// declared after the deployment and so dropped before it).
    fn drop(&mut self) {
        let nodes = match self.redis_url.split_once("+cluster://") {
            // Each node deletes the keys it holds; replicas refuse (MOVED), harmlessly.
            Some((_, nodes)) => nodes.split(',').map(|node| format!("redis://{node}")).collect(),
            None => vec![self.redis_url.clone()],
        };
        let cluster = nodes.len() > 1;
        for url in nodes {
            if let Err(error) = delete_prefix(&url, &self.prefix)
                && !cluster
            {
                eprintln!("could not clean the Redis keys of {}: {error}", self.prefix);
            }
        }
    }
}

/// A running `livepk` child process. Dropping it kills the process (SIGKILL) and, when the
/// test is failing, prints the end of its log.
pub struct Spawned {
    client: Option<Client>,
    child: Arc<Mutex<Option<Child>>>,
    log: PathBuf,
    /// For messages.
    pub name: String,
}

impl std::ops::Deref for Spawned {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("a spawned server is connected once it is returned")
    }
}

impl Spawned {
    fn exited(&self) -> Option<String> {
        let mut child = self.child.lock().unwrap();
        child.as_mut().and_then(|child| child.try_wait().ok().flatten()).map(|s| s.to_string())
    }

    /// The server's whole log (stdout and stderr).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }

    /// Kills the process with SIGKILL (`kill -9`) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("---- {} log (tail) ----\n{}", self.name, self.log_tail());
        }
    }
}

fn tail(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Deletes `prefix:*` with SCAN + UNLINK over a plain RESP connection.
pub(super) fn delete_prefix(url: &str, prefix: &str) -> std::io::Result<()> {
    let rest = url.strip_prefix("redis://").unwrap_or(url);
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((auth, rest)) => (Some(auth), rest),
        None => (None, rest),
    };
    let (address, db) = match rest.split_once('/') {
        Some((address, db)) => (address, db),
        None => (rest, ""),
    };
    let stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut resp = Resp { reader: std::io::BufReader::new(stream.try_clone()?), writer: stream };
    if let Some(auth) = auth {
        let password = auth.rsplit(':').next().unwrap_or(auth);
        match auth.split_once(':') {
            Some((user, _)) if !user.is_empty() => resp.call(&["AUTH", user, password])?,
            _ => resp.call(&["AUTH", password])?,
        };
    }
    if !db.is_empty() {
        resp.call(&["SELECT", db])?;
    }
    let pattern = format!("{prefix}:*");
    let mut cursor = "0".to_owned();
    loop {
        let reply = resp.call(&["SCAN", &cursor, "MATCH", &pattern, "COUNT", "1000"])?;
        let Reply::Array(mut parts) = reply else { return Ok(()) };
        let keys = match parts.pop() {
            Some(Reply::Array(keys)) => keys,
            _ => Vec::new(),
        };
        cursor = match parts.pop() {
            Some(Reply::Bulk(next)) => next,
            _ => "0".into(),
        };
        let mut command = vec!["UNLINK".to_owned()];
        command.extend(keys.into_iter().filter_map(|key| match key {
            Reply::Bulk(key) => Some(key),
            _ => None,
        }));
        if command.len() > 1 {
            let args: Vec<&str> = command.iter().map(String::as_str).collect();
            resp.call(&args)?;
        }
        if cursor == "0" {
            return Ok(());
        }
    }
}

/// A RESP reply, as much of it as the cleanup needs.
enum Reply {
    Simple,
    Bulk(String),
    Array(Vec<Reply>),
}

struct Resp {
    reader: std::io::BufReader<std::net::TcpStream>,
    writer: std::net::TcpStream,
}

impl Resp {
    fn call(&mut self, args: &[&str]) -> std::io::Result<Reply> {
        use std::io::Write;
        let mut command = format!("*{}\r\n", args.len());
        for arg in args {
            command.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        self.writer.write_all(command.as_bytes())?;
        self.read()
    }

    fn read(&mut self) -> std::io::Result<Reply> {
        use std::io::{BufRead, Read};
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let line = line.trim_end();
        let (kind, body) = line.split_at(line.len().min(1));
        let number = || body.parse::<i64>().unwrap_or(-1);
        match kind {
            "+" | ":" => Ok(Reply::Simple),
            "-" => Err(std::io::Error::other(body.to_owned())),
            "$" if number() < 0 => Ok(Reply::Simple),
            "$" => {
                let mut bytes = vec![0; number() as usize + 2];
                self.reader.read_exact(&mut bytes)?;
                bytes.truncate(bytes.len() - 2);
                Ok(Reply::Bulk(String::from_utf8_lossy(&bytes).into_owned()))
            }
            "*" => {
                let mut items = Vec::new();
                for _ in 0..number().max(0) {
                    items.push(self.read()?);
                }
                Ok(Reply::Array(items))
            }
            _ => Err(std::io::Error::other(format!("unexpected RESP line {line:?}"))),
        }
    }
}

// ---- a private Redis ------------------------------------------------------------------------

/// A private `redis-server` child process on a Unix socket in a temporary directory, killed when
/// dropped. It can be killed and started again on the same socket (an outage and a recovery).
pub struct RedisProcess {
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl RedisProcess {
    /// Starts `redis-server` (without persistence) and waits until it answers.
    pub async fn start() -> RedisProcess {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut process = RedisProcess { dir, child: None };
        process.restart().await;
        process
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// Starts it again on the same socket (after [`RedisProcess::kill`]).
    pub async fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(self.socket())
            .args(["--unixsocketperm", "700"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for the store-outage test");
        self.child = Some(child);
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut backoff = Duration::from_millis(5);
        loop {
            if let Some(status) =
                self.child.as_mut().and_then(|child| child.try_wait().ok().flatten())
            {
                panic!("redis-server on {} exited at start: {status}", self.socket().display());
            }
            if let Ok(mut stream) = tokio::net::UnixStream::connect(self.socket()).await {
                let mut reply = [0u8; 7];
                if stream.write_all(b"PING\r\n").await.is_ok()
                    && stream.read_exact(&mut reply).await.is_ok()
                    && &reply == b"+PONG\r\n"
                {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server on {} never answered",
                self.socket().display()
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(100));
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
