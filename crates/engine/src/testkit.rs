//! The engine for a feature crate's own tests: the real [`Runtime`] on the in-process store, a
//! manual clock and an in-memory SQLite — the same interpreter of effects as the server, with
//! deadlines fired by the real delay queue when the test moves the clock.
//!
//! ```ignore
//! let kit = TestKit::new(&MY_KEYS, |engine| vec![MyAdapter::new(engine.clone()).parts()]).await;
//! // ... run commands through the adapter ...
//! kit.advance_secs(360);
//! kit.fire_due_timers().await;     // the deadlines that are due, in due order, once each
//! let events = kit.take_events().await;
//! ```
//!
//! [`duel`] is a small mode of the kit's own (a room's battle between two gifts), so the engine's
//! cross-mode rules can be tested before the real modes exist.

use std::sync::{Arc, Mutex};

use livepk_core::{ConfigRegistry, ConfigSpec, ManualClock};
use livepk_sql::{Database, DatabaseOptions, PkRecord, RecordFilter};
use livepk_store::{MemoryStore, Store, StoreOptions};

use crate::config::ENGINE_KEYS;
use crate::driver::ModeParts;
use crate::engine::Engine;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::settings::Settings;

/// Where the kit's clock starts (2023-11-14T22:13:20Z).
pub const START_MS: u64 = 1_700_000_000_000;

/// An engine with its modes on the in-process store and a manual clock.
pub struct TestKit {
    /// The clock the engine reads; [`TestKit::advance_ms`] moves it.
    pub clock: ManualClock,
    /// The runtime (engine, ledger, poller, coalescer).
    pub runtime: Runtime,
    /// The event stream position read up to by [`TestKit::take_events`].
    cursor: Mutex<String>,
}

