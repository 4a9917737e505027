//! The delay queue's consumer side (seed 004 §五, done right): every replica polls; due jobs are
//! claimed atomically by whichever replica polls first; a job is finished only after its
//! handler succeeded, so a replica that dies mid-job leaves it to be delivered again after its
//! TTR. Handlers guard their state change with the aggregate's version or phase, so a job that
//! is delivered twice, or that a later change made stale, does nothing the second time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use livepk_core::{Clock, ErrorKind};
use livepk_store::{ClaimedJob, Job, Store, StoreError, StoreResult};
use tokio::sync::watch;

use crate::error::EngineError;
use crate::metrics::METRICS;

/// Runs the jobs of one topic.
#[async_trait]
pub trait TimerHandler: Send + Sync {
    /// Handles a due job. Must be idempotent: return Ok when the job no longer applies.
    /// An error leaves the job to be delivered again after the TTR.
    async fn fire(&self, job: &Job) -> Result<(), EngineError>;
}

/// Scheduling side of the queue, handed to features.
#[derive(Clone)]
pub struct Timers {
    store: Arc<dyn Store>,
}

impl Timers {
    /// Timers over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Schedules (or moves) job `id` of `topic` to fire at `due_ms` with `body`.
    pub async fn schedule(
        &self,
        topic: &str,
        id: &str,
        due_ms: u64,
        body: Vec<u8>,
    ) -> StoreResult<()> {
        self.store.schedule_job(&Job { id: id.into(), topic: topic.into(), due_ms, body }).await
    }

    /// Cancels job `id` (a no-op when it already fired or never existed).
    pub async fn cancel(&self, id: &str) -> StoreResult<bool> {
        self.store.cancel_job(id).await
    }
}

/// Deliveries after which a job that keeps failing for good — no handler for its topic, or a
/// handler error that is not a passing outage (a body that does not decode, a record that
/// conflicts) — is given up to the dead letters ([`Store::bury_job`]): with the default 30 s TTR,
/// ten minutes, long enough for a rolling deploy to bring the replica that knows a new topic.
/// Jobs failing because a dependency is unavailable (or contended) are retried for as long as it
/// takes: they will succeed once it is back.
pub const MAX_JOB_ATTEMPTS: u32 = 20;

/// Tunables of the poller.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Longest pause between polls.
    pub poll_interval: Duration,
    /// Time to run before a claimed job is delivered again.
    pub ttr: Duration,
    /// Most jobs claimed per poll.
    pub batch: usize,
}

/// Whether `error` is a passing outage (a dependency unavailable, contention, load shedding):
/// such a job is retried however long it takes, never dead-lettered.
fn passing(error: &EngineError) -> bool {
    match error {
        EngineError::Store(StoreError::Unavailable(_)) => true,
        EngineError::Store(StoreError::Corrupt(_)) => false,
        EngineError::Business(business) => matches!(
            business.kind(),
            ErrorKind::Unavailable | ErrorKind::Aborted | ErrorKind::ResourceExhausted
        ),
    }
}

/// Polls the queue and dispatches due jobs to their topic's handler.
pub struct TimerRunner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    handlers: HashMap<String, Arc<dyn TimerHandler>>,
    options: RunnerOptions,
    /// While this answers false nothing is claimed (the clock check: a replica whose clock is
    /// off must not decide deadlines).
    may_claim: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
}

