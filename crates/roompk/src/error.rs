//! `RoomPkError`: every way a RoomPk command can be refused, with its business code — the seed's
//! where one fits (021 bad input, 023/024/026/027 from the battle's round, 025 a battle already
//! running) and RoomPk's own range, 4034002xx, for the seat rules.

use livepk_battle::{RoundError, Verdict};
use livepk_core::{BusinessError, ErrorKind, Mode, PkId, RoomSid, UserId, codes};

use crate::model::{Location, Team};

/// RoomPk's own business codes (4034002xx).
pub mod roompk_codes {
    /// The seat is locked (锁麦): nobody may take it, and it cannot be offered.
    pub const SEAT_LOCKED: u32 = 403_400_201;
    /// The seat holds another user, or is promised to another user by an invitation; or a seat
    /// with a user on it cannot be locked.
    pub const SEAT_TAKEN: u32 = 403_400_202;
    /// The user already holds another PK seat of the room (one user, one seat).
    pub const USER_ALREADY_SEATED: u32 = 403_400_203;
    /// The caller is not the room's operator.
    pub const NOT_OPERATOR: u32 = 403_400_204;
    /// The seat does not hold that user (leave), or holds nobody (hold down).
    pub const NOT_ON_SEAT: u32 = 403_400_205;
}

/// A refused RoomPk command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomPkError {
    /// 403400201: the seat is locked.
    #[error("seat {location} is locked")]
    SeatLocked {
        /// The seat.
        location: Location,
    },
    /// 403400202: the seat holds `holder`, or is promised to `holder` by an invitation, or (for
    /// a lock) is not empty.
    #[error("seat {location} is taken by {holder}")]
    SeatTaken {
        /// The seat.
        location: Location,
        /// Who holds it or is invited to it.
        holder: UserId,
    },
    /// 403400203: `user` already holds seat `location`.
    #[error("user {user} already holds seat {location}")]
    UserAlreadySeated {
        /// The user.
        user: UserId,
        /// The seat they hold.
        location: Location,
    },
    /// 403400204 (PERMISSION_DENIED): `user` is not the room's operator (or the room has none).
    #[error("user {user} is not the operator of room {room}")]
    NotOperator {
        /// The caller.
        user: UserId,
        /// The room.
        room: RoomSid,
    },
    /// 403400205: the seat does not hold `user` (leave), or holds nobody (hold down, `user`
    /// `None`).
    #[error("seat {location} does not hold {}", .user.map_or("anyone".to_string(), |user| user.to_string()))]
    NotOnSeat {
        /// The seat.
        location: Location,
        /// The user named, if any.
        user: Option<UserId>,
    },
    /// 403400021: a duration out of its configured bounds (`countdown`, `seconds`).
    #[error("{field} must be 1 to {max} seconds, got {value}")]
    OutOfRange {
        /// The request field.
        field: &'static str,
        /// What was asked.
        value: u64,
        /// The configured maximum.
        max: u64,
    },
    /// 403400025: the room's team battle `pkid` is still running (scoring or punishment).
    #[error("room {room} is already in team battle {pkid}")]
    BattleRunning {
        /// The room.
        room: RoomSid,
        /// The running battle.
        pkid: PkId,
    },
    /// 403400023: a phase timer is still running (from the battle's round).
    #[error("a pk timer is still running until {deadline_ms} ms")]
    TimerStillRunning {
        /// When the running phase ends.
        deadline_ms: u64,
    },
    /// 403400024: the battle's verdict was already taken: AddTime extends a scoring phase only,
    /// so a settled pkid stays final. Carries the verdict.
    #[error("pk {} is already settled", .0.pkid)]
    AlreadySettled(Verdict),
    /// 403400026: the room has no running team battle (none yet, or it is over).
    #[error("the team battle is over")]
    PkOver,
    /// 403400026: AddTime once the scoring deadline has passed, before the deadline's job took
    /// the verdict: the scoring is over (gifts sent since were judged outside for good), the
    /// verdict follows.
    #[error("the scoring of team battle {pkid} ended at {deadline_ms} ms")]
    ScoringOver {
        /// The battle.
        pkid: PkId,
        /// When its scoring ended.
        deadline_ms: u64,
    },
    /// 403400027: the battle has not started.
    #[error("the team battle has not started")]
    PkNotStarted,
    /// 403400014 (internal, answered as 020): a move needed a pkid that was not allocated.
    #[error("a pkid is needed but none was allocated")]
    PkidMissing,
}

impl From<RoundError> for RoomPkError {
    fn from(error: RoundError) -> Self {
        match error {
            RoundError::TimerStillRunning { deadline_ms } => {
                RoomPkError::TimerStillRunning { deadline_ms }
            }
            RoundError::AlreadySettled(verdict) => RoomPkError::AlreadySettled(verdict),
            RoundError::NotStarted => RoomPkError::PkNotStarted,
            RoundError::Over => RoomPkError::PkOver,
            RoundError::FreshPkidMissing => RoomPkError::PkidMissing,
        }
    }
}

