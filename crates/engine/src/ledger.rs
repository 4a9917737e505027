//! The gift ledger: every confirmed gift enters here once, fans out to every feature whose PK
//! it may score in, and is counted at most once per PK however often the gateway retries.
//!
//! How "never twice" holds, also on Redis Cluster where one gift's PKs live on other shards:
//! 1. each feature ([`GiftConsumer`]) says which PKs the gift may score in, as
//!    [`livepk_store::ScoreApply`] steps (what to add, under that PK's hash tag);
//! 2. the gift's record is claimed under its own key: the first caller stores the list of
//!    steps ("pending"); a concurrent or later caller finds it and uses that same list;
//! 3. each step applies atomically with the gift's txn id inside the PK's tag, so applying a
//!    step twice changes nothing the second time (it answers "duplicate" with the first values);
//! 4. the record is then marked "done" with the outcome.
//!
//! A retry after a crash anywhere in 2-4 finds the pending record and completes what is
//! missing; a retry after 4 answers `duplicate` with the first call's outcome without touching
//! any PK.
//!
//! A feature may answer step 1 from a cache of its own ([`Lookup::Cached`]): which PK an
//! anchor is in changes rarely, and reading it costs round trips on every gift. A cached
//! answer can only be stale in the safe direction — the stale PK's window (checked by the
//! gift's own time in step 3) is closed or does not cover the gift — so when a cached step
//! comes back outside, the ledger asks again with [`Lookup::Fresh`] and applies what that
//! adds (the steps stay marked cached in the record, so a retry does the same).
//!
//! Every call of a gift sees its steps answer alike (each PK records its first answer to a
//! gift — counted, with the values, or outside its window — and repeats it), so on the plain
//! path they all write the same outcome. When a cached step was
//! outside, though, calls that ask again at different moments may get different answers; from
//! there the record only moves by compare-and-set ([`livepk_store::Store::record_swap`]), and a
//! call that loses the race follows the record instead of overwriting it.
//!
//! A mode whose gift (or payment) must cause a transition, not only move a score (an interactive
//! show's payment accepts the show), does it in [`GiftConsumer::after_scored`]: the ledger calls
//! it for every change of that mode, counted now or found counted by an earlier call, before it
//! marks the gift done. A call that fails there leaves the gift pending, so the retry runs the
//! hook again; the hook's transition must therefore check its state (as every transition does),
//! and it runs at least once per counted gift.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use livepk_core::{Gift, Mode};
use livepk_store::{ScoreApply, ScoreOutcome, Store};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, EngineResult};
use crate::events::{NotifyKey, ScoreCoalescer};
use crate::metrics::METRICS;

/// A mode that scores gifts (the engine's gift router implements it for every way a mode claims
/// a gift, see `crate::routing`).
#[async_trait]
pub trait GiftConsumer: Send + Sync {
    /// The mode.
    fn mode(&self) -> Mode;

    /// The battles of this mode that `gift` may score in, now. The store checks each battle's
    /// scoring window against the gift's own time, so a stale answer never counts a gift where
    /// it does not belong; with [`Lookup::Cached`] the mode may answer from a cache, and must
    /// then mark the targets [`ScoreTarget::cached`].
    async fn score_targets(&self, gift: &Gift, lookup: Lookup) -> EngineResult<Vec<ScoreTarget>>;

    /// Called for each change of this mode a call of `gift` found (counted now or before), before
    /// the gift is marked done: the hook for modes where a gift causes a transition. Must be
    /// idempotent (see the module documentation). Does nothing by default.
    async fn after_scored(&self, _gift: &Gift, _change: &ScoreChange) -> EngineResult<()> {
        Ok(())
    }
}

/// How fresh a [`GiftConsumer`]'s answer must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A cached answer will do (the ledger asks again if a cached target turns out stale).
    Cached,
    /// Read the current state (and refresh any cache).
    Fresh,
}

/// One PK a gift may score in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreTarget {
    /// The feature.
    pub mode: Mode,
    /// The anchor (or side) credited.
    pub receiver_id: u64,
    /// The credited side's name in the feature's words ("host", "guest", "red", ...).
    pub side: String,
    /// What the mode's score notifications are coalesced by: the battle side that moved.
    pub notify: NotifyKey,
    /// What to add, atomically with the txn id, under the PK's tag. By convention the first
    /// counter is the credited side's total and the first board the sender's total on it.
    pub apply: ScoreApply,
    /// Answered from the feature's cache: if it comes back outside its window, the ledger asks
    /// the feature again with [`Lookup::Fresh`]. Kept in the gift's pending record, so a retry
    /// after a failed first call asks again too.
    #[serde(default)]
    pub cached: bool,
}

/// What a gift changed in one PK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreChange {
    /// The feature.
    pub mode: Mode,
    /// The PK (its scoring window's epoch).
    pub pkid: u64,
    /// The anchor (or side) credited.
    pub receiver_id: u64,
    /// The credited side's name in the feature's words.
    pub side: String,
    /// The credited side's new total.
    pub side_total: i64,
    /// The sender's new total on that side's board.
    pub sender_total: i64,
}

