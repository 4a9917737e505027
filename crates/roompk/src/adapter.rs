//! RoomPk's adapter: what the battle engine needs to know of this mode (where its states live,
//! which pure functions answer its deadlines, how it claims gifts) and its commands, each loading
//! what its pure function takes. Everything else — the retry loop, settling on final numbers,
//! the commit plan, timers, records, room stages, the gift ledger and score notifications — is
//! the engine's.
//!
//! Layout in the store (through `livepk-engine` and `livepk-store`, which alone know Redis), all
//! under the room's tag `rp:<room>`:
//! * `room` — the [`Room`] aggregate (seats, operator);
//! * `battle` and `window` — the room's [`TeamBattle`] and its scoring window (the engine's
//!   names; the battle id is the room id, see [`battle_id_of`]);
//! * `score` — the team totals (fields `red`, `blue`); `contribute:<team>` — each team's
//!   contribution board (senders); `pk_value:<team>` — each team's PK-value board (receivers);
//!   `users` — the senders' profiles. Reset by each Start.
//! * `total_pk_value`, `total_contribute_value` — each user's running totals across the room's
//!   battles (field = user id). Never reset; they live as long as the room's tag is used (3 days
//!   after the last gift, like every state).
//!
//! One tag per room (no tag grows with the number of rooms), so one gift is one script on one
//! shard: team total, both boards, both running totals and the gift's txn record at once.
//!
//! Gifts are claimed by seated user ([`Claim::SeatedUser`], never cached): the battle says
//! whether the room is scoring (read first: most gifts of the platform are sent in rooms
//! without a team battle, and cost that one read), the room's seats which team the receiver
//! plays for. The gift's script counts it only if the room is still at the version the seats
//! were read at ([`GiftRoute::guard`]); if a seat operation (or any other write of the room)
//! came in between, nothing is written and the gift is located again. So a gift counts for the
//! team of the seat its receiver holds when it is recorded.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use livepk_battle::{BattleId, PhaseDeadline, Scores, Settled, Side, Sides};
use livepk_core::{Gift, Mode, PkId, RoomSid, UserId};
use livepk_engine::{
    AggregateId, BoardRow, Claim, Credit, EncodeContext, Engine, EngineError, EngineResult,
    GiftRoute, Located, ModeBinding, ModeParts, RouteKey, ScoreKeys, Snapshot, StoreKey,
    settled_record,
};
use livepk_sql::{Participant, PkRecord};
use livepk_store::{Condition, Op};

use crate::{
    AddTimeRequest, BOARD_SIZE, BattleInfo, Boards, FinishRequest, Notification, Room, RoomPk,
    RoomPkConfig, RoomPkError, RoomState, SeatReply, SeatRequest, StartRequest, Team, TeamBattle,
    TeamRow, Transition, UserTotals, battle_id_of, room_of,
};

/// The room's aggregate under its tag.
const ROOM: &str = "room";
/// Team totals (fields `red`, `blue`).
const SCORE: &str = "score";
/// Senders' profiles (field = user id).
const USERS: &str = "users";
/// Running totals across battles (field = user id): points received on PK seats.
const TOTAL_PK_VALUE: &str = "total_pk_value";
/// Running totals across battles (field = user id): points sent to seated users.
const TOTAL_CONTRIBUTE_VALUE: &str = "total_contribute_value";

/// The hash tag of everything of `room`.
pub fn room_tag(room: RoomSid) -> String {
    format!("rp:{room}")
}

fn contribution_board(team: Team) -> String {
    format!("contribute:{}", team.as_str())
}

fn pk_value_board(team: Team) -> String {
    format!("pk_value:{}", team.as_str())
}

pub use livepk_engine::GifterProfile;

