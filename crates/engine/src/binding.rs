//! What a mode tells the engine: where its states live, how its changes and notifications are
//! written, and which pure functions answer its deadlines. Everything else — loading with
//! versions, the retry loop, settling on final numbers, the commit plan, timers, records, room
//! stages, score notifications, forced closes — the engine does the same way for every mode.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use livepk_battle::{
    Aggregate, BattleId, BattleState, PhaseDeadline, Scores, Settled, Side, Sides, Transition,
    Vocabulary,
};
use livepk_core::{Mode, PkId, UserId};
use livepk_sql::{Participant, PkRecord};
use livepk_store::Op;

use crate::engine::Engine;
use crate::error::EngineResult;

/// The aggregate id type of a mode.
pub type AggregateId<D> = <<D as Vocabulary>::Aggregate as Aggregate>::Id;

/// Where one value lives in the store: a name under a hash tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey {
    /// The hash tag (every key of one atomic step shares it).
    pub tag: String,
    /// The name under the tag.
    pub name: String,
}

impl StoreKey {
    /// `name` under `tag`.
    pub fn new(tag: impl Into<String>, name: impl Into<String>) -> Self {
        Self { tag: tag.into(), name: name.into() }
    }
}

/// A battle's score keys, all under the battle's tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreKeys {
    /// Hash of the side totals.
    pub totals: String,
    /// The field of each side in it.
    pub fields: Sides<String>,
    /// Each side's board of senders: what score notifications list the changed rows of.
    pub senders: Sides<String>,
    /// Every other board of the battle (cleared with the scores).
    pub boards: Vec<String>,
    /// Other keys of the scores (e.g. the gifters' profiles), cleared with them.
    pub keys: Vec<String>,
}

/// One row of a board as the engine read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardRow {
    /// The member (a viewer).
    pub user_id: UserId,
    /// Their total.
    pub total: u64,
}

/// The SQL record of a settled round: `participants` are each side's, in the mode's words; the
/// winner's id is the winning side's participant's.
pub fn settled_record(
    mode: Mode,
    settled: &Settled,
    participants: Sides<Participant>,
    now_ms: u64,
) -> PkRecord {
    PkRecord {
        mode,
        pkid: settled.pkid,
        winner_id: settled.winner.map_or(0, |side| participants[side].id),
        participants: vec![participants.first, participants.second],
        start_ms: settled.start_ms,
        end_ms: settled.end_ms,
        ended_by: settled.ended_by.as_str().into(),
        created_at_ms: now_ms,
    }
}

/// What encoding notifications may look at.
#[derive(Debug, Clone, Copy)]
pub struct EncodeContext<'a, D: Vocabulary> {
    /// The battle the notifications are about, as written by the transition (or as read).
    pub battle: Option<&'a D::Battle>,
    /// For a score notification: the side whose changed gifters it lists.
    pub board: Option<Side>,
    /// Now.
    pub now_ms: u64,
}

/// Aggregates as read, with the versions a commit must still find, the battle with its version
/// and the battle's side totals.
#[derive(Debug, Clone)]
pub struct Snapshot<D: Vocabulary> {
    aggregates: BTreeMap<AggregateId<D>, (Option<D::Aggregate>, u64)>,
    battle: Option<(D::Battle, u64)>,
    scores: Scores,
}

impl<D: Vocabulary> Default for Snapshot<D> {
    fn default() -> Self {
        Self { aggregates: BTreeMap::new(), battle: None, scores: Scores::default() }
    }
}

impl<D: Vocabulary> Snapshot<D> {
    /// An empty snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Aggregate `id` as read (`None` if it has none or was not loaded).
    pub fn aggregate(&self, id: AggregateId<D>) -> Option<&D::Aggregate> {
        self.aggregates.get(&id).and_then(|(aggregate, _)| aggregate.as_ref())
    }

    /// Whether aggregate `id` was loaded (present or not).
    pub fn has_loaded(&self, id: AggregateId<D>) -> bool {
        self.aggregates.contains_key(&id)
    }

    /// The ids of the aggregates loaded (present or not), in order.
    pub(crate) fn loaded_ids(&self) -> impl Iterator<Item = AggregateId<D>> + '_ {
        self.aggregates.keys().copied()
    }

    /// The battle as read.
    pub fn battle(&self) -> Option<&D::Battle> {
        self.battle.as_ref().map(|(battle, _)| battle)
    }

    /// The battle's side totals as read (zeros without a battle).
    pub fn scores(&self) -> Scores {
        self.scores
    }

    /// The version aggregate `id` was read at (0: absent).
    pub fn aggregate_version(&self, id: AggregateId<D>) -> u64 {
        self.aggregates.get(&id).map_or(0, |(_, version)| *version)
    }

    /// The version battle `id` was read at (0: absent or not this snapshot's battle).
    pub fn battle_version(&self, id: BattleId) -> u64 {
        match &self.battle {
            Some((battle, version)) if battle.battle_id() == id => *version,
            _ => 0,
        }
    }

    pub(crate) fn put_aggregate(
        &mut self,
        id: AggregateId<D>,
        read: Option<D::Aggregate>,
        version: u64,
    ) {
        self.aggregates.insert(id, (read, version));
    }

    pub(crate) fn put_battle(&mut self, battle: Option<(D::Battle, u64)>, scores: Scores) {
        self.battle = battle;
        self.scores = scores;
    }

    pub(crate) fn set_scores(&mut self, scores: Scores) {
        self.scores = scores;
    }
}

