//! A small mode of the test kit's own: a battle in one room between two gifts. It stands in for
//! the real modes in the engine's cross-mode tests — [`StageDuel`] takes its room's stage (as
//! RoomPk and AcrossPk do), [`SideDuel`] runs alongside (as GiftPk does) — and shows how little a
//! mode must write to run on the engine: a vocabulary, a battle with a [`Round`], a binding and a
//! gift route.
//!
//! Rules: `start` opens a battle in a room for a number of seconds between two gift ids (one
//! battle per room and kind); a gift sent in the room counts for the side of its gift id; the
//! deadline (or `finish`) settles it and it is over; with `finish_at`, the gift that brings a
//! side to that total ends it at once ([`crate::GiftConsumer::after_scored`]).

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use livepk_battle::{
    AfterRound, Aggregate, BattleId, BattleState, DeadlineStep, EndedBy, PhaseDeadline, Round,
    RoundRules, ScoreAction, Scores, Settled, Side, Sides, Transition, Vocabulary,
};
use livepk_core::{BusinessError, ErrorKind, Gift, GiftId, Mode, PkId, RoomSid, Target, codes};
use livepk_sql::{Participant, PkRecord};
use livepk_store::Op;
use serde::{Deserialize, Serialize};

use crate::binding::{
    AggregateId, BoardRow, EncodeContext, ModeBinding, ScoreKeys, Snapshot, StoreKey,
    settled_record,
};
use crate::driver::ModeParts;
use crate::engine::Engine;
use crate::error::{EngineError, EngineResult};
use crate::ledger::ScoreChange;
use crate::routing::{Claim, Credit, GiftRoute, Located, RouteKey, Router};

/// The duel's types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duel;

impl Vocabulary for Duel {
    type Aggregate = DuelRoom;
    type Battle = DuelBattle;
    type Notification = DuelNote;
    type Change = Infallible;
    type InvitationKey = ();
}

/// A room's pointer to its duel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuelRoom {
    /// The room.
    pub room: RoomSid,
    /// Its duel, while one is open.
    pub battle: Option<BattleId>,
}

impl Aggregate for DuelRoom {
    type Id = RoomSid;
    fn id(&self) -> RoomSid {
        self.room
    }
}

/// One duel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuelBattle {
    /// Its id.
    pub battle_id: BattleId,
    /// Its room.
    pub room: RoomSid,
    /// The gift of each side.
    pub gifts: Sides<GiftId>,
    /// Whether it holds its room's stage.
    pub takes_stage: bool,
    /// A side reaching this total ends it at once.
    pub finish_at: Option<u64>,
    /// Its phases.
    pub round: Round,
}

impl BattleState for DuelBattle {
    fn battle_id(&self) -> BattleId {
        self.battle_id
    }
    fn round(&self) -> &Round {
        &self.round
    }
    fn round_mut(&mut self) -> &mut Round {
        &mut self.round
    }
    fn stage(&self) -> Vec<RoomSid> {
        if self.takes_stage && !self.round.is_closed() { vec![self.room] } else { Vec::new() }
    }
}

/// A duel notification: a word to the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuelNote {
    /// The room.
    pub target: Target,
    /// `started`, `score <a>:<b>`, `settled <a>:<b>`, `over`.
    pub text: String,
}

/// A refused duel command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DuelError {
    /// 403400025: the room already has a duel of this kind.
    #[error("room {0} already has a duel")]
    Busy(RoomSid),
    /// 403400026: the room has no open duel.
    #[error("room {0} has no duel")]
    NoDuel(RoomSid),
}

impl BusinessError for DuelError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::FailedPrecondition
    }
    fn business_code(&self) -> u32 {
        match self {
            DuelError::Busy(_) => codes::ANCHOR_IN_PK,
            DuelError::NoDuel(_) => codes::PK_OVER,
        }
    }
}

/// Which duel: the mode it poses as and whether it takes the room's stage.
pub trait DuelKind: Send + Sync + 'static {
    /// The mode it poses as.
    const MODE: Mode;
    /// Whether it holds its room's stage.
    const TAKES_STAGE: bool;
}

/// A duel that takes its room's stage, posing as AcrossPk.
pub struct StageDuel;
impl DuelKind for StageDuel {
    const MODE: Mode = Mode::AcrossPk;
    const TAKES_STAGE: bool = true;
}

/// A duel that runs alongside any battle in its room, posing as GiftPk.
pub struct SideDuel;
impl DuelKind for SideDuel {
    const MODE: Mode = Mode::GiftPk;
    const TAKES_STAGE: bool = false;
}

/// The duel on the engine.
pub struct DuelAdapter<K> {
    engine: Arc<Engine>,
    kind: PhantomData<K>,
}

const RULES: RoundRules = RoundRules { punish_ms: 0, after: AfterRound::Close };

fn note(room: RoomSid, text: impl Into<String>) -> DuelNote {
    DuelNote { target: Target::room(room.get()), text: text.into() }
}

fn settled_note(battle: &DuelBattle, scores: Scores) -> DuelNote {
    note(battle.room, format!("settled {}:{}", scores.first, scores.second))
}

