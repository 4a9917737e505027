//! AcrossPk's adapter: what the battle engine needs to know of this mode (where its states live,
//! which pure functions answer its deadlines) and its commands, each loading what its pure
//! function takes. Everything else — the retry loop, settling on final numbers, the commit plan,
//! timers, records, room stages, gift routing and score notifications — is the engine's.
//!
//! Layout in the store (through `livepk-engine` and `livepk-store`, which alone know Redis):
//! * tag `acrosspk:room:<room>` — one room's aggregate (`room`): created PK, challenges sent and
//!   received, battle pointer. One tag per room, so nothing grows with the number of rooms; a
//!   command about two rooms writes two tags, lower room first.
//! * tag `acrosspk:open` — the open-PK list (`created`): one sorted set, member = room id,
//!   score = creation time, read newest first. An index; each room's aggregate is the truth.
//! * tag `acrosspk:battle:<battle>` — one PK: the `battle` aggregate, its scoring `window`, the
//!   side totals (`score`, fields `red` / `blue`: each room's PK value), each room's
//!   contribution board (`contribute:red|blue`, senders) and PK-value board
//!   (`pkvalue:red|blue`, receivers), and the senders' profiles (`users`). A gift is one script
//!   on this tag.
//!
//! Gifts are claimed by room ([`Claim::Room`]): the room a gift was sent in names the battle (its
//! pointer) and the side (its place in the battle). The engine caches that answer for 2 s; it can
//! only be stale in the safe direction because every move that ends a battle closes its scoring
//! window in the battle's own commit.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use livepk_battle::{BattleId, PhaseDeadline, Scores, Settled, Side, Sides};
use livepk_core::{Gift, Mode, PkId, RoomSid, UserId};
use livepk_engine::{
    AggregateId, Claim, Credit, EncodeContext, Engine, EngineError, EngineResult, GiftRoute,
    Located, ModeBinding, ModeParts, RouteKey, ScoreKeys, Snapshot, StoreKey, settled_record,
    stage,
};
use livepk_sql::{Participant, PkRecord};
use livepk_store::{Op, Order};

use crate::{
    AcceptRequest, AcrossPk, AcrossPkConfig, AcrossPkError, Battle, BoardRow, ChallengeKey,
    ChallengeRequest, CreateRequest, FinishRequest, NewBattle, Notification, Offer, OpenListChange,
    PkInfo, RejectRequest, Room, RoomPk, RoomView, TOP_BOARD_ROWS, Transition,
};

/// Name of a room's aggregate under its tag.
const ROOM: &str = "room";
/// Tag of the open-PK list.
const OPEN_TAG: &str = "acrosspk:open";
/// The open-PK list under [`OPEN_TAG`].
const OPEN: &str = "created";
/// Side totals under a battle's tag.
const SCORE: &str = "score";
/// Senders' profiles under a battle's tag.
const USERS: &str = "users";
/// The words of each side: score fields, board names, gift answers and records.
const SIDE_WORDS: Sides<&str> = Sides { first: "red", second: "blue" };

fn room_tag(room: RoomSid) -> String {
    format!("acrosspk:room:{room}")
}
fn contribute_board(side: Side) -> String {
    format!("contribute:{}", SIDE_WORDS[side])
}
fn pk_value_board(side: Side) -> String {
    format!("pkvalue:{}", SIDE_WORDS[side])
}

pub use livepk_engine::GifterProfile;

/// One room's two boards in a PK, top [`TOP_BOARD_ROWS`] each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SideBoards {
    /// Contribution board (贡献值): who sent gifts in this room.
    pub contribute: Vec<BoardRow>,
    /// PK-value board (pk值): who received gifts in this room.
    pub pk_value: Vec<BoardRow>,
}

/// What `GetState` shows of a room.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomState {
    /// The room's current or latest PK, if any.
    pub pk: Option<RoomPk>,
    /// Both rooms' boards (red first); empty without a PK.
    pub boards: Sides<SideBoards>,
    /// Profiles of the viewers on the boards (as far as known).
    pub profiles: HashMap<UserId, GifterProfile>,
}

