//! What a transition asks the outside world to do: list updates, notifications, timers, the
//! settlement record and what happens to the score keys. The adapter commits them in the same
//! atomic step as the new states (notifications through the outbox), so an effect is never lost
//! nor emitted for a change that did not happen.

use livepk_core::{PkId, RoomSid, SingerId, Target};
use serde::{Deserialize, Serialize};

use crate::model::{
    Anchor, Battle, BattleId, EndedBy, GifterRow, PkInfo, PkState, Scene, TimedPhase,
};

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

/// A deadline the adapter schedules in the delay queue. When it is due the adapter calls the
/// matching handler ([`crate::on_popup_expired`], [`crate::on_phase_deadline`]); handlers check
/// that the state still matches, so a job that is re-delivered or outlived its state is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimerRequest {
    /// The popup `host` raised on `guest` lapses at `due_ms` (`linkcall.popup_seconds`).
    PopupExpiry {
        /// The invited anchor, whose aggregate holds the popup.
        guest: SingerId,
        /// The inviting anchor.
        host: SingerId,
        /// When.
        due_ms: u64,
    },
    /// `phase` of `battle` under `pkid` ends at `due_ms`.
    PhaseDeadline {
        /// The battle.
        battle: BattleId,
        /// The pkid the phase belongs to; a later pkid (AddTime, rematch) makes the job stale.
        pkid: PkId,
        /// Which phase.
        phase: TimedPhase,
        /// When.
        due_ms: u64,
    },
}

/// What the adapter does with the battle's score keys (side totals and both top-gifter boards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ScoreAction {
    /// Leave them as they are.
    #[default]
    Untouched,
    /// Start / rematch: delete both boards and set both totals to 0 (seed §4.1) before the new
    /// scoring window opens.
    Reset,
    /// AddTime: keep totals and boards; the new pkid continues them (seed §5.2).
    CarryOver,
    /// The link is closed: the keys may go (seed §B.8: "主播pk结束会删除").
    Delete,
}

/// The row for the PK records table, emitted once per settled pkid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settled {
    /// The settled pkid.
    pub pkid: PkId,
    /// The session it belonged to.
    pub battle: BattleId,
    /// 主场.
    pub host: SingerId,
    /// 客场.
    pub guest: SingerId,
    /// Final host total.
    pub host_score: u64,
    /// Final guest total.
    pub guest_score: u64,
    /// `None` on a draw.
    pub winner: Option<SingerId>,
    /// When the PK started (`starttime`, ms).
    pub start_ms: u64,
    /// When scoring ended (the deadline for Count/Deadline, the close time for Close/Leave/Admin).
    pub end_ms: u64,
    /// What settled it.
    pub ended_by: EndedBy,
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
                pkid: battle.pkid,
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
            kind: NotificationKind::RoomPkInfo { pkid: battle.pkid, pk, users: users.to_vec() },
        })
    }
}

/// Everything a transition asks of the outside world besides writing the new states.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Effects {
    /// Sorted-set updates, in order.
    pub lists: Vec<ListChange>,
    /// Notifications, in the order the seed's sequence diagrams list them.
    pub notifications: Vec<Notification>,
    /// Jobs to schedule.
    pub timers: Vec<TimerRequest>,
    /// The record of a PK settled by this transition.
    pub settled: Option<Settled>,
    /// What to do with the battle's score keys.
    pub scores: ScoreAction,
}

impl Effects {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
            && self.notifications.is_empty()
            && self.timers.is_empty()
            && self.settled.is_none()
            && self.scores == ScoreAction::Untouched
    }
}

/// The result of one command: the states to write, the effects to commit with them and the
/// data for the response.
///
/// `anchors` holds only anchors that changed (write each with compare-and-set on the version
/// read); `battle` is the battle to write when it changed or was created. An empty transition
/// (see [`Transition::is_noop`]) writes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition<Reply> {
    /// Changed anchors.
    pub anchors: Vec<Anchor>,
    /// The changed or created battle.
    pub battle: Option<Battle>,
    /// Effects to commit atomically with the states.
    pub effects: Effects,
    /// Response data.
    pub reply: Reply,
}

impl<Reply> Transition<Reply> {
    /// A transition that changes nothing and answers `reply`.
    pub fn unchanged(reply: Reply) -> Self {
        Self { anchors: Vec::new(), battle: None, effects: Effects::default(), reply }
    }

    /// The same transition with another reply, computed from the old one and the effects
    /// (for example an adapter answering with the settled record).
    pub fn map_reply<Other>(
        self,
        reply: impl FnOnce(Reply, &Effects) -> Other,
    ) -> Transition<Other> {
        let reply = reply(self.reply, &self.effects);
        Transition { anchors: self.anchors, battle: self.battle, effects: self.effects, reply }
    }

    /// Whether nothing is to be written or emitted.
    pub fn is_noop(&self) -> bool {
        self.anchors.is_empty() && self.battle.is_none() && self.effects.is_empty()
    }
}
