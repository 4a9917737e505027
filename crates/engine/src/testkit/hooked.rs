//! A store that hands everything to another and lets a test act at exact points of a command or
//! a gift: a step run just before the next `next_id` (a Start allocates its pkid between its load
//! and its commit), just before the next guarded gift script (between a gift's `locate` and its
//! count) or just before the next commit on a given tag (between a command's load and the write
//! of one of its transactions), and the log of every aggregate written with the life it was
//! given. So a race that real interleavings hit only now and then is played in one chosen order,
//! every time.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use livepk_store::{
    BoardEntry, ClaimedJob, CommitOutcome, Condition, GuardedScore, Job, Op, Order, ScoreApply,
    ScoreOutcome, Store, StoreResult, StoredEvent, Transaction, Versioned,
};

/// Something a test does at a hook.
pub type Step = Pin<Box<dyn Future<Output = ()> + Send>>;

/// An aggregate written: (tag, name, its life).
pub type Written = (String, String, Option<Duration>);

/// See the module documentation.
pub struct HookedStore {
    inner: Arc<dyn Store>,
    before_next_id: Mutex<Option<Step>>,
    before_guarded_score: Mutex<Option<Step>>,
    before_commit_on: Mutex<Option<(String, Step)>>,
    written: Mutex<Vec<Written>>,
}