/// Encodes AcrossPk's notifications for the event stream. The server's encoder builds the
/// protobuf messages with the senders' profiles filled in; a test's may keep the domain values.
#[async_trait]
pub trait AcrossPkEncoder: Send + Sync {
    /// Encoded events for `notifications` (profiles read through `adapter`).
    async fn encode(
        &self,
        adapter: &AcrossPkAdapter,
        notifications: &[Notification],
        context: EncodeContext<'_, AcrossPk>,
    ) -> EngineResult<Vec<Vec<u8>>>;
}

impl From<AcrossPkError> for EngineError {
    fn from(error: AcrossPkError) -> Self {
        EngineError::business(error)
    }
}

/// Rooms as read, with the battles their pointers name (without totals).
#[derive(Debug, Clone, Default)]
pub struct Rooms {
    /// The battles the rooms point at.
    pub battles: Vec<Battle>,
}

impl Rooms {
    /// `room` as a command sees it (a room pointing at an abandoned battle restored: see
    /// [`RoomView`]).
    pub fn view<'a>(&'a self, snapshot: &'a Snapshot<AcrossPk>, room: RoomSid) -> RoomView<'a> {
        let aggregate = snapshot.aggregate(room);
        let pointer = aggregate.and_then(|room| room.battle);
        let battle = self.battles.iter().find(|battle| Some(battle.battle_id) == pointer);
        RoomView::new(room, aggregate, battle)
    }
}

/// AcrossPk on the engine.
pub struct AcrossPkAdapter {
    engine: Arc<Engine>,
    encoder: Arc<dyn AcrossPkEncoder>,
}

impl AcrossPkAdapter {
    /// The adapter over `engine`, encoding notifications with `encoder`.
    pub fn new(engine: Arc<Engine>, encoder: Arc<dyn AcrossPkEncoder>) -> Arc<Self> {
        Arc::new(Self { engine, encoder })
    }

    /// What AcrossPk plugs into the runtime.
    pub fn parts(self: &Arc<Self>) -> ModeParts {
        ModeParts::routed(self.clone())
    }

    // ---- reading ----------------------------------------------------------------------------

    /// Rooms `ids`.
    pub async fn load_rooms(&self, ids: &[RoomSid]) -> EngineResult<Snapshot<AcrossPk>> {
        let mut snapshot = Snapshot::new();
        self.engine.load_aggregates(self, &mut snapshot, ids).await?;
        Ok(snapshot)
    }

    /// Rooms `ids` and the battles they point at (without totals): what the offer commands
    /// take.
    pub async fn load_rooms_with_battles(
        &self,
        ids: &[RoomSid],
    ) -> EngineResult<(Snapshot<AcrossPk>, Rooms)> {
        let mut snapshot = Snapshot::new();
        let mut rooms = Rooms::default();
        self.add_rooms(&mut snapshot, &mut rooms, ids, |_| true).await?;
        Ok((snapshot, rooms))
    }

    /// Adds rooms `ids` to `snapshot`, and to `rooms` the battles their pointers name — for the
    /// rooms `may_restore` picks: those whose reading a restoring battle could change (see
    /// [`RoomView`]; restoring only adds to a room, so a room that already holds what a caller
    /// looks for needs no battle read).
    async fn add_rooms(
        &self,
        snapshot: &mut Snapshot<AcrossPk>,
        rooms: &mut Rooms,
        ids: &[RoomSid],
        may_restore: impl Fn(&Room) -> bool,
    ) -> EngineResult<()> {
        self.engine.load_aggregates(self, snapshot, ids).await?;
        let mut pointers: Vec<BattleId> = ids
            .iter()
            .filter_map(|id| snapshot.aggregate(*id))
            .filter(|room| may_restore(room))
            .filter_map(|room| room.battle)
            .filter(|pointer| !rooms.battles.iter().any(|battle| battle.battle_id == *pointer))
            .collect();
        pointers.sort();
        pointers.dedup();
        for id in pointers {
            if let Some((battle, _)) = self.engine.read_battle(self, id).await? {
                rooms.battles.push(battle);
            }
        }
        Ok(())
    }

