//! Everything livepk keeps in Redis, behind one trait.
//!
//! Invariant: **only this crate knows Redis keys, commands and scripts.** Features describe what
//! they want in the vocabulary below (versioned aggregates, transactions within one hash tag,
//! leaderboards, scoring windows, idempotency records, delay-queue jobs, an event stream); the
//! [`RedisStore`] and the [`MemoryStore`] both implement it with the same semantics, and one
//! conformance suite (`tests/conformance/`) runs against both so they cannot drift.
//!
//! Keys are `{prefix}:{tag}:{name}`: every key a multi-key step touches is built from the same
//! `tag`, which Redis Cluster hashes (the part in braces), so every script runs on one shard.

mod codec;
mod keys;
mod memory;
mod redis_store;

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

pub use keys::Keyspace;
pub use memory::MemoryStore;
pub use redis_store::RedisStore;

/// What can go wrong talking to the store. Anything else (a lost race, a missing record) is an
/// ordinary return value, not an error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis cannot be reached or answered with an error; the operation did not happen, or
    /// happened atomically and may be retried (every write here is idempotent or versioned).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A value in the store could not be decoded: a bug or a foreign writer.
    #[error("corrupt data in store: {0}")]
    Corrupt(String),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// A value with the version it was read at. Versions start at 1 on the first write; 0 means
/// "absent" in conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// Incremented by every write of the aggregate.
    pub version: u64,
    /// The encoded aggregate (features choose the encoding).
    pub value: Vec<u8>,
}

/// A condition a [`Transaction`] checks before it writes anything (and a guarded gift before it
/// counts, see [`Store::apply_score_guarded`]). Serializable so that a gift's pending record can
/// remember the guard of each step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Condition {
    /// The aggregate `name` is at `version` (0: it does not exist).
    Version { name: String, version: u64 },
}

/// One write inside a [`Transaction`]. Names are relative to the transaction's tag.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Writes aggregate `name`, incrementing its version.
    Put { name: String, value: Vec<u8>, ttl: Option<Duration> },
    /// Deletes aggregate `name` (its version goes back to 0).
    Delete { name: String },
    /// Adds or moves `member` in sorted set `name` to `score`.
    ZAdd { name: String, member: String, score: f64, ttl: Option<Duration> },
    /// Removes `member` from sorted set `name`.
    ZRem { name: String, member: String },
    /// Sets fields of hash `name`.
    HSet { name: String, fields: Vec<(String, String)>, ttl: Option<Duration> },
    /// Deletes key `name` whatever it holds (a hash, a sorted set, a leaderboard's parts).
    DeleteKey { name: String },
    /// Deletes leaderboard `name` with all its parts.
    DeleteBoard { name: String },
    /// Sets aside the gift answers [`Store::apply_score`] recorded under the tag (counted or
    /// outside) as the previous battle's, replacing the ones set aside before (when the tag has
    /// no answers, those are kept). For a tag that holds one battle after another, when a
    /// battle's scores are reset or dropped: otherwise its record of txn ids would only ever
    /// grow. The previous battle's answers are still consulted, so a retry of a gift of the
    /// battle just ended answers as before even if clocks skewed its send time into the new
    /// window; answers of battles before that are forgotten (such a gift is judged by the
    /// window in place, which it was sent long before). Goes with deleting the tag's boards (as
    /// a battle's reset does): the gift script gives the records their life together with a
    /// board's first arrival, and the set-aside ones keep theirs (DESIGN.md "ScoreApply").
    RotateScoreRecords,
    /// Queues events in the tag's outbox, to be moved to the event stream by
    /// [`Store::relay_outbox`]. Being in the same transaction as the state change, an event
    /// can be delayed by a crash but never lost nor emitted for a change that did not happen.
    Outbox { events: Vec<Vec<u8>> },
}