impl BusinessError for RoomPkError {
    fn kind(&self) -> ErrorKind {
        match self {
            RoomPkError::NotOperator { .. } => ErrorKind::PermissionDenied,
            RoomPkError::OutOfRange { .. } => ErrorKind::InvalidArgument,
            // The loser of a race with the deadline (or another Finish).
            RoomPkError::AlreadySettled(_) => ErrorKind::Aborted,
            RoomPkError::PkidMissing => ErrorKind::Internal,
            RoomPkError::SeatLocked { .. }
            | RoomPkError::SeatTaken { .. }
            | RoomPkError::UserAlreadySeated { .. }
            | RoomPkError::NotOnSeat { .. }
            | RoomPkError::BattleRunning { .. }
            | RoomPkError::TimerStillRunning { .. }
            | RoomPkError::PkOver
            | RoomPkError::ScoringOver { .. }
            | RoomPkError::PkNotStarted => ErrorKind::FailedPrecondition,
        }
    }

    fn business_code(&self) -> u32 {
        match self {
            RoomPkError::SeatLocked { .. } => roompk_codes::SEAT_LOCKED,
            RoomPkError::SeatTaken { .. } => roompk_codes::SEAT_TAKEN,
            RoomPkError::UserAlreadySeated { .. } => roompk_codes::USER_ALREADY_SEATED,
            RoomPkError::NotOperator { .. } => roompk_codes::NOT_OPERATOR,
            RoomPkError::NotOnSeat { .. } => roompk_codes::NOT_ON_SEAT,
            RoomPkError::OutOfRange { .. } => codes::INVALID_PARAMETER,
            RoomPkError::BattleRunning { .. } => codes::ANCHOR_IN_PK,
            RoomPkError::TimerStillRunning { .. } => codes::TIMER_STILL_RUNNING,
            RoomPkError::AlreadySettled(_) => codes::ALREADY_SETTLED,
            RoomPkError::PkOver | RoomPkError::ScoringOver { .. } => codes::PK_OVER,
            RoomPkError::PkNotStarted => codes::PK_NOT_STARTED,
            RoomPkError::PkidMissing => codes::INTERNAL_PKID_FAILED,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            RoomPkError::OutOfRange { field, .. } => Some(field),
            RoomPkError::NotOperator { .. } => Some("operator_id"),
            _ => None,
        }
    }

    /// The seat and who holds it for the seat codes; the running battle for 025 (named the way
    /// the engine names a holder of another mode: `holding_mode`, `holding_pkid`, `room_id`);
    /// the verdict for 024; the battle and its scoring deadline for 026 after the deadline.
    fn details(&self) -> Vec<(String, String)> {
        let mut details = Vec::new();
        match self {
            RoomPkError::SeatLocked { location } | RoomPkError::NotOnSeat { location, .. } => {
                details.push(("location".into(), location.to_string()));
            }
            RoomPkError::SeatTaken { location, holder } => {
                details.push(("location".into(), location.to_string()));
                details.push(("user_id".into(), holder.to_string()));
            }
            RoomPkError::UserAlreadySeated { user, location } => {
                details.push(("location".into(), location.to_string()));
                details.push(("user_id".into(), user.to_string()));
            }
            RoomPkError::BattleRunning { room, pkid } => {
                details.push(("holding_mode".into(), Mode::RoomPk.as_str().into()));
                details.push(("holding_pkid".into(), pkid.to_string()));
                details.push(("room_id".into(), room.to_string()));
            }
            RoomPkError::ScoringOver { pkid, deadline_ms } => {
                details.push(("pkid".into(), pkid.to_string()));
                details.push(("phase_deadline_ms".into(), deadline_ms.to_string()));
            }
            RoomPkError::AlreadySettled(verdict) => {
                details.push(("pkid".into(), verdict.pkid.to_string()));
                details.push(("red_total".into(), verdict.scores.first.to_string()));
                details.push(("blue_total".into(), verdict.scores.second.to_string()));
                let winner = verdict.winner.map_or("", |side| Team::of(side).as_str());
                details.push(("winner".into(), winner.into()));
            }
            _ => {}
        }
        details
    }

    fn reason(&self) -> &'static str {
        match self.business_code() {
            roompk_codes::SEAT_LOCKED => "ROOMPK_SEAT_LOCKED",
            roompk_codes::SEAT_TAKEN => "ROOMPK_SEAT_TAKEN",
            roompk_codes::USER_ALREADY_SEATED => "ROOMPK_USER_ALREADY_SEATED",
            roompk_codes::NOT_OPERATOR => "ROOMPK_NOT_OPERATOR",
            roompk_codes::NOT_ON_SEAT => "ROOMPK_NOT_ON_SEAT",
            code => codes::name(codes::public(code)),
        }
    }
}