impl ScoreChange {
    /// What `target` changed, from its PK's answer (by the [`ScoreTarget::apply`] convention,
    /// the first counter is the side's total and the first board the sender's).
    pub fn of(target: &ScoreTarget, epoch: u64, counters: &[i64], boards: &[i64]) -> Self {
        Self {
            mode: target.mode,
            pkid: epoch,
            receiver_id: target.receiver_id,
            side: target.side.clone(),
            side_total: counters.first().copied().unwrap_or_default(),
            sender_total: boards.first().copied().unwrap_or_default(),
        }
    }
}

/// The answer to one gift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftOutcome {
    /// True when this gift had been recorded before (by an earlier or concurrent call).
    pub duplicate: bool,
    /// Every PK score the gift changed (on a duplicate, what the first call changed).
    pub changes: Vec<ScoreChange>,
}

#[derive(Debug, Serialize, Deserialize)]
enum GiftRecord {
    /// Claimed; these steps are (being) applied.
    Pending { targets: Vec<ScoreTarget> },
    /// Every step applied; this is the outcome.
    Done { changes: Vec<ScoreChange> },
}

/// What a call found when the record had moved on under it.
enum Followed {
    /// Another call finished the gift: its outcome.
    Done(Vec<ScoreChange>),
    /// Another call added targets: the record as read, and its targets.
    Pending(Vec<u8>, Vec<ScoreTarget>),
}

/// How often one call follows a record that concurrent calls moved on before it gives up.
const MAX_RECORD_ROUNDS: usize = 8;

/// Tag under which a gift's record lives (its own slot: it is a single-key record).
fn record_tag(txn_id: &str) -> String {
    format!("gift:{txn_id}")
}

const RECORD_NAME: &str = "record";

/// Records gifts.
pub struct GiftLedger {
    store: Arc<dyn Store>,
    consumers: Vec<Arc<dyn GiftConsumer>>,
    coalescer: Arc<ScoreCoalescer>,
    record_ttl: Duration,
}

impl GiftLedger {
    /// A ledger feeding `consumers`; records are remembered for `record_ttl` (the window in
    /// which a retry is recognised as one).
    pub fn new(
        store: Arc<dyn Store>,
        consumers: Vec<Arc<dyn GiftConsumer>>,
        coalescer: Arc<ScoreCoalescer>,
        record_ttl: Duration,
    ) -> Self {
        Self { store, consumers, coalescer, record_ttl }
    }

    /// Records one gift (see the module documentation).
    pub async fn record(&self, gift: &Gift) -> EngineResult<GiftOutcome> {
        if let Err(error) = gift.validate() {
            METRICS.gifts.with_label_values(&["invalid"]).inc();
            return Err(error.into());
        }
        let tag = record_tag(&gift.gift_txn_id);
        // Resolve first, then claim with one SET NX GET: a new gift costs no extra read, and a
        // retry finds the record (done: answered from it; pending: its own list is finished).
        let targets = self.resolve(gift, Lookup::Cached).await?;
        let pending = encode(&GiftRecord::Pending { targets: targets.clone() })?;
        let (mut current, mut targets, duplicate) =
            match self.store.record_claim(&tag, RECORD_NAME, &pending, self.record_ttl).await? {
                None => (pending, targets, false),
                Some(existing) => match decode(&existing)? {
                    GiftRecord::Done { changes } => return Ok(self.duplicate(changes)),
                    GiftRecord::Pending { targets } => (existing, targets, true),
                },
            };

        let mut newly_counted = Vec::new();
        for _ in 0..MAX_RECORD_ROUNDS {
            let mut changes = Vec::with_capacity(targets.len());
            let stale = self.apply_all(&targets, &mut changes, &mut newly_counted).await?;
            if stale {
                // A cached target was outside its window: ask again, and apply what is new (a
                // PK already tried answers the same again, so it is not tried twice). Calls
                // whose fresh answers differ must not overwrite each other, so from here on the
                // record only moves by compare-and-set, and a call that loses follows it.
                let added: Vec<ScoreTarget> = self
                    .resolve(gift, Lookup::Fresh)
                    .await?
                    .into_iter()
                    .filter(|fresh| !targets.iter().any(|tried| tried.apply.tag == fresh.apply.tag))
                    .collect();
                if !added.is_empty() {
                    let mut extended = targets.clone();
                    extended.extend(added.iter().cloned());
                    let next = encode(&GiftRecord::Pending { targets: extended })?;
                    let swapped = self
                        .store
                        .record_swap(&tag, RECORD_NAME, &current, &next, self.record_ttl)
                        .await?;
                    if !swapped {
                        match self.follow(&tag).await? {
                            Followed::Done(changes) => {
                                return self.answer(gift, duplicate, changes, &newly_counted).await;
                            }
                            Followed::Pending(bytes, moved) => {
                                (current, targets) = (bytes, moved);
                                continue;
                            }
                        }
                    }
                    current = next;
                    self.apply_all(&added, &mut changes, &mut newly_counted).await?;
                }
            }
            self.run_hooks(gift, &changes).await?;
            let done = encode(&GiftRecord::Done { changes: changes.clone() })?;
            if !stale {
                // Every call of this gift sees the same targets answer the same (each PK
                // repeats its first answer), so they all write the same outcome: a plain write
                // will do.
                self.store.record_put(&tag, RECORD_NAME, &done, self.record_ttl).await?;
                return self.answer(gift, duplicate, changes, &newly_counted).await;
            }
            if self.store.record_swap(&tag, RECORD_NAME, &current, &done, self.record_ttl).await? {
                return self.answer(gift, duplicate, changes, &newly_counted).await;
            }
            match self.follow(&tag).await? {
                Followed::Done(changes) => {
                    return self.answer(gift, duplicate, changes, &newly_counted).await;
                }
                Followed::Pending(bytes, moved) => (current, targets) = (bytes, moved),
            }
        }
        Err(EngineError::unavailable(format!(
            "gift {} kept changing under concurrent calls; retry",
            gift.gift_txn_id
        )))
    }

