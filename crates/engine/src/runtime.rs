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

use crate::clock_check::{ClockCheck, ClockCheckOptions};
use crate::driver::ModeParts;
use crate::engine::{Engine, RECORD_TOPIC, RecordJob, decode};
use crate::error::{EngineError, EngineResult};
use crate::events::ScoreCoalescer;
use crate::ledger::GiftLedger;
use crate::timers::{RunnerOptions, TimerHandler, TimerRunner};

/// How long a gift's ledger record is kept by default: the gateway's retry horizon (an hour).
/// Every gift keeps one record (136 bytes in Redis) this long, so it is the dedupe memory's
/// lifetime. A retry later than this is not counted again where it counted — each PK keeps its
/// own answer to the gift while the PK's keys live — but is judged anew, by its own send time,
/// by the PKs it finds then.
pub const GIFT_RECORD_TTL: Duration = Duration::from_secs(3600);

/// Tunables of the background machinery.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// The delay-queue poller's.
    pub timers: RunnerOptions,
    /// How often outboxes a crash left behind are swept into the stream.
    pub sweep_interval: Duration,
    /// The clock check (off by default: the test kit runs on a manual clock).
    pub clock_check: ClockCheckOptions,
    /// How long a gift's ledger record is kept ([`GIFT_RECORD_TTL`] by default).
    pub gift_record_ttl: Duration,
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
            clock_check: ClockCheckOptions::default(),
            gift_record_ttl: GIFT_RECORD_TTL,
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
    /// This replica's clock against the store's: the poller claims nothing while it is off.
    pub clock_check: Arc<ClockCheck>,
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
        let clock_check = Arc::new(ClockCheck::new(
            engine.store.clone(),
            engine.clock.clone(),
            options.clock_check.clone(),
        ));
        let check = clock_check.clone();
        runner.claim_only_while(Arc::new(move || check.within_bound()));
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
            options.gift_record_ttl,
        ));
        Runtime { engine, ledger, runner: Arc::new(runner), coalescer, clock_check, options, modes }
    }

    /// The modes served, in registration order.
    pub fn modes(&self) -> impl Iterator<Item = Mode> + '_ {
        self.modes.iter().map(|parts| parts.mode)
    }

    /// Starts the background tasks (clock check, timer poller, outbox sweeper, score coalescer,
    /// settings invalidation). The returned handle completes when all of them stopped after `stop`.
    pub fn spawn_background(&self, stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let sweep = self.options.sweep_interval.max(Duration::from_millis(100));
        let tasks = vec![
            tokio::spawn(self.clock_check.clone().run(stop.clone())),
            tokio::spawn(self.runner.clone().run(stop.clone())),
            tokio::spawn(self.engine.events.clone().run_sweeper(sweep, stop.clone())),
            tokio::spawn(self.coalescer.clone().run(stop.clone())),
            tokio::spawn(watch_sql(self.engine.database.clone(), stop.clone())),
            tokio::spawn(self.engine.settings.clone().run_invalidation_listener(stop)),
        ];
        tokio::spawn(async move {
            for task in tasks {
                let _ = task.await;
            }
        })
    }
}

/// Pings SQL every second and keeps the `sql_up` metric true to the answer (for alerts: the
/// service keeps serving without SQL, but records and configuration changes wait for it).
async fn watch_sql(database: livepk_sql::Database, mut stop: watch::Receiver<bool>) {
    loop {
        let up = tokio::time::timeout(Duration::from_secs(2), database.ping())
            .await
            .is_ok_and(|answer| answer.is_ok());
        crate::metrics::METRICS.sql_up.set(i64::from(up));
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = crate::stopped(&mut stop) => return,
        }
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
