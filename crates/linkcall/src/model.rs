//! The two aggregates of LinkCallPk — [`Anchor`] (one per anchor) and [`Battle`] (one per link
//! session) — and the small value types they are made of. Everything here is plain data with
//! serde derives, so the adapter can store each aggregate as one encoded value.

use livepk_battle::{BattleId, BattleState, Invitation, PhaseName, Round, Scores, Side};
use livepk_core::{PkId, RoomSid, SingerId, UserId};
use serde::{Deserialize, Serialize};

pub(crate) use livepk_battle::MS_PER_SECOND;

/// `pk_state_info` of seed 000 §C, with the seed's numbers. Used in responses, in
/// `linkcallpk_singer_state_nt` and in the anchor lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u32)]
pub enum PkState {
    /// 主播下线: the anchor is not available (function closed, left the room).
    Offline = 0,
    /// 申请: an application was made / can be made.
    Apply = 1,
    /// 已申请: the caller has already applied to this anchor.
    Applying = 2,
    /// 连线.
    Link = 3,
    /// 已连线.
    Linking = 4,
    /// 主播正在pk: the anchor is in a PK scene.
    Pking = 5,
    /// 主播正在游戏: the anchor is playing an external game.
    Gaming = 6,
    /// 主播正在电锯: the anchor is running a chainsaw (电锯) session.
    Sawing = 7,
    /// 主播收到一个连线弹窗，未处理: the anchor has an unanswered invitation popup.
    Popup = 8,
    /// 拒绝连线: the invitation was refused (or lapsed unanswered).
    No = 9,
    /// 同意连线: the invitation was accepted.
    Yes = 10,
    /// 开始pk.
    Start = 11,
    /// 结算pk: settled because the time ran out; the anchors stay linked.
    Count = 12,
    /// 延长pk.
    AddTime = 13,
    /// 结束pk: the PK scene ended (possibly settled early) and the anchors left it.
    Over = 14,
}

impl PkState {
    /// Every state, in the seed's order.
    pub const ALL: [PkState; 15] = [
        PkState::Offline,
        PkState::Apply,
        PkState::Applying,
        PkState::Link,
        PkState::Linking,
        PkState::Pking,
        PkState::Gaming,
        PkState::Sawing,
        PkState::Popup,
        PkState::No,
        PkState::Yes,
        PkState::Start,
        PkState::Count,
        PkState::AddTime,
        PkState::Over,
    ];

    /// The seed's number for the wire.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// Parses the seed's number back.
    pub fn from_number(number: u32) -> Option<PkState> {
        PkState::ALL.into_iter().find(|state| state.number() == number)
    }

    /// The seed's name (`offline`, `apply`, ... `over`), for logs and tests.
    pub fn as_str(self) -> &'static str {
        match self {
            PkState::Offline => "offline",
            PkState::Apply => "apply",
            PkState::Applying => "applying",
            PkState::Link => "link",
            PkState::Linking => "linking",
            PkState::Pking => "pking",
            PkState::Gaming => "gaming",
            PkState::Sawing => "sawing",
            PkState::Popup => "popup",
            PkState::No => "no",
            PkState::Yes => "yes",
            PkState::Start => "start",
            PkState::Count => "count",
            PkState::AddTime => "addtime",
            PkState::Over => "over",
        }
    }
}

/// The camera layout of one room during a link (`pk_scene`, seed §D.1): 0 both anchors, 1 the
/// host's view, 2 the guest's view. SwitchScene walks 0 -> 1 -> 2 -> 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u32)]
pub enum Scene {
    /// 双方pk视角: both anchors side by side. Every Confirm/Start/Count/AddTime resets to it.
    Pk = 0,
    /// 主场主播视角.
    HostView = 1,
    /// 客场主播视角.
    GuestView = 2,
}

impl Scene {
    /// The seed's number for the wire.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The scene SwitchScene moves to from this one.
    pub fn next(self) -> Scene {
        match self {
            Scene::Pk => Scene::HostView,
            Scene::HostView => Scene::GuestView,
            Scene::GuestView => Scene::Pk,
        }
    }
}

/// What an external feature has the anchor busy with (`SetSingerActivity`). Busy anchors cannot
/// be linked (codes 028, 029). The wire enum calls [`Activity::Idle`] `NONE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Activity {
    /// Not busy (`NONE`).
    #[default]
    Idle,
    /// Playing a game (`GAME`, code 028).
    Game,
    /// Running a chainsaw session (`SAW`, code 029).
    Saw,
}

