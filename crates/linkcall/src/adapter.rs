//! LinkCallPk's adapter: what the battle engine needs to know of this mode (where its states live,
//! which pure functions answer its deadlines) and its commands, each loading what its pure
//! function takes. Everything else — the retry loop, settling on final numbers, the commit plan,
//! timers, records, room stages, gift routing and score notifications — is the engine's.
//!
//! Layout in the store (through `livepk-engine` and `livepk-store`, which alone know Redis). No
//! tag grows with the number of anchors or sessions (Redis Cluster puts one tag on one slot):
//! * tag `lc:anchor:<id>` — one anchor: its aggregate (`anchor:<id>`), its profile
//!   (`profile:<id>`, §B.1, 3 days) and its application lists (`applicants:<id>` = who applied to
//!   it as host, seed §B.5; `applied:<id>` = whom it applied to as guest, §B.4). A command that
//!   changes two anchors writes two transactions (the engine's pointers, one per tag).
//! * tag `lc:online` — the online list (`online`), paged by rank; nothing else.
//! * tag `lc:<battle>` — one link session: the `battle` aggregate, its scoring `window`, side
//!   totals (`score`, field = the anchor id), each anchor's top-gifter board (`board:<anchor
//!   id>`) and the gifters' profiles (`users`, §B.2). A gift touches only this tag, in one script.
//!
//! Gifts are claimed by receiver ([`Claim::Receiver`]): the anchor says which session it is in,
//! the session whether it is scoring. The engine caches that answer for 2 s; it can only be stale
//! in the safe direction because every path that takes an anchor out of a battle closes that
//! battle's scoring window in the battle's own commit.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use livepk_battle::{BattleId, PhaseDeadline, Scores, Settled, Side, Sides};
use livepk_core::{Gift, Mode, RoomSid, SingerId, UserId};
use livepk_engine::{
    AggregateId, BoardRow, Claim, Credit, EncodeContext, Engine, EngineError, EngineResult,
    GiftRoute, Located, ModeBinding, ModeParts, RouteKey, STATE_TTL, ScoreKeys, Snapshot, StoreKey,
    settled_record, stage,
};
use livepk_sql::{Participant, PkRecord};
use livepk_store::{Op, Order, Transaction};
use serde::{Deserialize, Serialize};

use crate::{
    Activity, Anchor, ApplyRequest, Battle, BattleReply, CloseReply, ConfirmDecision, ConfirmReply,
    ConfirmRequest, GifterRow, LeaveContext, LinkCall, LinkCallConfig, LinkCallError, LinkReply,
    LinkRequest, ListChange, NewBattle, Notification, OpenFunctionReply, OpenFunctionRequest,
    OpenGate, PairRequest, PopupKey, SingerComeInRoomReply, SingerComeInRoomRequest, StateReply,
    SwitchSceneReply, Transition, Withdrawal,
};

/// The mode's tag prefix: `lc:<battle>` is a link session, `lc:anchor:<id>` an anchor.
const LC: &str = "lc";
/// Tag of the online list (one key on its own tag, shared with nothing else).
pub(crate) const ONLINE_TAG: &str = "lc:online";
pub(crate) const ONLINE: &str = "online";
const SCORE: &str = "score";
const USERS: &str = "users";

/// Tag of one anchor: its aggregate, profile and application lists. Never a battle's tag
/// (`lc:<number>`) nor the online list's.
pub(crate) fn anchor_tag(singer: SingerId) -> String {
    format!("{LC}:anchor:{singer}")
}

fn anchor_name(singer: SingerId) -> String {
    format!("anchor:{singer}")
}
fn profile_name(singer: SingerId) -> String {
    format!("profile:{singer}")
}
fn applicants_name(host: SingerId) -> String {
    format!("applicants:{host}")
}
fn applied_name(guest: SingerId) -> String {
    format!("applied:{guest}")
}
fn board_name(singer: SingerId) -> String {
    format!("board:{singer}")
}

/// The words of each side in gift answers and records.
const SIDE_WORDS: Sides<&str> = Sides { first: "host", second: "guest" };