impl HookedStore {
    /// `inner` with no hook set.
    pub fn new(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            before_next_id: Mutex::new(None),
            before_guarded_score: Mutex::new(None),
            before_commit_on: Mutex::new(None),
            written: Mutex::new(Vec::new()),
        })
    }

    /// Runs `step` once, just before the next `next_id`.
    pub fn before_next_id(&self, step: impl Future<Output = ()> + Send + 'static) {
        *lock(&self.before_next_id) = Some(Box::pin(step));
    }

    /// Runs `step` once, just before the next guarded gift script.
    pub fn before_guarded_score(&self, step: impl Future<Output = ()> + Send + 'static) {
        *lock(&self.before_guarded_score) = Some(Box::pin(step));
    }

    /// Runs `step` once, just before the next commit of a transaction on `tag`.
    pub fn before_commit_on(&self, tag: String, step: impl Future<Output = ()> + Send + 'static) {
        *lock(&self.before_commit_on) = Some((tag, Box::pin(step)));
    }

    /// The aggregates written since the last call, oldest first.
    pub fn take_written(&self) -> Vec<Written> {
        std::mem::take(&mut *lock(&self.written))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs the step set at `hook`, if any (taken first: the step itself may reach the store).
async fn run(hook: &Mutex<Option<Step>>) {
    let step = lock(hook).take();
    if let Some(step) = step {
        step.await;
    }
}

#[async_trait]
impl Store for HookedStore {
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn get(&self, tag: &str, name: &str) -> StoreResult<Option<Versioned>> {
        self.inner.get(tag, name).await
    }

    async fn get_many(&self, keys: &[(&str, &str)]) -> StoreResult<Vec<Option<Versioned>>> {
        self.inner.get_many(keys).await
    }

    async fn commit(&self, transaction: Transaction) -> StoreResult<CommitOutcome> {
        let step = {
            let mut hook = lock(&self.before_commit_on);
            match hook.take() {
                Some((tag, step)) if tag == transaction.tag => Some(step),
                other => {
                    *hook = other;
                    None
                }
            }
        };
        if let Some(step) = step {
            step.await;
        }
        let puts: Vec<Written> = transaction
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Put { name, ttl, .. } => Some((transaction.tag.clone(), name.clone(), *ttl)),
                _ => None,
            })
            .collect();
        let outcome = self.inner.commit(transaction).await?;
        if outcome == CommitOutcome::Committed {
            lock(&self.written).extend(puts);
        }
        Ok(outcome)
    }

    async fn next_id(&self, tag: &str, name: &str) -> StoreResult<u64> {
        run(&self.before_next_id).await;
        self.inner.next_id(tag, name).await
    }

    async fn next_id_above(&self, tag: &str, name: &str, floor: u64) -> StoreResult<u64> {
        run(&self.before_next_id).await;
        self.inner.next_id_above(tag, name, floor).await
    }

    async fn hash_get_all(&self, tag: &str, name: &str) -> StoreResult<Vec<(String, String)>> {
        self.inner.hash_get_all(tag, name).await
    }

    async fn hash_get_fields(
        &self,
        tag: &str,
        name: &str,
        fields: &[String],
    ) -> StoreResult<Vec<Option<String>>> {
        self.inner.hash_get_fields(tag, name, fields).await
    }

    async fn zrange(
        &self,
        tag: &str,
        name: &str,
        offset: usize,
        count: usize,
        order: Order,
    ) -> StoreResult<Vec<(String, f64)>> {
        self.inner.zrange(tag, name, offset, count, order).await
    }

    async fn zrank(
        &self,
        tag: &str,
        name: &str,
        member: &str,
        order: Order,
    ) -> StoreResult<Option<u64>> {
        self.inner.zrank(tag, name, member, order).await
    }

    async fn zscore(&self, tag: &str, name: &str, member: &str) -> StoreResult<Option<f64>> {
        self.inner.zscore(tag, name, member).await
    }

    async fn zcard(&self, tag: &str, name: &str) -> StoreResult<u64> {
        self.inner.zcard(tag, name).await
    }

    async fn board_page(
        &self,
        tag: &str,
        name: &str,
        offset: usize,
        count: usize,
    ) -> StoreResult<Vec<BoardEntry>> {
        self.inner.board_page(tag, name, offset, count).await
    }

    async fn board_totals(
        &self,
        tag: &str,
        name: &str,
        members: &[u64],
    ) -> StoreResult<Vec<Option<i64>>> {
        self.inner.board_totals(tag, name, members).await
    }

    async fn board_copy(&self, tag: &str, from: &str, to: &str, ttl: Duration) -> StoreResult<()> {
        self.inner.board_copy(tag, from, to, ttl).await
    }

    async fn apply_score(&self, apply: &ScoreApply) -> StoreResult<ScoreOutcome> {
        self.inner.apply_score(apply).await
    }

    async fn apply_score_guarded(
        &self,
        apply: &ScoreApply,
        guard: &Condition,
    ) -> StoreResult<GuardedScore> {
        run(&self.before_guarded_score).await;
        self.inner.apply_score_guarded(apply, guard).await
    }

    async fn record_claim(
        &self,
        tag: &str,
        name: &str,
        value: &[u8],
        ttl: Duration,
    ) -> StoreResult<Option<Vec<u8>>> {
        self.inner.record_claim(tag, name, value, ttl).await
    }

    async fn record_put(
        &self,
        tag: &str,
        name: &str,
        value: &[u8],
        ttl: Duration,
    ) -> StoreResult<()> {
        self.inner.record_put(tag, name, value, ttl).await
    }

    async fn record_swap(
        &self,
        tag: &str,
        name: &str,
        expected: &[u8],
        value: &[u8],
        ttl: Duration,
    ) -> StoreResult<bool> {
        self.inner.record_swap(tag, name, expected, value, ttl).await
    }

    async fn record_get(
        &self,
        tag: &str,
        name: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Vec<u8>>> {
        self.inner.record_get(tag, name, ttl).await
    }

    async fn schedule_job(&self, job: &Job) -> StoreResult<()> {
        self.inner.schedule_job(job).await
    }

    async fn cancel_job(&self, id: &str) -> StoreResult<bool> {
        self.inner.cancel_job(id).await
    }

    async fn claim_due_jobs(
        &self,
        now_ms: u64,
        limit: usize,
        ttr: Duration,
    ) -> StoreResult<Vec<ClaimedJob>> {
        self.inner.claim_due_jobs(now_ms, limit, ttr).await
    }

    async fn finish_job(&self, id: &str, lease: u64) -> StoreResult<bool> {
        self.inner.finish_job(id, lease).await
    }

    async fn bury_job(&self, id: &str, lease: u64, reason: &str, now_ms: u64) -> StoreResult<bool> {
        self.inner.bury_job(id, lease, reason, now_ms).await
    }

    async fn dead_jobs(&self, limit: usize) -> StoreResult<Vec<livepk_store::DeadJob>> {
        self.inner.dead_jobs(limit).await
    }

    async fn dead_job_count(&self) -> StoreResult<u64> {
        self.inner.dead_job_count().await
    }

    async fn next_job_due(&self) -> StoreResult<Option<u64>> {
        self.inner.next_job_due().await
    }

    async fn job_count(&self) -> StoreResult<u64> {
        self.inner.job_count().await
    }

    async fn relay_outbox(&self, tag: &str) -> StoreResult<usize> {
        self.inner.relay_outbox(tag).await
    }

    async fn outbox_tags(&self) -> StoreResult<Vec<String>> {
        self.inner.outbox_tags().await
    }

    async fn append_events(&self, payloads: &[Vec<u8>]) -> StoreResult<Vec<String>> {
        self.inner.append_events(payloads).await
    }

    async fn read_events(
        &self,
        after_id: &str,
        limit: usize,
        block: Option<Duration>,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.inner.read_events(after_id, limit, block).await
    }

    async fn last_event_id(&self) -> StoreResult<String> {
        self.inner.last_event_id().await
    }

    async fn first_event_id(&self) -> StoreResult<Option<String>> {
        self.inner.first_event_id().await
    }

    async fn publish(&self, channel: &str, message: &str) -> StoreResult<()> {
        self.inner.publish(channel, message).await
    }

    async fn subscribe(&self, channel: &str) -> StoreResult<BoxStream<'static, String>> {
        self.inner.subscribe(channel).await
    }
}