/// Encodes RoomPk's notifications for the event stream. The server's encoder builds protobuf
/// messages with the senders' profiles filled in; a test's may keep the domain values.
#[async_trait]
pub trait RoomPkEncoder: Send + Sync {
    /// Encoded events for `notifications` (profiles read through `adapter`).
    async fn encode(
        &self,
        adapter: &RoomPkAdapter,
        notifications: &[Notification],
        context: EncodeContext<'_, RoomPk>,
    ) -> EngineResult<Vec<Vec<u8>>>;
}

impl From<RoomPkError> for EngineError {
    fn from(error: RoomPkError) -> Self {
        EngineError::business(error)
    }
}

/// RoomPk on the engine.
pub struct RoomPkAdapter {
    engine: Arc<Engine>,
    encoder: Arc<dyn RoomPkEncoder>,
}

impl RoomPkAdapter {
    /// The adapter over `engine`, encoding notifications with `encoder`.
    pub fn new(engine: Arc<Engine>, encoder: Arc<dyn RoomPkEncoder>) -> Arc<Self> {
        Arc::new(Self { engine, encoder })
    }

    /// What RoomPk plugs into the runtime.
    pub fn parts(self: &Arc<Self>) -> ModeParts {
        ModeParts::routed(self.clone())
    }

    // ---- reading ----------------------------------------------------------------------------

    /// `room` and its team battle with the team totals.
    pub async fn load(&self, room: RoomSid) -> EngineResult<Snapshot<RoomPk>> {
        let mut snapshot = Snapshot::new();
        self.engine.load_aggregates(self, &mut snapshot, &[room]).await?;
        self.engine.load_battle(self, &mut snapshot, Some(battle_id_of(room))).await?;
        Ok(snapshot)
    }

    /// The top `count` rows of board `board` of `room`.
    async fn board(&self, room: RoomSid, board: &str, count: usize) -> EngineResult<Vec<TeamRow>> {
        let rows = self.engine.board(self, battle_id_of(room), board, count).await?;
        Ok(rows.into_iter().map(team_row).collect())
    }

    /// The four boards of `room`'s current (or last) battle, top [`BOARD_SIZE`] each.
    pub async fn boards(&self, room: RoomSid) -> EngineResult<Boards> {
        let mut boards = Boards::default();
        for team in Team::BOTH {
            let side = team.side();
            boards.contribution[side] =
                self.board(room, &contribution_board(team), BOARD_SIZE).await?;
            boards.pk_value[side] = self.board(room, &pk_value_board(team), BOARD_SIZE).await?;
        }
        Ok(boards)
    }

    /// Profiles of senders of `room`'s current (or last) battle (missing ones are left out).
    pub async fn gifter_profiles(
        &self,
        room: RoomSid,
        users: &[UserId],
    ) -> EngineResult<HashMap<UserId, GifterProfile>> {
        self.engine.gifter_profiles(&room_tag(room), USERS, users).await
    }