impl TimerRunner {
    /// A runner with no handlers yet.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, options: RunnerOptions) -> Self {
        Self { store, clock, handlers: HashMap::new(), options, may_claim: None }
    }

    /// Claims jobs only while `may_claim` answers true.
    pub fn claim_only_while(&mut self, may_claim: Arc<dyn Fn() -> bool + Send + Sync>) {
        self.may_claim = Some(may_claim);
    }

    fn claiming(&self) -> bool {
        self.may_claim.as_ref().is_none_or(|may_claim| may_claim())
    }

    /// Routes jobs of `topic` to `handler`.
    pub fn register(&mut self, topic: &str, handler: Arc<dyn TimerHandler>) {
        self.handlers.insert(topic.to_owned(), handler);
    }

    /// Claims the jobs due now and runs them (concurrently). Returns how many it claimed.
    pub async fn poll_once(&self) -> StoreResult<usize> {
        if !self.claiming() {
            return Ok(0);
        }
        let now_ms = self.clock.now_ms();
        let claimed =
            self.store.claim_due_jobs(now_ms, self.options.batch, self.options.ttr).await?;
        let count = claimed.len();
        futures::future::join_all(claimed.into_iter().map(|job| self.run_job(job, now_ms))).await;
        Ok(count)
    }

    async fn run_job(&self, claimed: ClaimedJob, now_ms: u64) {
        let topic = claimed.job.topic.as_str();
        let lag_ms = now_ms.saturating_sub(claimed.job.due_ms);
        METRICS.timer_lag_seconds.with_label_values(&[topic]).observe(lag_ms as f64 / 1000.0);
        let Some(handler) = self.handlers.get(topic) else {
            // Another version of the service may know this topic; leave it for redelivery, up
            // to MAX_JOB_ATTEMPTS deliveries.
            tracing::warn!(topic, id = %claimed.job.id, attempt = claimed.attempt, "no handler for timer topic");
            METRICS.timer_jobs.with_label_values(&[topic, "unknown_topic"]).inc();
            self.bury_if_exhausted(&claimed, &format!("no handler for topic {topic:?}"), now_ms)
                .await;
            return;
        };
        match handler.fire(&claimed.job).await {
            Ok(()) => {
                METRICS.timer_jobs.with_label_values(&[topic, "done"]).inc();
                if let Err(error) = self.store.finish_job(&claimed.job.id, claimed.lease).await {
                    // The handler is idempotent: a redelivery after the TTR will be a no-op.
                    tracing::warn!(topic, id = %claimed.job.id, %error, "finishing a job failed");
                }
            }
            Err(error) => {
                METRICS.timer_jobs.with_label_values(&[topic, "failed"]).inc();
                tracing::warn!(
                    topic,
                    id = %claimed.job.id,
                    attempt = claimed.attempt,
                    %error,
                    "timer handler failed; it will be delivered again after the ttr"
                );
                if !passing(&error) {
                    self.bury_if_exhausted(&claimed, &error.to_string(), now_ms).await;
                }
            }
        }
    }

    /// Moves `claimed` to the dead letters once it was delivered [`MAX_JOB_ATTEMPTS`] times.
    async fn bury_if_exhausted(&self, claimed: &ClaimedJob, reason: &str, now_ms: u64) {
        if claimed.attempt < MAX_JOB_ATTEMPTS {
            return;
        }
        let topic = claimed.job.topic.as_str();
        match self.store.bury_job(&claimed.job.id, claimed.lease, reason, now_ms).await {
            Ok(true) => {
                tracing::error!(topic, id = %claimed.job.id, attempts = claimed.attempt, reason, "timer job given up to the dead letters");
                METRICS.timer_jobs.with_label_values(&[topic, "dead_lettered"]).inc();
                if let Ok(count) = self.store.dead_job_count().await {
                    METRICS.timer_dead_jobs.set(i64::try_from(count).unwrap_or(i64::MAX));
                }
            }
            // Re-scheduled or re-claimed meanwhile: the new one runs.
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(topic, id = %claimed.job.id, %error, "burying a job failed; it will be delivered again")
            }
        }
    }

    /// Polls until `shutdown` turns true; then stops claiming (jobs in hand finish first).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        if let Ok(count) = self.store.dead_job_count().await {
            METRICS.timer_dead_jobs.set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        loop {
            if *shutdown.borrow() {
                return;
            }
            let pause = match self.poll_once().await {
                // A full batch: more may be due right now.
                Ok(claimed) if claimed >= self.options.batch => Duration::ZERO,
                Ok(_) if !self.claiming() => self.options.poll_interval,
                Ok(_) => self.pause_until_next_due().await,
                Err(error) => {
                    tracing::warn!(%error, "delay queue poll failed");
                    self.options.poll_interval.max(Duration::from_millis(500))
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = crate::stopped(&mut shutdown) => return,
            }
        }
    }

    async fn pause_until_next_due(&self) -> Duration {
        let now_ms = self.clock.now_ms();
        match self.store.next_job_due().await {
            Ok(Some(due)) => {
                Duration::from_millis(due.saturating_sub(now_ms)).min(self.options.poll_interval)
            }
            _ => self.options.poll_interval,
        }
    }
}