    /// `room` and the battle it points at, with the battle's totals.
    pub async fn load_with_battle(&self, room: RoomSid) -> EngineResult<Snapshot<AcrossPk>> {
        let mut snapshot = self.load_rooms(&[room]).await?;
        let battle = snapshot.aggregate(room).and_then(|room| room.battle);
        self.engine.load_battle(self, &mut snapshot, battle).await?;
        Ok(snapshot)
    }

    /// The battle of `pkid` (by the engine's pkid index, else the one `room` points at) with its
    /// totals.
    async fn load_pk(&self, room: RoomSid, pkid: PkId) -> EngineResult<Snapshot<AcrossPk>> {
        let indexed = self.engine.battle_of_pkid(Mode::AcrossPk, pkid).await?;
        let mut snapshot = self.load_rooms(&[room]).await?;
        let battle = indexed.or_else(|| snapshot.aggregate(room).and_then(|room| room.battle));
        self.engine.load_battle(self, &mut snapshot, battle).await?;
        Ok(snapshot)
    }

    /// The top `count` rows of `board` of `battle`.
    async fn board(
        &self,
        battle: BattleId,
        board: &str,
        count: usize,
    ) -> EngineResult<Vec<BoardRow>> {
        let rows = self.engine.board(self, battle, board, count).await?;
        Ok(rows
            .into_iter()
            .map(|row| BoardRow { user_id: row.user_id, total: row.total })
            .collect())
    }

    /// Profiles of senders of `battle` (missing ones are left out).
    pub async fn gifter_profiles(
        &self,
        battle: BattleId,
        users: &[UserId],
    ) -> EngineResult<HashMap<UserId, GifterProfile>> {
        self.engine.gifter_profiles(&self.battle_tag(battle), USERS, users).await
    }

    /// `GetState`: the room's current or latest PK with both rooms' boards (top
    /// [`TOP_BOARD_ROWS`], ties to the first to reach the total) and the viewers' profiles. A
    /// room pointing at an abandoned battle shows the PK it pointed at before.
    pub async fn state(&self, room: RoomSid) -> EngineResult<RoomState> {
        let mut snapshot = self.load_with_battle(room).await?;
        let view = RoomView::new(room, snapshot.aggregate(room), snapshot.battle());
        let effective = view.room().cloned();
        if view.is_restored() {
            let previous = effective.as_ref().and_then(|room| room.battle);
            self.engine.load_battle(self, &mut snapshot, previous).await?;
        }
        let pk = crate::room_pk(room, effective.as_ref(), snapshot.battle(), snapshot.scores());
        let mut boards = Sides::<SideBoards>::default();
        let mut profiles = HashMap::new();
        if let (Some(_), Some(battle)) = (&pk, snapshot.battle()) {
            for side in Side::BOTH {
                boards[side] = SideBoards {
                    contribute: self
                        .board(battle.battle_id, &contribute_board(side), TOP_BOARD_ROWS)
                        .await?,
                    pk_value: self
                        .board(battle.battle_id, &pk_value_board(side), TOP_BOARD_ROWS)
                        .await?,
                };
            }
            let users: Vec<UserId> = Side::BOTH
                .iter()
                .flat_map(|side| boards[*side].contribute.iter().chain(&boards[*side].pk_value))
                .map(|row| row.user_id)
                .collect();
            profiles = self.gifter_profiles(battle.battle_id, &users).await?;
        }
        Ok(RoomState { pk, boards, profiles })
    }

