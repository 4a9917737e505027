//! The machinery every feature shares, and the one place where features are plugged into it.
//!
//! Adding a feature means: a domain crate, an adapter module under `services/`, and one
//! [`FeaturePlugin`] entry in [`App::build`]. Nothing below changes.

pub mod events;
pub mod ledger;
pub mod settings;
pub mod timers;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use livepk_core::{Clock, Mode};
use livepk_sql::Database;
use livepk_store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::services::linkcall::LinkCallAdapter;
use events::{EventBus, ScoreCoalescer, ScoreNotifier};
use ledger::{GiftConsumer, GiftLedger};
use settings::Settings;
use timers::{RunnerOptions, TimerHandler, TimerRunner, Timers};

/// Completes when `stop` turns true (or its sender is gone). Holds no borrow of the channel
/// afterwards, so it can sit in a `select!` next to other awaits.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// How long a gift's idempotency record is kept: a gateway retry later than this would count
/// again, so it is far longer than any retry policy (a day), yet bounded because every gift
/// keeps one record (a few hundred bytes) for this long.
pub const GIFT_RECORD_TTL: Duration = Duration::from_secs(24 * 3600);

/// The shared machinery handed to every feature adapter.
pub struct Core {
    /// Process configuration.
    pub config: Config,
    /// The source of "now".
    pub clock: Arc<dyn Clock>,
    /// Redis (or the embedded store).
    pub store: Arc<dyn Store>,
    /// SQL: config table, whitelist, settled PK records.
    pub database: Database,
    /// Hot settings from SQL.
    pub settings: Arc<Settings>,
    /// Outbox relay.
    pub events: EventBus,
    /// Delay-queue scheduling.
    pub timers: Timers,
}

/// What a feature plugs into the machinery.
#[derive(Default)]
pub struct FeaturePlugin {
    /// Scores gifts.
    pub gift_consumer: Option<Arc<dyn GiftConsumer>>,
    /// Builds coalesced score notifications.
    pub score_notifier: Option<Arc<dyn ScoreNotifier>>,
    /// Handles deadlines, by topic.
    pub timer_handlers: Vec<(&'static str, Arc<dyn TimerHandler>)>,
}

/// Everything a running server holds. Cheap to clone.
#[derive(Clone)]
pub struct App {
    /// The shared machinery.
    pub core: Arc<Core>,
    /// Gift ingestion.
    pub ledger: Arc<GiftLedger>,
    /// The delay-queue poller.
    pub runner: Arc<TimerRunner>,
    /// Score notification coalescing.
    pub coalescer: Arc<ScoreCoalescer>,
    /// LinkCallPk.
    pub linkcall: Arc<LinkCallAdapter>,
    /// Shutdown signal for long-lived streams.
    pub stop: watch::Receiver<bool>,
}

impl std::ops::Deref for App {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl App {
    /// Wires the machinery and every feature.
    pub fn build(
        config: Config,
        clock: Arc<dyn Clock>,
        store: Arc<dyn Store>,
        database: Database,
        stop: watch::Receiver<bool>,
    ) -> App {
        let settings = Arc::new(Settings::new(database.clone(), store.clone()));
        let core = Arc::new(Core {
            events: EventBus::new(store.clone()),
            timers: Timers::new(store.clone()),
            config,
            clock: clock.clone(),
            store: store.clone(),
            database,
            settings,
        });

        let linkcall = Arc::new(LinkCallAdapter::new(core.clone()));
        let plugins: Vec<(Mode, FeaturePlugin)> = vec![(Mode::LinkCall, linkcall.plugin())];

        let mut consumers = Vec::new();
        let mut notifiers = HashMap::new();
        let mut runner = TimerRunner::new(
            store.clone(),
            clock,
            RunnerOptions {
                poll_interval: Duration::from_millis(core.config.timers.poll_interval_ms),
                ttr: Duration::from_millis(core.config.timers.ttr_ms),
                batch: core.config.timers.batch,
            },
        );
        for (mode, plugin) in plugins {
            consumers.extend(plugin.gift_consumer);
            if let Some(notifier) = plugin.score_notifier {
                notifiers.insert(mode, notifier);
            }
            for (topic, handler) in plugin.timer_handlers {
                runner.register(topic, handler);
            }
        }
        let coalescer =
            Arc::new(ScoreCoalescer::new(store.clone(), core.settings.clone(), notifiers));
        let ledger =
            Arc::new(GiftLedger::new(store, consumers, coalescer.clone(), GIFT_RECORD_TTL));
        App { core, ledger, runner: Arc::new(runner), coalescer, linkcall, stop }
    }

    /// Starts the background tasks (timer poller, outbox sweeper, score coalescer, settings
    /// invalidation). The returned handle completes when all of them stopped after `stop`.
    pub fn spawn_background(&self, stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let sweep = Duration::from_millis(self.config.events.sweep_interval_ms.max(100));
        let tasks = vec![
            tokio::spawn(self.runner.clone().run(stop.clone())),
            tokio::spawn(self.events.clone().run_sweeper(sweep, stop.clone())),
            tokio::spawn(self.coalescer.clone().run(stop.clone())),
            tokio::spawn(self.settings.clone().run_invalidation_listener(stop)),
        ];
        tokio::spawn(async move {
            for task in tasks {
                let _ = task.await;
            }
        })
    }
}