impl<K: DuelKind> DuelAdapter<K> {
    /// The duel on `engine`.
    pub fn new(engine: Arc<Engine>) -> Arc<Self> {
        Arc::new(Self { engine, kind: PhantomData })
    }

    /// What it plugs into the runtime.
    pub fn parts(self: &Arc<Self>) -> ModeParts {
        let router =
            Router::new(self.clone(), self.engine.settings.clone(), self.engine.clock.clone());
        ModeParts::new(self.clone(), vec![Arc::new(router)])
    }

    async fn load_room(&self, room: RoomSid) -> EngineResult<Snapshot<Duel>> {
        let mut snapshot = Snapshot::new();
        self.engine.load_aggregates(self, &mut snapshot, &[room]).await?;
        let battle = snapshot.aggregate(room).and_then(|room| room.battle);
        self.engine.load_battle(self, &mut snapshot, battle).await?;
        Ok(snapshot)
    }

    /// Opens a duel of `seconds` in `room` between `gifts`; its pkid.
    pub async fn start(
        &self,
        room: RoomSid,
        gifts: Sides<GiftId>,
        seconds: u64,
        finish_at: Option<u64>,
    ) -> EngineResult<PkId> {
        self.engine
            .run(
                self,
                || async move {
                    let snapshot = self.load_room(room).await?;
                    let ids = (
                        self.engine.next_battle_id(K::MODE).await?,
                        self.engine.next_pkid(K::MODE).await?,
                    );
                    Ok((snapshot, ids))
                },
                |snapshot, &(battle_id, pkid), now_ms| {
                    if snapshot.battle().is_some_and(|battle| !battle.round.is_closed()) {
                        return Err(EngineError::business(DuelError::Busy(room)));
                    }
                    let timed = Round::new(pkid).start(battle_id, None, seconds * 1000, now_ms)?;
                    let battle = DuelBattle {
                        battle_id,
                        room,
                        gifts,
                        takes_stage: K::TAKES_STAGE,
                        finish_at,
                        round: timed.round,
                    };
                    let mut transition = Transition::unchanged(pkid);
                    transition.aggregates.push(DuelRoom { room, battle: Some(battle_id) });
                    transition.effects.scores = ScoreAction::Reset;
                    transition.effects.deadline(timed.deadline);
                    transition.effects.notifications.push(note(room, "started"));
                    transition.battle = Some(battle);
                    Ok(transition)
                },
            )
            .await
    }

    /// Ends the room's duel now (settled on the totals so far); its record.
    pub async fn finish(&self, room: RoomSid) -> EngineResult<Option<Settled>> {
        self.engine
            .run(
                self,
                || async move { Ok((self.load_room(room).await?, ())) },
                |snapshot, _, now_ms| {
                    let battle = snapshot
                        .battle()
                        .filter(|battle| !battle.round.is_closed())
                        .ok_or_else(|| EngineError::business(DuelError::NoDuel(room)))?;
                    Ok(close(battle, snapshot.scores(), EndedBy::Close, now_ms))
                },
            )
            .await
    }

    /// The side totals of the room's current duel.
    pub async fn scores(&self, room: RoomSid) -> EngineResult<Option<(PkId, Scores)>> {
        let snapshot = self.load_room(room).await?;
        Ok(snapshot.battle().map(|battle| (battle.round.pkid, snapshot.scores())))
    }
}

fn close(
    battle: &DuelBattle,
    scores: Scores,
    ended_by: EndedBy,
    now_ms: u64,
) -> Transition<Duel, Option<Settled>> {
    let closing = battle.round.close(battle.battle_id, scores, ended_by, now_ms);
    let mut closed = battle.clone();
    closed.round = closing.round;
    let mut transition = Transition::unchanged(closing.settled);
    transition.effects.settled = closing.settled;
    transition.effects.notifications.push(settled_note(battle, scores));
    transition.battle = Some(closed);
    transition
}

#[async_trait]
impl<K: DuelKind> ModeBinding for DuelAdapter<K> {
    type Domain = Duel;
    type Config = ();
    const MODE: Mode = K::MODE;

    fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    async fn config(&self) -> EngineResult<()> {
        Ok(())
    }

    fn battle_tag(&self, battle: BattleId) -> String {
        format!("duel:{}:{battle}", K::MODE.as_str())
    }

    fn aggregate_key(&self, room: AggregateId<Duel>) -> StoreKey {
        StoreKey::new(format!("duel:{}:rooms", K::MODE.as_str()), format!("room:{room}"))
    }

    fn change_ops(&self, change: &Infallible) -> Vec<(String, Op)> {
        match *change {}
    }

    fn score_keys(&self, _battle: &DuelBattle) -> ScoreKeys {
        ScoreKeys {
            totals: "totals".into(),
            fields: Sides::new("first".into(), "second".into()),
            senders: Sides::new("senders:first".into(), "senders:second".into()),
            boards: Vec::new(),
            keys: Vec::new(),
        }
    }

