//! The two aggregates of LinkCallPk — [`Anchor`] (one per anchor) and [`Battle`] (one per link
//! session) — and the small value types they are made of. Everything here is plain data with
//! serde derives, so the adapter can store each aggregate as one encoded value.

use livepk_core::{PkId, RoomSid, SingerId, UserId};
use serde::{Deserialize, Serialize};

/// Milliseconds per second, for the seconds the seed's fields use (`time_now`, `starttime`).
pub(crate) const MS_PER_SECOND: u64 = 1000;

/// Identifies one link session (one [`Battle`]): from Confirm agree to Close. Allocated by the
/// adapter (for example from a counter); unlike the pkid it never changes during the session,
/// so it names the battle's storage (hash tag, score keys) while pkids come and go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BattleId(u64);

impl BattleId {
    /// Wraps an id the adapter allocated.
    pub fn new(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw value, for keys and the wire.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for BattleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

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

/// An unanswered invitation on the invited anchor (seed §B.12: one popup per anchor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Popup {
    /// The anchor who linked (the future host).
    pub host: SingerId,
    /// The inviting anchor's room, shown on the popup.
    pub host_sid: RoomSid,
    /// When the popup was raised (`popup_time`).
    pub popped_at_ms: u64,
    /// When it lapses unanswered. Past this instant the popup counts as gone even if the
    /// expiry job has not run yet, so a late timer never keeps an anchor blocked.
    pub expires_at_ms: u64,
}

impl Popup {
    /// Whether the popup is still waiting for an answer at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        now_ms < self.expires_at_ms
    }
}

/// The host's side of a pending invitation: whom it is waiting for. Kept so that a host that
/// leaves can withdraw its popup from the invited anchor, and so a host waits for one answer at
/// a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingInvite {
    /// The invited anchor (the future guest).
    pub guest: SingerId,
    /// Same instant as the guest's [`Popup::expires_at_ms`].
    pub expires_at_ms: u64,
}

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
    pub outgoing_invite: Option<OutgoingInvite>,
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
    pub fn live_outgoing_invite(&self, now_ms: u64) -> Option<&OutgoingInvite> {
        self.outgoing_invite.as_ref().filter(|invite| now_ms < invite.expires_at_ms)
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

/// Which side of a battle an anchor is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    /// 主场: the anchor who linked.
    Host,
    /// 客场: the anchor who confirmed.
    Guest,
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

/// A timed phase, named in timer jobs so that a job for a phase that already ended is
/// recognised as stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimedPhase {
    /// 比分阶段.
    Scoring,
    /// 惩罚阶段.
    Punishment,
}

/// How a settled PK or a closed link ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EndedBy {
    /// The scoring deadline passed and the delay queue settled it.
    Deadline,
    /// An anchor sent Count after the deadline (before the delay queue did).
    Count,
    /// An anchor closed the link.
    Close,
    /// An anchor left the room (seed §12).
    Leave,
    /// An operator forced it closed.
    Admin,
}

impl EndedBy {
    /// Stable lowercase name for records and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EndedBy::Deadline => "deadline",
            EndedBy::Count => "count",
            EndedBy::Close => "close",
            EndedBy::Leave => "leave",
            EndedBy::Admin => "admin",
        }
    }
}

/// Where a battle is in its life (seed 004 §三 phases on top of seed 000's link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Linked but not scoring: the placeholder after Confirm, after a draw, after punishment.
    Linked,
    /// 比分阶段: gifts sent in `[from_ms, deadline_ms)` count.
    Scoring {
        /// First millisecond whose gifts count.
        from_ms: u64,
        /// When the phase ends and the PK is settled.
        deadline_ms: u64,
    },
    /// 惩罚阶段: scores are frozen, the loser performs the forfeit.
    Punishment {
        /// When the battle goes back to [`Phase::Linked`].
        deadline_ms: u64,
    },
    /// The link is over; nothing changes any more. Kept (until its TTL) so that late requests
    /// and late timer jobs see that it ended.
    Closed {
        /// Close, Leave or Admin.
        ended_by: EndedBy,
        /// When.
        at_ms: u64,
    },
}

impl Phase {
    /// The phase's name, as carried in [`PkInfo`].
    pub fn name(&self) -> PhaseName {
        match self {
            Phase::Linked => PhaseName::Linked,
            Phase::Scoring { .. } => PhaseName::Scoring,
            Phase::Punishment { .. } => PhaseName::Punishment,
            Phase::Closed { .. } => PhaseName::Closed,
        }
    }

    /// The timed phase and its deadline, for phases a timer ends.
    pub fn deadline(&self) -> Option<(TimedPhase, u64)> {
        match *self {
            Phase::Scoring { deadline_ms, .. } => Some((TimedPhase::Scoring, deadline_ms)),
            Phase::Punishment { deadline_ms } => Some((TimedPhase::Punishment, deadline_ms)),
            Phase::Linked | Phase::Closed { .. } => None,
        }
    }
}

/// A phase's name without its data, for the wire (`linkcallpk_pk_info` carries it so a
/// reconnecting client can draw the right countdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PhaseName {
    /// See [`Phase::Linked`].
    Linked,
    /// See [`Phase::Scoring`].
    Scoring,
    /// See [`Phase::Punishment`].
    Punishment,
    /// See [`Phase::Closed`].
    Closed,
}