    /// `ListChallenges`: the challenges `room` received that are pending, newest first (the
    /// rooms as [`RoomView`]s see them).
    pub async fn challenges(&self, room: RoomSid) -> EngineResult<Vec<Offer>> {
        let (snapshot, rooms) = self.load_rooms_with_battles(&[room]).await?;
        let view = rooms.view(&snapshot, room);
        let Some(aggregate) = view.room() else { return Ok(Vec::new()) };
        let senders: Vec<RoomSid> =
            aggregate.received.iter().map(|challenge| challenge.invitation.from).collect();
        let (mut challengers, mut challenger_battles) = (Snapshot::new(), Rooms::default());
        let lacks_half = |challenger: &Room| {
            aggregate.received.iter().any(|received| {
                received.invitation.from == challenger.room_id
                    && !challenger.sent.iter().any(|sent| sent.invitation == received.invitation)
            })
        };
        self.add_rooms(&mut challengers, &mut challenger_battles, &senders, lacks_half).await?;
        let views: Vec<RoomView<'_>> =
            senders.iter().map(|id| challenger_battles.view(&challengers, *id)).collect();
        let challenger =
            |id: RoomSid| views.iter().find(|view| view.room_id == id).and_then(|view| view.room());
        Ok(crate::pending_challenges(aggregate, challenger, self.now_ms()))
    }

    /// `ListCreated`: page `page_num` of the open PKs of the rooms other than `caller`, newest
    /// first. A PK taken or withdrawn between the list's read and the rooms' is left out, so a
    /// page may hold fewer rows.
    pub async fn created(&self, caller: RoomSid, page_num: u32) -> EngineResult<Vec<Offer>> {
        let config = self.config().await?;
        let store = &self.engine.store;
        let rank = store.zrank(OPEN_TAG, OPEN, &caller.to_string(), Order::Descending).await?;
        let (offset, count) = crate::created_window(page_num, config.page_size, rank);
        let listed: Vec<RoomSid> = store
            .zrange(OPEN_TAG, OPEN, offset, count, Order::Descending)
            .await?
            .into_iter()
            .filter_map(|(member, _)| member.parse::<u64>().ok().filter(|id| *id != 0))
            .map(RoomSid::from_trusted)
            .collect();
        let (mut snapshot, mut rooms) = (Snapshot::new(), Rooms::default());
        self.add_rooms(&mut snapshot, &mut rooms, &listed, |room| room.created.is_none()).await?;
        let views: Vec<RoomView<'_>> = listed.iter().map(|id| rooms.view(&snapshot, *id)).collect();
        let rows: Vec<(RoomSid, Option<&Room>)> =
            views.iter().map(|view| (view.room_id, view.room())).collect();
        Ok(crate::created_page(caller, &rows, config.page_size))
    }

    // ---- commands ---------------------------------------------------------------------------

    /// Create: the room opens its one PK. A room held by another mode's battle is refused with
    /// 025 naming it.
    pub async fn create(&self, request: CreateRequest) -> EngineResult<Offer> {
        let config = self.config().await?;
        let room = request.card.room_id;
        let request = &request;
        self.run(
            || async move {
                stage::check(&self.engine, Mode::AcrossPk, &[room]).await?;
                self.load_rooms_with_battles(&[room]).await
            },
            |snapshot, rooms, now_ms| {
                Ok(crate::create(&rooms.view(snapshot, room), request.clone(), &config, now_ms)?)
            },
        )
        .await
    }

    /// CancelCreate: the room withdraws its created PK.
    pub async fn cancel_create(&self, room: RoomSid) -> EngineResult<Offer> {
        self.run(
            || async move { self.load_rooms_with_battles(&[room]).await },
            |snapshot, rooms, _| Ok(crate::cancel_create(&rooms.view(snapshot, room))?),
        )
        .await
    }

