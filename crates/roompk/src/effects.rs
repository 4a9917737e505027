//! RoomPk's words for the shared shapes of `livepk-battle`: its [`Vocabulary`] (the room, the
//! team battle, its notifications) and the notifications a transition emits. The engine commits
//! them with the new states (through the outbox), so a notification is never lost nor emitted
//! for a change that did not happen.

use std::convert::Infallible;

use livepk_battle::Vocabulary;
use livepk_core::{PkId, RoomSid, Target, UserId};
use serde::{Deserialize, Serialize};

use crate::model::{BattleInfo, Location, Room, Seat, SeatInvite, Team, TeamBattle, TeamRow};

/// RoomPk as the engine knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomPk;

impl Vocabulary for RoomPk {
    type Aggregate = Room;
    type Battle = TeamBattle;
    type Notification = Notification;
    // RoomPk has no collections besides its aggregates, and no invitation that lapses (a seat
    // invitation waits until it is taken or withdrawn).
    type Change = Infallible;
    type InvitationKey = ();
}

/// A RoomPk transition: the changed room, the changed or created battle, effects, reply.
pub type Transition<Reply> = livepk_battle::Transition<RoomPk, Reply>;
/// The effects of a RoomPk transition.
pub type Effects = livepk_battle::Effects<RoomPk>;

/// What happened to a seat (`roompk_seat_nt`'s `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SeatAction {
    /// 上麦: a user took the seat.
    Take,
    /// 下麦: its user left it.
    Leave,
    /// 抱上麦: the operator put a user on it.
    HoldUp,
    /// 抱下麦: the operator took its user off.
    HoldDown,
    /// 锁麦.
    Lock,
    /// 解锁.
    Unlock,
    /// 禁麦: its user (present or next) is muted.
    Disable,
    /// 解禁.
    Enable,
    /// The operator invited a user to it.
    Invite,
    /// The operator withdrew its invitation.
    CancelInvite,
}

impl SeatAction {
    /// Stable lowercase name (logs, tests).
    pub fn as_str(self) -> &'static str {
        match self {
            SeatAction::Take => "take",
            SeatAction::Leave => "leave",
            SeatAction::HoldUp => "hold_up",
            SeatAction::HoldDown => "hold_down",
            SeatAction::Lock => "lock",
            SeatAction::Unlock => "unlock",
            SeatAction::Disable => "disable",
            SeatAction::Enable => "enable",
            SeatAction::Invite => "invite",
            SeatAction::CancelInvite => "cancel_invite",
        }
    }
}

/// A RoomPk notification, addressed to its target (the room, or an invited user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The room (multicast) or one user (unicast).
    pub target: Target,
    /// What it says.
    pub kind: NotificationKind,
}

/// The payload of a [`Notification`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationKind {
    /// `roompk_seat_nt` to the room: a seat changed (every seat change is broadcast with its
    /// `location`).
    Seat {
        /// The room.
        room_id: RoomSid,
        /// What happened.
        action: SeatAction,
        /// The seat as it is now.
        seat: Seat,
        /// Who did it: the user themself (take, leave) or the operator.
        by: UserId,
    },
    /// `roompk_invite_nt` to the invited user (who may be in another room).
    Invite {
        /// The room whose seat is offered.
        room_id: RoomSid,
        /// The seat.
        location: Location,
        /// The invitation.
        invite: SeatInvite,
        /// The operator who invited.
        by: UserId,
    },
    /// `roompk_start_nt` to the room: the team battle started.
    Start {
        /// The battle.
        battle: BattleInfo,
    },
    /// `roompk_addtime_nt` to the room: the scoring phase was extended (same pkid).
    AddTime {
        /// The battle with its new countdown and deadline.
        battle: BattleInfo,
        /// Seconds added.
        added_secs: u64,
    },
    /// `roompk_score_nt` to the room: coalesced score update — the team totals and the rows of
    /// `team`'s contribution board whose totals changed (best first, at most 20).
    Score {
        /// The battle with its current totals.
        battle: BattleInfo,
        /// The team whose senders are listed.
        team: Team,
        /// The changed senders' totals on that team's contribution board.
        rows: Vec<TeamRow>,
    },
    /// `roompk_result_nt` to the room: the verdict (red, blue or a draw), and the punishment's
    /// deadline when there is one.
    Result {
        /// The settled battle.
        battle: BattleInfo,
    },
    /// `roompk_over_nt` to the room: the battle is over (the punishment ended, or it ended
    /// without one).
    Over {
        /// The closed battle.
        battle: BattleInfo,
    },
}

impl NotificationKind {
    /// The seed-style message name (`Event.type`).
    pub fn message_name(&self) -> &'static str {
        match self {
            NotificationKind::Seat { .. } => "roompk_seat_nt",
            NotificationKind::Invite { .. } => "roompk_invite_nt",
            NotificationKind::Start { .. } => "roompk_start_nt",
            NotificationKind::AddTime { .. } => "roompk_addtime_nt",
            NotificationKind::Score { .. } => "roompk_score_nt",
            NotificationKind::Result { .. } => "roompk_result_nt",
            NotificationKind::Over { .. } => "roompk_over_nt",
        }
    }

    /// The pkid it is about, for the event envelope (`None` for seats: they belong to the room,
    /// not to a battle).
    pub fn pkid(&self) -> Option<PkId> {
        match self {
            NotificationKind::Seat { .. } | NotificationKind::Invite { .. } => None,
            NotificationKind::Start { battle }
            | NotificationKind::AddTime { battle, .. }
            | NotificationKind::Score { battle, .. }
            | NotificationKind::Result { battle }
            | NotificationKind::Over { battle } => Some(battle.pkid),
        }
    }
}

impl Notification {
    /// `kind` to everyone in `room`.
    pub(crate) fn to_room(room: RoomSid, kind: NotificationKind) -> Self {
        Self { target: Target::room(room.get()), kind }
    }
}
