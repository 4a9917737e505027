//! `AcrossPkError`: every way an AcrossPk command can be refused, with its business code and the
//! kind that decides the gRPC status. The seed's codes where they fit (021 bad input, 025 already
//! in a PK, 026 over or lapsed, 023/024/027 never: the round's moves AcrossPk makes cannot give
//! them); AcrossPk's own range, 4034001xx, for what the seed does not cover.

use livepk_core::{BusinessError, ErrorKind, PkId, RoomSid, UserId, codes};

/// AcrossPk's own business codes (4034001xx).
pub mod acrosspk_codes {
    /// The room already has an open created PK ("一个房间只能创建一次pk").
    pub const ALREADY_CREATED: u32 = 403_400_101;
    /// The other room's challenge to this room is pending: answer it instead of challenging back.
    pub const REVERSE_CHALLENGE_PENDING: u32 = 403_400_102;
    /// The room is not a party to this PK, or not the challenged room of this challenge; or the
    /// user is not the room's operator in this PK.
    pub const NOT_A_PARTY: u32 = 403_400_103;
    /// This room's challenge to that room is already pending.
    pub const CHALLENGE_PENDING: u32 = 403_400_104;
    /// The room has as many pending challenges as `acrosspk.max_challenges` allows.
    pub const TOO_MANY_CHALLENGES: u32 = 403_400_105;

    /// The stable upper-case name of one of these codes.
    pub fn name(code: u32) -> Option<&'static str> {
        Some(match code {
            ALREADY_CREATED => "ACROSSPK_ALREADY_CREATED",
            REVERSE_CHALLENGE_PENDING => "ACROSSPK_REVERSE_CHALLENGE_PENDING",
            NOT_A_PARTY => "ACROSSPK_NOT_A_PARTY",
            CHALLENGE_PENDING => "ACROSSPK_CHALLENGE_PENDING",
            TOO_MANY_CHALLENGES => "ACROSSPK_TOO_MANY_CHALLENGES",
            _ => return None,
        })
    }
}

/// A refused AcrossPk command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcrossPkError {
    /// 403400021: a room named itself as the other room (`pk_room_id`).
    #[error("room {room} cannot pk itself")]
    SameRoom {
        /// The room.
        room: RoomSid,
    },
    /// 403400021: `countdown` is above `acrosspk.max_countdown_seconds`.
    #[error("countdown {countdown_secs} s is above the maximum {max_secs} s")]
    CountdownTooLong {
        /// What was asked.
        countdown_secs: u64,
        /// The configured maximum.
        max_secs: u64,
    },
    /// 403400025: the room is already in a cross-room PK (a battle of another mode holding it is
    /// the engine's `StageTaken`, with the same metadata).
    #[error("room {room} is already in an acrosspk pk ({pkid})")]
    RoomInPk {
        /// The room.
        room: RoomSid,
        /// Its PK.
        pkid: PkId,
    },
    /// 403400026 (NOT_FOUND): the created PK or challenge is gone: withdrawn, lapsed, rejected or
    /// taken by another room.
    #[error("room {from} has no pending {what} for room {to}")]
    OfferGone {
        /// "created pk" or "challenge".
        what: &'static str,
        /// The offering room.
        from: RoomSid,
        /// The room that asked.
        to: RoomSid,
    },
    /// 403400026 (NOT_FOUND): no created PK to withdraw.
    #[error("room {room} has no created pk")]
    NothingCreated {
        /// The room.
        room: RoomSid,
    },
    /// 403400026 (NOT_FOUND): no PK of that number is known.
    #[error("no acrosspk pk {pkid} is known")]
    NoSuchPk {
        /// The pkid asked for.
        pkid: PkId,
    },
    /// 403400026: the PK is over.
    #[error("acrosspk pk {pkid} is over")]
    PkOver {
        /// The PK.
        pkid: PkId,
    },
    /// 403400101: the room already has an open created PK.
    #[error("room {room} already created a pk")]
    AlreadyCreated {
        /// The room.
        room: RoomSid,
    },
    /// 403400102: `to`'s challenge to `from` is pending; `from` may accept or reject it, not
    /// challenge back.
    #[error("room {to} already challenged room {from}")]
    ReverseChallengePending {
        /// The room that tried to challenge.
        from: RoomSid,
        /// The room it tried to challenge.
        to: RoomSid,
    },
    /// 403400103 (PERMISSION_DENIED): `room` is not a party to this PK, or not the challenged
    /// room of the challenge it tried to answer.
    #[error("room {room} is not a party to this {what}")]
    NotAParty {
        /// The room.
        room: RoomSid,
        /// "pk" or "challenge".
        what: &'static str,
    },
    /// 403400103 (PERMISSION_DENIED, field `operator_id`): `operator` is not `room`'s operator
    /// in this PK (who created or challenged for it, or accepted for it): only they may Finish.
    #[error("user {operator} is not the operator of room {room} in this pk")]
    NotTheOperator {
        /// The room.
        room: RoomSid,
        /// Who asked.
        operator: UserId,
    },
    /// 403400104: `from`'s challenge to `to` is already pending.
    #[error("room {from} already challenged room {to}")]
    ChallengePending {
        /// The challenging room.
        from: RoomSid,
        /// The challenged room.
        to: RoomSid,
    },
    /// 403400014 (internal, answered as 020): an Accept found an offer to take up but the adapter
    /// allocated no ids for its battle.
    #[error("the new battle's ids were not allocated")]
    BattleIdsMissing,
    /// 403400105: the room has `max` challenges pending.
    #[error("room {room} already has {max} pending challenges")]
    TooManyChallenges {
        /// The room.
        room: RoomSid,
        /// `acrosspk.max_challenges`.
        max: u64,
    },
}

