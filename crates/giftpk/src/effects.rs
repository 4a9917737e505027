//! GiftPk's words for the shared shapes of `livepk-battle`: its [`Vocabulary`] (shows, the gift
//! PK battle, no list changes, no invitations) and its notifications (seed 001 §2.3: create,
//! progress, end), each addressed to the show's room.

use std::convert::Infallible;

use livepk_battle::{Scores, Sides, Vocabulary};
use livepk_core::{GiftId, PkId, Target};
use serde::{Deserialize, Serialize};

use crate::model::{GiftBattle, PkGift, SenderRow, Show};

/// GiftPk as the engine knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GiftPk;

impl Vocabulary for GiftPk {
    type Aggregate = Show;
    type Battle = GiftBattle;
    type Notification = Notification;
    /// GiftPk keeps no collections besides its aggregates.
    type Change = Infallible;
    /// GiftPk has no invitations.
    type InvitationKey = ();
}

/// A GiftPk transition: the changed show, the changed or created battle, effects, reply.
pub type Transition<Reply> = livepk_battle::Transition<GiftPk, Reply>;
/// The effects of a GiftPk transition.
pub type Effects = livepk_battle::Effects<GiftPk>;

/// A notification of seed 001 §2.3, addressed to the show's room. Senders' profiles are not
/// here: the encoder fills them from the battle's stored profiles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The show's room (multicast).
    pub target: Target,
    /// What it says.
    pub kind: NotificationKind,
}

/// The payload of a [`Notification`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationKind {
    /// `giftpk_create_nt` (§2.3.a): the PK started; everything a viewer needs to draw it.
    Create {
        /// The new pkid.
        pkid: PkId,
        /// The countdown (seconds).
        duration_secs: u64,
        /// The pull interval clients must use (ms).
        interval_ms: u64,
        /// When the countdown ends (ms since epoch).
        deadline_ms: u64,
        /// Both gifts with name, logo and caption.
        gifts: Sides<PkGift>,
    },
    /// `giftpk_progress_nt` (§2.3.c): the totals moved. Coalesced by the engine per PK and
    /// gift; `time_left` is computed when it is encoded, from `deadline_ms`.
    Progress {
        /// The pkid.
        pkid: PkId,
        /// Each gift's count now.
        counts: Scores,
        /// Both gift ids (first, second), matching `counts`.
        gift_ids: Sides<GiftId>,
        /// When the countdown ends (ms since epoch).
        deadline_ms: u64,
        /// The gift whose senders are listed.
        gift_id: GiftId,
        /// That gift's senders whose totals changed, best first.
        users: Vec<SenderRow>,
    },
    /// `giftpk_end_nt` (§2.3.b): the PK is over (deadline, Close or an operator); clients pull
    /// the result.
    End {
        /// The pkid.
        pkid: PkId,
    },
}

impl NotificationKind {
    /// The message name, in the seed's style (the event's `type`).
    pub fn message_name(&self) -> &'static str {
        match self {
            NotificationKind::Create { .. } => "giftpk_create_nt",
            NotificationKind::Progress { .. } => "giftpk_progress_nt",
            NotificationKind::End { .. } => "giftpk_end_nt",
        }
    }

    /// The pkid it is about.
    pub fn pkid(&self) -> PkId {
        match self {
            NotificationKind::Create { pkid, .. }
            | NotificationKind::Progress { pkid, .. }
            | NotificationKind::End { pkid } => *pkid,
        }
    }
}

impl Notification {
    /// `kind` to the room of `battle`'s show.
    pub(crate) fn to_show(battle: &GiftBattle, kind: NotificationKind) -> Notification {
        Notification { target: Target::room(battle.show_id.get()), kind }
    }
}