impl PhaseName {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseName::Linked => "linked",
            PhaseName::Scoring => "scoring",
            PhaseName::Punishment => "punishment",
            PhaseName::Closed => "closed",
        }
    }
}

/// Side totals of the current PK, read by the adapter from the store's counters (scores live
/// outside the aggregate so the gift hot path never rewrites it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Scores {
    /// 主场主播礼物值.
    pub host: u64,
    /// 客场主播礼物值.
    pub guest: u64,
}

/// The outcome of one settled PK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BattleResult {
    /// The pkid that was settled.
    pub pkid: PkId,
    /// Final host total.
    pub host_score: u64,
    /// Final guest total.
    pub guest_score: u64,
    /// The anchor with the higher score; `None` on a draw.
    pub winner: Option<SingerId>,
    /// When it was settled.
    pub settled_at_ms: u64,
    /// What settled it.
    pub ended_by: EndedBy,
}

impl BattleResult {
    /// The final scores as [`Scores`].
    pub fn scores(&self) -> Scores {
        Scores { host: self.host_score, guest: self.guest_score }
    }
}

/// One link session between two anchors, from Confirm agree to Close (its own hash tag in the
/// store, with the score counters and the two top-gifter boards beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Battle {
    /// The session's id (stable across pkids).
    pub battle_id: BattleId,
    /// The current pkid: the placeholder created at Confirm (reused by the first Start), then
    /// a new one per rematch Start and per AddTime (seed §4.1, §5.2, §B.9).
    pub pkid: PkId,
    /// 主场.
    pub host: BattleSide,
    /// 客场.
    pub guest: BattleSide,
    /// Where the session is.
    pub phase: Phase,
    /// When Confirm created it.
    pub linked_at_ms: u64,
    /// Whether any PK was started in this session; decides whether Start may reuse the
    /// placeholder pkid (seed §4.1).
    pub ever_started: bool,
    /// `starttime` of the current PK (0 for the placeholder, seed §9: "刚刚创建PK starttime=0").
    /// AddTime keeps it: the extended PK is the same PK continued.
    pub started_at_ms: u64,
    /// `pkalltime`: total scoring length of the current PK, so that `starttime + pkalltime` is
    /// always the scoring deadline, including after AddTime.
    pub pk_total_ms: u64,
    /// The settled result of the current pkid, if it was settled (by Count or the deadline).
    /// Cleared by Start and AddTime, which begin a new scoring phase.
    pub last_result: Option<BattleResult>,
}

impl Battle {
    /// Which side `singer` is on, or `None` when `singer` is not an anchor of this battle.
    pub fn side_of(&self, singer: SingerId) -> Option<Side> {
        if self.host.singer_id == singer {
            Some(Side::Host)
        } else if self.guest.singer_id == singer {
            Some(Side::Guest)
        } else {
            None
        }
    }

    /// The seat of `side`.
    pub fn side(&self, side: Side) -> &BattleSide {
        match side {
            Side::Host => &self.host,
            Side::Guest => &self.guest,
        }
    }

    pub(crate) fn side_mut(&mut self, side: Side) -> &mut BattleSide {
        match side {
            Side::Host => &mut self.host,
            Side::Guest => &mut self.guest,
        }
    }

    /// The other anchor of `singer`'s battle.
    pub fn partner_of(&self, singer: SingerId) -> Option<SingerId> {
        match self.side_of(singer)? {
            Side::Host => Some(self.guest.singer_id),
            Side::Guest => Some(self.host.singer_id),
        }
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed { .. })
    }

    /// `(from_ms, until_ms, epoch_pkid)` while scoring: the window the gift script checks (a
    /// gift counts if `from_ms <= sent_at_ms < until_ms`). `None` in every other phase, which the
    /// adapter writes as a closed window.
    pub fn scoring_window(&self) -> Option<(u64, u64, PkId)> {
        match self.phase {
            Phase::Scoring { from_ms, deadline_ms } => Some((from_ms, deadline_ms, self.pkid)),
            _ => None,
        }
    }

    /// Whether the next Start is a rematch that needs a fresh pkid from the adapter (the first
    /// Start of a session reuses the placeholder).
    pub fn next_start_needs_fresh_pkid(&self) -> bool {
        self.ever_started
    }

    /// The two rooms, host's first: where room notifications go.
    pub fn rooms(&self) -> [RoomSid; 2] {
        [self.host.singer_sid, self.guest.singer_sid]
    }

    /// `linkcallpk_pk_info` for this battle with the given side totals.
    pub fn pk_info(&self, scores: Scores) -> PkInfo {
        PkInfo {
            starttime_secs: self.started_at_ms / MS_PER_SECOND,
            pkalltime_secs: self.pk_total_ms / MS_PER_SECOND,
            host_gift: scores.host,
            guest_gift: scores.guest,
            host_id: self.host.singer_id,
            guest_id: self.guest.singer_id,
            phase: self.phase.name(),
            phase_deadline_ms: self.phase.deadline().map_or(0, |(_, deadline)| deadline),
        }
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
