//! Getting notifications into the event stream.
//!
//! State changes queue their events in the outbox of the aggregate's hash tag, in the same
//! transaction as the change ([`livepk_store::Op::Outbox`]); [`EventBus::relay`] moves them to
//! the stream right after the commit, and the sweeper finishes any relay a crash interrupted.
//! Score updates, which a gift storm would otherwise turn into a flood, go through
//! [`ScoreCoalescer`]: at most one per PK per interval, always carrying the latest totals.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use livepk_battle::{BattleId, Side};
use livepk_core::Mode;
use livepk_store::Store;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::EVENTS_SCORE_COALESCE_MS;
use crate::error::{EngineError, EngineResult};
use crate::metrics::METRICS;
use crate::settings::Settings;

/// Moves outbox events to the stream.
#[derive(Clone)]
pub struct EventBus {
    store: Arc<dyn Store>,
}

impl EventBus {
    /// A bus over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Relays `tag`'s outbox now. Failure is logged, not returned: the change is committed and
    /// its events are safe in the outbox, where the sweeper will find them.
    pub async fn relay(&self, tag: &str) {
        if let Err(error) = self.store.relay_outbox(tag).await {
            METRICS.relay_failures.with_label_values(&["commit"]).inc();
            tracing::warn!(tag, %error, "outbox relay failed; the sweeper will retry");
        }
    }

    /// Relays every outbox that still holds events. Returns how many events it moved. One
    /// outbox that cannot be relayed (logged) does not hold up the others.
    pub async fn sweep(&self) -> EngineResult<usize> {
        let mut moved = 0;
        let mut left = 0;
        for tag in self.store.outbox_tags().await? {
            match self.store.relay_outbox(&tag).await {
                Ok(count) => moved += count,
                Err(error) => {
                    left += 1;
                    METRICS.relay_failures.with_label_values(&["sweep"]).inc();
                    tracing::warn!(tag, %error, "sweep could not relay this outbox");
                }
            }
        }
        METRICS.relay_backlog_outboxes.set(left);
        Ok(moved)
    }

    /// Sweeps every `interval` until `shutdown` turns true.
    pub async fn run_sweeper(self, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = crate::stopped(&mut shutdown) => return,
            }
            match self.sweep().await {
                Ok(0) => {}
                Ok(moved) => tracing::info!(moved, "sweeper relayed events left in outboxes"),
                Err(error) => tracing::warn!(%error, "outbox sweep failed"),
            }
        }
    }
}

/// What score notifications are coalesced by: one side of one battle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NotifyKey {
    /// The mode.
    pub mode: Mode,
    /// The battle.
    pub battle: BattleId,
    /// The side whose score moved.
    pub side: Side,
}

/// Builds the score notifications of one battle side from its current state. Implemented by the
/// engine for every mode from its binding.
#[async_trait]
pub trait ScoreNotifier: Send + Sync {
    /// Encoded events describing `key` now, mentioning the `users` whose totals changed since
    /// the last notification (each once, in the order they first gave).
    async fn score_events(&self, key: &NotifyKey, users: &[u64]) -> EngineResult<Vec<Vec<u8>>>;
}

/// Coalesces score notifications per battle side. The interval is the hot setting
/// `events.score_coalesce_ms` (0: every change is sent at once).
pub struct ScoreCoalescer {
    store: Arc<dyn Store>,
    settings: Arc<Settings>,
    notifiers: HashMap<Mode, Arc<dyn ScoreNotifier>>,
    /// Battle side -> users changed since the last flush.
    pending: Mutex<HashMap<NotifyKey, ChangedUsers>>,
}

/// Users whose totals changed, each once, in the order they first gave since the last flush.
#[derive(Default)]
struct ChangedUsers {
    order: Vec<u64>,
    seen: HashSet<u64>,
}

impl ChangedUsers {
    fn insert(&mut self, user: u64) {
        if self.seen.insert(user) {
            self.order.push(user);
        }
    }
}

impl ScoreCoalescer {
    /// A coalescer for `notifiers`' modes.
    pub fn new(
        store: Arc<dyn Store>,
        settings: Arc<Settings>,
        notifiers: HashMap<Mode, Arc<dyn ScoreNotifier>>,
    ) -> Self {
        Self { store, settings, notifiers, pending: Mutex::new(HashMap::new()) }
    }

    async fn interval(&self) -> Duration {
        let default = EVENTS_SCORE_COALESCE_MS.default;
        let ms = self.settings.get(&EVENTS_SCORE_COALESCE_MS).await.unwrap_or(default);
        Duration::from_millis(ms.max(0) as u64)
    }

    /// Notes that `user`'s gift changed the battle side `key`.
    pub async fn touch(&self, key: NotifyKey, user: u64) {
        if self.interval().await.is_zero() {
            self.emit(key, &[user]).await;
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pending.entry(key).or_default().insert(user);
    }

    /// Sends one notification per battle side changed since the last flush.
    pub async fn flush(&self) {
        let drained: Vec<(NotifyKey, ChangedUsers)> = {
            let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            pending.drain().collect()
        };
        for (key, users) in drained {
            self.emit(key, &users.order).await;
        }
    }

    async fn emit(&self, key: NotifyKey, users: &[u64]) {
        let Some(notifier) = self.notifiers.get(&key.mode) else { return };
        let result = async {
            let events = notifier.score_events(&key, users).await?;
            if !events.is_empty() {
                self.store.append_events(&events).await?;
                METRICS
                    .events_appended
                    .with_label_values(&[key.mode.as_str(), "score"])
                    .inc_by(events.len() as u64);
            }
            Ok::<_, EngineError>(())
        }
        .await;
        // A lost score update is superseded by the next one, which carries the totals.
        if let Err(error) = result {
            tracing::warn!(mode = key.mode.as_str(), battle = %key.battle, %error, "score notification failed");
        }
    }

    /// Flushes every interval until `shutdown`, then once more.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            // Re-read each round so an operator's change applies without a restart; while
            // coalescing is off nothing is pending, so a short idle tick is cheap.
            let interval = self.interval().await.max(Duration::from_millis(50));
            tokio::select! {
                _ = tokio::time::sleep(interval) => self.flush().await,
                _ = crate::stopped(&mut shutdown) => {
                    self.flush().await;
                    return;
                }
            }
        }
    }
}
