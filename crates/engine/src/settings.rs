//! Hot settings: the battle tunables of the SQL config table (seed 000 §B.0), cached for 60 s
//! in each replica and invalidated in every replica at once over Redis pub/sub when an operator
//! changes one (seed 004 §三 难点: stale per-node caches were the bug to avoid).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use livepk_core::{ConfigRegistry, ConfigSpec, ConfigValues};
use livepk_sql::Database;
use livepk_store::Store;
use tokio::sync::watch;

use crate::error::{EngineError, EngineResult};

/// Pub/sub channel on which config changes are announced.
pub const CONFIG_CHANNEL: &str = "config-changed";

/// How long a replica trusts its cached copy without hearing of a change (seed: 60 s).
pub const CACHE_TTL: Duration = Duration::from_secs(60);

/// The cached config table.
///
/// Every gift reads it, so an expiry must not send every in-flight call to the database at
/// once: when the copy is merely old, one caller reloads while the others keep using it; when
/// there is none (start-up, or an operator just changed a value), callers wait for one load.
pub struct Settings {
    database: Database,
    store: Arc<dyn Store>,
    registry: ConfigRegistry,
    cache: RwLock<Option<(Instant, Arc<ConfigValues>)>>,
    /// Held by the one caller that is loading.
    loading: tokio::sync::Mutex<()>,
    /// Loads that failed so far, and the last failure: callers that waited behind a failed load
    /// answer with its error instead of each trying again in turn.
    failures: std::sync::Mutex<(u64, Option<String>)>,
    /// Bumped by every invalidation, so a load that started before a change does not store
    /// what it read as fresh.
    generation: AtomicU64,
}

impl Settings {
    /// Settings of the keys of `registry`, read from `database`, invalidated through `store`'s
    /// pub/sub.
    pub fn new(database: Database, store: Arc<dyn Store>, registry: ConfigRegistry) -> Self {
        Self {
            database,
            store,
            registry,
            cache: RwLock::new(None),
            loading: tokio::sync::Mutex::new(()),
            failures: std::sync::Mutex::new((0, None)),
            generation: AtomicU64::new(0),
        }
    }

    /// Every key the server knows.
    pub fn registry(&self) -> &ConfigRegistry {
        &self.registry
    }

    /// The current value of `spec` (its default when the table has no row).
    pub async fn get(&self, spec: &ConfigSpec) -> EngineResult<i64> {
        // Fast path without copying anything: this is read on the gift hot path.
        {
            let cache = self.cache.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some((loaded_at, values)) = cache.as_ref()
                && loaded_at.elapsed() < CACHE_TTL
            {
                return Ok(values.get(spec));
            }
        }
        Ok(self.snapshot().await?.get(spec))
    }

    /// Every key's current value.
    pub async fn snapshot(&self) -> EngineResult<Arc<ConfigValues>> {
        if let Some((loaded_at, values)) = self.cached() {
            if loaded_at.elapsed() < CACHE_TTL {
                return Ok(values);
            }
            // Old: one caller reloads, the others go on with the old copy meanwhile.
            let Ok(_loading) = self.loading.try_lock() else { return Ok(values) };
            return match self.load().await {
                Ok(values) => Ok(values),
                Err(error) => {
                    // The database is away: a stale value beats failing every battle.
                    tracing::warn!(%error, "config reload failed; serving the cached values");
                    Ok(values)
                }
            };
        }
        // None at all: wait for one load (which another caller may be doing already).
        let failed_before = self.failed().0;
        let _loading = self.loading.lock().await;
        if let Some((loaded_at, values)) = self.cached()
            && loaded_at.elapsed() < CACHE_TTL
        {
            return Ok(values);
        }
        if let (failed, Some(error)) = self.failed()
            && failed != failed_before
        {
            // The load this caller waited for failed just now; the next caller tries again.
            return Err(EngineError::from(livepk_sql::SqlError::Unavailable(error)));
        }
        let loaded = self.load().await;
        if let Err(error) = &loaded {
            let mut failures =
                self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            *failures = (failures.0 + 1, Some(error.to_string()));
        }
        loaded
    }

    fn failed(&self) -> (u64, Option<String>) {
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn cached(&self) -> Option<(Instant, Arc<ConfigValues>)> {
        self.cache.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    async fn load(&self) -> EngineResult<Arc<ConfigValues>> {
        let generation = self.generation.load(Ordering::SeqCst);
        let rows = self.database.all_config().await?;
        let values = Arc::new(ConfigValues::new(
            &self.registry,
            rows.into_iter().map(|entry| (entry.key, entry.value)),
        ));
        let mut cache = self.cache.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Checked under the cache lock, which `invalidate` also takes: a change announced
        // while this load was reading leaves the cache empty for the next caller to reload.
        if self.generation.load(Ordering::SeqCst) == generation {
            *cache = Some((Instant::now(), values.clone()));
        }
        Ok(values)
    }

    /// Drops the cached copy; the next read goes to the database.
    pub fn invalidate(&self) {
        let mut cache = self.cache.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        *cache = None;
    }

    /// Validates and writes one value, then tells every replica to reload.
    pub async fn set(
        &self,
        key: &str,
        value: i64,
        now_ms: u64,
    ) -> EngineResult<(&'static ConfigSpec, i64)> {
        let spec = self.registry.validate(key, value).map_err(livepk_sql::SqlError::from)?;
        self.database.set_config(spec, value, now_ms).await?;
        self.invalidate();
        if let Err(error) = self.store.publish(CONFIG_CHANNEL, spec.name).await {
            // Other replicas pick the change up within CACHE_TTL anyway.
            tracing::warn!(%error, "config change announcement failed");
        }
        Ok((spec, value))
    }

    /// Listens for change announcements until `stop`; resubscribes after a lost connection
    /// (and drops the cache then, since announcements may have been missed meanwhile).
    pub async fn run_invalidation_listener(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            match self.store.subscribe(CONFIG_CHANNEL).await {
                Ok(mut messages) => {
                    self.invalidate();
                    loop {
                        tokio::select! {
                            message = messages.next() => match message {
                                Some(key) => {
                                    tracing::info!(key, "config changed elsewhere; reloading");
                                    self.invalidate();
                                }
                                None => break,
                            },
                            _ = crate::stopped(&mut stop) => return,
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot subscribe to config changes"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = crate::stopped(&mut stop) => return,
            }
        }
    }
}
