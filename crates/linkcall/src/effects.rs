//! LinkCallPk's words for the shared shapes of `livepk-battle`: its [`Vocabulary`] (anchors,
//! the battle, list changes, notifications, popup keys), and what a transition asks besides the
//! states: list updates and the seed's notifications. The engine commits them in the same
//! ordered plan as the new states (notifications through the outbox), so an effect is never lost
//! nor emitted for a change that did not happen.

use livepk_battle::Vocabulary;
use livepk_core::{PkId, RoomSid, SingerId, Target};
use serde::{Deserialize, Serialize};

use crate::model::{Anchor, Battle, GifterRow, PkInfo, PkState, Scene};

/// LinkCallPk as the engine knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkCall;

impl Vocabulary for LinkCall {
    type Aggregate = Anchor;
    type Battle = Battle;
    type Notification = Notification;
    type Change = ListChange;
    type InvitationKey = PopupKey;
}

/// A LinkCallPk transition: changed anchors, the changed or created battle, effects, reply.
pub type Transition<Reply> = livepk_battle::Transition<LinkCall, Reply>;
/// The effects of a LinkCallPk transition.
pub type Effects = livepk_battle::Effects<LinkCall>;
/// A deadline a LinkCallPk transition schedules.
pub type TimerRequest = livepk_battle::TimerRequest<PopupKey>;

/// Names a popup for its expiry job: the popup `host` raised on `guest` (whose aggregate holds
/// it). The job calls [`crate::on_popup_expired`], which does nothing when the popup was
/// answered, withdrawn or replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PopupKey {
    /// The invited anchor.
    pub guest: SingerId,
    /// The inviting anchor.
    pub host: SingerId,
}

/// A change to one of the sorted sets the adapter keeps beside the anchors (seed §B.3–5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListChange {
    /// Put `singer` in the online list (`linkcallpk:singer:onlinelist:zset`) with availability
    /// time `score_ms`, or move it there: newest availability is listed first.
    OnlineUpsert {
        /// The anchor.
        singer: SingerId,
        /// When it became available.
        score_ms: u64,
    },
    /// Take `singer` out of the online list.
    OnlineRemove {
        /// The anchor.
        singer: SingerId,
    },
    /// `guest` applied to `host` at `at_ms`: add `guest` to `host`'s applicant list
    /// (hostlist, §B.5) and `host` to `guest`'s applied-to list (guestlist, §B.4). Applying
    /// again moves the time.
    ApplicantAdd {
        /// Who was applied to.
        host: SingerId,
        /// Who applied.
        guest: SingerId,
        /// When.
        at_ms: u64,
    },
    /// Remove the application of `guest` to `host` from both lists.
    ApplicantRemove {
        /// Who was applied to.
        host: SingerId,
        /// Who applied.
        guest: SingerId,
    },
    /// Delete `singer`'s own applicant list and applied-to list outright. Sent after the
    /// pairwise [`ListChange::ApplicantRemove`]s that clean the other anchors' lists.
    ClearApplicantsOf {
        /// The anchor.
        singer: SingerId,
    },
}

/// A notification of seed §D (and the two messages the flows name), addressed to its target.
/// Profiles (nick, icon, level, star) are not here: the adapter fills them from its cache using
/// the singer ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// An anchor (unicast) or a room sid (multicast).
    pub target: Target,
    /// What it says.
    pub kind: NotificationKind,
}

/// The payload of a [`Notification`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationKind {
    /// `linkcallpk_singer_state_nt`: unicast to an anchor. `singer_id` is the other anchor the
    /// state is about (the applicant, the inviter, the partner), whose profile the nt shows.
    SingerState {
        /// The state.
        pk_state: PkState,
        /// Whom it is about.
        singer_id: SingerId,
    },
    /// `linkcallpk_room_pk_scene_nt`: multicast to one room.
    RoomPkScene {
        /// The room's anchor.
        singer_id: SingerId,
        /// The room.
        singer_sid: RoomSid,
        /// The room's new scene.
        pk_scene: Scene,
        /// The current pkid.
        pkid: PkId,
    },
    /// `linkcallpk_room_pk_info_nt`: multicast to a room. `users` is empty when only the PK
    /// info changed (seed §D.2).
    RoomPkInfo {
        /// The current pkid.
        pkid: PkId,
        /// The PK info.
        pk: PkInfo,
        /// Viewers whose totals just changed.
        users: Vec<GifterRow>,
    },
    /// `linkcallpk_room_pk_singer_info_nt`: multicast to a room, who is host and who is guest.
    RoomPkSingerInfo {
        /// The pkid (the placeholder, at Confirm).
        pkid: PkId,
        /// `h_singer`.
        host_id: SingerId,
        /// The host's room.
        host_sid: RoomSid,
        /// `g_singer`.
        guest_id: SingerId,
        /// The guest's room.
        guest_sid: RoomSid,
    },
    /// `linkcallpk_singer_pklist_nt`: to the PK's anchors (the seed names it without defining
    /// it; it carries the PK as both anchors should now show it).
    SingerPkList {
        /// `count` or `addtime`.
        pk_state: PkState,
        /// The pkid.
        pkid: PkId,
        /// The PK info.
        pk: PkInfo,
    },
}

impl NotificationKind {
    /// The seed's message name.
    pub fn message_name(&self) -> &'static str {
        match self {
            NotificationKind::SingerState { .. } => "linkcallpk_singer_state_nt",
            NotificationKind::RoomPkScene { .. } => "linkcallpk_room_pk_scene_nt",
            NotificationKind::RoomPkInfo { .. } => "linkcallpk_room_pk_info_nt",
            NotificationKind::RoomPkSingerInfo { .. } => "linkcallpk_room_pk_singer_info_nt",
            NotificationKind::SingerPkList { .. } => "linkcallpk_singer_pklist_nt",
        }
    }

    /// The pkid the notification is about, for the event envelope (`None` for anchor states).
    pub fn pkid(&self) -> Option<PkId> {
        match self {
            NotificationKind::SingerState { .. } => None,
            NotificationKind::RoomPkScene { pkid, .. }
            | NotificationKind::RoomPkInfo { pkid, .. }
            | NotificationKind::RoomPkSingerInfo { pkid, .. }
            | NotificationKind::SingerPkList { pkid, .. } => Some(*pkid),
        }
    }
}

impl Notification {
    /// `linkcallpk_singer_state_nt` to anchor `to`, about anchor `about`.
    pub(crate) fn singer_state(to: SingerId, pk_state: PkState, about: SingerId) -> Self {
        Self {
            target: Target::singer(to.get()),
            kind: NotificationKind::SingerState { pk_state, singer_id: about },
        }
    }

    /// `linkcallpk_room_pk_scene_nt` to each room of `battle` (both rooms share a scene reset).
    pub(crate) fn scenes_of_both_rooms(battle: &Battle) -> [Self; 2] {
        [&battle.host, &battle.guest].map(|side| Self {
            target: Target::room(side.singer_sid.get()),
            kind: NotificationKind::RoomPkScene {
                singer_id: side.singer_id,
                singer_sid: side.singer_sid,
                pk_scene: side.scene,
                pkid: battle.pkid(),
            },
        })
    }

    /// `linkcallpk_room_pk_info_nt` to both rooms of `battle`.
    pub(crate) fn info_to_both_rooms(
        battle: &Battle,
        pk: PkInfo,
        users: &[GifterRow],
    ) -> [Self; 2] {
        battle.rooms().map(|sid| Self {
            target: Target::room(sid.get()),
            kind: NotificationKind::RoomPkInfo { pkid: battle.pkid(), pk, users: users.to_vec() },
        })
    }
}