    /// Challenge: `request.card` challenges `request.pk_room_id`. Either room held by another
    /// mode's battle is refused with 025 naming it. The rooms `from` has challenged are read too,
    /// to count its challenges still pending.
    pub async fn challenge(&self, request: ChallengeRequest) -> EngineResult<Offer> {
        let config = self.config().await?;
        let (from, to) = (request.card.room_id, request.pk_room_id);
        let request = &request;
        self.run(
            || async move {
                if from != to {
                    stage::check(&self.engine, Mode::AcrossPk, &[from, to]).await?;
                }
                let (mut snapshot, mut rooms) = self.load_rooms_with_battles(&[from, to]).await?;
                let sender = rooms.view(&snapshot, from).room().cloned();
                let challenged = crate::challenged_rooms(sender.as_ref(), to, self.now_ms());
                let lacks_half = |room: &Room| {
                    sender.as_ref().is_some_and(|sender| {
                        sender.sent.iter().any(|sent| {
                            sent.invitation.to == room.room_id
                                && room.received_as(&sent.invitation).is_none()
                        })
                    })
                };
                self.add_rooms(&mut snapshot, &mut rooms, &challenged, lacks_half).await?;
                Ok((snapshot, (rooms, challenged)))
            },
            |snapshot, (rooms, challenged), now_ms| {
                let (from, to) = (rooms.view(snapshot, from), rooms.view(snapshot, to));
                let challenged: Vec<RoomView<'_>> =
                    challenged.iter().map(|id| rooms.view(snapshot, *id)).collect();
                Ok(crate::challenge(&from, &to, &challenged, request.clone(), &config, now_ms)?)
            },
        )
        .await
    }

    /// Reject: the challenged room refuses a challenge.
    pub async fn reject(&self, request: RejectRequest) -> EngineResult<Offer> {
        let (room, challenger) = (request.room_id, request.pk_room_id);
        self.run(
            || async move { self.load_rooms_with_battles(&[room, challenger]).await },
            |snapshot, rooms, now_ms| {
                let (room, challenger) =
                    (rooms.view(snapshot, room), rooms.view(snapshot, challenger));
                Ok(crate::reject(&room, &challenger, request, now_ms)?)
            },
        )
        .await
    }

    /// Accept: the room takes up the other room's created PK or challenge; the PK starts in
    /// both rooms. Ids are allocated per attempt, only when there is an offer to take up.
    ///
    /// An attempt that wrote one room and lost the other is abandoned by the engine and run
    /// again: the room it wrote reads as before it (see [`RoomView`]), so the re-run takes the
    /// same offers and tells everyone once. When that re-run is refused (the offer gone
    /// meanwhile, a room taken by another mode, contention), the rooms are written back as they
    /// were ([`crate::restore`]) before the refusal is answered.
    pub async fn accept(&self, request: AcceptRequest) -> EngineResult<PkInfo> {
        let (blue, red) = (request.card.room_id, request.pk_room_id);
        let outcome = self.accept_once(&request).await;
        if outcome.is_err()
            && red != blue
            && let Err(error) = self.restore(&[red, blue]).await
        {
            tracing::warn!(red = %red, blue = %blue, %error, "restoring rooms after a refused accept failed");
        }
        let pk = outcome?;
        tracing::info!(pkid = %pk.pkid, red = %red, blue = %blue, "acrosspk started");
        Ok(pk)
    }

    async fn accept_once(&self, request: &AcceptRequest) -> EngineResult<PkInfo> {
        let (blue, red) = (request.card.room_id, request.pk_room_id);
        self.run(
            || async move {
                let (snapshot, rooms) = self.load_rooms_with_battles(&[red, blue]).await?;
                let (red_view, blue_view) =
                    (rooms.view(&snapshot, red), rooms.view(&snapshot, blue));
                let takes_up = red != blue
                    && red_view.live_battle().is_none()
                    && blue_view.live_battle().is_none()
                    && crate::offer_to_accept(&red_view, &blue_view, request.source, self.now_ms())
                        .is_ok();
                let ids = if takes_up {
                    Some(NewBattle {
                        battle_id: self.engine.next_battle_id(Mode::AcrossPk).await?,
                        pkid: self.engine.next_pkid(Mode::AcrossPk).await?,
                    })
                } else {
                    None
                };
                Ok((snapshot, (rooms, ids)))
            },
            |snapshot, (rooms, ids), now_ms| {
                let (blue_view, red_view) = (rooms.view(snapshot, blue), rooms.view(snapshot, red));
                // Without ids the offer is gone (or a room busy): the function says which.
                Ok(crate::accept(&blue_view, &red_view, request.clone(), *ids, now_ms)?)
            },
        )
        .await
    }