    /// Reads a record another call moved on.
    async fn follow(&self, tag: &str) -> EngineResult<Followed> {
        match self.store.record_get(tag, RECORD_NAME).await? {
            Some(bytes) => match decode(&bytes)? {
                GiftRecord::Done { changes } => Ok(Followed::Done(changes)),
                GiftRecord::Pending { targets } => Ok(Followed::Pending(bytes, targets)),
            },
            None => {
                Err(EngineError::unavailable("gift record vanished while being written; retry"))
            }
        }
    }

    /// Runs the modes' [`GiftConsumer::after_scored`] hooks for `changes`.
    async fn run_hooks(&self, gift: &Gift, changes: &[ScoreChange]) -> EngineResult<()> {
        for change in changes {
            for consumer in self.consumers.iter().filter(|c| c.mode() == change.mode) {
                consumer.after_scored(gift, change).await?;
            }
        }
        Ok(())
    }

    /// Notifies what this call counted and answers. (A record marked done had its hooks run by
    /// the call that marked it.)
    async fn answer(
        &self,
        gift: &Gift,
        duplicate: bool,
        changes: Vec<ScoreChange>,
        newly_counted: &[NotifyKey],
    ) -> EngineResult<GiftOutcome> {
        // Score notifications are coalesced per battle side and built from the battle's state
        // when they are sent, so they always carry the latest totals.
        for key in newly_counted {
            self.coalescer.touch(*key, gift.sender.user_id.get()).await;
        }
        let outcome = if duplicate {
            "duplicate"
        } else if changes.is_empty() {
            "unscored"
        } else {
            "applied"
        };
        METRICS.gifts.with_label_values(&[outcome]).inc();
        Ok(GiftOutcome { duplicate, changes })
    }

    /// Every consumer's targets for `gift`.
    async fn resolve(&self, gift: &Gift, lookup: Lookup) -> EngineResult<Vec<ScoreTarget>> {
        let mut targets = Vec::new();
        for consumer in &self.consumers {
            targets.extend(consumer.score_targets(gift, lookup).await?);
        }
        Ok(targets)
    }

    /// Applies `targets` in order, adding what each changed to `changes` and the ones that
    /// counted now to `newly_counted`. True when a cached target was outside its window (the
    /// cache may be stale).
    async fn apply_all(
        &self,
        targets: &[ScoreTarget],
        changes: &mut Vec<ScoreChange>,
        newly_counted: &mut Vec<NotifyKey>,
    ) -> EngineResult<bool> {
        let mut stale = false;
        for target in targets {
            let (epoch, counters, boards, fresh) =
                match self.store.apply_score(&target.apply).await? {
                    ScoreOutcome::Applied { epoch, counters, boards } => {
                        (epoch, counters, boards, true)
                    }
                    ScoreOutcome::Duplicate { epoch, counters, boards } => {
                        (epoch, counters, boards, false)
                    }
                    ScoreOutcome::Outside => {
                        stale |= target.cached;
                        continue;
                    }
                };
            changes.push(ScoreChange::of(target, epoch, &counters, &boards));
            if fresh {
                newly_counted.push(target.notify);
            }
        }
        Ok(stale)
    }

    fn duplicate(&self, changes: Vec<ScoreChange>) -> GiftOutcome {
        METRICS.gifts.with_label_values(&["duplicate"]).inc();
        GiftOutcome { duplicate: true, changes }
    }
}

fn encode(record: &GiftRecord) -> EngineResult<Vec<u8>> {
    serde_json::to_vec(record).map_err(EngineError::corrupt)
}

fn decode(bytes: &[u8]) -> EngineResult<GiftRecord> {
    serde_json::from_slice(bytes).map_err(EngineError::corrupt)
}
