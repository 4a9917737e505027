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
//! A step may carry a guard ([`GuardedTarget`]): its credit was decided on state that can change
//! between the look-up and the count (RoomPk: the seat the receiver holds decides the team), so
//! the step counts only while that state is still as read — checked by the step's own script
//! ([`livepk_store::Store::apply_score_guarded`]). When it is not, nothing was written: the
//! ledger looks again with [`Lookup::Fresh`], puts what it finds in the step's place in the
//! record (by compare-and-set, as above) and applies the record again. A step counted under one
//! guard answers "moved" to any other, so a call holding an outdated step never builds its
//! answer from a credit that did not count: it follows the record instead.
//!
//! A mode whose gift must cause a transition, not only move a score, does it in
//! [`GiftConsumer::after_scored`] (no mode needs it yet: InteractiveShow's payments come through
//! its own `ReportPayment`, idempotent on the payment's transaction id): the ledger calls
//! it for every change of that mode, counted now or found counted by an earlier call, before it
//! marks the gift done. A call that fails there leaves the gift pending, so the retry runs the
//! hook again; the hook's transition must therefore check its state (as every transition does),
//! and it runs at least once per counted gift.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use livepk_core::{Gift, GiftTxnReused, InvalidArgument, Mode};
use livepk_store::{
    ClaimedScore, Condition, GuardedScore, MAX_SCORE, RecordRef, ScoreApply, ScoreOutcome,
    ScoreRefusal, Store,
};
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

    /// [`GiftConsumer::score_targets`] with the guard each target's credit was decided under
    /// (see [`GuardedTarget`]); what the ledger asks. By default the targets, unguarded.
    async fn guarded_targets(
        &self,
        gift: &Gift,
        lookup: Lookup,
    ) -> EngineResult<Vec<GuardedTarget>> {
        let targets = self.score_targets(gift, lookup).await?;
        Ok(targets.into_iter().map(GuardedTarget::unguarded).collect())
    }

    /// Called for each change of this mode a call of `gift` found (counted now or before), before
    /// the gift is marked done: the hook for modes where a gift causes a transition. Must be
    /// idempotent (see the module documentation). Does nothing by default; a consumer that
    /// overrides it must say so with [`GiftConsumer::has_after_scored`].
    async fn after_scored(&self, _gift: &Gift, _change: &ScoreChange) -> EngineResult<()> {
        Ok(())
    }

    /// Whether [`GiftConsumer::after_scored`] does anything. A gift of a mode without the hook is
    /// claimed, counted and marked done in one store call, and the hook is never called for it:
    /// no default, so that every consumer says which it is.
    fn has_after_scored(&self) -> bool;
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

/// A [`ScoreTarget`] and, when its credit depends on state that can change before the count,
/// the guard it was decided under: an aggregate of the PK's tag at the version read (RoomPk: the
/// room's seats). The step then counts only while the aggregate is still at that version; else
/// the ledger looks again (see the module documentation). Kept in the gift's pending record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardedTarget {
    /// The step.
    #[serde(flatten)]
    pub target: ScoreTarget,
    /// The guard (`None`: counts whatever changed since the look-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<Condition>,
}

impl GuardedTarget {
    /// `target` without a guard.
    pub fn unguarded(target: ScoreTarget) -> Self {
        Self { target, guard: None }
    }

    fn tag(&self) -> &str {
        &self.target.apply.tag
    }
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
    Pending {
        targets: Vec<GuardedTarget>,
        /// [`Gift::fingerprint`] of the gift that claimed the txn id (0 in older records: not
        /// checked).
        #[serde(default)]
        fingerprint: u64,
    },
    /// Every step applied; this is the outcome.
    Done {
        changes: Vec<ScoreChange>,
        /// As in `Pending`.
        #[serde(default)]
        fingerprint: u64,
    },
}

impl GiftRecord {
    /// Refuses a record of another gift under this txn id (issue 12 item 2): the gateway reused
    /// the id, and answering "duplicate" would lose the second gift silently.
    fn check_same_gift(&self, gift: &Gift) -> EngineResult<()> {
        let (GiftRecord::Pending { fingerprint, .. } | GiftRecord::Done { fingerprint, .. }) = self;
        if *fingerprint != 0 && *fingerprint != gift.fingerprint() {
            METRICS.gifts.with_label_values(&["reused_txn_id"]).inc();
            return Err(EngineError::business(GiftTxnReused {
                gift_txn_id: gift.gift_txn_id.clone(),
            }));
        }
        Ok(())
    }
}