impl BusinessError for AcrossPkError {
    fn kind(&self) -> ErrorKind {
        match self {
            AcrossPkError::SameRoom { .. } | AcrossPkError::CountdownTooLong { .. } => {
                ErrorKind::InvalidArgument
            }
            AcrossPkError::OfferGone { .. }
            | AcrossPkError::NothingCreated { .. }
            | AcrossPkError::NoSuchPk { .. } => ErrorKind::NotFound,
            AcrossPkError::NotAParty { .. } | AcrossPkError::NotTheOperator { .. } => {
                ErrorKind::PermissionDenied
            }
            AcrossPkError::BattleIdsMissing => ErrorKind::Internal,
            AcrossPkError::RoomInPk { .. }
            | AcrossPkError::PkOver { .. }
            | AcrossPkError::AlreadyCreated { .. }
            | AcrossPkError::ReverseChallengePending { .. }
            | AcrossPkError::ChallengePending { .. }
            | AcrossPkError::TooManyChallenges { .. } => ErrorKind::FailedPrecondition,
        }
    }

    fn business_code(&self) -> u32 {
        match self {
            AcrossPkError::SameRoom { .. } | AcrossPkError::CountdownTooLong { .. } => {
                codes::INVALID_PARAMETER
            }
            AcrossPkError::RoomInPk { .. } => codes::ANCHOR_IN_PK,
            AcrossPkError::OfferGone { .. }
            | AcrossPkError::NothingCreated { .. }
            | AcrossPkError::NoSuchPk { .. }
            | AcrossPkError::PkOver { .. } => codes::PK_OVER,
            AcrossPkError::BattleIdsMissing => codes::INTERNAL_PKID_FAILED,
            AcrossPkError::AlreadyCreated { .. } => acrosspk_codes::ALREADY_CREATED,
            AcrossPkError::ReverseChallengePending { .. } => {
                acrosspk_codes::REVERSE_CHALLENGE_PENDING
            }
            AcrossPkError::NotAParty { .. } | AcrossPkError::NotTheOperator { .. } => {
                acrosspk_codes::NOT_A_PARTY
            }
            AcrossPkError::ChallengePending { .. } => acrosspk_codes::CHALLENGE_PENDING,
            AcrossPkError::TooManyChallenges { .. } => acrosspk_codes::TOO_MANY_CHALLENGES,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            AcrossPkError::SameRoom { .. } => Some("pk_room_id"),
            AcrossPkError::CountdownTooLong { .. } => Some("countdown"),
            AcrossPkError::NotTheOperator { .. } => Some("operator_id"),
            _ => None,
        }
    }

    /// A room already in a cross-room PK carries the same metadata as the engine's refusal for
    /// a room held by another mode: `holding_mode`, `holding_pkid`, `room_id`.
    fn details(&self) -> Vec<(String, String)> {
        match self {
            AcrossPkError::RoomInPk { room, pkid } => vec![
                ("holding_mode".into(), livepk_core::Mode::AcrossPk.as_str().into()),
                ("holding_pkid".into(), pkid.to_string()),
                ("room_id".into(), room.to_string()),
            ],
            _ => Vec::new(),
        }
    }

    fn reason(&self) -> &'static str {
        let code = self.business_code();
        acrosspk_codes::name(code).unwrap_or_else(|| codes::name(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_codes_are_named_and_in_the_acrosspk_range() {
        let room = RoomSid::from_trusted(1);
        let own = [
            AcrossPkError::AlreadyCreated { room },
            AcrossPkError::ReverseChallengePending { from: room, to: room },
            AcrossPkError::NotAParty { room, what: "pk" },
            AcrossPkError::NotTheOperator { room, operator: UserId::from_trusted(2) },
            AcrossPkError::ChallengePending { from: room, to: room },
            AcrossPkError::TooManyChallenges { room, max: 1 },
        ];
        for error in own {
            let code = error.business_code();
            assert!((403_400_100..403_400_200).contains(&code), "{error}");
            assert!(error.reason().starts_with("ACROSSPK_"), "{error}");
        }
        let lapsed = AcrossPkError::OfferGone { what: "challenge", from: room, to: room };
        assert_eq!(lapsed.reason(), "PK_OVER");
        assert_eq!(AcrossPkError::SameRoom { room }.field(), Some("pk_room_id"));
        let operator = UserId::from_trusted(2);
        let not_the_operator = AcrossPkError::NotTheOperator { room, operator };
        assert_eq!(not_the_operator.field(), Some("operator_id"));
        assert_eq!(not_the_operator.kind(), ErrorKind::PermissionDenied);
    }
}
