//! Helpers shared by the integration tests: stores under a fresh key prefix, a real Redis URL.

#![allow(dead_code)]

use std::sync::Arc;

use livepk_store::{MemoryStore, RedisStore, Store, StoreOptions};

/// The Redis the tests use (CI starts one on the default port).
pub fn redis_url() -> String {
    std::env::var("LIVEPK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test uses.
pub fn fresh_prefix() -> String {
    format!("t{:016x}", rand::random::<u64>())
}

/// A Redis store under its own prefix. Panics when Redis is unreachable: these tests must fail,
/// not skip, without it.
pub async fn redis_store(prefix: &str) -> Arc<dyn Store> {
    Arc::new(
        RedisStore::connect(&redis_url(), prefix, StoreOptions::default())
            .await
            .expect("Redis must be running for the tests (scripts/test.sh starts it)"),
    )
}

/// Both stores, each fresh: the embedded one and Redis.
pub async fn both_stores() -> Vec<(&'static str, Arc<dyn Store>)> {
    vec![
        ("memory", Arc::new(MemoryStore::new(StoreOptions::default())) as Arc<dyn Store>),
        ("redis", redis_store(&fresh_prefix()).await),
    ]
}

// ---- a whole server, for black-box gRPC tests ----------------------------------------------

/// How long a server may take to answer SERVING after it was spawned.
pub const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a server may take to drain and stop after shutdown was triggered.
pub const STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// What a [`TestServer`] is started with; every unset field gets a fresh, private value.
#[derive(Default, Clone)]
pub struct TestServerOptions {
    /// Redis URL; default [`redis_url`].
    pub redis_url: Option<String>,
    /// Key prefix; default a [`fresh_prefix`].
    pub key_prefix: Option<String>,
    /// SQL URL; default a fresh SQLite file in a temporary directory owned by the server.
    pub database_url: Option<String>,
    /// `LIVEPK_AUTH_TOKEN`.
    pub auth_token: Option<String>,
    /// `LIVEPK_ADMIN_TOKEN`.
    pub admin_token: Option<String>,
    /// `limits.max_concurrent_requests`; default the server's default.
    pub max_concurrent_requests: Option<usize>,
    /// The clock; default the system clock.
    pub clock: Option<Arc<dyn livepk_core::Clock>>,
}

/// A livepk server running in this process on 127.0.0.1:<ephemeral port>, with clients
/// connected to it. Dropping it triggers shutdown (the oneshot sender is dropped).
pub struct TestServer {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// Its key prefix (a second server may share it).
    pub key_prefix: String,
    /// Its SQL URL (a second server may share it).
    pub database_url: String,
    /// The configuration it was started with.
    pub config: livepk::config::Config,
    /// A connected channel (no token metadata).
    pub channel: tonic::transport::Channel,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), livepk::ServeError>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A server on the shared test Redis with a fresh prefix and database.
    pub async fn start() -> TestServer {
        Self::start_with(TestServerOptions::default()).await
    }

    /// A server started with `options`; waits until its health answers SERVING.
    pub async fn start_with(options: TestServerOptions) -> TestServer {
        let (dir, database_url) = match options.database_url {
            Some(url) => (None, url),
            None => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}/livepk.db?mode=rwc", dir.path().display());
                (Some(dir), url)
            }
        };
        let key_prefix = options.key_prefix.unwrap_or_else(fresh_prefix);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("local address");
        let mut config = livepk::config::Config {
            listen: addr,
            metrics_listen: None,
            redis_url: Some(options.redis_url.unwrap_or_else(redis_url)),
            key_prefix: key_prefix.clone(),
            database_url: database_url.clone(),
            auth_token: options.auth_token,
            admin_token: options.admin_token,
            ..livepk::config::Config::default()
        };
        if let Some(limit) = options.max_concurrent_requests {
            config.limits.max_concurrent_requests = limit;
        }
        let clock = options.clock.unwrap_or_else(|| Arc::new(livepk_core::SystemClock));
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let task =
            tokio::spawn(livepk::run_with_clock(listener, config.clone(), clock, async move {
                // A dropped sender also stops the server.
                let _ = stop.await;
            }));
        let mut server = TestServer {
            addr,
            key_prefix,
            database_url,
            config,
            channel: tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy(),
            shutdown: Some(shutdown),
            task: Some(task),
            _dir: dir,
        };
        server.channel = server.connect().await;
        server.wait_serving().await;
        server
    }

    /// Opens a new channel to the server, retrying with a short backoff (no fixed sleep).
    pub async fn connect(&mut self) -> tonic::transport::Channel {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("endpoint")
            .connect_timeout(std::time::Duration::from_secs(1));
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        let mut backoff = std::time::Duration::from_millis(5);
        loop {
            self.fail_if_exited().await;
            match endpoint.connect().await {
                Ok(channel) => return channel,
                Err(error) if tokio::time::Instant::now() >= deadline => {
                    panic!("cannot connect to the test server at {}: {error}", self.addr)
                }
                Err(_) => {}
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(std::time::Duration::from_millis(200));
        }
    }

    /// Panics with the server's error when its task has ended (e.g. it could not start).
    async fn fail_if_exited(&mut self) {
        if self.task.as_ref().is_some_and(|task| task.is_finished()) {
            let result = self.task.take().unwrap().await;
            panic!("the test server stopped before it was ready: {result:?}");
        }
    }

    /// Waits (retrying with a backoff) until health for "" answers SERVING.
    pub async fn wait_serving(&mut self) {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        let mut backoff = std::time::Duration::from_millis(5);
        loop {
            self.fail_if_exited().await;
            if self.health_status("").await == Some(serving()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the test server at {} did not answer SERVING within {READY_TIMEOUT:?}",
                self.addr
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(std::time::Duration::from_millis(200));
        }
    }

    /// The health status of `service`, or `None` when the check failed.
    pub async fn health_status(&self, service: &str) -> Option<i32> {
        let mut health = self.health();
        let request = tonic_health::pb::HealthCheckRequest { service: service.into() };
        match tokio::time::timeout(std::time::Duration::from_secs(2), health.check(request)).await {
            Ok(Ok(response)) => Some(response.into_inner().status),
            _ => None,
        }
    }

    /// A health client.
    pub fn health(
        &self,
    ) -> tonic_health::pb::health_client::HealthClient<tonic::transport::Channel> {
        tonic_health::pb::health_client::HealthClient::new(self.channel.clone())
    }

    /// A Gifts client (no token).
    pub fn gifts(&self) -> livepk::pb::gift::gifts_client::GiftsClient<tonic::transport::Channel> {
        livepk::pb::gift::gifts_client::GiftsClient::new(self.channel.clone())
    }

    /// An Events client (no token).
    pub fn events(
        &self,
    ) -> livepk::pb::events::events_client::EventsClient<tonic::transport::Channel> {
        livepk::pb::events::events_client::EventsClient::new(self.channel.clone())
    }

    /// An Admin client (no token).
    pub fn admin(&self) -> livepk::pb::admin::admin_client::AdminClient<tonic::transport::Channel> {
        livepk::pb::admin::admin_client::AdminClient::new(self.channel.clone())
    }

    /// Triggers shutdown without waiting for it.
    pub fn trigger_shutdown(&mut self) {
        if let Some(sender) = self.shutdown.take() {
            let _ = sender.send(());
        }
    }

    /// Waits (at most [`STOP_TIMEOUT`]) for the server task to end and returns its result.
    /// Panics if it does not end in time.
    pub async fn join(&mut self) -> Result<(), livepk::ServeError> {
        let task = self.task.take().expect("the server task was already joined");
        match tokio::time::timeout(STOP_TIMEOUT, task).await {
            Ok(joined) => joined.expect("the server task panicked"),
            Err(_) => panic!("the server did not stop within {STOP_TIMEOUT:?} after shutdown"),
        }
    }

    /// Triggers shutdown and waits for the server to stop; panics when it failed or hung.
    pub async fn shutdown(mut self) {
        self.trigger_shutdown();
        self.join().await.expect("the server ended with an error");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.trigger_shutdown();
    }
}

/// `SERVING` as the wire value.
pub fn serving() -> i32 {
    tonic_health::pb::health_check_response::ServingStatus::Serving as i32
}

/// `NOT_SERVING` as the wire value.
pub fn not_serving() -> i32 {
    tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
}

/// The `google.rpc.ErrorInfo` metadata of an error status; panics when it has none.
pub fn error_metadata(status: &tonic::Status) -> std::collections::HashMap<String, String> {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo detail in {status:?}"))
        .metadata
}

/// Asserts `status` is INVALID_ARGUMENT with business code 403400021 naming `field`.
pub fn assert_invalid_argument(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let metadata = error_metadata(status);
    assert_eq!(metadata.get("code").map(String::as_str), Some("403400021"), "{status:?}");
    assert_eq!(metadata.get("field").map(String::as_str), Some(field), "{status:?}");
}

/// A port free right now on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0").local_addr().unwrap().port()
}

/// A private `redis-server` child process, killed when dropped.
pub struct RedisProcess {
    /// Its port.
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisProcess {
    /// Starts `redis-server` on a free port and waits until it accepts connections.
    pub async fn start() -> RedisProcess {
        Self::start_on(free_port()).await
    }

    /// Starts `redis-server` on `port` (without persistence) and waits until it answers.
    pub async fn start_on(port: u16) -> RedisProcess {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed for the store-outage test");
        let mut process = RedisProcess { port, child: Some(child) };
        process.wait_ready().await;
        process
    }

    async fn wait_ready(&mut self) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut backoff = std::time::Duration::from_millis(5);
        loop {
            if let Some(status) =
                self.child.as_mut().and_then(|child| child.try_wait().ok().flatten())
            {
                panic!("redis-server on port {} exited at start: {status}", self.port);
            }
            if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
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
                "redis-server on port {} never answered",
                self.port
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(std::time::Duration::from_millis(100));
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
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
