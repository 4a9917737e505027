//! Flows that change anchors before (or around) a battle: the function switch (1.1), Apply (2),
//! Link (3.1), Confirm (3.2), popup expiry, the busy flags, SingerComeInRoom (11) and the leave
//! event (12).

use livepk_battle::{BattleId, EndedBy, Round, Scores, Side};
use livepk_core::{PkId, RoomSid, SingerId, Target};

use crate::battle_flows::{close_live_battle, live_battle_of};
use crate::config::{LinkCallConfig, OpenGate};
use crate::effects::{
    Effects, ListChange, Notification, NotificationKind, PopupKey, TimerRequest, Transition,
};
use crate::error::{GateFailure, LinkCallError};
use crate::model::{
    Activity, Anchor, Battle, BattleSide, MS_PER_SECOND, PkInfo, PkState, Popup, Scene,
};

/// What a timer handler did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerOutcome {
    /// The deadline was due and its state still current: the transition applies it.
    Fired,
    /// The state moved on (answered popup, new pkid, other phase, closed battle): nothing to do.
    Stale,
    /// The job came before its deadline: the transition re-requests it for the right time.
    Rescheduled,
}

/// The anchor passed for `singer`, ignoring one that is not `singer`'s (an adapter mix-up must
/// not let one anchor act on another's state).
pub(crate) fn matching(anchor: Option<&Anchor>, singer: SingerId) -> Option<&Anchor> {
    anchor.filter(|anchor| anchor.singer_id == singer)
}

/// The anchor making a request must itself be able to link: function open and broadcasting
/// (022), not in a PK (025), not busy (028, 029).
fn check_caller(anchor: Option<&Anchor>, singer: SingerId) -> Result<&Anchor, LinkCallError> {
    let anchor = matching(anchor, singer)
        .filter(|anchor| anchor.is_online())
        .ok_or(LinkCallError::ConditionsNotMet(GateFailure::FunctionClosed))?;
    check_free(anchor)
}

/// The anchor a request is aimed at, checked in the seed's order (§3.1): offline 031, in PK
/// 025, game 028, chainsaw 029. (The popup check, 030, is Link's own.)
fn check_target(anchor: Option<&Anchor>, singer: SingerId) -> Result<&Anchor, LinkCallError> {
    let anchor = matching(anchor, singer)
        .filter(|anchor| anchor.is_online())
        .ok_or(LinkCallError::AnchorOffline { singer })?;
    check_free(anchor)
}

fn check_free(anchor: &Anchor) -> Result<&Anchor, LinkCallError> {
    let singer = anchor.singer_id;
    if anchor.battle.is_some() {
        return Err(LinkCallError::AnchorInPk { singer });
    }
    match anchor.activity {
        Activity::Game => Err(LinkCallError::AnchorGaming { singer }),
        Activity::Saw => Err(LinkCallError::AnchorSawing { singer }),
        Activity::Idle => Ok(anchor),
    }
}

/// The room of an online anchor. Online implies a known room; the error is the caller's
/// "offline" answer should that ever not hold.
fn room_of(anchor: &Anchor, offline: LinkCallError) -> Result<RoomSid, LinkCallError> {
    anchor.singer_sid.ok_or(offline)
}

// ---------------------------------------------------------------------------------------------
// 1.1 OpenFunction

/// OpenFunction with `pk_open = 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFunctionRequest {
    /// The anchor.
    pub singer_id: SingerId,
    /// Its room.
    pub singer_sid: RoomSid,
}

/// Data for `linkcallpk_singer_open_function_rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFunctionReply {
    /// `open_state`: whether the function is now open.
    pub open_state: bool,
    /// When it was opened (seconds), 0 when closed.
    pub functiontime_secs: u64,
}