/// A set of conditions and writes applied atomically to keys of one hash tag: either every
/// condition holds and every op is applied, or nothing is written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transaction {
    /// The hash tag shared by every key (for example `lc:42`).
    pub tag: String,
    /// Checked first, all of them.
    pub conditions: Vec<Condition>,
    /// Applied in order when every condition holds.
    pub ops: Vec<Op>,
}

impl Transaction {
    /// An empty transaction on `tag`.
    pub fn new(tag: impl Into<String>) -> Self {
        Self { tag: tag.into(), conditions: Vec::new(), ops: Vec::new() }
    }

    /// Requires aggregate `name` to be at `version` (0: absent).
    pub fn expect_version(mut self, name: impl Into<String>, version: u64) -> Self {
        self.conditions.push(Condition::Version { name: name.into(), version });
        self
    }

    /// Adds one write.
    pub fn op(mut self, op: Op) -> Self {
        self.ops.push(op);
        self
    }
}

/// What a [`Store::commit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Every op was applied.
    Committed,
    /// A condition failed; nothing was written. `name` is the first aggregate whose version
    /// differed and `actual` its version now.
    Conflict { name: String, actual: u64 },
}

/// Which way a sorted set is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Lowest score first.
    Ascending,
    /// Highest score first.
    Descending,
}

/// One row of a leaderboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardEntry {
    /// Who (a user or anchor id).
    pub member: u64,
    /// Their exact total.
    pub total: i64,
}

/// The largest total a counter or leaderboard entry may reach, either way (2^53 - 1): Redis
/// keeps leaderboard totals as doubles and its scripts compute in doubles, both exact for
/// integers up to here. [`Store::apply_score`] refuses ([`ScoreRefusal::ScoreLimit`]), before
/// writing anything, a gift that would take a total past it.
pub const MAX_SCORE: i64 = (1 << 53) - 1;

/// A gift's contribution to one PK, applied atomically with its idempotency record inside the
/// PK's hash tag (the gift hot path). Serializable so that a gift's pending record can remember
/// exactly what it still has to apply after a crash.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoreApply {
    /// The PK's hash tag.
    pub tag: String,
    /// The gift's idempotency key. Applied at most once per tag.
    pub txn_id: String,
    /// Hash holding the scoring window (see [`ScoringWindow`]).
    pub window: String,
    /// The gift's own time: it counts only if `from_ms <= sent_at_ms < until_ms` and the window
    /// is open.
    pub sent_at_ms: u64,
    /// Hash counters to increment: (hash name, field, delta).
    pub counters: Vec<(String, String, i64)>,
    /// Leaderboards to add to: (board name, member, delta).
    pub boards: Vec<(String, u64, i64)>,
    /// Hash fields written when the gift counts: (hash name, field, value) — for example the
    /// sender's profile that the leaderboard shows. Not written for a duplicate or an
    /// outside gift.
    pub fields: Vec<(String, String, String)>,
    /// How long the PK's keys live: given to a key when a gift creates it, and renewed now and
    /// then while gifts keep arriving (DESIGN.md "ScoreApply"), not necessarily on every gift.
    pub ttl: Duration,
    /// A 64-bit digest of what the gift is (`livepk_core::Gift::fingerprint`), kept with the
    /// answer recorded for its txn id: the same txn id with another fingerprint is refused
    /// ([`ScoreRefusal::TxnReused`]) rather than answered as a duplicate. 0: none (not checked).
    #[serde(default)]
    pub fingerprint: u64,
}

/// A PK's scoring window as stored in its hash. Written by features with [`Op::HSet`] using
/// [`ScoringWindow::fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoringWindow {
    /// Whether gifts count at all (closed at settlement, whatever the times say).
    pub open: bool,
    /// First millisecond that counts.
    pub from_ms: u64,
    /// First millisecond that no longer counts.
    pub until_ms: u64,
    /// Which battle the window belongs to (the pkid), reported back with each applied gift.
    pub epoch: u64,
}

