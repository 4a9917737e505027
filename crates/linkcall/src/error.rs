//! `LinkCallError`: every way a LinkCallPk command can be refused, with the business code of
//! seed 000 §A it answers and the kind that decides the gRPC status.

use livepk_battle::Verdict;
use livepk_core::{BusinessError, ErrorKind, PkId, SingerId, codes};

use crate::model::{PkInfo, PkState};

/// Why OpenFunction's gate (or a command that needs the function open) said no: all answered
/// as 403400022.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GateFailure {
    /// The anchor's star level is below `linkcall.min_star`.
    #[error("star level {star} is below the minimum {min_star}")]
    StarTooLow {
        /// The anchor's level.
        star: u32,
        /// The configured minimum.
        min_star: u32,
    },
    /// The whitelist is enabled and the anchor is not on it.
    #[error("the anchor is not on the whitelist")]
    NotWhitelisted,
    /// The calling anchor has not opened the function or is not broadcasting.
    #[error("the anchor has not opened linkcall pk")]
    FunctionClosed,
}

/// The settled result a second Count is answered with (code 024 carries the same result as the
/// first, so both anchors show the same thing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettledAnswer {
    /// The settled pkid.
    pub pkid: PkId,
    /// The PK info with the final scores.
    pub pk: PkInfo,
    /// The verdict.
    pub result: Verdict,
}

/// A refused LinkCallPk command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkCallError {
    /// Host and guest are the same anchor (403400021).
    #[error("host and guest are the same anchor {singer}")]
    SameAnchor {
        /// The anchor.
        singer: SingerId,
    },
    /// The anchor named in `field` is not an anchor of the PK the request is about
    /// (PERMISSION_DENIED, 403400021).
    #[error("anchor {singer} ({field}) is not an anchor of this pk")]
    NotThisPk {
        /// The anchor.
        singer: SingerId,
        /// The request field that named it.
        field: &'static str,
    },
    /// `guest` has a pending invitation, but from another host: only the invited anchor may
    /// answer an invitation (PERMISSION_DENIED, 403400021).
    #[error("anchor {guest} was not invited by {host}")]
    NotInvited {
        /// The anchor that tried to confirm.
        guest: SingerId,
        /// The host it named.
        host: SingerId,
    },
    /// The invitation from `host` to `guest` lapsed or was withdrawn (NOT_FOUND, 403400026).
    #[error("the invitation from {host} to {guest} is no longer pending")]
    InvitationGone {
        /// The invited anchor.
        guest: SingerId,
        /// The inviting anchor.
        host: SingerId,
    },
    /// 403400022: the anchor may not use linkcall PK.
    #[error("conditions not met: {0}")]
    ConditionsNotMet(GateFailure),
    /// 403400023: a PK timer is still running (Start during scoring or punishment, Count before
    /// the deadline). The client ignores it.
    #[error("a pk timer is still running until {deadline_ms} ms")]
    TimerStillRunning {
        /// When the running phase ends.
        deadline_ms: u64,
    },
    /// 403400024: the PK was already settled; carries the result the first settle produced.
    #[error("pk {} is already settled", .0.pkid)]
    AlreadySettled(Box<SettledAnswer>),
    /// 403400025: the anchor is already in a PK scene.
    #[error("anchor {singer} is already in a pk")]
    AnchorInPk {
        /// The anchor.
        singer: SingerId,
    },
    /// 403400026: there is no PK scene (any more) to act on.
    #[error("the pk is over")]
    PkOver,
    /// 403400027: the PK has not started (Count or AddTime on the placeholder). The client
    /// ignores it.
    #[error("the pk has not started")]
    PkNotStarted,
    /// 403400028: the anchor is playing a game.
    #[error("anchor {singer} is playing a game")]
    AnchorGaming {
        /// The anchor.
        singer: SingerId,
    },
    /// 403400029: the anchor is running a chainsaw (电锯) session.
    #[error("anchor {singer} is running a chainsaw session")]
    AnchorSawing {
        /// The anchor.
        singer: SingerId,
    },
    /// 403400030: an invitation popup involving the anchor is still unanswered (the target has
    /// one, or the linking host is still waiting for its own).
    #[error("anchor {singer} has an unhandled pk popup")]
    PopupPending {
        /// The anchor.
        singer: SingerId,
    },
    /// 403400031: the other anchor is offline.
    #[error("anchor {singer} is offline")]
    AnchorOffline {
        /// The anchor.
        singer: SingerId,
    },
    /// 403400014 (internal, answered as 020): a rematch Start needs a fresh pkid and the
    /// adapter did not allocate one (see [`livepk_battle::Round::next_start_needs_fresh_pkid`]).
    #[error("a fresh pkid is needed but none was allocated")]
    FreshPkidMissing,
}