    /// `user`'s totals in `room`: running totals across battles, and what they did in the
    /// current (or last) battle.
    pub async fn user_totals(&self, room: &Room, user: UserId) -> EngineResult<UserTotals> {
        let tag = room_tag(room.room_id);
        let store = &self.engine.store;
        let field = [user.to_string()];
        let running = |name: &'static str| {
            let (tag, field) = (&tag, &field);
            async move {
                let values = store.hash_get_fields(tag, name, field).await?;
                Ok::<u64, EngineError>(number(values.first().and_then(Option::as_deref)))
            }
        };
        let total_pk_value = running(TOTAL_PK_VALUE).await?;
        let total_contribute_value = running(TOTAL_CONTRIBUTE_VALUE).await?;
        let mut pk_value = 0;
        let mut contribute_value = 0;
        for team in Team::BOTH {
            let received = store.board_total(&tag, &pk_value_board(team), user.get()).await?;
            pk_value += received.unwrap_or(0).max(0) as u64;
            let sent = store.board_total(&tag, &contribution_board(team), user.get()).await?;
            contribute_value += sent.unwrap_or(0).max(0) as u64;
        }
        Ok(UserTotals {
            user_id: user,
            location: room.location_of(user),
            total_pk_value,
            total_contribute_value,
            pk_value,
            contribute_value,
        })
    }

    /// `GetState`: the room's seats, its battle (current, or the last one once over) with the
    /// team totals and the four boards, and `user`'s totals when asked.
    pub async fn state(&self, room_id: RoomSid, user: Option<UserId>) -> EngineResult<RoomState> {
        let snapshot = self.load(room_id).await?;
        let room = snapshot.aggregate(room_id).cloned().unwrap_or_else(|| Room::new(room_id));
        let battle = snapshot.battle().map(|battle| battle.info(snapshot.scores()));
        let boards = match battle {
            Some(_) => self.boards(room_id).await?,
            None => Boards::default(),
        };
        let user = match user {
            Some(user) => Some(self.user_totals(&room, user).await?),
            None => None,
        };
        Ok(RoomState { room, battle, boards, user })
    }

    // ---- commands ---------------------------------------------------------------------------

    /// Names the room's operator.
    pub async fn set_operator(&self, room: RoomSid, operator: UserId) -> EngineResult<()> {
        self.run(
            || async move { Ok((self.load(room).await?, ())) },
            |snapshot, _, _| Ok(crate::set_operator(snapshot.aggregate(room), room, operator)),
        )
        .await
    }

    /// A seat operation (take, leave, hold up or down, lock, disable, invite).
    pub async fn operate_seat(&self, request: SeatRequest) -> EngineResult<SeatReply> {
        let room = request.room_id;
        self.run(
            || async move {
                let mut snapshot = Snapshot::new();
                self.engine.load_aggregates(self, &mut snapshot, &[room]).await?;
                Ok((snapshot, ()))
            },
            |snapshot, _, now_ms| {
                Ok(crate::operate_seat(snapshot.aggregate(room), request, now_ms)?)
            },
        )
        .await
    }

    /// Start: a new team battle under a fresh pkid (allocated only for a start that passes the
    /// checks).
    pub async fn start(&self, request: StartRequest) -> EngineResult<BattleInfo> {
        let config = self.config().await?;
        let room = request.room_id;
        let request = &request;
        self.run(
            || async move {
                let snapshot = self.load(room).await?;
                // A pkid only for a start the checks would take (a dry run without one): a
                // refused Start — not the operator, a bad countdown, a battle running — must
                // not use one up (nothing changes on a refused request).
                let checks = crate::start(
                    snapshot.aggregate(room),
                    snapshot.battle(),
                    request.clone(),
                    None,
                    &config,
                    0,
                );
                let fresh = match checks {
                    Err(RoomPkError::PkidMissing) => {
                        Some(self.engine.next_pkid(Mode::RoomPk).await?)
                    }
                    _ => None,
                };
                Ok((snapshot, fresh))
            },
            |snapshot, fresh, now_ms| {
                let (room_state, battle) = (snapshot.aggregate(room), snapshot.battle());
                Ok(crate::start(room_state, battle, request.clone(), *fresh, &config, now_ms)?)
            },
        )
        .await
    }

    /// AddTime: the running scoring phase goes on longer, same pkid.
    pub async fn add_time(&self, request: AddTimeRequest) -> EngineResult<BattleInfo> {
        let config = self.config().await?;
        let room = request.room_id;
        self.run(
            || async move { Ok((self.load(room).await?, ())) },
            |snapshot, _, now_ms| {
                let (room_state, battle) = (snapshot.aggregate(room), snapshot.battle());
                let scores = snapshot.scores();
                Ok(crate::add_time(room_state, battle, request, scores, &config, now_ms)?)
            },
        )
        .await
    }

    /// Finish: the verdict on the totals now, and the battle is over.
    pub async fn finish(&self, request: FinishRequest) -> EngineResult<BattleInfo> {
        let room = request.room_id;
        self.run(
            || async move { Ok((self.load(room).await?, ())) },
            |snapshot, _, now_ms| {
                let (room_state, battle) = (snapshot.aggregate(room), snapshot.battle());
                Ok(crate::finish(room_state, battle, request, snapshot.scores(), now_ms)?)
            },
        )
        .await
    }

    /// Runs one command on the engine.
    async fn run<X, R, Load, LoadFuture, Decide>(
        &self,
        load: Load,
        decide: Decide,
    ) -> EngineResult<R>
    where
        Load: FnMut() -> LoadFuture,
        LoadFuture: std::future::Future<Output = EngineResult<(Snapshot<RoomPk>, X)>>,
        Decide: FnMut(&Snapshot<RoomPk>, &X, u64) -> EngineResult<Transition<R>>,
    {
        self.engine.run(self, load, decide).await
    }
}