/// Seed §1.1, opening: the star gate and, when enabled, the whitelist (both 022), then the
/// anchor is open, in its room and at the top of the online list. Opening an open function
/// keeps its `functiontime` and only refreshes the list position ("切换连麦状态会重新刷新这个时间").
pub fn open_function(
    anchor: Option<&Anchor>,
    request: OpenFunctionRequest,
    gate: OpenGate,
    config: &LinkCallConfig,
    now_ms: u64,
) -> Result<Transition<OpenFunctionReply>, LinkCallError> {
    if gate.singer_star < config.min_star {
        return Err(LinkCallError::ConditionsNotMet(GateFailure::StarTooLow {
            star: gate.singer_star,
            min_star: config.min_star,
        }));
    }
    if config.whitelist_enabled && !gate.singer_whitelisted {
        return Err(LinkCallError::ConditionsNotMet(GateFailure::NotWhitelisted));
    }
    let mut opened = matching(anchor, request.singer_id)
        .cloned()
        .unwrap_or_else(|| Anchor::new(request.singer_id));
    opened.singer_sid = Some(request.singer_sid);
    opened.in_room = true;
    if !opened.function_open {
        opened.function_open = true;
        opened.functiontime_secs = now_ms / MS_PER_SECOND;
    }
    let reply = OpenFunctionReply { open_state: true, functiontime_secs: opened.functiontime_secs };
    let mut transition = Transition::unchanged(reply);
    transition
        .effects
        .changes
        .push(ListChange::OnlineUpsert { singer: request.singer_id, score_ms: now_ms });
    transition.aggregates.push(opened);
    Ok(transition)
}

/// What the adapter reads besides the anchor itself when an anchor withdraws from LinkCallPk
/// (closing the function, leaving the room), so that nobody keeps waiting on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Withdrawal<'a> {
    /// Members of the anchor's applicant list (hostlist, §B.5: who applied to it).
    pub applicants: &'a [SingerId],
    /// Members of its applied-to list (guestlist, §B.4: whom it applied to).
    pub applied_to: &'a [SingerId],
    /// The anchor holding the popup this anchor raised (`outgoing_invite.to`), whose popup
    /// is withdrawn.
    pub invited_guest: Option<&'a Anchor>,
    /// The anchor that raised this anchor's popup (`popup.from`), which stops waiting.
    pub inviting_host: Option<&'a Anchor>,
}

/// The copy of `original` in `changed`, added on first use, so that two edits of the same
/// neighbour end up in one written anchor rather than two that overwrite each other.
fn edit<'a>(changed: &'a mut Vec<Anchor>, original: &Anchor) -> &'a mut Anchor {
    let index = match changed.iter().position(|anchor| anchor.singer_id == original.singer_id) {
        Some(index) => index,
        None => {
            changed.push(original.clone());
            changed.len() - 1
        }
    };
    &mut changed[index]
}

/// Removes `anchor` from every list and invitation and tells each anchor involved `offline`
/// (seed §12: "如果主播有申请（申请过的人）都要发nt（state=offline）"; the anchors it applied to are
/// told too, since their applicant lists showed it). Changed neighbours are pushed to `changed`.
fn withdraw(
    anchor: &mut Anchor,
    withdrawal: &Withdrawal<'_>,
    now_ms: u64,
    effects: &mut Effects,
    changed: &mut Vec<Anchor>,
) {
    let me = anchor.singer_id;
    let mut told: Vec<SingerId> = Vec::new();
    let mut tell_offline = |other: SingerId, effects: &mut Effects| {
        if other != me && !told.contains(&other) {
            told.push(other);
            effects.notifications.push(Notification::singer_state(other, PkState::Offline, me));
        }
    };
    for &applicant in withdrawal.applicants {
        effects.changes.push(ListChange::ApplicantRemove { host: me, guest: applicant });
        tell_offline(applicant, effects);
    }
    for &applied in withdrawal.applied_to {
        effects.changes.push(ListChange::ApplicantRemove { host: applied, guest: me });
        tell_offline(applied, effects);
    }
    effects.changes.push(ListChange::ClearApplicantsOf { singer: me });
    effects.changes.push(ListChange::OnlineRemove { singer: me });

    if let Some(popup) = anchor.popup.take() {
        if popup.is_live(now_ms) {
            tell_offline(popup.from, effects);
        }
        if let Some(host) = matching(withdrawal.inviting_host, popup.from)
            && host.outgoing_invite.is_some_and(|invite| invite.to == me)
        {
            edit(changed, host).outgoing_invite = None;
        }
    }
    if let Some(invite) = anchor.outgoing_invite.take()
        && let Some(guest) = matching(withdrawal.invited_guest, invite.to)
        && let Some(popup) = guest.popup.filter(|popup| popup.from == me)
    {
        edit(changed, guest).popup = None;
        if popup.is_live(now_ms) {
            tell_offline(invite.to, effects);
        }
    }
}