    async fn encode(
        &self,
        notifications: &[DuelNote],
        context: EncodeContext<'_, Duel>,
    ) -> EngineResult<Vec<Vec<u8>>> {
        let pkid = context.battle.map_or(0, |battle| battle.round.pkid.get());
        Ok(notifications
            .iter()
            .map(|note| serde_json::to_vec(&(K::MODE.as_str(), pkid, note)).unwrap_or_default())
            .collect())
    }

    fn record(&self, settled: &Settled, battle: &DuelBattle, now_ms: u64) -> PkRecord {
        let participants = Sides::new(Side::First, Side::Second).map(|side| Participant {
            id: battle.gifts[side].get(),
            sid: battle.room.get(),
            side: format!("{side:?}").to_lowercase(),
            score: settled.scores[side],
        });
        settled_record(K::MODE, settled, participants, now_ms)
    }

    fn on_phase_deadline(
        &self,
        battle: Option<&DuelBattle>,
        deadline: &PhaseDeadline,
        scores: Scores,
        _config: &(),
        now_ms: u64,
    ) -> Transition<Duel, ()> {
        let Some(battle) = battle else { return Transition::unchanged(()) };
        let step = battle.round.on_deadline(
            battle.battle_id,
            deadline.pkid,
            deadline.phase,
            scores,
            &RULES,
            now_ms,
        );
        let mut transition = Transition::unchanged(());
        match step {
            DeadlineStep::Stale | DeadlineStep::PunishmentOver(_) => {}
            DeadlineStep::Early(again) => transition.effects.deadline(again),
            DeadlineStep::Settled(settlement) => {
                let mut settled = battle.clone();
                settled.round = settlement.round;
                transition.effects.settled = Some(settlement.settled);
                transition.effects.notifications.push(settled_note(battle, scores));
                transition.battle = Some(settled);
            }
        }
        transition
    }

    fn invitation_parties(&self, _invitation: &()) -> Vec<RoomSid> {
        Vec::new()
    }

    fn on_invitation_expired(
        &self,
        _snapshot: &Snapshot<Duel>,
        _invitation: &(),
        _config: &(),
        _now_ms: u64,
    ) -> Transition<Duel, ()> {
        Transition::unchanged(())
    }

    fn battle_parties(&self, _battle: &DuelBattle) -> Vec<RoomSid> {
        Vec::new()
    }

    fn admin_close(&self, snapshot: &Snapshot<Duel>, now_ms: u64) -> Transition<Duel, ()> {
        match snapshot.battle().filter(|battle| !battle.round.is_closed()) {
            Some(battle) => {
                close(battle, snapshot.scores(), EndedBy::Admin, now_ms).map_reply(|_, _| ())
            }
            None => Transition::unchanged(()),
        }
    }

    fn score_progress(
        &self,
        battle: &DuelBattle,
        scores: Scores,
        _side: Side,
        _rows: &[BoardRow],
    ) -> Vec<DuelNote> {
        vec![note(battle.room, format!("score {}:{}", scores.first, scores.second))]
    }
}

#[async_trait]
impl<K: DuelKind> GiftRoute for DuelAdapter<K> {
    type Found = Sides<GiftId>;
    const MODE: Mode = K::MODE;
    const CLAIM: Claim = Claim::Room;

    async fn locate(&self, key: RouteKey) -> EngineResult<Option<Located<Sides<GiftId>>>> {
        let RouteKey::Room(room) = key else { return Ok(None) };
        let snapshot = self.load_room(room).await?;
        let Some(battle) = snapshot.battle() else { return Ok(None) };
        let Some((_, until_ms)) = battle.round.scoring_window() else { return Ok(None) };
        Ok(Some(Located {
            battle: battle.battle_id,
            tag: self.battle_tag(battle.battle_id),
            until_ms,
            found: battle.gifts,
        }))
    }

    fn credit(&self, gift: &Gift, located: &Located<Sides<GiftId>>, points: i64) -> Option<Credit> {
        let side = located.found.find(|id| *id == gift.gift_id)?;
        let field = if side == Side::First { "first" } else { "second" };
        Some(Credit {
            side,
            side_word: field.into(),
            receiver_id: gift.gift_id.get(),
            counters: vec![("totals".into(), field.into(), points)],
            boards: vec![(format!("senders:{field}"), gift.sender.user_id.get(), points)],
            fields: Vec::new(),
        })
    }

    const HAS_AFTER_SCORED: bool = true;

    /// The gift that brings a side to `finish_at` ends the duel.
    async fn after_scored(&self, gift: &Gift, change: &ScoreChange) -> EngineResult<()> {
        let room = gift.room_sid;
        let Some((pkid, _)) = self.scores(room).await? else { return Ok(()) };
        let snapshot = self.load_room(room).await?;
        let Some(finish_at) = snapshot.battle().and_then(|battle| battle.finish_at) else {
            return Ok(());
        };
        if pkid.get() == change.pkid && change.side_total >= finish_at as i64 {
            match self.finish(room).await {
                Ok(_) => {}
                // Already finished (a retry of the same gift, or the deadline).
                Err(EngineError::Business(error)) if error.business_code() == codes::PK_OVER => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}