    /// Writes back, as they were, `rooms` that point at a battle the engine abandoned (see
    /// [`crate::restore`]); nothing for the others.
    pub async fn restore(&self, rooms: &[RoomSid]) -> EngineResult<()> {
        self.run(
            || async move { self.load_rooms_with_battles(rooms).await },
            |snapshot, loaded, _| {
                let views: Vec<RoomView<'_>> =
                    rooms.iter().map(|id| loaded.view(snapshot, *id)).collect();
                Ok(crate::restore(&views))
            },
        )
        .await
    }

    /// Finish: one of the two rooms ends PK `pkid` early.
    pub async fn finish(&self, request: FinishRequest) -> EngineResult<PkInfo> {
        let pk = self
            .run(
                || async move { Ok((self.load_pk(request.room_id, request.pkid).await?, ())) },
                |snapshot, _, now_ms| {
                    Ok(crate::finish(snapshot.battle(), request, snapshot.scores(), now_ms)?)
                },
            )
            .await?;
        tracing::info!(pkid = %pk.pkid, room = %request.room_id, "acrosspk finished early");
        Ok(pk)
    }

    /// Runs one command on the engine.
    async fn run<X, R, Load, LoadFuture, Decide>(
        &self,
        load: Load,
        decide: Decide,
    ) -> EngineResult<R>
    where
        Load: FnMut() -> LoadFuture,
        LoadFuture: std::future::Future<Output = EngineResult<(Snapshot<AcrossPk>, X)>>,
        Decide: FnMut(&Snapshot<AcrossPk>, &X, u64) -> EngineResult<Transition<R>>,
    {
        self.engine.run(self, load, decide).await
    }
}

/// The store ops of one change to the open-PK list.
fn open_list_ops(change: &OpenListChange) -> Vec<Op> {
    match *change {
        OpenListChange::Add { room, created_at_ms } => vec![Op::ZAdd {
            name: OPEN.into(),
            member: room.to_string(),
            score: created_at_ms as f64,
            ttl: Some(livepk_engine::STATE_TTL),
        }],
        OpenListChange::Remove { room } => {
            vec![Op::ZRem { name: OPEN.into(), member: room.to_string() }]
        }
    }
}

#[async_trait]
impl ModeBinding for AcrossPkAdapter {
    type Domain = AcrossPk;
    type Config = AcrossPkConfig;

    const MODE: Mode = Mode::AcrossPk;

    fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    async fn config(&self) -> EngineResult<AcrossPkConfig> {
        Ok(AcrossPkConfig::from_values(&*self.engine.settings.snapshot().await?))
    }

    fn battle_tag(&self, battle: BattleId) -> String {
        format!("acrosspk:battle:{battle}")
    }

    fn aggregate_key(&self, room: AggregateId<AcrossPk>) -> StoreKey {
        StoreKey::new(room_tag(room), ROOM)
    }

    fn change_ops(&self, change: &OpenListChange) -> Vec<(String, Op)> {
        open_list_ops(change).into_iter().map(|op| (OPEN_TAG.to_owned(), op)).collect()
    }

    fn score_keys(&self, _battle: &Battle) -> ScoreKeys {
        ScoreKeys {
            totals: SCORE.into(),
            fields: SIDE_WORDS.map(str::to_owned),
            senders: Sides::new(contribute_board(Side::First), contribute_board(Side::Second)),
            boards: vec![pk_value_board(Side::First), pk_value_board(Side::Second)],
            keys: vec![USERS.into()],
        }
    }

    async fn encode(
        &self,
        notifications: &[Notification],
        context: EncodeContext<'_, AcrossPk>,
    ) -> EngineResult<Vec<Vec<u8>>> {
        self.encoder.encode(self, notifications, context).await
    }

    /// Each room is a participant: id and sid the room id, side `red` / `blue`.
    fn record(&self, settled: &Settled, battle: &Battle, now_ms: u64) -> PkRecord {
        let rooms = battle.room_ids();
        let participants = Sides::new(Side::First, Side::Second).map(|side| Participant {
            id: rooms[side].get(),
            sid: rooms[side].get(),
            side: SIDE_WORDS[side].into(),
            score: settled.scores[side],
        });
        settled_record(Mode::AcrossPk, settled, participants, now_ms)
    }