/// Seed §1.1, closing (`pk_open = 0`): the anchor leaves the online list, its applications and
/// invitations are withdrawn (everyone involved is told `offline`). Refused with 025 while the
/// anchor is in a PK scene, so that a battle always has two anchors with the function open
/// (close the PK first). Closing a closed function changes nothing.
pub fn close_function(
    anchor: Option<&Anchor>,
    singer_id: SingerId,
    withdrawal: Withdrawal<'_>,
    now_ms: u64,
) -> Result<Transition<OpenFunctionReply>, LinkCallError> {
    let reply = OpenFunctionReply { open_state: false, functiontime_secs: 0 };
    let Some(anchor) = matching(anchor, singer_id).filter(|anchor| anchor.function_open) else {
        return Ok(Transition::unchanged(reply));
    };
    if anchor.battle.is_some() {
        return Err(LinkCallError::AnchorInPk { singer: singer_id });
    }
    let mut closed = anchor.clone();
    let mut transition = Transition::unchanged(reply);
    withdraw(&mut closed, &withdrawal, now_ms, &mut transition.effects, &mut transition.aggregates);
    closed.function_open = false;
    closed.functiontime_secs = 0;
    // The withdrawing anchor last (each anchor is its own transaction): should a neighbour's
    // write lose a race, nothing of it is written yet and the re-run withdraws it again.
    transition.aggregates.push(closed);
    Ok(transition)
}

/// `SetSingerActivity`: records what an external feature has the anchor busy with (codes
/// 028/029 come from it). Creates the anchor record if needed; it does not touch a running PK.
pub fn set_singer_activity(
    anchor: Option<&Anchor>,
    singer_id: SingerId,
    activity: Activity,
) -> Transition<()> {
    let current = matching(anchor, singer_id);
    if current.is_some_and(|anchor| anchor.activity == activity)
        || (current.is_none() && activity == Activity::Idle)
    {
        return Transition::unchanged(());
    }
    let mut updated = current.cloned().unwrap_or_else(|| Anchor::new(singer_id));
    updated.activity = activity;
    let mut transition = Transition::unchanged(());
    transition.aggregates.push(updated);
    transition
}

// ---------------------------------------------------------------------------------------------
// 2 Apply

/// `linkcallpk_apply_rq`: `guest_id` applies to `host_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyRequest {
    /// The applicant (客场).
    pub guest_id: SingerId,
    /// The anchor applied to (主场).
    pub host_id: SingerId,
}

/// Data for `linkcallpk_apply_rs` (and `linkcallpk_link_rs`, `linkcallpk_confirm_rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateReply {
    /// `pk_state`.
    pub pk_state: PkState,
}

/// Seed §2: adds the application to both lists and tells the host (`apply`). The applicant must
/// be able to link itself (022/025/028/029) and the host must be linkable (031/025/028/029); a
/// host with a popup may still receive applications. Applying again refreshes the time.
pub fn apply(
    guest: Option<&Anchor>,
    host: Option<&Anchor>,
    request: ApplyRequest,
    now_ms: u64,
) -> Result<Transition<StateReply>, LinkCallError> {
    let ApplyRequest { guest_id, host_id } = request;
    if guest_id == host_id {
        return Err(LinkCallError::SameAnchor { singer: guest_id });
    }
    check_caller(guest, guest_id)?;
    check_target(host, host_id)?;
    let mut transition = Transition::unchanged(StateReply { pk_state: PkState::Apply });
    transition.effects.changes.push(ListChange::ApplicantAdd {
        host: host_id,
        guest: guest_id,
        at_ms: now_ms,
    });
    transition.effects.notifications.push(Notification::singer_state(
        host_id,
        PkState::Apply,
        guest_id,
    ));
    Ok(transition)
}

// ---------------------------------------------------------------------------------------------
// 3.1 Link

/// `linkcallpk_link_rq`: `host_id` invites `guest_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkRequest {
    /// The inviting anchor.
    pub host_id: SingerId,
    /// The invited anchor.
    pub guest_id: SingerId,
}

/// Data for `linkcallpk_link_rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkReply {
    /// `pk_state`: `popup` on success.
    pub pk_state: PkState,
    /// When the invitation lapses.
    pub popup_expires_at_ms: u64,
}

