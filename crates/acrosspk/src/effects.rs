//! AcrossPk's words for the shared shapes of `livepk-battle`: its [`Vocabulary`] (rooms, the
//! battle, changes to the open-PK list, notifications, challenge keys), and the notifications a
//! transition asks for. The engine commits them in the same ordered plan as the new states
//! (notifications through the outbox), so one is never lost nor emitted for a change that did
//! not happen.

use livepk_battle::{EndedBy, Scores, Side, Vocabulary};
use livepk_core::{PkId, RoomSid, Target, UserId};
use serde::{Deserialize, Serialize};

use crate::model::{Battle, BoardRow, Offer, PkInfo, Room};

/// AcrossPk as the engine knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcrossPk;

impl Vocabulary for AcrossPk {
    type Aggregate = Room;
    type Battle = Battle;
    type Notification = Notification;
    type Change = OpenListChange;
    type InvitationKey = ChallengeKey;
}

/// An AcrossPk transition: changed rooms, the changed or created battle, effects, reply.
pub type Transition<Reply> = livepk_battle::Transition<AcrossPk, Reply>;
/// The effects of an AcrossPk transition.
pub type Effects = livepk_battle::Effects<AcrossPk>;
/// A deadline an AcrossPk transition schedules.
pub type TimerRequest = livepk_battle::TimerRequest<ChallengeKey>;

/// Names a challenge for its expiry job: `from` challenged `to`. The job (see
/// [`crate::on_challenge_expired`]) removes whatever of the pair's challenges has lapsed by then
/// and does nothing when a newer one is still pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeKey {
    /// The challenging room.
    pub from: RoomSid,
    /// The challenged room.
    pub to: RoomSid,
}

/// A change to the open-PK list (`ListCreated`): one sorted set of every created PK, newest
/// first. It is an index: a room's own [`Room::created`] is the truth, and a listed room whose
/// created PK is gone is left out when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpenListChange {
    /// List `room`'s created PK, created at `created_at_ms`.
    Add {
        /// The room.
        room: RoomSid,
        /// When its PK was created (the list's order).
        created_at_ms: u64,
    },
    /// Take `room` off the list.
    Remove {
        /// The room.
        room: RoomSid,
    },
}

/// A notification, addressed to a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The room that receives it (multicast).
    pub target: Target,
    /// What it says.
    pub kind: NotificationKind,
}

/// The payload of a [`Notification`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationKind {
    /// `acrosspk_challenge_nt`: to the challenged room, a challenge arrived.
    Challenged {
        /// The challenge.
        challenge: Offer,
    },
    /// `acrosspk_challenge_reject_nt`: to the challenging room, its challenge was rejected.
    Rejected {
        /// The challenge.
        challenge: Offer,
        /// Who rejected it for the challenged room.
        operator_id: UserId,
    },
    /// `acrosspk_challenge_expire_nt`: to both rooms, the challenge lapsed unanswered.
    Lapsed {
        /// The challenge.
        challenge: Offer,
    },
    /// `acrosspk_challenge_cancel_nt`: to the room on the other end of a pending challenge, the
    /// challenge was withdrawn because `busy_room` entered PK `pkid` (seed `clearAcrossPK`).
    Withdrawn {
        /// The challenge.
        challenge: Offer,
        /// The room that entered a PK.
        busy_room: RoomSid,
        /// That PK.
        pkid: PkId,
    },
    /// `acrosspk_start_nt`: to both rooms, the PK started.
    Started {
        /// The PK.
        pk: PkInfo,
    },
    /// `acrosspk_score_nt`: to both rooms, the totals moved; `users` are the changed rows of
    /// `side`'s contribution board (best first).
    Score {
        /// The PK.
        pkid: PkId,
        /// Both rooms' PK values.
        scores: Scores,
        /// The room whose contributors changed.
        side: Side,
        /// The changed contributors.
        users: Vec<BoardRow>,
    },
    /// `acrosspk_result_nt`: to both rooms, the verdict (red, blue or draw).
    Result {
        /// The PK with its final totals and winner.
        pk: PkInfo,
    },
    /// `acrosspk_over_nt`: to both rooms, the PK is over (punishment ended, or finished).
    Over {
        /// The PK as it ended.
        pk: PkInfo,
        /// What ended it.
        ended_by: EndedBy,
    },
}

impl NotificationKind {
    /// The message name (the event's `type`).
    pub fn message_name(&self) -> &'static str {
        match self {
            NotificationKind::Challenged { .. } => "acrosspk_challenge_nt",
            NotificationKind::Rejected { .. } => "acrosspk_challenge_reject_nt",
            NotificationKind::Lapsed { .. } => "acrosspk_challenge_expire_nt",
            NotificationKind::Withdrawn { .. } => "acrosspk_challenge_cancel_nt",
            NotificationKind::Started { .. } => "acrosspk_start_nt",
            NotificationKind::Score { .. } => "acrosspk_score_nt",
            NotificationKind::Result { .. } => "acrosspk_result_nt",
            NotificationKind::Over { .. } => "acrosspk_over_nt",
        }
    }

    /// The PK it is about (the event's `pkid`); `None` for challenges.
    pub fn pkid(&self) -> Option<PkId> {
        match self {
            NotificationKind::Challenged { .. }
            | NotificationKind::Rejected { .. }
            | NotificationKind::Lapsed { .. }
            | NotificationKind::Withdrawn { .. } => None,
            NotificationKind::Started { pk }
            | NotificationKind::Result { pk }
            | NotificationKind::Over { pk, .. } => Some(pk.pkid),
            NotificationKind::Score { pkid, .. } => Some(*pkid),
        }
    }
}

impl Notification {
    /// `kind` to room `room`.
    pub(crate) fn to_room(room: RoomSid, kind: NotificationKind) -> Self {
        Self { target: Target::room(room.get()), kind }
    }

    /// `kind` to both rooms of `battle`, red first.
    pub(crate) fn to_both_rooms(battle: &Battle, kind: NotificationKind) -> [Self; 2] {
        let rooms = battle.room_ids();
        [Self::to_room(rooms.first, kind.clone()), Self::to_room(rooms.second, kind)]
    }
}