/// An anchor's display profile (seed §B.1), refreshed by the gateway at every login.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SingerProfile {
    /// Nickname.
    pub nick: String,
    /// Avatar URL.
    pub icon: String,
    /// Level.
    pub level: u32,
    /// Star level (the gate of OpenFunction).
    pub star: u32,
    /// The anchor's room.
    pub sid: u64,
}

pub use livepk_engine::GifterProfile;

/// Encodes LinkCallPk's notifications for the event stream. The server's encoder builds the
/// seed's protobuf messages with the profiles filled in; a test's may keep the domain values.
#[async_trait]
pub trait LinkCallEncoder: Send + Sync {
    /// Encoded events for `notifications` (profiles read through `adapter`).
    async fn encode(
        &self,
        adapter: &LinkCallAdapter,
        notifications: &[Notification],
        context: EncodeContext<'_, LinkCall>,
    ) -> EngineResult<Vec<Vec<u8>>>;
}

impl From<LinkCallError> for EngineError {
    fn from(error: LinkCallError) -> Self {
        EngineError::business(error)
    }
}

/// The members of a withdrawing anchor's application lists (see [`Withdrawal`]).
#[derive(Debug, Clone, Default)]
pub struct Lists {
    /// Who applied to it.
    pub applicants: Vec<SingerId>,
    /// Whom it applied to.
    pub applied_to: Vec<SingerId>,
}

/// LinkCallPk on the engine.
pub struct LinkCallAdapter {
    engine: Arc<Engine>,
    encoder: Arc<dyn LinkCallEncoder>,
}

impl LinkCallAdapter {
    /// The adapter over `engine`, encoding notifications with `encoder`.
    pub fn new(engine: Arc<Engine>, encoder: Arc<dyn LinkCallEncoder>) -> Arc<Self> {
        Arc::new(Self { engine, encoder })
    }

    /// What LinkCallPk plugs into the runtime.
    pub fn parts(self: &Arc<Self>) -> ModeParts {
        ModeParts::routed(self.clone())
    }

    // ---- reading ----------------------------------------------------------------------------

    /// Anchors `ids`.
    pub async fn load_anchors(&self, ids: &[SingerId]) -> EngineResult<Snapshot<LinkCall>> {
        let mut snapshot = Snapshot::new();
        self.engine.load_aggregates(self, &mut snapshot, ids).await?;
        Ok(snapshot)
    }

    /// `singer`, the battle it points at with its totals.
    pub async fn load_with_battle(&self, singer: SingerId) -> EngineResult<Snapshot<LinkCall>> {
        let mut snapshot = self.load_anchors(&[singer]).await?;
        let battle = snapshot.aggregate(singer).and_then(|anchor| anchor.battle);
        self.engine.load_battle(self, &mut snapshot, battle).await?;
        Ok(snapshot)
    }

    /// Both anchors of a pair, the battle they share with its totals.
    async fn load_pair(&self, pair: PairRequest) -> EngineResult<Snapshot<LinkCall>> {
        let mut snapshot = self.load_anchors(&[pair.host_id, pair.guest_id]).await?;
        let battle = crate::battle_of_pair(
            snapshot.aggregate(pair.host_id),
            snapshot.aggregate(pair.guest_id),
        );
        self.engine.load_battle(self, &mut snapshot, battle).await?;
        Ok(snapshot)
    }

    /// What withdrawing `singer` from LinkCallPk touches: its lists, the anchors of the
    /// invitations it holds or sent, its battle and its partner.
    async fn load_withdrawal(&self, singer: SingerId) -> EngineResult<(Snapshot<LinkCall>, Lists)> {
        let mut snapshot = self.load_with_battle(singer).await?;
        let mut related = Vec::new();
        if let Some(anchor) = snapshot.aggregate(singer) {
            related.extend(anchor.outgoing_invite.map(|invite| invite.to));
            related.extend(anchor.popup.map(|popup| popup.from));
        }
        if let Some(partner) = snapshot.battle().and_then(|battle| battle.partner_of(singer)) {
            related.push(partner);
        }
        let lists = Lists {
            applicants: self.applicants(singer).await?,
            applied_to: self.applied_to(singer).await?,
        };
        related.extend(lists.applicants.iter().chain(&lists.applied_to));
        self.engine.load_aggregates(self, &mut snapshot, &related).await?;
        Ok((snapshot, lists))
    }