impl LinkCallError {
    /// The `pk_state` the seed's responses carry next to the error (link_rs: "pk_state=
    /// pking/gaming/sawing/offline/popup"; a second count_rs: `count`).
    pub fn pk_state(&self) -> Option<PkState> {
        match self {
            LinkCallError::AnchorInPk { .. } => Some(PkState::Pking),
            LinkCallError::AnchorGaming { .. } => Some(PkState::Gaming),
            LinkCallError::AnchorSawing { .. } => Some(PkState::Sawing),
            LinkCallError::PopupPending { .. } => Some(PkState::Popup),
            LinkCallError::AnchorOffline { .. } => Some(PkState::Offline),
            LinkCallError::AlreadySettled(_) => Some(PkState::Count),
            _ => None,
        }
    }

    /// The settled result carried by 403400024, for the adapter to answer with.
    pub fn settled_answer(&self) -> Option<&SettledAnswer> {
        match self {
            LinkCallError::AlreadySettled(answer) => Some(answer),
            _ => None,
        }
    }
}

impl BusinessError for LinkCallError {
    fn kind(&self) -> ErrorKind {
        match self {
            LinkCallError::SameAnchor { .. } => ErrorKind::InvalidArgument,
            LinkCallError::NotThisPk { .. } | LinkCallError::NotInvited { .. } => {
                ErrorKind::PermissionDenied
            }
            LinkCallError::InvitationGone { .. } => ErrorKind::NotFound,
            // The second of two racing settles lost the race.
            LinkCallError::AlreadySettled(_) => ErrorKind::Aborted,
            LinkCallError::FreshPkidMissing => ErrorKind::Internal,
            LinkCallError::ConditionsNotMet(_)
            | LinkCallError::TimerStillRunning { .. }
            | LinkCallError::AnchorInPk { .. }
            | LinkCallError::PkOver
            | LinkCallError::PkNotStarted
            | LinkCallError::AnchorGaming { .. }
            | LinkCallError::AnchorSawing { .. }
            | LinkCallError::PopupPending { .. }
            | LinkCallError::AnchorOffline { .. } => ErrorKind::FailedPrecondition,
        }
    }

    fn business_code(&self) -> u32 {
        match self {
            LinkCallError::SameAnchor { .. }
            | LinkCallError::NotThisPk { .. }
            | LinkCallError::NotInvited { .. } => codes::INVALID_PARAMETER,
            LinkCallError::ConditionsNotMet(_) => codes::CONDITIONS_NOT_MET,
            LinkCallError::TimerStillRunning { .. } => codes::TIMER_STILL_RUNNING,
            LinkCallError::AlreadySettled(_) => codes::ALREADY_SETTLED,
            LinkCallError::AnchorInPk { .. } => codes::ANCHOR_IN_PK,
            LinkCallError::PkOver | LinkCallError::InvitationGone { .. } => codes::PK_OVER,
            LinkCallError::PkNotStarted => codes::PK_NOT_STARTED,
            LinkCallError::AnchorGaming { .. } => codes::ANCHOR_IN_GAME,
            LinkCallError::AnchorSawing { .. } => codes::ANCHOR_IN_SAW,
            LinkCallError::PopupPending { .. } => codes::ANCHOR_HAS_POPUP,
            LinkCallError::AnchorOffline { .. } => codes::ANCHOR_OFFLINE,
            LinkCallError::FreshPkidMissing => codes::INTERNAL_PKID_FAILED,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            LinkCallError::SameAnchor { .. } => Some("guest_id"),
            LinkCallError::NotThisPk { field, .. } => Some(field),
            LinkCallError::NotInvited { .. } => Some("host_id"),
            _ => None,
        }
    }

    /// What the seed's responses carry beside the code: the `pk_state` of a busy anchor, and
    /// for 024 the result the first settle made (`pkid`, `host_gift`, `guest_gift`,
    /// `winner_id`).
    fn details(&self) -> Vec<(String, String)> {
        let mut details = Vec::new();
        if let Some(state) = self.pk_state() {
            details.push(("pk_state".into(), state.number().to_string()));
        }
        if let Some(answer) = self.settled_answer() {
            details.push(("pkid".into(), answer.pkid.to_string()));
            details.push(("host_gift".into(), answer.result.scores.first.to_string()));
            details.push(("guest_gift".into(), answer.result.scores.second.to_string()));
            let winner = answer.pk.winner_id.map_or(0, SingerId::get);
            details.push(("winner_id".into(), winner.to_string()));
        }
        details
    }
}