/// What a call found when the record had moved on under it.
enum Followed {
    /// Another call finished the gift: its outcome.
    Done(Vec<ScoreChange>),
    /// Another call added or replaced targets: the record as read, and its targets.
    Pending(Vec<u8>, Vec<GuardedTarget>),
}

/// What applying a list of steps found besides the changes.
#[derive(Debug, Default)]
struct Applied {
    /// A cached step was outside its window (the cache may be stale).
    stale: bool,
    /// The tags of the guarded steps whose guard no longer held (nothing written there).
    moved: Vec<String>,
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
        let fingerprint = gift.fingerprint();
        let pending = encode(&GiftRecord::Pending { targets: targets.clone(), fingerprint })?;
        let claimed = match self.single_step(&targets) {
            // The usual gift (one PK, no hook): claim, apply and mark done at once (one round
            // trip on one Redis).
            Some(only) => {
                let head = done_codec::one_head(&only.target, fingerprint);
                let record = RecordRef { tag: &tag, name: RECORD_NAME, ttl: self.record_ttl };
                let (apply, guard) = (&only.target.apply, only.guard.as_ref());
                match self.store.claim_and_score(record, &pending, &head, apply, guard).await? {
                    ClaimedScore::Existing(existing) => Some(existing),
                    ClaimedScore::Claimed(ScoreOutcome::Applied { epoch, counters, boards }) => {
                        let change = ScoreChange::of(&only.target, epoch, &counters, &boards);
                        return self.answer(gift, false, vec![change], &[only.target.notify]).await;
                    }
                    // Counted before, by a call whose record has expired since.
                    ClaimedScore::Claimed(ScoreOutcome::Duplicate { epoch, counters, boards }) => {
                        let change = ScoreChange::of(&only.target, epoch, &counters, &boards);
                        return self.answer(gift, false, vec![change], &[]).await;
                    }
                    // Outside (the record stays pending; a cached step is looked up again),
                    // refused, or its guard no longer held (nothing written but the pending
                    // record): the general path below applies the step again, which repeats
                    // the PK's answer (or finds it moved and looks again), and goes on from
                    // there.
                    ClaimedScore::Claimed(_) | ClaimedScore::Moved => None,
                }
            }
            None => self.store.record_claim(&tag, RECORD_NAME, &pending, self.record_ttl).await?,
        };
        let (mut current, mut targets, duplicate) = match claimed {
            None => (pending, targets, false),
            Some(existing) => {
                let record = decode(&existing)?;
                record.check_same_gift(gift)?;
                match record {
                    GiftRecord::Done { changes, .. } => return Ok(self.duplicate(changes)),
                    GiftRecord::Pending { targets, .. } => (existing, targets, true),
                }
            }
        };