/// Seed §3.1: the host must be able to link and not be waiting on another invitation (030);
/// the guest is checked in the seed's order — offline 031, in PK 025, game 028, chainsaw 029,
/// unhandled popup 030 — and then gets one popup that lapses after `popup_seconds`.
pub fn link(
    host: Option<&Anchor>,
    guest: Option<&Anchor>,
    request: LinkRequest,
    config: &LinkCallConfig,
    now_ms: u64,
) -> Result<Transition<LinkReply>, LinkCallError> {
    let LinkRequest { host_id, guest_id } = request;
    if host_id == guest_id {
        return Err(LinkCallError::SameAnchor { singer: host_id });
    }
    let host = check_caller(host, host_id)?;
    // An invitation to this guest that the guest does not hold is the half of a Link whose
    // guest write lost a race (each anchor is its own transaction): the re-run sends it again.
    let half_written = host.live_outgoing_invite(now_ms).is_some_and(|invite| {
        invite.to == guest_id
            && matching(guest, guest_id).is_none_or(|g| g.popup.as_ref() != Some(invite))
    });
    // A host holding an unanswered popup answers it first, and one waiting for an answer waits:
    // one pending invitation per anchor, either way (so two anchors never invite each other).
    if (host.live_outgoing_invite(now_ms).is_some() && !half_written)
        || host.live_popup(now_ms).is_some()
    {
        return Err(LinkCallError::PopupPending { singer: host_id });
    }
    let guest = check_target(guest, guest_id)?;
    if guest.live_popup(now_ms).is_some() {
        return Err(LinkCallError::PopupPending { singer: guest_id });
    }
    let popup = Popup::new(host_id, guest_id, now_ms, config.popup_ms());
    let mut transition = Transition::unchanged(LinkReply {
        pk_state: PkState::Popup,
        popup_expires_at_ms: popup.expires_at_ms,
    });

    let mut invited = guest.clone();
    // A lapsed popup whose expiry job has not run yet is replaced; its host would otherwise
    // never hear that nobody answered (its job will find a different popup and do nothing).
    if let Some(lapsed) = invited.popup.filter(|popup| popup.from != host_id) {
        transition.effects.notifications.push(Notification::singer_state(
            lapsed.from,
            PkState::No,
            guest_id,
        ));
    }
    invited.popup = Some(popup);
    let mut inviting = host.clone();
    inviting.outgoing_invite = Some(popup);
    transition.aggregates = vec![inviting, invited];
    transition.effects.notifications.push(Notification::singer_state(
        guest_id,
        PkState::Popup,
        host_id,
    ));
    transition.effects.timers.push(TimerRequest::InvitationExpiry {
        invitation: PopupKey { guest: guest_id, host: host_id },
        due_ms: popup.expires_at_ms,
    });
    Ok(transition)
}

// ---------------------------------------------------------------------------------------------
// 3.2 Confirm

/// `op_code` of `linkcallpk_confirm_rq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmDecision {
    /// `agree = 1`, with the ids the adapter allocated for the new battle. It allocates them
    /// only when the guest holds the host's live popup ([`Anchor::live_popup`]); an agree
    /// without them is refused with 014 (internal) once the popup checks passed.
    Agree(Option<NewBattle>),
    /// `refuse = 2`.
    Refuse,
}

/// The ids of a battle an agree creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewBattle {
    /// The new battle's id.
    pub battle_id: BattleId,
    /// The placeholder pkid (seed §3.2 备注), reused by the first Start.
    pub placeholder_pkid: PkId,
}

/// `linkcallpk_confirm_rq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmRequest {
    /// The invited anchor answering.
    pub guest_id: SingerId,
    /// The anchor that invited it.
    pub host_id: SingerId,
    /// Agree or refuse.
    pub decision: ConfirmDecision,
}

/// Data for `linkcallpk_confirm_rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmReply {
    /// `yes` or `no`.
    pub pk_state: PkState,
    /// The placeholder pkid on agree.
    pub pkid: Option<PkId>,
    /// The placeholder PK info on agree (only the anchor ids set, seed §3.2 备注).
    pub pk: Option<PkInfo>,
}