    fn on_phase_deadline(
        &self,
        battle: Option<&Battle>,
        deadline: &PhaseDeadline,
        scores: Scores,
        config: &AcrossPkConfig,
        now_ms: u64,
    ) -> Transition<()> {
        crate::on_phase_deadline(battle, deadline, scores, config, now_ms)
    }

    fn invitation_parties(&self, key: &ChallengeKey) -> Vec<RoomSid> {
        vec![key.from, key.to]
    }

    fn on_invitation_expired(
        &self,
        snapshot: &Snapshot<AcrossPk>,
        key: &ChallengeKey,
        _config: &AcrossPkConfig,
        now_ms: u64,
    ) -> Transition<()> {
        crate::on_challenge_expired(
            snapshot.aggregate(key.from),
            snapshot.aggregate(key.to),
            *key,
            now_ms,
        )
    }

    fn battle_parties(&self, _battle: &Battle) -> Vec<RoomSid> {
        // A close writes the battle alone: a room's pointer to a closed battle is free.
        Vec::new()
    }

    fn admin_close(&self, snapshot: &Snapshot<AcrossPk>, now_ms: u64) -> Transition<()> {
        crate::admin_close(snapshot.battle(), snapshot.scores(), now_ms)
    }

    fn score_progress(
        &self,
        battle: &Battle,
        scores: Scores,
        side: Side,
        rows: &[livepk_engine::BoardRow],
    ) -> Vec<Notification> {
        let rows: Vec<BoardRow> =
            rows.iter().map(|row| BoardRow { user_id: row.user_id, total: row.total }).collect();
        crate::score_progress(battle, scores, side, &rows)
    }

    /// A battle is taken up once both rooms point at it (the orphan of an Accept that lost a
    /// race is never referenced by both, and must not keep the rooms).
    async fn holds_stage(&self, battle: &Battle) -> EngineResult<bool> {
        let rooms = battle.room_ids();
        let snapshot = self.load_rooms(&[rooms.first, rooms.second]).await?;
        Ok([rooms.first, rooms.second].iter().all(|room| {
            snapshot.aggregate(*room).is_some_and(|room| room.battle == Some(battle.battle_id))
        }))
    }
}

#[async_trait]
impl GiftRoute for AcrossPkAdapter {
    type Found = Side;

    const MODE: Mode = Mode::AcrossPk;
    const CLAIM: Claim = Claim::Room;
    const HAS_AFTER_SCORED: bool = false;

    /// The room's battle while it is scoring, and the room's side (two reads: the room, the
    /// battle).
    async fn locate(&self, key: RouteKey) -> EngineResult<Option<Located<Side>>> {
        let RouteKey::Room(room) = key else { return Ok(None) };
        let snapshot = self.load_rooms(&[room]).await?;
        let Some(battle_id) = snapshot.aggregate(room).and_then(|room| room.battle) else {
            return Ok(None);
        };
        let Some((battle, _)) = self.engine.read_battle(self, battle_id).await? else {
            return Ok(None);
        };
        let (Some((_, until_ms)), Some(side)) =
            (battle.round.scoring_window(), battle.side_of(room))
        else {
            return Ok(None);
        };
        Ok(Some(Located {
            battle: battle.battle_id,
            tag: self.battle_tag(battle.battle_id),
            until_ms,
            found: side,
        }))
    }

    /// The sender's contribution and the receiver's PK value, on the side of the room the gift
    /// was sent in; the side's total is its PK value.
    fn credit(&self, gift: &Gift, located: &Located<Side>, points: i64) -> Option<Credit> {
        let side = located.found;
        let sender = &gift.sender;
        Some(Credit {
            side,
            side_word: SIDE_WORDS[side].into(),
            receiver_id: gift.receiver_id.get(),
            counters: vec![(SCORE.into(), SIDE_WORDS[side].into(), points)],
            boards: vec![
                (contribute_board(side), sender.user_id.get(), points),
                (pk_value_board(side), gift.receiver_id.get(), points),
            ],
            fields: vec![GifterProfile::credit_field(USERS, sender)],
        })
    }
}