impl ScoringWindow {
    /// The hash fields that encode this window.
    pub fn fields(&self) -> Vec<(String, String)> {
        vec![
            ("open".into(), if self.open { "1" } else { "0" }.into()),
            ("from".into(), self.from_ms.to_string()),
            ("until".into(), self.until_ms.to_string()),
            ("epoch".into(), self.epoch.to_string()),
        ]
    }
}

/// What a [`ScoreApply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScoreOutcome {
    /// The gift counted now. `counters` are the new counter values in request order, `boards`
    /// the members' new board totals in request order.
    Applied { epoch: u64, counters: Vec<i64>, boards: Vec<i64> },
    /// The gift had counted before (same txn id, same tag); nothing changed. Values are those
    /// recorded when it first counted.
    Duplicate { epoch: u64, counters: Vec<i64>, boards: Vec<i64> },
    /// The window was closed, absent, or the gift's time fell outside it (now, or when this txn
    /// was first applied: the answer is recorded and final); no score changed.
    Outside,
    /// The gift was refused; nothing was written (and nothing recorded for its txn id).
    Refused(ScoreRefusal),
}

/// Why a [`ScoreApply`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreRefusal {
    /// A counter or board total would pass [`MAX_SCORE`] (or its delta is beyond it).
    ScoreLimit,
    /// The txn id was answered before for a gift with another fingerprint: the caller reused
    /// an id for a different gift.
    TxnReused,
}

/// A record: its tag, its name and how long it lives.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    pub tag: &'a str,
    pub name: &'a str,
    pub ttl: Duration,
}

/// What a [`Store::claim_and_score`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimedScore {
    /// The record was there (its value); nothing was done.
    Existing(Vec<u8>),
    /// The record was created and the step applied: its outcome.
    Claimed(ScoreOutcome),
    /// The record was created (pending) and the step's guard did not hold: nothing else was
    /// written ([`GuardedScore::Moved`]).
    Moved,
}

/// A PK's answer to a gift that counted, as a text: `<epoch>|<counters>|<boards>`, each list
/// comma-separated (what [`Store::claim_and_score`] appends to a done record's head).
pub fn score_answer(epoch: u64, counters: &[i64], boards: &[i64]) -> String {
    let list = |values: &[i64]| values.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    format!("{epoch}|{}|{}", list(counters), list(boards))
}

/// Reads a [`score_answer`] back: (epoch, counters, boards). A fourth part (the guard version
/// a guarded step counted under) is allowed and left out.
pub fn parse_score_answer(answer: &str) -> StoreResult<(u64, Vec<i64>, Vec<i64>)> {
    codec::decode_score_record(answer)
}

/// [`Store::claim_and_score`] as three calls: claim, apply, and mark done.
pub async fn claim_and_score_in_steps<S: Store + ?Sized>(
    store: &S,
    record: RecordRef<'_>,
    pending: &[u8],
    done_head: &[u8],
    apply: &ScoreApply,
    guard: Option<&Condition>,
) -> StoreResult<ClaimedScore> {
    let RecordRef { tag, name, ttl } = record;
    if let Some(existing) = store.record_claim(tag, name, pending, ttl).await? {
        return Ok(ClaimedScore::Existing(existing));
    }
    let outcome = match guard {
        None => store.apply_score(apply).await?,
        Some(guard) => match store.apply_score_guarded(apply, guard).await? {
            GuardedScore::Judged(outcome) => outcome,
            GuardedScore::Moved => return Ok(ClaimedScore::Moved),
        },
    };
    if let ScoreOutcome::Applied { epoch, counters, boards }
    | ScoreOutcome::Duplicate { epoch, counters, boards } = &outcome
    {
        let mut done = done_head.to_vec();
        done.extend_from_slice(score_answer(*epoch, counters, boards).as_bytes());
        store.record_put(tag, name, &done, ttl).await?;
    }
    Ok(ClaimedScore::Claimed(outcome))
}