fn team_row(row: BoardRow) -> TeamRow {
    TeamRow { user_id: row.user_id, value: row.total }
}

/// A stored counter (absent or unreadable: 0).
fn number(value: Option<&str>) -> u64 {
    value.and_then(|value| value.parse::<i64>().ok()).unwrap_or(0).max(0) as u64
}

#[async_trait]
impl ModeBinding for RoomPkAdapter {
    type Domain = RoomPk;
    type Config = RoomPkConfig;

    const MODE: Mode = Mode::RoomPk;

    fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    async fn config(&self) -> EngineResult<RoomPkConfig> {
        Ok(RoomPkConfig::from_values(&*self.engine.settings.snapshot().await?))
    }

    /// The room's tag: the battle id is the room's id.
    fn battle_tag(&self, battle: BattleId) -> String {
        room_tag(room_of(battle))
    }

    fn aggregate_key(&self, room: AggregateId<RoomPk>) -> StoreKey {
        StoreKey::new(room_tag(room), ROOM)
    }

    fn change_ops(&self, change: &std::convert::Infallible) -> Vec<(String, Op)> {
        match *change {}
    }

    fn score_keys(&self, _battle: &TeamBattle) -> ScoreKeys {
        let teams = Sides::new(Team::Red, Team::Blue);
        ScoreKeys {
            totals: SCORE.into(),
            fields: teams.map(|team| team.as_str().to_owned()),
            senders: teams.map(contribution_board),
            boards: Team::BOTH.into_iter().map(pk_value_board).collect(),
            keys: vec![USERS.into()],
        }
    }

    async fn encode(
        &self,
        notifications: &[Notification],
        context: EncodeContext<'_, RoomPk>,
    ) -> EngineResult<Vec<Vec<u8>>> {
        self.encoder.encode(self, notifications, context).await
    }

    /// Both teams of the room (`id` and `sid` the room's id, `side` red or blue, the team
    /// total), the winning team listed first so that the record's `winner_side` names it.
    fn record(&self, settled: &Settled, battle: &TeamBattle, now_ms: u64) -> PkRecord {
        let team = |side: Side| Participant {
            id: battle.room_id.get(),
            sid: battle.room_id.get(),
            side: Team::of(side).as_str().into(),
            score: settled.scores[side],
        };
        let order = match settled.winner {
            Some(Side::Second) => Sides::new(Side::Second, Side::First),
            _ => Sides::new(Side::First, Side::Second),
        };
        settled_record(Mode::RoomPk, settled, order.map(team), now_ms)
    }

    fn on_phase_deadline(
        &self,
        battle: Option<&TeamBattle>,
        deadline: &PhaseDeadline,
        scores: Scores,
        config: &RoomPkConfig,
        now_ms: u64,
    ) -> Transition<()> {
        crate::on_phase_deadline(battle, deadline, scores, config, now_ms)
    }

    fn invitation_parties(&self, _invitation: &()) -> Vec<RoomSid> {
        Vec::new()
    }

    fn on_invitation_expired(
        &self,
        _snapshot: &Snapshot<RoomPk>,
        _invitation: &(),
        _config: &RoomPkConfig,
        _now_ms: u64,
    ) -> Transition<()> {
        Transition::unchanged(())
    }