/// Seed §3.2. Only the anchor holding `host_id`'s live popup may answer it: a live popup from
/// another host is PERMISSION_DENIED; no live popup (lapsed, withdrawn, never raised) is
/// 026 (NOT_FOUND), with nothing changed.
///
/// Refuse drops the popup and tells the host `no`. Agree re-checks the host (offline 031, in PK
/// 025, game 028, chainsaw 029) and the guest (025/028/029), creates the battle with the
/// placeholder pkid and both scenes at 0, points both anchors at it, removes the pair's
/// applications in both directions, and sends the seed's nts: `yes` to the host, the scene and
/// the singer info to both rooms. A popup the host itself was holding is withdrawn (its inviter
/// is told `pking`), since the host is now in a PK scene.
pub fn confirm(
    guest: Option<&Anchor>,
    host: Option<&Anchor>,
    request: ConfirmRequest,
    now_ms: u64,
) -> Result<Transition<ConfirmReply>, LinkCallError> {
    let ConfirmRequest { guest_id, host_id, decision } = request;
    if guest_id == host_id {
        return Err(LinkCallError::SameAnchor { singer: guest_id });
    }
    let gone = LinkCallError::InvitationGone { guest: guest_id, host: host_id };
    let invited = matching(guest, guest_id).ok_or(gone.clone())?;
    match invited.live_popup(now_ms) {
        Some(popup) if popup.from == host_id => {}
        Some(_) => {
            return Err(LinkCallError::NotInvited { guest: guest_id, host: host_id });
        }
        None => return Err(gone),
    }
    let inviting = matching(host, host_id);

    let ConfirmDecision::Agree(new_battle) = decision else {
        let reply = ConfirmReply { pk_state: PkState::No, pkid: None, pk: None };
        return Ok(popup_answered_no(invited, inviting, reply));
    };

    let inviting = check_target(inviting, host_id)?;
    check_caller(Some(invited), guest_id)?;
    let NewBattle { battle_id, placeholder_pkid } =
        new_battle.ok_or(LinkCallError::FreshPkidMissing)?;
    let host_sid = room_of(inviting, LinkCallError::AnchorOffline { singer: host_id })?;
    let guest_sid = room_of(invited, LinkCallError::ConditionsNotMet(GateFailure::FunctionClosed))?;

    let battle = Battle {
        battle_id,
        host: BattleSide { singer_id: host_id, singer_sid: host_sid, scene: Scene::Pk },
        guest: BattleSide { singer_id: guest_id, singer_sid: guest_sid, scene: Scene::Pk },
        linked_at_ms: now_ms,
        round: Round::new(placeholder_pkid),
    };
    let pk = battle.pk_info(Scores::default());
    let mut transition = Transition::unchanged(ConfirmReply {
        pk_state: PkState::Yes,
        pkid: Some(placeholder_pkid),
        pk: Some(pk),
    });
    let effects = &mut transition.effects;

    let mut linked_host = inviting.clone();
    linked_host.outgoing_invite = None;
    linked_host.battle = Some(battle_id);
    if let Some(held) = linked_host.popup.take()
        && held.is_live(now_ms)
        && held.from != guest_id
    {
        effects.notifications.push(Notification::singer_state(held.from, PkState::Pking, host_id));
    }
    let mut linked_guest = invited.clone();
    linked_guest.popup = None;
    // An invitation the guest itself sent can no longer be taken up: it is in a PK scene now.
    linked_guest.outgoing_invite = None;
    linked_guest.battle = Some(battle_id);

    effects.changes.push(ListChange::ApplicantRemove { host: host_id, guest: guest_id });
    effects.changes.push(ListChange::ApplicantRemove { host: guest_id, guest: host_id });
    // In the order of the seed's diagram: scene and singer info to both rooms, then `yes` to the
    // host.
    effects.notifications.extend(Notification::scenes_of_both_rooms(&battle));
    effects.notifications.extend(battle.rooms().map(|sid| Notification {
        target: Target::room(sid.get()),
        kind: NotificationKind::RoomPkSingerInfo {
            pkid: placeholder_pkid,
            host_id,
            host_sid,
            guest_id,
            guest_sid,
        },
    }));
    effects.notifications.push(Notification::singer_state(host_id, PkState::Yes, guest_id));
    transition.aggregates = vec![linked_host, linked_guest];
    transition.battle = Some(battle);
    Ok(transition)
}