/// What a [`Store::apply_score_guarded`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardedScore {
    /// The guard held (or the gift's answer was already final): the answer, as
    /// [`Store::apply_score`] gives it.
    Judged(ScoreOutcome),
    /// The guard did not hold, or the gift had counted under another guard: nothing was written
    /// and nothing recorded for this txn id. The caller looks again at what decides the gift
    /// (where the guard's aggregate says it belongs now) and applies that.
    Moved,
}

/// A deadline in the delay queue (seed 004 §五).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Unique id chosen by the feature; scheduling the same id again replaces the job.
    pub id: String,
    /// Which handler runs it.
    pub topic: String,
    /// When it becomes due (ms since epoch).
    pub due_ms: u64,
    /// The handler's input (features encode their own; it should carry the aggregate version
    /// or phase it was scheduled for, so a re-delivered or stale job does nothing).
    pub body: Vec<u8>,
}

/// A job handed to one poller. Until [`Store::finish_job`] is called with its lease, it is
/// re-delivered after the TTR given to [`Store::claim_due_jobs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The job as scheduled.
    pub job: Job,
    /// 1 on the first delivery, 2 on the first re-delivery, ...
    pub attempt: u32,
    /// Proof of this claim; a stale claimer's finish does nothing.
    pub lease: u64,
}

/// A job the delay queue gave up on ([`Store::bury_job`]): kept for operators, never run again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadJob {
    /// The job as it was last scheduled.
    pub job: Job,
    /// How many times it was delivered.
    pub attempts: u32,
    /// Why it was given up (the last failure).
    pub reason: String,
    /// When it was given up (ms since epoch, the caller's clock).
    pub buried_at_ms: u64,
}

/// One entry of the event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Stream id, `<ms>-<seq>`; strictly increasing.
    pub id: String,
    /// The encoded event.
    pub payload: Vec<u8>,
}