    fn battle_parties(&self, _battle: &TeamBattle) -> Vec<RoomSid> {
        Vec::new()
    }

    fn admin_close(&self, snapshot: &Snapshot<RoomPk>, now_ms: u64) -> Transition<()> {
        crate::admin_close(snapshot.battle(), snapshot.scores(), now_ms).map_reply(|_, _| ())
    }

    /// A room holds one team battle after another under the room's battle id, each with its
    /// own pkid for its whole life (AddTime keeps it); a Start replaces only a battle that is
    /// over. The pkid of an earlier battle of the room is not the stored battle's.
    fn holds_pkid(&self, battle: &TeamBattle, pkid: PkId) -> bool {
        battle.pkid() == pkid
    }

    fn score_progress(
        &self,
        battle: &TeamBattle,
        scores: Scores,
        side: Side,
        rows: &[BoardRow],
    ) -> Vec<Notification> {
        let rows: Vec<TeamRow> = rows.iter().copied().map(team_row).collect();
        crate::score_progress(battle, scores, Team::of(side), &rows)
    }
}

/// What locating a gift read of the room's seats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatsRead {
    /// The team of the seat the receiver holds (`None`: no PK seat, no team).
    pub team: Option<Team>,
    /// The room's version when read: the gift counts only while the room is still at it.
    pub room_version: u64,
}

#[async_trait]
impl GiftRoute for RoomPkAdapter {
    type Found = SeatsRead;

    const MODE: Mode = Mode::RoomPk;
    const CLAIM: Claim = Claim::SeatedUser;
    const HAS_AFTER_SCORED: bool = false;

    /// The room's battle while it is scoring — read first: no scoring battle, no other read —,
    /// then the team of the receiver's seat with the room's version.
    async fn locate(&self, key: RouteKey) -> EngineResult<Option<Located<SeatsRead>>> {
        let RouteKey::SeatedUser { room, user } = key else { return Ok(None) };
        let battle_id = battle_id_of(room);
        let Some((battle, _)) = self.engine.read_battle(self, battle_id).await? else {
            return Ok(None);
        };
        let Some((_, until_ms)) = battle.round.scoring_window() else { return Ok(None) };
        let mut snapshot = Snapshot::new();
        self.engine.load_aggregates(self, &mut snapshot, &[room]).await?;
        let found = SeatsRead {
            team: snapshot.aggregate(room).and_then(|seats| seats.team_of(user)),
            room_version: snapshot.aggregate_version(room),
        };
        Ok(Some(Located { battle: battle_id, tag: room_tag(room), until_ms, found }))
    }

    /// The seats the team was read from are still as read: the room at the version read.
    fn guard(&self, located: &Located<SeatsRead>) -> Option<Condition> {
        Some(Condition::Version { name: ROOM.into(), version: located.found.room_version })
    }

    /// The sender's contribution on the team's contribution board, the receiver's PK value on
    /// the team's PK-value board and the team total, and both users' running totals — nothing
    /// for a receiver on no PK seat.
    fn credit(&self, gift: &Gift, located: &Located<SeatsRead>, points: i64) -> Option<Credit> {
        let team = located.found.team?;
        let receiver = gift.receiver_id.as_user();
        let sender = &gift.sender;
        Some(Credit {
            side: team.side(),
            side_word: team.as_str().into(),
            receiver_id: receiver.get(),
            counters: vec![
                (SCORE.into(), team.as_str().into(), points),
                (TOTAL_PK_VALUE.into(), receiver.to_string(), points),
                (TOTAL_CONTRIBUTE_VALUE.into(), sender.user_id.to_string(), points),
            ],
            boards: vec![
                (contribution_board(team), sender.user_id.get(), points),
                (pk_value_board(team), receiver.get(), points),
            ],
            fields: vec![GifterProfile::credit_field(USERS, sender)],
        })
    }
}