/// The popup-expiry job for (`guest_id`, `host_id`). When the popup is still there and lapsed:
/// drops it, frees the host's wait and tells the host `no` (the seed's 【不处理】 outcome). When
/// the popup was answered, withdrawn or replaced: nothing. When the job came early: asks for it
/// again at the popup's expiry.
pub fn on_popup_expired(
    guest: Option<&Anchor>,
    host: Option<&Anchor>,
    guest_id: SingerId,
    host_id: SingerId,
    now_ms: u64,
) -> Transition<TimerOutcome> {
    let Some(invited) = matching(guest, guest_id) else {
        return Transition::unchanged(TimerOutcome::Stale);
    };
    let Some(popup) = invited.popup.filter(|popup| popup.from == host_id) else {
        return Transition::unchanged(TimerOutcome::Stale);
    };
    if popup.is_live(now_ms) {
        let mut transition = Transition::unchanged(TimerOutcome::Rescheduled);
        transition.effects.timers.push(TimerRequest::InvitationExpiry {
            invitation: PopupKey { guest: guest_id, host: host_id },
            due_ms: popup.expires_at_ms,
        });
        return transition;
    }
    popup_answered_no(invited, matching(host, host_id), TimerOutcome::Fired)
}

/// The popup `invited` holds is gone with a `no` (refused, or lapsed unanswered): it is dropped,
/// its host (`inviting`, when it still waits on this guest) stops waiting and is told `no`.
fn popup_answered_no<Reply>(
    invited: &Anchor,
    inviting: Option<&Anchor>,
    reply: Reply,
) -> Transition<Reply> {
    let mut transition = Transition::unchanged(reply);
    let guest_id = invited.singer_id;
    let Some(popup) = invited.popup else { return transition };
    if let Some(inviting) = inviting.filter(|host| {
        host.singer_id == popup.from
            && host.outgoing_invite.is_some_and(|invite| invite.to == guest_id)
    }) {
        let mut inviting = inviting.clone();
        inviting.outgoing_invite = None;
        transition.aggregates.push(inviting);
    }
    // The guest last (each anchor is its own transaction): should it lose a race after the host
    // was freed, the re-run still finds its popup and answers it again.
    let mut answered = invited.clone();
    answered.popup = None;
    transition.aggregates.push(answered);
    transition.effects.notifications.push(Notification::singer_state(
        popup.from,
        PkState::No,
        guest_id,
    ));
    transition
}

// ---------------------------------------------------------------------------------------------
// 11 SingerComeInRoom

/// `linkcallpk_singer_comein_room_rq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SingerComeInRoomRequest {
    /// The anchor.
    pub singer_id: SingerId,
    /// Its room.
    pub singer_sid: RoomSid,
}

/// The popup part of `linkcallpk_singer_comein_room_rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PopupView {
    /// `popup_id`: who invited.
    pub host: SingerId,
    /// `popup_time`: when, seconds.
    pub popped_at_secs: u64,
    /// `popup_live`: seconds the popup still has (rounded up), so a reconnecting client can
    /// resume the countdown.
    pub live_secs: u64,
}

/// Data for `linkcallpk_singer_comein_room_rs`; `None` fields are answered as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SingerComeInRoomReply {
    /// `functiontime` (0 when the function is closed).
    pub functiontime_secs: u64,
    /// The unanswered popup, if one is live.
    pub popup: Option<PopupView>,
    /// `pkid` of the anchor's PK scene.
    pub pkid: Option<PkId>,
    /// Its PK info.
    pub pk: Option<PkInfo>,
}

/// Seed §11: everything a reconnecting anchor needs (function time, live popup, PK scene).
/// Coming back after the leave event is a new broadcast: the anchor is in its room again and,
/// with the function open, back at the top of the online list (§B.3 "主播新开播 ... 会重新刷新这个时
/// 间"). A pointer to a closed or vanished battle is cleared here. `battle` is the battle the
/// anchor points at (None when it has none or it vanished); `scores` its side totals.
pub fn singer_come_in_room(
    anchor: Option<&Anchor>,
    battle: Option<&Battle>,
    request: SingerComeInRoomRequest,
    scores: Scores,
    now_ms: u64,
) -> Transition<SingerComeInRoomReply> {
    let Some(current) = matching(anchor, request.singer_id) else {
        return Transition::unchanged(SingerComeInRoomReply {
            functiontime_secs: 0,
            popup: None,
            pkid: None,
            pk: None,
        });
    };
    let live = live_battle_of(current, battle);
    let mut updated = current.clone();
    let mut effects = Effects::default();
    updated.singer_sid = Some(request.singer_sid);
    if !updated.in_room {
        updated.in_room = true;
        if updated.function_open {
            effects
                .changes
                .push(ListChange::OnlineUpsert { singer: request.singer_id, score_ms: now_ms });
        }
    }
    if live.is_none() {
        updated.battle = None;
    }
    let popup = current.live_popup(now_ms).map(|popup| PopupView {
        host: popup.from,
        popped_at_secs: popup.sent_at_secs(),
        live_secs: popup.live_secs(now_ms),
    });
    let reply = SingerComeInRoomReply {
        functiontime_secs: if current.function_open { current.functiontime_secs } else { 0 },
        popup,
        pkid: live.map(|battle| battle.pkid()),
        pk: live.map(|battle| battle.pk_info(scores)),
    };
    let anchors = if updated == *current { Vec::new() } else { vec![updated] };
    Transition { aggregates: anchors, battle: None, effects, reply }
}

