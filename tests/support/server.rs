//! A server in this process: `livepk::run_with_clock` on a listener the test bound (port 0, kept
//! and handed over — never released and bound again), with the clock the test chooses.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use livepk_core::{Clock, ManualClock, SystemClock};
use livepk_store::{RedisStore, Store, StoreOptions};

use super::{Client, SETTLE_SLACK, STOP_TIMEOUT, eventually, fresh_prefix, redis_url};

/// A manual clock standing at the current wall-clock second: the times a server on it reports
/// look like real ones, and only the test moves it.
pub fn manual_clock() -> ManualClock {
    ManualClock::new(SystemClock.now_ms() / 1000 * 1000)
}

/// A change a test makes to a [`TestServer`]'s configuration.
pub type Configure = Arc<dyn Fn(&mut livepk::config::Config) + Send + Sync>;

/// What a [`TestServer`] is started with; every unset field gets a fresh, private value.
#[derive(Default, Clone)]
pub struct TestServerOptions {
    /// Redis URL; default [`redis_url`].
    pub redis_url: Option<String>,
    /// Key prefix; default a [`fresh_prefix`] (a second replica passes the first one's).
    pub key_prefix: Option<String>,
    /// SQL URL; default a fresh SQLite file in a temporary directory owned by the server.
    pub database_url: Option<String>,
    /// `LIVEPK_AUTH_TOKEN`.
    pub auth_token: Option<String>,
    /// `LIVEPK_ADMIN_TOKEN`.
    pub admin_token: Option<String>,
    /// `limits.max_concurrent_requests`; default the server's default.
    pub max_concurrent_requests: Option<usize>,
    /// The clock; default the system clock. A server on a clock of the test's own has the
    /// clock check off (`clock.max_skew_ms` 0) unless `configure` turns it on.
    pub clock: Option<Arc<dyn Clock>>,
    /// Last word on the configuration (limits, the clock check, ...).
    pub configure: Option<Configure>,
}

/// A livepk server running in this process on 127.0.0.1:<ephemeral port>, with a client
/// connected to it. Dropping it triggers shutdown.
pub struct TestServer {
    client: Client,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// Its key prefix (a second server may share it).
    pub key_prefix: String,
    /// Its SQL URL (a second server may share it).
    pub database_url: String,
    /// The configuration it was started with.
    pub config: livepk::config::Config,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), livepk::ServeError>>>,
    _dir: Option<tempfile::TempDir>,
}

impl Deref for TestServer {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
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
        // Well inside STOP_TIMEOUT: a connection a test left open cannot fail the shutdown.
        config.limits.shutdown_grace_ms = 3_000;
        if options.clock.is_some() {
            // A test's clock moves where the test says, far from Redis's.
            config.clock.max_skew_ms = 0;
        }
        if let Some(configure) = &options.configure {
            configure(&mut config);
        }
        let clock = options.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(livepk::run_with_clock(
            listener,
            config.clone(),
            clock.clone(),
            async move {
                // A dropped sender also stops the server.
                let _ = stop.await;
            },
        ));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(1))
            .connect_lazy();
        let client = Client { name: format!("server at {addr}"), channel, clock };
        let mut server = TestServer {
            client,
            addr,
            key_prefix,
            database_url,
            config,
            shutdown: Some(shutdown),
            task: Some(task),
            _dir: dir,
        };
        let task = server.task.as_ref().expect("just spawned");
        let client = server.client.clone();
        client
            .wait_serving(|| task.is_finished().then(|| "its task ended (see the log)".into()))
            .await;
        server.fail_if_exited().await;
        server
    }

    /// A server on the shared test Redis with a fresh prefix and database, reading `clock` (a
    /// clone: the test keeps the original to move time).
    pub async fn start_on(clock: &ManualClock) -> TestServer {
        Self::start_with(TestServerOptions {
            clock: Some(Arc::new(clock.clone())),
            ..TestServerOptions::default()
        })
        .await
    }

    /// A second replica of this server: same Redis prefix, SQL database and clock.
    pub async fn replica(&self) -> TestServer {
        TestServer::start_with(TestServerOptions {
            key_prefix: Some(self.key_prefix.clone()),
            database_url: Some(self.database_url.clone()),
            clock: Some(self.clock.clone()),
            ..TestServerOptions::default()
        })
        .await
    }

    /// A store on this server's Redis and key prefix, to look at its delay queue.
    pub async fn store(&self) -> RedisStore {
        let url = self.config.redis_url.clone().unwrap_or_else(redis_url);
        RedisStore::connect(&url, &self.key_prefix, StoreOptions::default())
            .await
            .expect("the test server's Redis")
    }

    /// How many delay-queue jobs (timers) are scheduled or claimed under this server's prefix.
    pub async fn timer_jobs(&self) -> u64 {
        self.store().await.job_count().await.expect("job_count")
    }

    /// Waits until the delay queue of this server's prefix is empty: every timer was fired and
    /// finished (or cancelled). Call it after moving a manual clock past every deadline that can
    /// still be scheduled, to know that no timer is left to change anything.
    pub async fn wait_timers_done(&self) {
        let store = self.store().await;
        let store = &store;
        eventually("every timer to fire and finish", SETTLE_SLACK, || async move {
            (store.job_count().await.expect("job_count") == 0).then_some(())
        })
        .await
    }

    /// Waits until a poller has claimed every timer due at the server's clock (none is waiting
    /// to be claimed; a claimed one may still be running).
    pub async fn wait_due_timers_claimed(&self) {
        let store = self.store().await;
        let store = &store;
        eventually("the due timers to be claimed", SETTLE_SLACK, || async move {
            let next = store.next_job_due().await.expect("next_job_due");
            next.is_none_or(|due| due > self.now_ms()).then_some(())
        })
        .await
    }

    /// Panics with the server's error when its task has ended (e.g. it could not start).
    async fn fail_if_exited(&mut self) {
        if self.task.as_ref().is_some_and(|task| task.is_finished()) {
            let result = self.task.take().expect("checked").await;
            panic!("the test server stopped before it was ready: {result:?}");
        }
    }

    /// Opens a new channel to the server (no fixed sleep: retries with a short backoff).
    pub async fn connect(&self) -> tonic::transport::Channel {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(1));
        let deadline = tokio::time::Instant::now() + super::READY_TIMEOUT;
        let mut backoff = Duration::from_millis(5);
        loop {
            match endpoint.connect().await {
                Ok(channel) => return channel,
                Err(error) if tokio::time::Instant::now() >= deadline => {
                    panic!("cannot connect to the test server at {}: {error}", self.addr)
                }
                Err(_) => {}
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(200));
        }
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