/// An invitation popup (seed §3.1): `from` is the host who linked, `to` the guest it pops up on.
/// The guest holds it as [`Anchor::popup`] (one per anchor, seed §B.12) and the host the same
/// invitation as [`Anchor::outgoing_invite`], so that a host that leaves can withdraw its popup
/// and a host waits for one answer at a time.
pub type Popup = Invitation<SingerId>;

/// One anchor's LinkCallPk state. All anchors live under one hash tag in the store, so a
/// transaction can compare-and-set several of them at once (host and guest of a Link, Confirm,
/// Close, Leave).
///
/// The anchor's place in the online list and its application lists are sorted sets the adapter
/// maintains from [`crate::ListChange`] effects; they are not part of this value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// Who.
    pub singer_id: SingerId,
    /// The anchor's room, learnt from OpenFunction / SingerComeInRoom. `None` for an anchor
    /// known only through SetSingerActivity (the game service does not send a room).
    pub singer_sid: Option<RoomSid>,
    /// The LinkCallPk function switch (OpenFunction `pk_open`). It survives the anchor leaving
    /// the room: "如果主播还开着pk功能" (seed §11) is asked when the anchor comes back.
    pub function_open: bool,
    /// When the function was opened, in seconds (`functiontime`); 0 while closed.
    pub functiontime_secs: u64,
    /// Whether the anchor is broadcasting. Cleared by the leave event (seed §12), set again by
    /// SingerComeInRoom or OpenFunction. Only an anchor with the function open *and* in the room
    /// is online (findable, linkable).
    pub in_room: bool,
    /// The external busy flag behind codes 028 / 029.
    pub activity: Activity,
    /// The invitation this anchor has not answered yet (at most one, seed §B.12).
    pub popup: Option<Popup>,
    /// The invitation this anchor sent and is waiting on.
    pub outgoing_invite: Option<Popup>,
    /// The link session this anchor is in (one PK scene per anchor). A pointer only: the
    /// [`Battle`] is the truth about the session, and a pointer to a closed or vanished battle
    /// counts as free wherever the battle is at hand (Close, SingerComeInRoom and the leave
    /// event clear it).
    pub battle: Option<BattleId>,
}

impl Anchor {
    /// An anchor seen for the first time: function closed, not in a room, not busy.
    pub fn new(singer_id: SingerId) -> Self {
        Self {
            singer_id,
            singer_sid: None,
            function_open: false,
            functiontime_secs: 0,
            in_room: false,
            activity: Activity::Idle,
            popup: None,
            outgoing_invite: None,
            battle: None,
        }
    }

    /// Online = can be found and linked: function open, broadcasting, room known.
    pub fn is_online(&self) -> bool {
        self.function_open && self.in_room && self.singer_sid.is_some()
    }

    /// The popup still waiting for an answer at `now_ms`, if any.
    pub fn live_popup(&self, now_ms: u64) -> Option<&Popup> {
        self.popup.as_ref().filter(|popup| popup.is_live(now_ms))
    }

    /// The invitation this anchor sent that can still be answered at `now_ms`, if any.
    pub fn live_outgoing_invite(&self, now_ms: u64) -> Option<&Popup> {
        self.outgoing_invite.as_ref().filter(|invite| invite.is_live(now_ms))
    }

    /// How this anchor is shown in another anchor's list (online list, applicant list): the
    /// first reason it cannot be linked, in the order Link checks them, or `available` when it
    /// can be (the caller picks `apply` or `applying`).
    pub fn listed_state(&self, now_ms: u64, available: PkState) -> PkState {
        if !self.is_online() {
            PkState::Offline
        } else if self.battle.is_some() {
            PkState::Pking
        } else if self.activity == Activity::Game {
            PkState::Gaming
        } else if self.activity == Activity::Saw {
            PkState::Sawing
        } else if self.live_popup(now_ms).is_some() {
            PkState::Popup
        } else {
            available
        }
    }
}

/// One anchor's seat in a battle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BattleSide {
    /// The anchor.
    pub singer_id: SingerId,
    /// The anchor's room, where the room notifications of this side go.
    pub singer_sid: RoomSid,
    /// This room's camera layout.
    pub scene: Scene,
}

