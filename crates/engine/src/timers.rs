//! The delay queue's consumer side (seed 004 §五, done right): every replica polls; due jobs are
//! claimed atomically by whichever replica polls first; a job is finished only after its
//! handler succeeded, so a replica that dies mid-job leaves it to be delivered again after its
//! TTR. Handlers guard their state change with the aggregate's version or phase, so a job that
//! is delivered twice, or that a later change made stale, does nothing the second time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use livepk_core::Clock;
use livepk_store::{ClaimedJob, Job, Store, StoreResult};
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
            // Another version of the service may know this topic; leave it for redelivery.
            tracing::warn!(topic, id = %claimed.job.id, "no handler for timer topic");
            METRICS.timer_jobs.with_label_values(&[topic, "unknown_topic"]).inc();
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
            }
        }
    }

    /// Polls until `shutdown` turns true; then stops claiming (jobs in hand finish first).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
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