/// A mode as the engine drives it. Implemented by each mode's adapter; the pure rules stay in
/// the mode's crate and are only called from here.
#[async_trait]
pub trait ModeBinding: Send + Sync + 'static {
    /// The mode's types.
    type Domain: Vocabulary;
    /// The mode's tunables, resolved from the hot settings.
    type Config: Send + Sync;

    /// The mode.
    const MODE: Mode;

    /// Whether the mode's scoring deadlines already carry a settle grace of their own (GiftPk's
    /// `giftpk.settle_grace_ms`); otherwise the engine schedules each scoring deadline's job
    /// `score.grace_ms` after the deadline.
    const OWN_SETTLE_GRACE: bool = false;

    /// The engine it runs on.
    fn engine(&self) -> &Arc<Engine>;

    /// Now, from the engine's clock.
    fn now_ms(&self) -> u64 {
        self.engine().now_ms()
    }

    /// Now in whole seconds: the seed's `time_now` of every answer.
    fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }

    /// The mode's tunables now.
    async fn config(&self) -> EngineResult<Self::Config>;

    // ---- where things live ------------------------------------------------------------------

    /// The hash tag of a battle: its aggregate, scoring window and score keys live under it, so
    /// a gift is one script on one shard.
    fn battle_tag(&self, battle: BattleId) -> String;

    /// Where aggregate `id` lives.
    fn aggregate_key(&self, id: AggregateId<Self::Domain>) -> StoreKey;

    /// The store writes of one change, each with its tag.
    fn change_ops(&self, change: &<Self::Domain as Vocabulary>::Change) -> Vec<(String, Op)>;

    /// A battle's score keys.
    fn score_keys(&self, battle: &<Self::Domain as Vocabulary>::Battle) -> ScoreKeys;

    // ---- what leaves the engine -------------------------------------------------------------

    /// Encodes notifications as event-stream payloads (profiles filled in).
    async fn encode(
        &self,
        notifications: &[<Self::Domain as Vocabulary>::Notification],
        context: EncodeContext<'_, Self::Domain>,
    ) -> EngineResult<Vec<Vec<u8>>>;

    /// The SQL record of a settled round of `battle` (the battle as the settling transition
    /// wrote it).
    fn record(
        &self,
        settled: &Settled,
        battle: &<Self::Domain as Vocabulary>::Battle,
        now_ms: u64,
    ) -> PkRecord;

    // ---- moves the engine makes on the mode's behalf ----------------------------------------

    /// The phase deadline `deadline` is due: the mode's transition for it (the battle as read,
    /// `None` if it vanished). Usually the mode's wrapper of [`livepk_battle::Round::on_deadline`].
    fn on_phase_deadline(
        &self,
        battle: Option<&<Self::Domain as Vocabulary>::Battle>,
        deadline: &PhaseDeadline,
        scores: Scores,
        config: &Self::Config,
        now_ms: u64,
    ) -> Transition<Self::Domain, ()>;

    /// The aggregates an invitation's expiry needs loaded.
    fn invitation_parties(
        &self,
        invitation: &<Self::Domain as Vocabulary>::InvitationKey,
    ) -> Vec<AggregateId<Self::Domain>>;

    /// The invitation `invitation` may have lapsed: the mode's transition for it.
    fn on_invitation_expired(
        &self,
        snapshot: &Snapshot<Self::Domain>,
        invitation: &<Self::Domain as Vocabulary>::InvitationKey,
        config: &Self::Config,
        now_ms: u64,
    ) -> Transition<Self::Domain, ()>;

    /// The aggregates a forced close of `battle` needs loaded besides the battle.
    fn battle_parties(
        &self,
        battle: &<Self::Domain as Vocabulary>::Battle,
    ) -> Vec<AggregateId<Self::Domain>>;

    /// An operator closes the snapshot's battle (`Admin.ForcePkClose`).
    fn admin_close(
        &self,
        snapshot: &Snapshot<Self::Domain>,
        now_ms: u64,
    ) -> Transition<Self::Domain, ()>;

    /// The notifications of a score change on `side` of `battle`: the new totals and the rows of
    /// the side's sender board that changed (best first, at most 20). Nothing for a battle that
    /// is over.
    fn score_progress(
        &self,
        battle: &<Self::Domain as Vocabulary>::Battle,
        scores: Scores,
        side: Side,
        rows: &[BoardRow],
    ) -> Vec<<Self::Domain as Vocabulary>::Notification>;

    /// Whether `pkid`, which the pkid index names for this battle's id, is a round of `battle` as
    /// stored now. Yes by default: a battle id names one battle for its whole life. A mode whose
    /// battle id names a place that holds one battle after another (RoomPk: a room's team
    /// battles, each under its own pkid) says no for the pkids of the earlier battles, and
    /// promises that it replaces a battle only once it is over (every settle of it committed).
    /// Then an operator's forced close naming an earlier battle closes nothing, and the record
    /// job of an earlier battle still writes its record.
    fn holds_pkid(&self, _battle: &<Self::Domain as Vocabulary>::Battle, _pkid: PkId) -> bool {
        true
    }

    /// Whether `battle`, which still names rooms in [`BattleState::stage`], really holds them
    /// (LinkCallPk: a battle whose anchors do not point at it was never taken up). Yes by
    /// default.
    async fn holds_stage(
        &self,
        _battle: &<Self::Domain as Vocabulary>::Battle,
    ) -> EngineResult<bool> {
        Ok(true)
    }
}