impl TestKit {
    /// A kit with the modes `build` makes on the engine; `keys` are their config keys.
    pub async fn new(
        keys: &[&'static ConfigSpec],
        build: impl FnOnce(&Arc<Engine>) -> Vec<ModeParts>,
    ) -> TestKit {
        Self::on_store(Arc::new(MemoryStore::new(StoreOptions::default())), keys, build).await
    }

    /// The same kit on `store` (a Redis store under a fresh prefix, for tests that need real
    /// round trips to interleave concurrent commands).
    pub async fn on_store(
        store: Arc<dyn Store>,
        keys: &[&'static ConfigSpec],
        build: impl FnOnce(&Arc<Engine>) -> Vec<ModeParts>,
    ) -> TestKit {
        let clock = ManualClock::new(START_MS);
        let registry = ConfigRegistry::new(keys.iter().copied().chain(ENGINE_KEYS));
        let options = DatabaseOptions {
            config_keys: registry.specs().to_vec(),
            ..DatabaseOptions::default()
        };
        let database = Database::connect_with("sqlite::memory:", &options)
            .await
            .expect("an in-memory SQLite database");
        let settings = Arc::new(Settings::new(database.clone(), store.clone(), registry));
        let engine = Arc::new(Engine::new(Arc::new(clock.clone()), store, database, settings));
        let modes = build(&engine);
        let runtime = Runtime::new(engine, modes, RuntimeOptions::default());
        // Score notifications at once, so a test sees them without waiting.
        runtime.engine.settings.set("events.score_coalesce_ms", 0, START_MS).await.ok();
        // Deadlines settle at the deadline, so a test's clock moves to where the seed says; the
        // tests of the settle grace (`score.grace_ms`) set it themselves.
        runtime.engine.settings.set("score.grace_ms", 0, START_MS).await.ok();
        TestKit { clock, runtime, cursor: Mutex::new("0".into()) }
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.runtime.engine
    }

    /// Now.
    pub fn now_ms(&self) -> u64 {
        use livepk_core::Clock;
        self.clock.now_ms()
    }

    /// Moves the clock forward.
    pub fn advance_ms(&self, ms: u64) {
        self.clock.advance_ms(ms);
    }

    /// Moves the clock forward by whole seconds.
    pub fn advance_secs(&self, secs: u64) {
        self.clock.advance_ms(secs * 1000);
    }

    /// Sets a hot config value (as `Admin.SetConfig` does).
    pub async fn set_config(&self, key: &str, value: i64) {
        let now = self.now_ms();
        self.runtime
            .engine
            .settings
            .set(key, value, now)
            .await
            .unwrap_or_else(|error| panic!("set {key} = {value}: {error}"));
    }

    /// Runs every job due now through the real delay queue, including jobs the handlers
    /// schedule for now, until none is due. Returns how many ran.
    pub async fn fire_due_timers(&self) -> usize {
        let mut fired = 0;
        loop {
            let claimed = self.runtime.runner.poll_once().await.expect("the in-process store");
            if claimed == 0 {
                return fired;
            }
            fired += claimed;
        }
    }

    /// Sends the pending (coalesced) score notifications.
    pub async fn flush_score_notifications(&self) {
        self.runtime.coalescer.flush().await;
    }

    /// The payloads of the events appended since the last call, in order.
    pub async fn take_events(&self) -> Vec<Vec<u8>> {
        let after = self.cursor.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        let events = self
            .runtime
            .engine
            .store
            .read_events(&after, 100_000, None)
            .await
            .expect("the in-process store");
        if let Some(last) = events.last() {
            *self.cursor.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = last.id.clone();
        }
        events.into_iter().map(|event| event.payload).collect()
    }

    /// Every settled record, newest first.
    pub async fn records(&self) -> Vec<PkRecord> {
        let (records, _) = self
            .runtime
            .engine
            .database
            .list_records(RecordFilter::default(), 0, 1_000)
            .await
            .expect("the in-memory SQLite database");
        records
    }
}

pub mod duel;
pub mod hooked;

// ---- stores for tests that talk to Redis ------------------------------------------------------

/// The Redis the tests use: `LIVEPK_TEST_REDIS_URL`, else the default port (`scripts/test.sh`
/// starts one when none answers).
pub fn redis_url() -> String {
    std::env::var("LIVEPK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The Redis Cluster the tests use: `LIVEPK_TEST_REDIS_CLUSTER_URL`, else the local 3 primaries
/// + 3 replicas on ports 7101-7106 that `scripts/test.sh` starts when none answers.
pub fn redis_cluster_url() -> String {
    std::env::var("LIVEPK_TEST_REDIS_CLUSTER_URL").unwrap_or_else(|_| {
        let nodes: Vec<String> = (7101..=7106).map(|port| format!("127.0.0.1:{port}")).collect();
        format!("redis+cluster://{}", nodes.join(","))
    })
}

/// A key prefix no other test uses, so tests share one Redis in parallel.
pub fn fresh_prefix() -> String {
    format!("t{:016x}", rand::random::<u64>())
}

/// A Redis store under `prefix`. Panics when Redis is unreachable: a test that needs it must
/// fail, not skip.
pub async fn redis_store(prefix: &str) -> Arc<dyn Store> {
    Arc::new(
        livepk_store::RedisStore::connect(&redis_url(), prefix, StoreOptions::default())
            .await
            .expect("Redis must be running for the tests (scripts/test.sh starts it)"),
    )
}

/// A Redis Cluster store under `prefix`. Panics when the cluster is unreachable.
pub async fn cluster_store(prefix: &str) -> Arc<dyn Store> {
    Arc::new(
        livepk_store::RedisStore::connect(&redis_cluster_url(), prefix, StoreOptions::default())
            .await
            .expect("the Redis Cluster must be running for the tests (scripts/test.sh starts it)"),
    )
}

/// Every store, each fresh: the in-process one, Redis and a Redis Cluster under a fresh prefix.
pub async fn both_stores() -> Vec<(&'static str, Arc<dyn Store>)> {
    vec![
        ("memory", Arc::new(MemoryStore::new(StoreOptions::default())) as Arc<dyn Store>),
        ("redis", redis_store(&fresh_prefix()).await),
        ("cluster", cluster_store(&fresh_prefix()).await),
    ]
}