/// One link session between two anchors, from Confirm agree to Close (its own hash tag in the
/// store, with the score counters and the two top-gifter boards beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Battle {
    /// The session's id (stable across pkids).
    pub battle_id: BattleId,
    /// 主场: the first side.
    pub host: BattleSide,
    /// 客场: the second side.
    pub guest: BattleSide,
    /// When Confirm created it.
    pub linked_at_ms: u64,
    /// The session's phases (seed 004 §三). Its pkid is the placeholder created at Confirm
    /// (reused by the first Start), then a new one per rematch Start and per AddTime (seed §4.1,
    /// §5.2, §B.9); its idle phase is the seed's linked state; `starttime` is 0 for the
    /// placeholder (seed §9: "刚刚创建PK starttime=0").
    #[serde(flatten)]
    pub round: Round,
}

impl Battle {
    /// The current pkid.
    pub fn pkid(&self) -> PkId {
        self.round.pkid
    }

    /// Which side `singer` is on, or `None` when `singer` is not an anchor of this battle.
    pub fn side_of(&self, singer: SingerId) -> Option<Side> {
        if self.host.singer_id == singer {
            Some(Side::First)
        } else if self.guest.singer_id == singer {
            Some(Side::Second)
        } else {
            None
        }
    }

    /// The seat of `side` (the host is the first side).
    pub fn side(&self, side: Side) -> &BattleSide {
        match side {
            Side::First => &self.host,
            Side::Second => &self.guest,
        }
    }

    pub(crate) fn side_mut(&mut self, side: Side) -> &mut BattleSide {
        match side {
            Side::First => &mut self.host,
            Side::Second => &mut self.guest,
        }
    }

    /// The other anchor of `singer`'s battle.
    pub fn partner_of(&self, singer: SingerId) -> Option<SingerId> {
        Some(self.side(self.side_of(singer)?.other()).singer_id)
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.round.is_closed()
    }

    /// The two rooms, host's first: where room notifications go.
    pub fn rooms(&self) -> [RoomSid; 2] {
        [self.host.singer_sid, self.guest.singer_sid]
    }

    /// `linkcallpk_pk_info` for this battle with the given side totals.
    pub fn pk_info(&self, scores: Scores) -> PkInfo {
        PkInfo {
            starttime_secs: self.round.started_at_ms / MS_PER_SECOND,
            pkalltime_secs: self.round.pk_total_ms / MS_PER_SECOND,
            host_gift: scores.first,
            guest_gift: scores.second,
            host_id: self.host.singer_id,
            guest_id: self.guest.singer_id,
            phase: self.round.phase.name(),
            phase_deadline_ms: self.round.phase_deadline_ms(),
            winner_id: self.round.winner().map(|side| self.side(side).singer_id),
        }
    }
}

impl BattleState for Battle {
    fn battle_id(&self) -> BattleId {
        self.battle_id
    }

    fn round(&self) -> &Round {
        &self.round
    }

    fn round_mut(&mut self) -> &mut Round {
        &mut self.round
    }

    /// Both anchors' rooms from Confirm to Close: an anchor in a link session is in a PK scene,
    /// busy for every mode (SPEC §5a).
    fn stage(&self) -> Vec<RoomSid> {
        if self.is_closed() { Vec::new() } else { self.rooms().to_vec() }
    }
}

impl livepk_battle::Aggregate for Anchor {
    type Id = SingerId;
    fn id(&self) -> SingerId {
        self.singer_id
    }
}

/// `linkcallpk_pk_info` (seed §C) plus the phase and its deadline (issue 3), so a client that
/// reconnects can draw the countdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkInfo {
    /// `starttime`: when the current PK started, seconds; 0 for the placeholder.
    pub starttime_secs: u64,
    /// `pkalltime`: scoring length, seconds (grows with AddTime).
    pub pkalltime_secs: u64,
    /// `host_gift`.
    pub host_gift: u64,
    /// `guest_gift`.
    pub guest_gift: u64,
    /// `host_id`.
    pub host_id: SingerId,
    /// `guest_id`.
    pub guest_id: SingerId,
    /// The battle's phase.
    pub phase: PhaseName,
    /// When the phase ends (ms); 0 for phases without a deadline.
    pub phase_deadline_ms: u64,
    /// The anchor with more points once the current pkid was settled; `None` before, or on a
    /// draw.
    pub winner_id: Option<SingerId>,
}

/// One row of a top-gifter board (`linkcallpk_user_info` without the profile, which the
/// adapter adds from its cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GifterRow {
    /// The viewer.
    pub user_id: UserId,
    /// `user_gift`: their total for this side of the PK.
    pub user_gift: u64,
}
