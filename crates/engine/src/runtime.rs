//! The running machinery: the engine with every registered mode, the gift ledger, the delay-queue
//! poller, the score-notification coalescer, and their background tasks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use livepk_core::Mode;
use livepk_store::Job;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::driver::ModeParts;
use crate::engine::{Engine, RECORD_TOPIC, RecordJob, decode};
use crate::error::{EngineError, EngineResult};
use crate::events::ScoreCoalescer;
use crate::ledger::GiftLedger;
use crate::timers::{RunnerOptions, TimerHandler, TimerRunner};

/// How long a gift's idempotency record is kept: a gateway retry later than this would count
/// again, so it is far longer than any retry policy (a day), yet bounded because every gift
/// keeps one record (a few hundred bytes) for this long.
pub const GIFT_RECORD_TTL: Duration = Duration::from_secs(24 * 3600);

/// Tunables of the background machinery.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// The delay-queue poller's.
    pub timers: RunnerOptions,
    /// How often outboxes a crash left behind are swept into the stream.
    pub sweep_interval: Duration,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            timers: RunnerOptions {
                poll_interval: Duration::from_millis(200),
                ttr: Duration::from_secs(30),
                batch: 100,
            },
            sweep_interval: Duration::from_secs(5),
        }
    }
}

/// Everything a running server holds besides its transport.
pub struct Runtime {
    /// The engine every mode runs on.
    pub engine: Arc<Engine>,
    /// Gift ingestion.
    pub ledger: Arc<GiftLedger>,
    /// The delay-queue poller.
    pub runner: Arc<TimerRunner>,
    /// Score notification coalescing.
    pub coalescer: Arc<ScoreCoalescer>,
    options: RuntimeOptions,
    /// Kept alive here: the engine only holds weak references to the modes.
    modes: Vec<ModeParts>,
}

impl Runtime {
    /// Wires `modes` into the machinery of `engine`.
    pub fn new(engine: Arc<Engine>, modes: Vec<ModeParts>, options: RuntimeOptions) -> Runtime {
        let mut runner =
            TimerRunner::new(engine.store.clone(), engine.clock.clone(), options.timers.clone());
        runner.register(RECORD_TOPIC, Arc::new(RecordHandler { engine: engine.clone() }));
        let mut notifiers = HashMap::new();
        let mut consumers = Vec::new();
        for parts in &modes {
            engine.register(parts.mode, Arc::downgrade(&parts.driver));
            notifiers.insert(parts.mode, parts.notifier.clone());
            for (topic, handler) in &parts.timers {
                runner.register(topic, handler.clone());
            }
            consumers.extend(parts.gifts.iter().cloned());
        }
        let coalescer =
            Arc::new(ScoreCoalescer::new(engine.store.clone(), engine.settings.clone(), notifiers));
        let ledger = Arc::new(GiftLedger::new(
            engine.store.clone(),
            consumers,
            coalescer.clone(),
            GIFT_RECORD_TTL,
        ));
        Runtime { engine, ledger, runner: Arc::new(runner), coalescer, options, modes }
    }

    /// The modes served, in registration order.
    pub fn modes(&self) -> impl Iterator<Item = Mode> + '_ {
        self.modes.iter().map(|parts| parts.mode)
    }

    /// Starts the background tasks (timer poller, outbox sweeper, score coalescer, settings
    /// invalidation). The returned handle completes when all of them stopped after `stop`.
    pub fn spawn_background(&self, stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let sweep = self.options.sweep_interval.max(Duration::from_millis(100));
        let tasks = vec![
            tokio::spawn(self.runner.clone().run(stop.clone())),
            tokio::spawn(self.engine.events.clone().run_sweeper(sweep, stop.clone())),
            tokio::spawn(self.coalescer.clone().run(stop.clone())),
            tokio::spawn(self.engine.settings.clone().run_invalidation_listener(stop)),
        ];
        tokio::spawn(async move {
            for task in tasks {
                let _ = task.await;
            }
        })
    }
}

/// Writes the settled records whose write right after the commit failed.
struct RecordHandler {
    engine: Arc<Engine>,
}

#[async_trait]
impl TimerHandler for RecordHandler {
    async fn fire(&self, job: &Job) -> EngineResult<()> {
        let RecordJob { battle, record } = decode("settled record", &job.body)?;
        let driver = self.engine.driver(record.mode).ok_or_else(|| {
            EngineError::unavailable(format!("{} is not served here", record.mode.as_str()))
        })?;
        // Only a settle that was committed is recorded.
        if driver.is_settled(battle, record.pkid).await? {
            self.engine.write_record(&record).await?;
        }
        Ok(())
    }
}