/// The storage API every feature uses. See the crate documentation.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Round trip to the backend; fails when it is unreachable (drives the health status).
    async fn ping(&self) -> StoreResult<()>;

    /// Human-readable kind of backend, for logs and health details ("redis", "memory").
    fn backend(&self) -> &'static str;

    // ---- aggregates and transactions -------------------------------------------------------

    /// Reads aggregate `name` of `tag`.
    async fn get(&self, tag: &str, name: &str) -> StoreResult<Option<Versioned>>;

    /// Reads several aggregates (possibly of different tags) in one round trip.
    async fn get_many(&self, keys: &[(&str, &str)]) -> StoreResult<Vec<Option<Versioned>>>;

    /// Applies a transaction atomically (see [`Transaction`]).
    async fn commit(&self, transaction: Transaction) -> StoreResult<CommitOutcome>;

    /// Next value of counter `name` of `tag`, starting at 1. Never returns the same value twice.
    async fn next_id(&self, tag: &str, name: &str) -> StoreResult<u64>;

    /// [`Store::next_id`], but above `floor`: when the counter is at or below it (reset by a
    /// data loss, or an embedded store restarted over a persistent SQL database), it moves to
    /// `floor` first, atomically. Ids the caller knows were used (the largest in SQL) are so
    /// never handed out again. `floor` must be below 2^53.
    async fn next_id_above(&self, tag: &str, name: &str, floor: u64) -> StoreResult<u64>;

    // ---- plain hashes and sorted sets ------------------------------------------------------

    /// All fields of hash `name` of `tag` (empty when absent).
    async fn hash_get_all(&self, tag: &str, name: &str) -> StoreResult<Vec<(String, String)>>;

    /// The values of `fields` of hash `name` of `tag`, in order (`None` where absent).
    async fn hash_get_fields(
        &self,
        tag: &str,
        name: &str,
        fields: &[String],
    ) -> StoreResult<Vec<Option<String>>>;

    /// A page of sorted set `name` of `tag`: `count` members from rank `offset`, with scores.
    /// Equal scores are ordered by member (bytewise), reversed for [`Order::Descending`].
    async fn zrange(
        &self,
        tag: &str,
        name: &str,
        offset: usize,
        count: usize,
        order: Order,
    ) -> StoreResult<Vec<(String, f64)>>;

    /// The rank (0-based) of `member` in sorted set `name` of `tag`, counted in `order`.
    async fn zrank(
        &self,
        tag: &str,
        name: &str,
        member: &str,
        order: Order,
    ) -> StoreResult<Option<u64>>;

    /// The score of `member` in sorted set `name` of `tag`.
    async fn zscore(&self, tag: &str, name: &str, member: &str) -> StoreResult<Option<f64>>;

    /// How many members sorted set `name` of `tag` has.
    async fn zcard(&self, tag: &str, name: &str) -> StoreResult<u64>;

    // ---- leaderboards (totals, ties broken by first arrival) --------------------------------

    /// A page of leaderboard `name` of `tag`, highest total first; among equal totals whoever
    /// reached the total first ranks higher (seed 004 §周星榜 2).
    async fn board_page(
        &self,
        tag: &str,
        name: &str,
        offset: usize,
        count: usize,
    ) -> StoreResult<Vec<BoardEntry>>;

    /// `member`'s total on leaderboard `name` of `tag`.
    async fn board_total(&self, tag: &str, name: &str, member: u64) -> StoreResult<Option<i64>> {
        Ok(self.board_totals(tag, name, &[member]).await?.into_iter().next().flatten())
    }

    /// Each of `members`' totals on leaderboard `name` of `tag`, in order, read at one moment
    /// (one round trip): what a score notification lists for the gifters who just gave.
    async fn board_totals(
        &self,
        tag: &str,
        name: &str,
        members: &[u64],
    ) -> StoreResult<Vec<Option<i64>>>;

    /// Copies leaderboard `from` onto `to` within one tag, keeping ties in the same order
    /// (used when a battle continues under a new number).
    async fn board_copy(&self, tag: &str, from: &str, to: &str, ttl: Duration) -> StoreResult<()>;

    // ---- gift hot path ---------------------------------------------------------------------

    /// Applies one gift to one PK, once per `txn_id` (see [`ScoreApply`]).
    async fn apply_score(&self, apply: &ScoreApply) -> StoreResult<ScoreOutcome>;

    /// [`Store::apply_score`] for a gift whose credit depends on an aggregate of the PK's tag
    /// (RoomPk: the receiver's seat decides the team): it counts only if `guard` (an aggregate
    /// of `apply.tag` at a version) holds when the script runs, checked atomically with the
    /// count, after the window; otherwise [`GuardedScore::Moved`] and nothing is written. A gift
    /// counted before answers `Duplicate` only to the guard it counted under (the record keeps
    /// the guard's version), and `Moved` to any other: so whoever builds an answer from the
    /// step's credit builds it from the credit that counted. An outside answer is final
    /// whatever the guard.
    async fn apply_score_guarded(
        &self,
        apply: &ScoreApply,
        guard: &Condition,
    ) -> StoreResult<GuardedScore>;

    // ---- idempotency records ---------------------------------------------------------------
    //
    // A record lives at least its `ttl` after its latest write (a store may keep it longer:
    // one Redis keeps the done records of `claim_and_score` in buckets by time slot, up to
    // twice the `ttl`). Every call on a record `claim_and_score` created names the `ttl` it
    // was created with: that is where one Redis looks for it.

    /// Creates record `name` of `tag` if absent. Returns `None` when this call created it, or
    /// the value already there.
    async fn record_claim(
        &self,
        tag: &str,
        name: &str,
        value: &[u8],
        ttl: Duration,
    ) -> StoreResult<Option<Vec<u8>>>;

    /// Overwrites record `name` of `tag`.
    async fn record_put(
        &self,
        tag: &str,
        name: &str,
        value: &[u8],
        ttl: Duration,
    ) -> StoreResult<()>;

    /// Replaces record `name` of `tag` with `value` only if it still holds `expected`
    /// (compare-and-set); true when it did.
    async fn record_swap(
        &self,
        tag: &str,
        name: &str,
        expected: &[u8],
        value: &[u8],
        ttl: Duration,
    ) -> StoreResult<bool>;

    /// Reads record `name` of `tag` (written with `ttl`).
    async fn record_get(
        &self,
        tag: &str,
        name: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Vec<u8>>>;

    /// A gift's record and its one step at once: when record `name` of `tag` exists, answers
    /// [`ClaimedScore::Existing`] with its value and does nothing else; otherwise creates it,
    /// applies `apply` (as [`Store::apply_score`], or [`Store::apply_score_guarded`] with
    /// `guard`) and leaves the record holding `done_head` followed by the PK's answer
    /// ([`score_answer`] of its values) when the step counted now or before, or `pending` after
    /// any other outcome. What [`Store::record_claim`], [`Store::apply_score`] and
    /// [`Store::record_put`] do one after the other, and by default how it is done; one Redis
    /// (not a cluster, where the record and the PK are on different nodes) does it in one
    /// script, so atomically and in one round trip — and then a step it counts leaves no answer
    /// in the PK (the record, written in the same step, is the gift's only trace): a later
    /// [`Store::apply_score`] of the same txn id there is judged anew, where the steps' way
    /// answers `Duplicate`. The ledger never applies a step of a gift whose record it did not
    /// find, within the record's ttl.
    async fn claim_and_score(
        &self,
        record: RecordRef<'_>,
        pending: &[u8],
        done_head: &[u8],
        apply: &ScoreApply,
        guard: Option<&Condition>,
    ) -> StoreResult<ClaimedScore> {
        claim_and_score_in_steps(self, record, pending, done_head, apply, guard).await
    }

    // ---- delay queue -----------------------------------------------------------------------

    /// Schedules `job`, replacing a job with the same id (its due time, body and attempts).
    async fn schedule_job(&self, job: &Job) -> StoreResult<()>;

    /// Removes job `id`. Returns whether it existed.
    async fn cancel_job(&self, id: &str) -> StoreResult<bool>;

    /// Claims up to `limit` jobs due at `now_ms` (including claimed jobs whose TTR ran out).
    /// Each claimed job is hidden until `now_ms + ttr` and then delivered again unless
    /// finished. Two pollers never claim the same delivery.
    async fn claim_due_jobs(
        &self,
        now_ms: u64,
        limit: usize,
        ttr: Duration,
    ) -> StoreResult<Vec<ClaimedJob>>;

    /// Completes a claimed job: removes it if `lease` is still the current claim (a job that
    /// was re-scheduled or re-claimed meanwhile stays). Returns whether it removed it.
    async fn finish_job(&self, id: &str, lease: u64) -> StoreResult<bool>;

    /// Gives up a claimed job that can never succeed: if `lease` is still the current claim,
    /// moves it from the queue to the dead letters (with `reason` and `now_ms`), where it is
    /// never delivered again. Each bucket keeps its newest
    /// [`StoreOptions::dead_jobs_per_bucket`]. Returns whether it moved it.
    async fn bury_job(&self, id: &str, lease: u64, reason: &str, now_ms: u64) -> StoreResult<bool>;

    /// Up to `limit` dead-lettered jobs, the most recently given up first.
    async fn dead_jobs(&self, limit: usize) -> StoreResult<Vec<DeadJob>>;

    /// How many dead-lettered jobs are kept.
    async fn dead_job_count(&self) -> StoreResult<u64>;

    /// Due time of the earliest job (claimed ones at their re-delivery time), if any.
    async fn next_job_due(&self) -> StoreResult<Option<u64>>;

    /// Number of jobs scheduled or claimed.
    async fn job_count(&self) -> StoreResult<u64>;

    // ---- event stream ----------------------------------------------------------------------

    /// Moves the events queued in `tag`'s outbox to the stream, in order, each exactly once
    /// even when several callers relay the same outbox concurrently or a relay is retried.
    /// Returns how many it appended.
    async fn relay_outbox(&self, tag: &str) -> StoreResult<usize>;

    /// Tags whose outbox holds events (for the sweeper that finishes relays a crash
    /// interrupted).
    async fn outbox_tags(&self) -> StoreResult<Vec<String>>;

    /// Appends events straight to the stream (for coalesced score updates, which are not
    /// part of a state change). Returns their ids.
    async fn append_events(&self, payloads: &[Vec<u8>]) -> StoreResult<Vec<String>>;

    /// Up to `limit` events after `after_id` ("0": from the oldest retained), oldest first.
    /// When `block` is given and nothing is there yet, waits up to that long for one.
    async fn read_events(
        &self,
        after_id: &str,
        limit: usize,
        block: Option<Duration>,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// Id of the newest event ("0-0" when the stream is empty).
    async fn last_event_id(&self) -> StoreResult<String>;

    /// Id of the oldest retained event, if any (a reader behind it has missed events).
    async fn first_event_id(&self) -> StoreResult<Option<String>>;

    // ---- pub/sub ---------------------------------------------------------------------------

    /// Publishes `message` on `channel` to every replica.
    async fn publish(&self, channel: &str, message: &str) -> StoreResult<()>;

    /// Messages published on `channel` from now on. The stream ends when the connection is
    /// lost; callers resubscribe.
    async fn subscribe(&self, channel: &str) -> StoreResult<BoxStream<'static, String>>;

    // ---- clock -----------------------------------------------------------------------------

    /// The store's own clock (ms since the epoch): the one reference every replica measures its
    /// clock against (Redis `TIME`). `None` for a store that has no clock of its own (the
    /// in-process store: the process's clock is the reference, offset 0). Times stored still
    /// come from callers; this is only for that measurement. The default (for wrappers in
    /// tests) is `None`.
    async fn server_time(&self) -> StoreResult<Option<u64>> {
        Ok(None)
    }
}

/// Limits shared by both implementations.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How many events the stream keeps (older ones are trimmed, approximately).
    pub event_retention: usize,
    /// How many buckets the delay queue spreads jobs over (seed 004 uses 3).
    pub job_buckets: usize,
    /// How many gift answers a tag's `txns` holds before it is set aside as `txns:prev`
    /// (replacing the answers set aside before): a tag answers at most twice this many txn ids
    /// (DESIGN.md "ScoreApply").
    pub score_records_per_battle: usize,
    /// How many dead-lettered jobs each delay-queue bucket keeps (the oldest go first).
    pub dead_jobs_per_bucket: usize,
    /// Redis only: how many replicas must have a write before it is answered (`WAIT`, sent in
    /// the same round trip as the write, to the same node). 0: answered once the primary has
    /// it (Redis's asynchronous replication: a crash of the primary before its replica got the
    /// write loses it). When fewer replicas acknowledge it within [`StoreOptions::replica_wait`],
    /// the call fails [`StoreError::Unavailable`]: the write may or may not survive a failover,
    /// and the caller's retry (every write here is idempotent or versioned) makes sure of it.
    pub min_replicas: u32,
    /// How long a write waits for [`StoreOptions::min_replicas`] acknowledgements.
    pub replica_wait: std::time::Duration,
    /// One Redis only: how many bucket hashes (per time slot of a record's ttl) keep the done
    /// records [`Store::claim_and_score`] leaves (DESIGN.md "Idempotency records"). Every
    /// replica must use the same number: a record is looked for in the bucket it names.
    pub record_buckets: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            event_retention: 100_000,
            job_buckets: 3,
            score_records_per_battle: 50_000,
            dead_jobs_per_bucket: 1_000,
            min_replicas: 0,
            replica_wait: std::time::Duration::from_millis(1_000),
            record_buckets: 8_192,
        }
    }
}