    /// Copies of the anchors of `ids` that point at a battle which is closed or gone, with the
    /// pointer cleared: such an anchor is free. Only a new battle abandoned after one anchor's
    /// pointer was written (the other's lost a race: each anchor is its own transaction) leaves
    /// one behind; Confirm's re-run takes the pair up again from there.
    async fn freed_from_closed(
        &self,
        snapshot: &Snapshot<LinkCall>,
        ids: &[SingerId],
    ) -> EngineResult<HashMap<SingerId, Anchor>> {
        let mut freed = HashMap::new();
        for id in ids {
            let Some(anchor) = snapshot.aggregate(*id) else { continue };
            let Some(battle) = anchor.battle else { continue };
            let read = self.engine.read_battle(self, battle).await?;
            if read.is_none_or(|(battle, _)| battle.is_closed()) {
                let mut free = anchor.clone();
                free.battle = None;
                freed.insert(*id, free);
            }
        }
        Ok(freed)
    }

    fn withdrawal<'a>(
        snapshot: &'a Snapshot<LinkCall>,
        singer: SingerId,
        lists: &'a Lists,
    ) -> Withdrawal<'a> {
        let anchor = snapshot.aggregate(singer);
        Withdrawal {
            applicants: &lists.applicants,
            applied_to: &lists.applied_to,
            invited_guest: anchor
                .and_then(|anchor| anchor.outgoing_invite)
                .and_then(|invite| snapshot.aggregate(invite.to)),
            inviting_host: anchor
                .and_then(|anchor| anchor.popup)
                .and_then(|popup| snapshot.aggregate(popup.from)),
        }
    }

    /// The top `count` gifters of `singer`'s side of `battle`.
    pub async fn board(
        &self,
        battle: &Battle,
        singer: SingerId,
        count: usize,
    ) -> EngineResult<Vec<GifterRow>> {
        let rows = self.engine.board(self, battle.battle_id, &board_name(singer), count).await?;
        Ok(rows.into_iter().map(gifter_row).collect())
    }

    /// Profiles of gifters of `battle` (missing ones are left out).
    pub async fn gifter_profiles(
        &self,
        battle: BattleId,
        users: &[UserId],
    ) -> EngineResult<HashMap<UserId, GifterProfile>> {
        self.engine.gifter_profiles(&self.battle_tag(battle), USERS, users).await
    }

    /// Profiles of anchors (missing ones are left out).
    pub async fn singer_profiles(
        &self,
        singers: &[SingerId],
    ) -> EngineResult<HashMap<SingerId, SingerProfile>> {
        let mut unique = singers.to_vec();
        unique.sort();
        unique.dedup();
        let keys: Vec<(String, String)> =
            unique.iter().map(|singer| (anchor_tag(*singer), profile_name(*singer))).collect();
        let keys: Vec<(&str, &str)> =
            keys.iter().map(|(tag, name)| (tag.as_str(), name.as_str())).collect();
        let read = self.engine.store.get_many(&keys).await?;
        let mut profiles = HashMap::new();
        for (singer, versioned) in unique.into_iter().zip(read) {
            if let Some(versioned) = versioned {
                profiles.insert(singer, decode("singer profile", &versioned.value)?);
            }
        }
        Ok(profiles)
    }

    /// Stores an anchor's profile (seed §B.1: refreshed at every login, kept 3 days).
    pub async fn refresh_profile(
        &self,
        singer: SingerId,
        profile: &SingerProfile,
    ) -> EngineResult<()> {
        let transaction = Transaction::new(anchor_tag(singer)).op(Op::Put {
            name: profile_name(singer),
            value: encode(profile),
            ttl: Some(STATE_TTL),
        });
        self.engine.store.commit(transaction).await?;
        Ok(())
    }

    async fn list_members(
        &self,
        tag: &str,
        name: &str,
        offset: usize,
        count: usize,
    ) -> EngineResult<Vec<SingerId>> {
        let rows = self.engine.store.zrange(tag, name, offset, count, Order::Descending).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(member, _)| member.parse::<u64>().ok().filter(|id| *id != 0))
            .map(SingerId::from_trusted)
            .collect())
    }

    /// Everyone who applied to `host` (its link list, seed §B.5), most recent first.
    pub async fn applicants(&self, host: SingerId) -> EngineResult<Vec<SingerId>> {
        self.list_members(&anchor_tag(host), &applicants_name(host), 0, usize::MAX).await
    }

    /// Everyone `guest` applied to (seed §B.4), most recent first.
    pub async fn applied_to(&self, guest: SingerId) -> EngineResult<Vec<SingerId>> {
        self.list_members(&anchor_tag(guest), &applied_name(guest), 0, usize::MAX).await
    }

    /// A window of the online list, most recent availability first.
    pub async fn online_page(&self, window: crate::ListWindow) -> EngineResult<Vec<SingerId>> {
        let count = window.stop.saturating_sub(window.start) + 1;
        self.list_members(ONLINE_TAG, ONLINE, window.start as usize, count as usize).await
    }

    /// The caller's rank in the online list (most recent first).
    pub async fn online_rank(&self, caller: SingerId) -> EngineResult<Option<u64>> {
        Ok(self
            .engine
            .store
            .zrank(ONLINE_TAG, ONLINE, &caller.to_string(), Order::Descending)
            .await?)
    }

    /// A window of `host`'s applicants, most recent first.
    pub async fn applicants_page(
        &self,
        host: SingerId,
        window: crate::ListWindow,
    ) -> EngineResult<Vec<SingerId>> {
        let count = window.stop.saturating_sub(window.start) + 1;
        let (start, count) = (window.start as usize, count as usize);
        self.list_members(&anchor_tag(host), &applicants_name(host), start, count).await
    }

    /// The anchors of `ids` that exist, in that order.
    pub async fn anchors_in_order(&self, ids: &[SingerId]) -> EngineResult<Vec<Anchor>> {
        let snapshot = self.load_anchors(ids).await?;
        Ok(ids.iter().filter_map(|id| snapshot.aggregate(*id).cloned()).collect())
    }

    // ---- commands (seed 000 numbering) ------------------------------------------------------

    /// 1.1, on: the star gate and the whitelist, then the anchor is open and listed.
    pub async fn open_function(
        &self,
        request: OpenFunctionRequest,
    ) -> EngineResult<OpenFunctionReply> {
        let singer = request.singer_id;
        let config = self.config().await?;
        let star = self.singer_profiles(&[singer]).await?.get(&singer).map_or(0, |p| p.star);
        let whitelisted =
            config.whitelist_enabled && self.engine.database.whitelist_contains(singer).await?;
        let gate = OpenGate { singer_star: star, singer_whitelisted: whitelisted };
        self.run(
            || async move { Ok((self.load_anchors(&[singer]).await?, ())) },
            |snapshot, _, now_ms| {
                Ok(crate::open_function(
                    snapshot.aggregate(singer),
                    request,
                    gate,
                    &config,
                    now_ms,
                )?)
            },
        )
        .await
    }

    /// 1.1, off: the anchor leaves the lists; its applications and invitations are withdrawn.
    pub async fn close_function(&self, singer: SingerId) -> EngineResult<OpenFunctionReply> {
        self.run(
            || self.load_withdrawal(singer),
            |snapshot, lists, now_ms| {
                let withdrawal = Self::withdrawal(snapshot, singer, lists);
                let anchor = snapshot.aggregate(singer);
                Ok(crate::close_function(anchor, singer, withdrawal, now_ms)?)
            },
        )
        .await
    }

    /// 2: the guest applies to the host.
    pub async fn apply(&self, request: ApplyRequest) -> EngineResult<StateReply> {
        let ApplyRequest { guest_id, host_id } = request;
        self.run(
            || async move { Ok((self.load_anchors(&[guest_id, host_id]).await?, ())) },
            |snapshot, _, now_ms| {
                let (guest, host) = (snapshot.aggregate(guest_id), snapshot.aggregate(host_id));
                Ok(crate::apply(guest, host, request, now_ms)?)
            },
        )
        .await
    }

    /// 3.1: the host invites the guest. A room held by another mode's battle refuses with 025
    /// naming it, before the link's own checks (the claim at Confirm is the guard; this is the
    /// early answer).
    pub async fn link(&self, request: LinkRequest) -> EngineResult<LinkReply> {
        let config = self.config().await?;
        let LinkRequest { host_id, guest_id } = request;
        self.run(
            || async move {
                let snapshot = self.load_anchors(&[host_id, guest_id]).await?;
                let rooms: Vec<RoomSid> = [host_id, guest_id]
                    .iter()
                    .filter_map(|id| snapshot.aggregate(*id).and_then(|anchor| anchor.singer_sid))
                    .collect();
                stage::check(&self.engine, Mode::LinkCall, &rooms).await?;
                Ok((snapshot, ()))
            },
            |snapshot, _, now_ms| {
                let (host, guest) = (snapshot.aggregate(host_id), snapshot.aggregate(guest_id));
                Ok(crate::link(host, guest, request, &config, now_ms)?)
            },
        )
        .await
    }

    /// 3.2: the invited guest agrees (a new battle with a placeholder pkid) or refuses.
    pub async fn confirm(
        &self,
        guest_id: SingerId,
        host_id: SingerId,
        agree: bool,
    ) -> EngineResult<ConfirmReply> {
        self.run(
            || async move {
                let snapshot = self.load_anchors(&[guest_id, host_id]).await?;
                // Fresh ids per attempt, and only for an answer to a live popup of this host.
                let invited = snapshot
                    .aggregate(guest_id)
                    .and_then(|anchor| anchor.live_popup(self.now_ms()))
                    .is_some_and(|popup| popup.from == host_id);
                let new_battle = if agree && invited {
                    Some(NewBattle {
                        battle_id: self.engine.next_battle_id(Mode::LinkCall).await?,
                        placeholder_pkid: self.engine.next_pkid(Mode::LinkCall).await?,
                    })
                } else {
                    None
                };
                let freed = self.freed_from_closed(&snapshot, &[guest_id, host_id]).await?;
                Ok((snapshot, (new_battle, freed)))
            },
            |snapshot, (new_battle, freed), now_ms| {
                let decision = if agree {
                    ConfirmDecision::Agree(*new_battle)
                } else {
                    ConfirmDecision::Refuse
                };
                let request = ConfirmRequest { guest_id, host_id, decision };
                let anchor = |id| freed.get(&id).or(snapshot.aggregate(id));
                Ok(crate::confirm(anchor(guest_id), anchor(host_id), request, now_ms)?)
            },
        )
        .await
    }

    /// 4.1: the host starts scoring (the first start keeps the placeholder pkid).
    pub async fn start(&self, pair: PairRequest) -> EngineResult<BattleReply> {
        let config = self.config().await?;
        self.run(
            || async move {
                let snapshot = self.load_pair(pair).await?;
                let fresh = match snapshot.battle() {
                    Some(battle) if battle.round.next_start_needs_fresh_pkid() => {
                        Some(self.engine.next_pkid(Mode::LinkCall).await?)
                    }
                    _ => None,
                };
                Ok((snapshot, fresh))
            },
            |snapshot, fresh, now_ms| {
                Ok(crate::start(snapshot.battle(), pair, *fresh, &config, now_ms)?)
            },
        )
        .await
    }

    /// 4.2: an anchor turns its own room's view.
    pub async fn switch_scene(&self, singer: SingerId) -> EngineResult<SwitchSceneReply> {
        self.run(
            || async move { Ok((self.load_with_battle(singer).await?, ())) },
            |snapshot, _, _| Ok(crate::switch_scene(snapshot.battle(), singer)?),
        )
        .await
    }

    /// 5.1: settle at the deadline (either anchor; the first wins, the second gets 024).
    pub async fn count(&self, pair: PairRequest) -> EngineResult<BattleReply> {
        let config = self.config().await?;
        self.run(
            || async move { Ok((self.load_pair(pair).await?, ())) },
            |snapshot, _, now_ms| {
                Ok(crate::count(snapshot.battle(), pair, snapshot.scores(), &config, now_ms)?)
            },
        )
        .await
    }

    /// 5.2: extend under a new pkid, scores and boards carried over.
    pub async fn add_time(&self, pair: PairRequest) -> EngineResult<BattleReply> {
        let config = self.config().await?;
        self.run(
            || async move {
                let snapshot = self.load_pair(pair).await?;
                let fresh = match snapshot.battle() {
                    Some(battle) if !battle.is_closed() => {
                        Some(self.engine.next_pkid(Mode::LinkCall).await?)
                    }
                    _ => None,
                };
                Ok((snapshot, fresh))
            },
            |snapshot, fresh, now_ms| {
                let scores = snapshot.scores();
                Ok(crate::add_time(snapshot.battle(), pair, *fresh, scores, &config, now_ms)?)
            },
        )
        .await
    }

    /// 5.3: end the link (settling early if scoring); nothing to close answers pkid 0. Also
    /// answers the closed battle's rooms (host's first).
    pub async fn close(&self, pair: PairRequest) -> EngineResult<CloseReply> {
        self.run(
            || async move { Ok((self.load_pair(pair).await?, ())) },
            |snapshot, _, now_ms| {
                let (host, guest) =
                    (snapshot.aggregate(pair.host_id), snapshot.aggregate(pair.guest_id));
                let (battle, scores) = (snapshot.battle(), snapshot.scores());
                Ok(crate::close(host, guest, battle, pair, scores, now_ms)?)
            },
        )
        .await
    }

    /// 11: an anchor (re)enters its room: its function time, live popup and PK scene, with the
    /// scene's rooms (host's first; zeros without one).
    pub async fn singer_come_in_room(
        &self,
        request: SingerComeInRoomRequest,
    ) -> EngineResult<(SingerComeInRoomReply, [u64; 2])> {
        let singer = request.singer_id;
        self.run(
            || async move { Ok((self.load_with_battle(singer).await?, ())) },
            |snapshot, _, now_ms| {
                let (anchor, battle) = (snapshot.aggregate(singer), snapshot.battle());
                let rooms = rooms_of(battle);
                let transition =
                    crate::singer_come_in_room(anchor, battle, request, snapshot.scores(), now_ms);
                Ok(transition.map_reply(|reply, _| (reply, rooms)))
            },
        )
        .await
    }

    /// 12: the leave event. Answers the settled record, with the anchors (host first), when it
    /// settled a PK.
    pub async fn singer_leave(
        &self,
        singer: SingerId,
    ) -> EngineResult<Option<(Settled, Sides<SingerId>)>> {
        self.run(
            || self.load_withdrawal(singer),
            |snapshot, lists, now_ms| {
                let battle = snapshot.battle();
                let context = LeaveContext {
                    battle,
                    partner: battle
                        .and_then(|battle| battle.partner_of(singer))
                        .and_then(|partner| snapshot.aggregate(partner)),
                    withdrawal: Self::withdrawal(snapshot, singer, lists),
                    scores: snapshot.scores(),
                };
                let anchor = snapshot.aggregate(singer);
                let anchors =
                    battle.map(|battle| Sides::new(battle.host.singer_id, battle.guest.singer_id));
                Ok(crate::singer_leave(anchor, singer, context, now_ms)
                    .map_reply(|_, effects| effects.settled.zip(anchors)))
            },
        )
        .await
    }

    /// The external game / 电锯 busy flags behind 028 / 029.
    pub async fn set_singer_activity(
        &self,
        singer: SingerId,
        activity: Activity,
    ) -> EngineResult<()> {
        self.run(
            || async move { Ok((self.load_anchors(&[singer]).await?, ())) },
            |snapshot, _, _| {
                Ok(crate::set_singer_activity(snapshot.aggregate(singer), singer, activity))
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
        LoadFuture: std::future::Future<Output = EngineResult<(Snapshot<LinkCall>, X)>>,
        Decide: FnMut(&Snapshot<LinkCall>, &X, u64) -> EngineResult<Transition<R>>,
    {
        self.engine.run(self, load, decide).await
    }
}

/// The rooms of a battle, host's first (zeros without one).
fn rooms_of(battle: Option<&Battle>) -> [u64; 2] {
    battle.map_or([0, 0], |battle| battle.rooms().map(RoomSid::get))
}

fn gifter_row(row: BoardRow) -> GifterRow {
    GifterRow { user_id: row.user_id, user_gift: row.total }
}

/// The store ops of one list change, each with the tag of the key it writes: an application
/// list under its anchor's tag, the online list under its own.
fn list_ops(change: &ListChange) -> Vec<(String, Op)> {
    let ttl = Some(STATE_TTL);
    match *change {
        ListChange::OnlineUpsert { singer, score_ms } => vec![(
            ONLINE_TAG.into(),
            Op::ZAdd {
                name: ONLINE.into(),
                member: singer.to_string(),
                score: score_ms as f64,
                ttl,
            },
        )],
        ListChange::OnlineRemove { singer } => {
            vec![(ONLINE_TAG.into(), Op::ZRem { name: ONLINE.into(), member: singer.to_string() })]
        }
        ListChange::ApplicantAdd { host, guest, at_ms } => vec![
            (
                anchor_tag(host),
                Op::ZAdd {
                    name: applicants_name(host),
                    member: guest.to_string(),
                    score: at_ms as f64,
                    ttl,
                },
            ),
            (
                anchor_tag(guest),
                Op::ZAdd {
                    name: applied_name(guest),
                    member: host.to_string(),
                    score: at_ms as f64,
                    ttl,
                },
            ),
        ],
        ListChange::ApplicantRemove { host, guest } => vec![
            (anchor_tag(host), Op::ZRem { name: applicants_name(host), member: guest.to_string() }),
            (anchor_tag(guest), Op::ZRem { name: applied_name(guest), member: host.to_string() }),
        ],
        ListChange::ClearApplicantsOf { singer } => vec![
            (anchor_tag(singer), Op::DeleteKey { name: applicants_name(singer) }),
            (anchor_tag(singer), Op::DeleteKey { name: applied_name(singer) }),
        ],
    }
}

#[async_trait]
impl ModeBinding for LinkCallAdapter {
    type Domain = LinkCall;
    type Config = LinkCallConfig;

    const MODE: Mode = Mode::LinkCall;

    fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    async fn config(&self) -> EngineResult<LinkCallConfig> {
        Ok(LinkCallConfig::from_values(&*self.engine.settings.snapshot().await?))
    }

    fn battle_tag(&self, battle: BattleId) -> String {
        format!("{LC}:{battle}")
    }

    fn aggregate_key(&self, singer: AggregateId<LinkCall>) -> StoreKey {
        StoreKey::new(anchor_tag(singer), anchor_name(singer))
    }

    fn change_ops(&self, change: &ListChange) -> Vec<(String, Op)> {
        list_ops(change)
    }

    fn score_keys(&self, battle: &Battle) -> ScoreKeys {
        let anchors = Sides::new(battle.host.singer_id, battle.guest.singer_id);
        ScoreKeys {
            totals: SCORE.into(),
            fields: anchors.map(|singer| singer.to_string()),
            senders: anchors.map(board_name),
            boards: Vec::new(),
            keys: vec![USERS.into()],
        }
    }

    async fn encode(
        &self,
        notifications: &[Notification],
        context: EncodeContext<'_, LinkCall>,
    ) -> EngineResult<Vec<Vec<u8>>> {
        self.encoder.encode(self, notifications, context).await
    }

    fn record(&self, settled: &Settled, battle: &Battle, now_ms: u64) -> PkRecord {
        let participants = Sides::new(Side::First, Side::Second).map(|side| Participant {
            id: battle.side(side).singer_id.get(),
            sid: battle.side(side).singer_sid.get(),
            side: SIDE_WORDS[side].into(),
            score: settled.scores[side],
        });
        settled_record(Mode::LinkCall, settled, participants, now_ms)
    }

    fn on_phase_deadline(
        &self,
        battle: Option<&Battle>,
        deadline: &PhaseDeadline,
        scores: Scores,
        config: &LinkCallConfig,
        now_ms: u64,
    ) -> Transition<()> {
        crate::on_phase_deadline(battle, deadline, scores, config, now_ms).map_reply(|_, _| ())
    }

    fn invitation_parties(&self, popup: &PopupKey) -> Vec<SingerId> {
        vec![popup.guest, popup.host]
    }

    fn on_invitation_expired(
        &self,
        snapshot: &Snapshot<LinkCall>,
        popup: &PopupKey,
        _config: &LinkCallConfig,
        now_ms: u64,
    ) -> Transition<()> {
        let (guest, host) = (snapshot.aggregate(popup.guest), snapshot.aggregate(popup.host));
        crate::on_popup_expired(guest, host, popup.guest, popup.host, now_ms).map_reply(|_, _| ())
    }

    fn battle_parties(&self, battle: &Battle) -> Vec<SingerId> {
        vec![battle.host.singer_id, battle.guest.singer_id]
    }

    fn admin_close(&self, snapshot: &Snapshot<LinkCall>, now_ms: u64) -> Transition<()> {
        let battle = snapshot.battle();
        let (host, guest) = match battle {
            Some(battle) => (
                snapshot.aggregate(battle.host.singer_id),
                snapshot.aggregate(battle.guest.singer_id),
            ),
            None => (None, None),
        };
        crate::admin_close(battle, host, guest, snapshot.scores(), now_ms).map_reply(|_, _| ())
    }

    fn score_progress(
        &self,
        battle: &Battle,
        scores: Scores,
        _side: Side,
        rows: &[BoardRow],
    ) -> Vec<Notification> {
        let rows: Vec<GifterRow> = rows.iter().copied().map(gifter_row).collect();
        crate::gift_progress(battle, scores, &rows)
    }

    /// A session is taken up once its host points at it (an orphan of a lost Confirm race is
    /// never referenced, and must not keep the rooms).
    async fn holds_stage(&self, battle: &Battle) -> EngineResult<bool> {
        let host = battle.host.singer_id;
        let snapshot = self.load_anchors(&[host]).await?;
        Ok(snapshot.aggregate(host).is_some_and(|anchor| anchor.battle == Some(battle.battle_id)))
    }
}

#[async_trait]
impl GiftRoute for LinkCallAdapter {
    type Found = Side;

    const MODE: Mode = Mode::LinkCall;
    const CLAIM: Claim = Claim::Receiver;
    const HAS_AFTER_SCORED: bool = false;

    /// The receiving anchor's session, while it is scoring (two reads: the anchor, the battle).
    async fn locate(&self, key: RouteKey) -> EngineResult<Option<Located<Side>>> {
        let RouteKey::Receiver(receiver) = key else { return Ok(None) };
        let singer = receiver.as_singer();
        // The anchor, then its battle without the totals: two reads, as the gift path allows.
        let snapshot = self.load_anchors(&[singer]).await?;
        let Some(battle_id) = snapshot.aggregate(singer).and_then(|anchor| anchor.battle) else {
            return Ok(None);
        };
        let Some((battle, _)) = self.engine.read_battle(self, battle_id).await? else {
            return Ok(None);
        };
        let (Some((_, until_ms)), Some(side)) =
            (battle.round.scoring_window(), battle.side_of(singer))
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

    fn credit(&self, gift: &Gift, located: &Located<Side>, points: i64) -> Option<Credit> {
        let receiver = gift.receiver_id.as_singer();
        let sender = &gift.sender;
        Some(Credit {
            side: located.found,
            side_word: SIDE_WORDS[located.found].into(),
            receiver_id: receiver.get(),
            counters: vec![(SCORE.into(), receiver.to_string(), points)],
            boards: vec![(board_name(receiver), sender.user_id.get(), points)],
            fields: vec![GifterProfile::credit_field(USERS, sender)],
        })
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs to JSON cannot fail (no maps with non-string keys).
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode<T: for<'de> Deserialize<'de>>(what: &str, bytes: &[u8]) -> EngineResult<T> {
    serde_json::from_slice(bytes).map_err(|error| EngineError::corrupt(format!("{what}: {error}")))
}