        let mut newly_counted = Vec::new();
        for _ in 0..MAX_RECORD_ROUNDS {
            let mut changes = Vec::with_capacity(targets.len());
            let applied = self.apply_all(&targets, &mut changes, &mut newly_counted).await?;
            if !applied.moved.is_empty() {
                // A guarded step's credit was decided on state that has changed since: nothing
                // was written for it. Look again, put what that finds in its place (and what is
                // new, as for a stale cache), and apply the record again: the steps already
                // applied answer as before. Compare-and-set, so that concurrent calls agree.
                let fresh = self.resolve(gift, Lookup::Fresh).await?;
                let next = replace_moved(&targets, &applied.moved, fresh);
                let bytes = encode(&GiftRecord::Pending { targets: next.clone(), fingerprint })?;
                if self
                    .store
                    .record_swap(&tag, RECORD_NAME, &current, &bytes, self.record_ttl)
                    .await?
                {
                    (current, targets) = (bytes, next);
                    continue;
                }
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
            let stale = applied.stale;
            if stale {
                // A cached target was outside its window: ask again, and apply what is new (a
                // PK already tried answers the same again, so it is not tried twice). Calls
                // whose fresh answers differ must not overwrite each other, so from here on the
                // record only moves by compare-and-set, and a call that loses follows it.
                let added: Vec<GuardedTarget> = self
                    .resolve(gift, Lookup::Fresh)
                    .await?
                    .into_iter()
                    .filter(|fresh| !targets.iter().any(|tried| tried.tag() == fresh.tag()))
                    .collect();
                if !added.is_empty() {
                    let mut extended = targets.clone();
                    extended.extend(added.iter().cloned());
                    let next =
                        encode(&GiftRecord::Pending { targets: extended.clone(), fingerprint })?;
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
                    let also = self.apply_all(&added, &mut changes, &mut newly_counted).await?;
                    if !also.moved.is_empty() {
                        // A new step's guard no longer held: the next round handles it.
                        targets = extended;
                        continue;
                    }
                }
            }
            self.run_hooks(gift, &changes).await?;
            let done = encode(&GiftRecord::Done { changes: changes.clone(), fingerprint })?;
            if !stale {
                // Every call of this gift sees the same targets answer the same (each PK
                // repeats its first answer; a guarded one only to the step that counted, any
                // other is moved), so they all write the same outcome: a plain write will do.
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

    /// The one step of a gift whose record can be claimed, applied and marked done in one go
    /// ([`Store::claim_and_score`]): a single step (guarded or not) of a mode without an
    /// [`GiftConsumer::after_scored`] hook (which must run before the record is done).
    fn single_step<'a>(&self, targets: &'a [GuardedTarget]) -> Option<&'a GuardedTarget> {
        match targets {
            [only] => {
                let mode = only.target.mode;
                let hooked =
                    self.consumers.iter().any(|c| c.mode() == mode && c.has_after_scored());
                (!hooked).then_some(only)
            }
            _ => None,
        }
    }

    /// Reads a record another call moved on.
    async fn follow(&self, tag: &str) -> EngineResult<Followed> {
        match self.store.record_get(tag, RECORD_NAME, self.record_ttl).await? {
            Some(bytes) => match decode(&bytes)? {
                GiftRecord::Done { changes, .. } => Ok(Followed::Done(changes)),
                GiftRecord::Pending { targets, .. } => Ok(Followed::Pending(bytes, targets)),
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
    async fn resolve(&self, gift: &Gift, lookup: Lookup) -> EngineResult<Vec<GuardedTarget>> {
        // Every mode looks at once (each is a read or none): a gift pays one round trip for
        // them all, not one per mode. The targets keep the consumers' order.
        let found = futures::future::try_join_all(
            self.consumers.iter().map(|consumer| consumer.guarded_targets(gift, lookup)),
        )
        .await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Applies `targets` in order, adding what each changed to `changes` and the ones that
    /// counted now to `newly_counted`; says whether a cached target was outside its window (the
    /// cache may be stale) and which guarded ones moved.
    async fn apply_all(
        &self,
        targets: &[GuardedTarget],
        changes: &mut Vec<ScoreChange>,
        newly_counted: &mut Vec<NotifyKey>,
    ) -> EngineResult<Applied> {
        let mut applied = Applied::default();
        for GuardedTarget { target, guard } in targets {
            let outcome = match guard {
                None => self.store.apply_score(&target.apply).await?,
                Some(guard) => match self.store.apply_score_guarded(&target.apply, guard).await? {
                    GuardedScore::Judged(outcome) => outcome,
                    GuardedScore::Moved => {
                        applied.moved.push(target.apply.tag.clone());
                        continue;
                    }
                },
            };
            let (epoch, counters, boards, fresh) = match outcome {
                ScoreOutcome::Applied { epoch, counters, boards } => {
                    (epoch, counters, boards, true)
                }
                ScoreOutcome::Duplicate { epoch, counters, boards } => {
                    (epoch, counters, boards, false)
                }
                ScoreOutcome::Outside => {
                    applied.stale |= target.cached;
                    continue;
                }
                // Nothing was written in that PK; the gift's record stays pending, so a retry
                // is refused the same way.
                ScoreOutcome::Refused(ScoreRefusal::TxnReused) => {
                    METRICS.gifts.with_label_values(&["reused_txn_id"]).inc();
                    return Err(EngineError::business(GiftTxnReused {
                        gift_txn_id: target.apply.txn_id.clone(),
                    }));
                }
                ScoreOutcome::Refused(ScoreRefusal::ScoreLimit) => {
                    METRICS.gifts.with_label_values(&["invalid"]).inc();
                    return Err(InvalidArgument::new(
                        "unit_value",
                        format!("the gift would take a PK total past {MAX_SCORE}"),
                    )
                    .into());
                }
            };
            changes.push(ScoreChange::of(target, epoch, &counters, &boards));
            if fresh {
                newly_counted.push(target.notify);
            }
        }
        Ok(applied)
    }

    fn duplicate(&self, changes: Vec<ScoreChange>) -> GiftOutcome {
        METRICS.gifts.with_label_values(&["duplicate"]).inc();
        GiftOutcome { duplicate: true, changes }
    }
}

/// The record's steps once the guarded ones at the tags in `moved` were looked up again: those
/// steps replaced by what the fresh look-up `fresh` gives at their tags (nothing, when the gift
/// no longer counts there), and the fresh steps at tags not tried yet added.
fn replace_moved(
    targets: &[GuardedTarget],
    moved: &[String],
    fresh: Vec<GuardedTarget>,
) -> Vec<GuardedTarget> {
    let is_moved = |target: &GuardedTarget| moved.iter().any(|tag| tag == target.tag());
    let mut next: Vec<GuardedTarget> =
        targets.iter().filter(|target| !is_moved(target)).cloned().collect();
    next.extend(fresh.into_iter().filter(|found| {
        is_moved(found) || !targets.iter().any(|tried| tried.tag() == found.tag())
    }));
    next
}

/// A pending record is JSON (it lives for one call, and lists whole steps); a done record, the
/// one every gift keeps for the retry horizon, is [`done_codec`]'s compact form (about 25 bytes
/// for one change instead of about 155 of JSON). Both are read, as is a done record in JSON (an
/// earlier release's).
fn encode(record: &GiftRecord) -> EngineResult<Vec<u8>> {
    match record {
        GiftRecord::Done { changes, fingerprint } => Ok(done_codec::encode(changes, *fingerprint)),
        GiftRecord::Pending { .. } => serde_json::to_vec(record).map_err(EngineError::corrupt),
    }
}

fn decode(bytes: &[u8]) -> EngineResult<GiftRecord> {
    if let Some(&(done_codec::TAG | done_codec::ONE_TAG)) = bytes.first() {
        let (changes, fingerprint) = done_codec::decode(bytes)
            .ok_or_else(|| EngineError::corrupt("malformed compact gift record"))?;
        return Ok(GiftRecord::Done { changes, fingerprint });
    }
    serde_json::from_slice(bytes).map_err(EngineError::corrupt)
}

/// The first bytes of the done record kept for a gift in one PK (the PK's answer follows them):
/// the gift bench's one-script floor stores the same record, so both pay for the same bytes.
pub fn one_change_done_head(target: &ScoreTarget, fingerprint: u64) -> Vec<u8> {
    done_codec::one_head(target, fingerprint)
}

/// The compact done record: `TAG`, the fingerprint (8 bytes, little-endian), the number of
/// changes, then per change: the mode's index in [`Mode::ALL`] (1 byte), pkid and receiver
/// (LEB128), the side's name (LEB128 length, bytes), the side's and the sender's totals (zigzag
/// LEB128).
///
/// The done record of a gift that changed one PK, as [`Store::claim_and_score`] writes it
/// (the store appends the PK's answer to a head the ledger gives): `ONE_TAG`, the fingerprint,
/// the mode's index, the receiver, the side's name (as above), then the PK's answer as text
/// ([`livepk_store::score_answer`]: pkid, the counters, the boards).
mod done_codec {
    use livepk_core::Mode;

    use super::{ScoreChange, ScoreTarget};

    /// First byte of a compact done record (a JSON record starts with `{`).
    pub const TAG: u8 = 0x01;
    /// First byte of a one-change done record whose totals are the PK's answer as text.
    pub const ONE_TAG: u8 = 0x02;

    /// The head of the one-change done record of `target`.
    pub fn one_head(target: &ScoreTarget, fingerprint: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + target.side.len());
        out.push(ONE_TAG);
        out.extend_from_slice(&fingerprint.to_le_bytes());
        out.push(mode_index(target.mode));
        put(&mut out, target.receiver_id);
        put(&mut out, target.side.len() as u64);
        out.extend_from_slice(target.side.as_bytes());
        out
    }

    fn mode_index(mode: Mode) -> u8 {
        // Every mode is in Mode::ALL, so the position is found (and below 256).
        Mode::ALL.iter().position(|known| *known == mode).unwrap_or(0) as u8
    }

    fn decode_one(bytes: &[u8]) -> Option<(Vec<ScoreChange>, u64)> {
        let mut reader = Reader { bytes, at: 1 };
        let fingerprint = u64::from_le_bytes(reader.take(8)?.try_into().ok()?);
        let mode = *Mode::ALL.get(usize::from(reader.byte()?))?;
        let receiver_id = reader.number()?;
        let length = usize::try_from(reader.number()?).ok()?;
        let side = String::from_utf8(reader.take(length)?.to_vec()).ok()?;
        let answer = std::str::from_utf8(bytes.get(reader.at..)?).ok()?;
        let (pkid, counters, boards) = livepk_store::parse_score_answer(answer).ok()?;
        let change = ScoreChange {
            mode,
            pkid,
            receiver_id,
            side,
            side_total: counters.first().copied().unwrap_or_default(),
            sender_total: boards.first().copied().unwrap_or_default(),
        };
        Some((vec![change], fingerprint))
    }

    pub fn encode(changes: &[ScoreChange], fingerprint: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + changes.len() * 24);
        out.push(TAG);
        out.extend_from_slice(&fingerprint.to_le_bytes());
        put(&mut out, changes.len() as u64);
        for change in changes {
            out.push(mode_index(change.mode));
            put(&mut out, change.pkid);
            put(&mut out, change.receiver_id);
            put(&mut out, change.side.len() as u64);
            out.extend_from_slice(change.side.as_bytes());
            put(&mut out, zigzag(change.side_total));
            put(&mut out, zigzag(change.sender_total));
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<(Vec<ScoreChange>, u64)> {
        if bytes.first() == Some(&ONE_TAG) {
            return decode_one(bytes);
        }
        let mut reader = Reader { bytes, at: 0 };
        if reader.byte()? != TAG {
            return None;
        }
        let fingerprint = u64::from_le_bytes(reader.take(8)?.try_into().ok()?);
        let count = reader.number()?;
        let mut changes = Vec::new();
        for _ in 0..count {
            let mode = *Mode::ALL.get(usize::from(reader.byte()?))?;
            let pkid = reader.number()?;
            let receiver_id = reader.number()?;
            let length = usize::try_from(reader.number()?).ok()?;
            let side = String::from_utf8(reader.take(length)?.to_vec()).ok()?;
            let side_total = unzigzag(reader.number()?);
            let sender_total = unzigzag(reader.number()?);
            changes.push(ScoreChange { mode, pkid, receiver_id, side, side_total, sender_total });
        }
        (reader.at == bytes.len()).then_some((changes, fingerprint))
    }

    fn put(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    fn zigzag(value: i64) -> u64 {
        ((value << 1) ^ (value >> 63)) as u64
    }

    fn unzigzag(value: u64) -> i64 {
        ((value >> 1) as i64) ^ -((value & 1) as i64)
    }

    struct Reader<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    impl Reader<'_> {
        fn byte(&mut self) -> Option<u8> {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            Some(byte)
        }

        fn take(&mut self, length: usize) -> Option<&[u8]> {
            let end = self.at.checked_add(length)?;
            let taken = self.bytes.get(self.at..end)?;
            self.at = end;
            Some(taken)
        }

        fn number(&mut self) -> Option<u64> {
            let mut value = 0u64;
            for shift in (0..64).step_by(7) {
                let byte = self.byte()?;
                value |= u64::from(byte & 0x7f).checked_shl(shift)?;
                if byte & 0x80 == 0 {
                    return Some(value);
                }
            }
            None
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn change(mode: Mode, side: &str, side_total: i64, sender_total: i64) -> ScoreChange {
            ScoreChange {
                mode,
                pkid: 1_234_567,
                receiver_id: u64::MAX,
                side: side.into(),
                side_total,
                sender_total,
            }
        }

        #[test]
        fn done_records_round_trip_compactly() {
            let changes = vec![
                change(Mode::LinkCall, "host", 500, 100),
                change(Mode::AcrossPk, "红", i64::MIN, i64::MAX),
                change(Mode::InteractiveShow, "", -1, 0),
            ];
            let bytes = encode(&changes, 0xfeed_beef_dead_f00d);
            assert_eq!(decode(&bytes), Some((changes.clone(), 0xfeed_beef_dead_f00d)));
            let usual =
                ScoreChange { receiver_id: 3_000_900, ..change(Mode::LinkCall, "host", 160, 10) };
            let one = encode(&[usual], u64::MAX);
            assert!(one.len() <= 28, "{} bytes", one.len());
            assert_eq!(decode(&encode(&[], 0)), Some((Vec::new(), 0)));
        }

        /// A done record in JSON (what the release before wrote) is still read.
        #[test]
        fn done_records_in_json_are_still_read() {
            let json = br#"{"Done":{"changes":[{"mode":"LinkCall","pkid":3,"receiver_id":1001,"side":"host","side_total":160,"sender_total":10}],"fingerprint":42}}"#;
            match super::super::decode(json).expect("an earlier release's record") {
                super::super::GiftRecord::Done { changes, fingerprint } => {
                    assert_eq!(fingerprint, 42);
                    assert_eq!(
                        changes,
                        vec![ScoreChange {
                            pkid: 3,
                            receiver_id: 1001,
                            ..change(Mode::LinkCall, "host", 160, 10)
                        }]
                    );
                }
                super::super::GiftRecord::Pending { .. } => panic!("read as pending"),
            }
        }

        /// The one-change record: the head the ledger gives, then the PK's answer as the store
        /// appends it (also one counted under a guard, whose answer ends with its version).
        #[test]
        fn one_change_records_read_back_from_head_and_answer() {
            let target = ScoreTarget {
                mode: Mode::AcrossPk,
                receiver_id: 3_000_900,
                side: "红".into(),
                notify: crate::events::NotifyKey {
                    mode: Mode::AcrossPk,
                    battle: livepk_battle::BattleId::new(1),
                    side: livepk_battle::Side::First,
                },
                apply: livepk_store::ScoreApply {
                    tag: "t".into(),
                    txn_id: "x".into(),
                    window: "w".into(),
                    sent_at_ms: 0,
                    counters: Vec::new(),
                    boards: Vec::new(),
                    fields: Vec::new(),
                    ttl: std::time::Duration::from_secs(1),
                    fingerprint: 0,
                },
                cached: false,
            };
            let mut bytes = one_head(&target, 77);
            bytes.extend_from_slice(livepk_store::score_answer(9, &[500, 3], &[-20]).as_bytes());
            let expected = ScoreChange {
                mode: Mode::AcrossPk,
                pkid: 9,
                receiver_id: 3_000_900,
                side: "红".into(),
                side_total: 500,
                sender_total: -20,
            };
            assert_eq!(decode(&bytes), Some((vec![expected.clone()], 77)));
            let mut guarded = bytes.clone();
            guarded.extend_from_slice(b"|4");
            assert_eq!(decode(&guarded), Some((vec![expected], 77)));
            let mut empty = one_head(&target, 1);
            empty.extend_from_slice(b"5||");
            let read = decode(&empty).expect("no counters, no boards").0;
            assert_eq!((read[0].pkid, read[0].side_total, read[0].sender_total), (5, 0, 0));
            for cut in 0..one_head(&target, 77).len() + 1 {
                assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
            }
        }

        #[test]
        fn malformed_compact_records_are_refused() {
            let bytes = encode(&[change(Mode::RoomPk, "red", 7, 7)], 9);
            for cut in 0..bytes.len() {
                assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(decode(&longer), None);
            let mut bad_mode = bytes.clone();
            bad_mode[10] = 200;
            assert_eq!(decode(&bad_mode), None);
            assert_eq!(decode(&[TAG, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff]), None);
        }
    }
}