// ---------------------------------------------------------------------------------------------
// 12 SingerLeave

/// What the leave event needs besides the leaving anchor.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeaveContext<'a> {
    /// The battle the anchor points at, if it exists.
    pub battle: Option<&'a Battle>,
    /// The battle's other anchor.
    pub partner: Option<&'a Anchor>,
    /// Lists and invitation partners to clean.
    pub withdrawal: Withdrawal<'a>,
    /// The battle's side totals (settles it when scoring).
    pub scores: Scores,
}

/// Seed §12, the leave event (`p_user_real_leave_channel_event`). Without the function
/// nothing changes. Otherwise: a PK scene is closed as by Close (settled when scoring, ended by
/// `leave`; only the partner is told `over`, the leaver is gone), applicants and applied-to
/// anchors are told `offline`, the anchor leaves the online list and both its lists, and the
/// popups it holds or raised are withdrawn. The function switch itself stays as the anchor set
/// it, for SingerComeInRoom to report (§11).
pub fn singer_leave(
    anchor: Option<&Anchor>,
    singer_id: SingerId,
    context: LeaveContext<'_>,
    now_ms: u64,
) -> Transition<()> {
    let Some(current) = matching(anchor, singer_id).filter(|anchor| anchor.function_open) else {
        return Transition::unchanged(());
    };
    let mut leaving = current.clone();
    let mut transition = Transition::unchanged(());

    if let Some(battle) = live_battle_of(current, context.battle) {
        let (host, guest) = match battle.side_of(singer_id) {
            Some(Side::First) => (Some(current), context.partner),
            _ => (context.partner, Some(current)),
        };
        let closing =
            close_live_battle(battle, host, guest, context.scores, EndedBy::Leave, now_ms);
        transition.effects = closing.effects;
        transition.battle = Some(closing.battle);
        // The leaver's own release is folded into `leaving` below; keep the partner's.
        transition
            .aggregates
            .extend(closing.released.into_iter().filter(|anchor| anchor.singer_id != singer_id));
        transition.effects.changes.retain(|change| {
            !matches!(change, ListChange::OnlineUpsert { singer, .. } if *singer == singer_id)
        });
        if let Some(partner) = battle.partner_of(singer_id) {
            transition
                .effects
                .notifications
                .insert(0, Notification::singer_state(partner, PkState::Over, singer_id));
        }
    }
    leaving.battle = None;
    leaving.in_room = false;
    // Neighbours are edited in place in `anchors`, so the partner released above and the same
    // anchor as an invitation partner end up as one write.
    withdraw(
        &mut leaving,
        &context.withdrawal,
        now_ms,
        &mut transition.effects,
        &mut transition.aggregates,
    );
    // The leaver last, as in `close_function`: a lost race on a neighbour leaves it to the re-run.
    transition.aggregates.push(leaving);
    transition
}

/// Clears `anchor`'s pointer to `battle_id` after the battle closed, and puts it back in the
/// online list if it is online (seed §5.3: "刷新服务器主播在线pk列表时间"). `None` when the anchor no
/// longer points at that battle (already released): re-applying is harmless, which lets the
/// adapter redo just this step if the anchors' compare-and-set lost a race after the battle
/// was written.
pub fn release_anchor(
    anchor: &Anchor,
    battle_id: BattleId,
    now_ms: u64,
) -> Option<(Anchor, Option<ListChange>)> {
    if anchor.battle != Some(battle_id) {
        return None;
    }
    let mut released = anchor.clone();
    released.battle = None;
    let refresh = released
        .is_online()
        .then_some(ListChange::OnlineUpsert { singer: released.singer_id, score_ms: now_ms });
    Some((released, refresh))
}
