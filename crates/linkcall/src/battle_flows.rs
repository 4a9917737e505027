//! Flows of a running link session: Start (4.1), SwitchScene (4.2), Count (5.1), AddTime (5.2),
//! Close (5.3), the operator's forced close, the phase deadlines and the gift progress nt.
//!
//! Start, SwitchScene, Count, AddTime and the deadline touch only the [`Battle`] (one hash tag);
//! Close also releases the two anchors.

use livepk_battle::{
    AfterRound, BattleId, DeadlineStep, EndedBy, PhaseDeadline, RoundError, RoundRules,
    ScoreAction, Scores, Settlement, TimerRequest, Verdict,
};
use livepk_core::{PkId, SingerId, Target};

use crate::anchor_flows::{TimerOutcome, matching, release_anchor};
use crate::config::LinkCallConfig;
use crate::effects::{Effects, Notification, NotificationKind, Transition};
use crate::error::{LinkCallError, SettledAnswer};
use crate::model::{Anchor, Battle, GifterRow, PkInfo, PkState, Scene};

/// A request naming both anchors of a PK (`linkcallpk_start_rq`, `_count_rq`, `_addtime_rq`,
/// `_close_rq`). The seed's requests do not say which of the two is calling, so the pair must
/// match the battle exactly: `host_id` its host and `guest_id` its guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairRequest {
    /// `host_id`.
    pub host_id: SingerId,
    /// `guest_id`.
    pub guest_id: SingerId,
}

/// Data for `linkcallpk_start_rs`, `_count_rs`, `_addtime_rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BattleReply {
    /// `start`, `count` or `addtime`.
    pub pk_state: PkState,
    /// The (new) pkid.
    pub pkid: PkId,
    /// The PK info.
    pub pk: PkInfo,
}

/// The battle `anchor` is in, when `battle` is that battle and it is still open.
pub(crate) fn live_battle_of<'a>(
    anchor: &Anchor,
    battle: Option<&'a Battle>,
) -> Option<&'a Battle> {
    battle.filter(|battle| {
        anchor.battle == Some(battle.battle_id)
            && !battle.is_closed()
            && battle.side_of(anchor.singer_id).is_some()
    })
}

/// Which battle a pair request is about: the one the host points at, else the one the guest
/// points at. The adapter loads it (passing `None` if it vanished) for [`close`].
pub fn battle_of_pair(host: Option<&Anchor>, guest: Option<&Anchor>) -> Option<BattleId> {
    host.and_then(|anchor| anchor.battle).or_else(|| guest.and_then(|anchor| anchor.battle))
}

/// The battle, unless there is none or it is closed (026).
fn open_battle(battle: Option<&Battle>) -> Result<&Battle, LinkCallError> {
    battle.filter(|battle| !battle.is_closed()).ok_or(LinkCallError::PkOver)
}

/// Only the PK's own anchors, each in its own role, may act on it (PERMISSION_DENIED).
fn check_pair(battle: &Battle, request: PairRequest) -> Result<(), LinkCallError> {
    if battle.host.singer_id != request.host_id {
        return Err(LinkCallError::NotThisPk { singer: request.host_id, field: "host_id" });
    }
    if battle.guest.singer_id != request.guest_id {
        return Err(LinkCallError::NotThisPk { singer: request.guest_id, field: "guest_id" });
    }
    Ok(())
}

/// `battle` in its next `round`, both rooms back to scene 0 (every Start, Count, deadline and
/// AddTime resets the scene, seed §D.1 备注3).
fn moved_on(battle: &Battle, round: livepk_battle::Round) -> Battle {
    let mut next = battle.clone();
    next.round = round;
    next.host.scene = Scene::Pk;
    next.guest.scene = Scene::Pk;
    next
}

/// LinkCallPk's round rules: the punishment of `linkcall.punish_seconds` after a round with a
/// winner, then back to the linked state (the anchors may rematch).
pub fn rules(config: &LinkCallConfig) -> RoundRules {
    RoundRules::new(config.punish_seconds, AfterRound::Idle)
}

fn settled_answer(battle: &Battle, verdict: Verdict) -> LinkCallError {
    LinkCallError::AlreadySettled(Box::new(SettledAnswer {
        pkid: verdict.pkid,
        pk: battle.pk_info(verdict.scores),
        result: verdict,
    }))
}

/// A refusal of the round, in LinkCallPk's words (024 carries the PK info).
fn refused(battle: &Battle, error: RoundError) -> LinkCallError {
    match error {
        RoundError::TimerStillRunning { deadline_ms } => {
            LinkCallError::TimerStillRunning { deadline_ms }
        }
        RoundError::AlreadySettled(verdict) => settled_answer(battle, verdict),
        RoundError::NotStarted => LinkCallError::PkNotStarted,
        RoundError::Over => LinkCallError::PkOver,
        RoundError::FreshPkidMissing => LinkCallError::FreshPkidMissing,
    }
}

// ---------------------------------------------------------------------------------------------
// 4.1 Start

/// Seed §4.1 (the host starts; the pair must match). From the linked phase only: scoring and
/// punishment are answered 023 (their timer is still running). The first Start of a session
/// reuses the placeholder pkid; a rematch takes `fresh_pkid` (allocate one when
/// [`Battle::next_start_needs_fresh_pkid`]; missing is 014). Scores and boards reset, both rooms
/// go back to scene 0, the scoring deadline is scheduled; the guest is told `start` and both
/// rooms get the PK info and the scene.
pub fn start(
    battle: Option<&Battle>,
    request: PairRequest,
    fresh_pkid: Option<PkId>,
    config: &LinkCallConfig,
    now_ms: u64,
) -> Result<Transition<BattleReply>, LinkCallError> {
    let battle = open_battle(battle)?;
    check_pair(battle, request)?;
    let timed = battle
        .round
        .start(battle.battle_id, fresh_pkid, config.pk_ms(), now_ms)
        .map_err(|error| refused(battle, error))?;
    let started = moved_on(battle, timed.round);

    let pkid = started.pkid();
    let pk = started.pk_info(Scores::default());
    let mut effects = Effects { scores: ScoreAction::Reset, ..Effects::default() };
    effects.notifications.push(Notification::singer_state(
        started.guest.singer_id,
        PkState::Start,
        started.host.singer_id,
    ));
    effects.notifications.extend(Notification::info_to_both_rooms(&started, pk, &[]));
    effects.notifications.extend(Notification::scenes_of_both_rooms(&started));
    effects.deadline(timed.deadline);
    Ok(Transition {
        aggregates: Vec::new(),
        battle: Some(started),
        effects,
        reply: BattleReply { pk_state: PkState::Start, pkid, pk },
    })
}

// ---------------------------------------------------------------------------------------------
// 4.2 SwitchScene

/// Data for the switch-scene response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchSceneReply {
    /// The room's new scene.
    pub pk_scene: Scene,
    /// The current pkid.
    pub pkid: PkId,
}

/// Seed §4.2: the anchor's own room moves to the next scene (0 -> 1 -> 2 -> 0) and only that
/// room is told. Any phase of an open battle; only its anchors (PERMISSION_DENIED otherwise).
pub fn switch_scene(
    battle: Option<&Battle>,
    singer_id: SingerId,
) -> Result<Transition<SwitchSceneReply>, LinkCallError> {
    let battle = open_battle(battle)?;
    let side = battle
        .side_of(singer_id)
        .ok_or(LinkCallError::NotThisPk { singer: singer_id, field: "singer_id" })?;
    let mut switched = battle.clone();
    let seat = switched.side_mut(side);
    seat.scene = seat.scene.next();
    let seat = *seat;
    let notification = Notification {
        target: Target::room(seat.singer_sid.get()),
        kind: NotificationKind::RoomPkScene {
            singer_id: seat.singer_id,
            singer_sid: seat.singer_sid,
            pk_scene: seat.scene,
            pkid: switched.pkid(),
        },
    };
    let reply = SwitchSceneReply { pk_scene: seat.scene, pkid: switched.pkid() };
    let mut transition = Transition::unchanged(reply);
    transition.effects.notifications.push(notification);
    transition.battle = Some(switched);
    Ok(transition)
}

// ---------------------------------------------------------------------------------------------
// 5.1 Count and the scoring deadline

/// The scoring phase of `battle` judged (`settlement`): punishment when the scores differ
/// (straight back to linked on a draw or when punishment lasts 0 s), scenes back to 0, and the
/// seed's §5.1 nts: `count` to both anchors (the request does not say which one called), the
/// pk list to both anchors, the PK info and the scene to both rooms.
fn settled(battle: &Battle, settlement: Settlement) -> Transition<BattleReply> {
    let counted = moved_on(battle, settlement.round);
    let mut effects = Effects { settled: Some(settlement.settled), ..Effects::default() };
    if let Some(punishment) = settlement.punishment {
        effects.deadline(punishment);
    }
    let pk = counted.pk_info(settlement.verdict.scores);
    let (host, guest) = (counted.host.singer_id, counted.guest.singer_id);
    effects.notifications.push(Notification::singer_state(host, PkState::Count, guest));
    effects.notifications.push(Notification::singer_state(guest, PkState::Count, host));
    for anchor in [host, guest] {
        effects.notifications.push(Notification {
            target: Target::singer(anchor.get()),
            kind: NotificationKind::SingerPkList {
                pk_state: PkState::Count,
                pkid: counted.pkid(),
                pk,
            },
        });
    }
    effects.notifications.extend(Notification::info_to_both_rooms(&counted, pk, &[]));
    effects.notifications.extend(Notification::scenes_of_both_rooms(&counted));
    let reply = BattleReply { pk_state: PkState::Count, pkid: counted.pkid(), pk };
    Transition { aggregates: Vec::new(), battle: Some(counted), effects, reply }
}

/// Seed §5.1: either anchor (the pair must match) settles the PK once its time is up. Before
/// the deadline: 023 (the deadline job settles it; the seed's clients ignore 023). After a
/// settle (punishment, or linked with a result): 024 carrying that same result, so the second
/// of two racing Counts answers what the first did. On the placeholder: 027. `scores` are the
/// side totals read after the scoring window closed.
pub fn count(
    battle: Option<&Battle>,
    request: PairRequest,
    scores: Scores,
    config: &LinkCallConfig,
    now_ms: u64,
) -> Result<Transition<BattleReply>, LinkCallError> {
    let battle = open_battle(battle)?;
    check_pair(battle, request)?;
    let settlement = battle
        .round
        .count(battle.battle_id, scores, &rules(config), now_ms)
        .map_err(|error| refused(battle, error))?;
    Ok(settled(battle, settlement))
}

/// The phase-deadline job `deadline` of a battle. Scoring due: settled as by Count (ended by
/// `deadline`). Punishment due: back to linked, both rooms get the PK info. A job for another
/// pkid or phase, or for a closed or vanished battle, does nothing; one that came early is asked
/// for again at the deadline.
pub fn on_phase_deadline(
    battle: Option<&Battle>,
    deadline: &PhaseDeadline,
    scores: Scores,
    config: &LinkCallConfig,
    now_ms: u64,
) -> Transition<TimerOutcome> {
    let Some(battle) = battle else {
        return Transition::unchanged(TimerOutcome::Stale);
    };
    let step = battle.round.on_deadline(
        battle.battle_id,
        deadline.pkid,
        deadline.phase,
        scores,
        &rules(config),
        now_ms,
    );
    match step {
        DeadlineStep::Stale => Transition::unchanged(TimerOutcome::Stale),
        DeadlineStep::Early(again) => {
            let mut transition = Transition::unchanged(TimerOutcome::Rescheduled);
            transition.effects.timers.push(TimerRequest::Phase(again));
            transition
        }
        DeadlineStep::Settled(settlement) => {
            settled(battle, settlement).map_reply(|_, _| TimerOutcome::Fired)
        }
        DeadlineStep::PunishmentOver(round) => {
            let mut linked = battle.clone();
            linked.round = round;
            let pk = linked.pk_info(scores);
            let mut transition = Transition::unchanged(TimerOutcome::Fired);
            transition.effects.notifications.extend(Notification::info_to_both_rooms(
                &linked,
                pk,
                &[],
            ));
            transition.battle = Some(linked);
            transition
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5.2 AddTime

/// Seed §5.2: extends the PK under `fresh_pkid` (missing is 014), continuing its scores and
/// boards (the old pkid is superseded, §B.9, and gets no record of its own). Allowed:
/// * while scoring: the deadline moves `addtime_seconds` past the later of the old deadline and
///   now;
/// * after a settle (punishment, or linked with a result): overtime — scoring resumes now for
///   `addtime_seconds` on the carried scores and any punishment is called off.
///
/// On the placeholder: 027. `starttime` stays the PK's start and `pkalltime` grows so that
/// `starttime + pkalltime` is the new deadline. Both anchors are told `addtime` (the request
/// does not say which one called), the guest gets the pk list (as the seed's diagram says), both
/// rooms get the PK info and go back to scene 0 (§D.1 备注3).
pub fn add_time(
    battle: Option<&Battle>,
    request: PairRequest,
    fresh_pkid: Option<PkId>,
    scores: Scores,
    config: &LinkCallConfig,
    now_ms: u64,
) -> Result<Transition<BattleReply>, LinkCallError> {
    let battle = open_battle(battle)?;
    check_pair(battle, request)?;
    let timed = battle
        .round
        .add_time(battle.battle_id, fresh_pkid, config.addtime_ms(), now_ms)
        .map_err(|error| refused(battle, error))?;
    let extended = moved_on(battle, timed.round);

    let fresh_pkid = extended.pkid();
    let pk = extended.pk_info(scores);
    let (host, guest) = (extended.host.singer_id, extended.guest.singer_id);
    let mut effects = Effects { scores: ScoreAction::CarryOver, ..Effects::default() };
    effects.notifications.push(Notification::singer_state(host, PkState::AddTime, guest));
    effects.notifications.push(Notification::singer_state(guest, PkState::AddTime, host));
    effects.notifications.push(Notification {
        target: Target::singer(guest.get()),
        kind: NotificationKind::SingerPkList { pk_state: PkState::AddTime, pkid: fresh_pkid, pk },
    });
    effects.notifications.extend(Notification::info_to_both_rooms(&extended, pk, &[]));
    effects.notifications.extend(Notification::scenes_of_both_rooms(&extended));
    effects.deadline(timed.deadline);
    Ok(Transition {
        aggregates: Vec::new(),
        battle: Some(extended),
        effects,
        reply: BattleReply { pk_state: PkState::AddTime, pkid: fresh_pkid, pk },
    })
}

// ---------------------------------------------------------------------------------------------
// 5.3 Close

/// Data for `linkcallpk_close_rs`; with nothing to close `pkid` and `pk` are `None` (answered
/// as 0 and zeros, seed §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReply {
    /// `over`.
    pub pk_state: PkState,
    /// The closed battle's pkid.
    pub pkid: Option<PkId>,
    /// Its final PK info.
    pub pk: Option<PkInfo>,
}

/// A closed battle and what closing it does, before the caller adds its `over` nts.
pub(crate) struct Closing {
    pub battle: Battle,
    pub released: Vec<Anchor>,
    pub effects: Effects,
    pub pk: PkInfo,
}

/// Closes an open battle: settles it early when scoring (the scores so far, ending now or at
/// the deadline if that passed first), releases the anchors that point at it (back to the top
/// of the online list), sends the final PK info to both rooms and drops the score keys.
pub(crate) fn close_live_battle(
    battle: &Battle,
    host: Option<&Anchor>,
    guest: Option<&Anchor>,
    scores: Scores,
    ended_by: EndedBy,
    now_ms: u64,
) -> Closing {
    let closing = battle.round.close(battle.battle_id, scores, ended_by, now_ms);
    let mut closed = battle.clone();
    closed.round = closing.round;
    let mut effects =
        Effects { scores: ScoreAction::Delete, settled: closing.settled, ..Effects::default() };
    let pk = closed.pk_info(scores);
    let mut released = Vec::new();
    for (anchor, singer) in [(host, battle.host.singer_id), (guest, battle.guest.singer_id)] {
        if let Some((anchor, refresh)) = matching(anchor, singer)
            .and_then(|anchor| release_anchor(anchor, battle.battle_id, now_ms))
        {
            released.push(anchor);
            effects.changes.extend(refresh);
        }
    }
    effects.notifications.extend(Notification::info_to_both_rooms(&closed, pk, &[]));
    Closing { battle: closed, released, effects, pk }
}

fn closing_transition(closing: Closing, battle: &Battle) -> Transition<CloseReply> {
    let (host, guest) = (battle.host.singer_id, battle.guest.singer_id);
    let mut effects = closing.effects;
    effects.notifications.splice(
        0..0,
        [
            Notification::singer_state(host, PkState::Over, guest),
            Notification::singer_state(guest, PkState::Over, host),
        ],
    );
    Transition {
        aggregates: closing.released,
        battle: Some(closing.battle),
        effects,
        reply: CloseReply {
            pk_state: PkState::Over,
            pkid: Some(battle.pkid()),
            pk: Some(closing.pk),
        },
    }
}

/// Seed §5.3. `battle` is the one [`battle_of_pair`] names. With no open battle for the pair
/// ("如果主播未开启pk功能，直接选择结束") the answer is `over` with pkid 0 and zeros, and any
/// pointer to the closed or vanished battle is cleared. Otherwise the pair must match the battle
/// (PERMISSION_DENIED), which is settled early if scoring (ended by `close`), closed, and both
/// anchors released; both anchors are told `over` (the request does not say which one closed,
/// so the closer's client gets one it can ignore) and both rooms get the final PK info.
pub fn close(
    host: Option<&Anchor>,
    guest: Option<&Anchor>,
    battle: Option<&Battle>,
    request: PairRequest,
    scores: Scores,
    now_ms: u64,
) -> Result<Transition<CloseReply>, LinkCallError> {
    let host = matching(host, request.host_id);
    let guest = matching(guest, request.guest_id);
    let Some(open) = battle.filter(|battle| !battle.is_closed()) else {
        return Ok(heal_pointers(host, guest, battle, now_ms));
    };
    check_pair(open, request)?;
    let closing = close_live_battle(open, host, guest, scores, EndedBy::Close, now_ms);
    Ok(closing_transition(closing, open))
}

/// Nothing to close: clear the anchors' pointers to the closed (or vanished) battle so they
/// are free again.
fn heal_pointers(
    host: Option<&Anchor>,
    guest: Option<&Anchor>,
    battle: Option<&Battle>,
    now_ms: u64,
) -> Transition<CloseReply> {
    let mut transition =
        Transition::unchanged(CloseReply { pk_state: PkState::Over, pkid: None, pk: None });
    let stale = battle.map(|battle| battle.battle_id).or_else(|| battle_of_pair(host, guest));
    if let Some(stale) = stale {
        for anchor in [host, guest].into_iter().flatten() {
            if let Some((released, refresh)) = release_anchor(anchor, stale, now_ms) {
                transition.aggregates.push(released);
                transition.effects.changes.extend(refresh);
            }
        }
    }
    transition
}

/// The operator's forced close (`Admin`): as Close, ended by `admin`, without the pair check.
/// A closed or vanished battle answers pkid 0.
pub fn admin_close(
    battle: Option<&Battle>,
    host: Option<&Anchor>,
    guest: Option<&Anchor>,
    scores: Scores,
    now_ms: u64,
) -> Transition<CloseReply> {
    match battle.filter(|battle| !battle.is_closed()) {
        Some(open) => {
            let closing = close_live_battle(open, host, guest, scores, EndedBy::Admin, now_ms);
            closing_transition(closing, open)
        }
        None => heal_pointers(host, guest, battle, now_ms),
    }
}

// ---------------------------------------------------------------------------------------------
// Gifts

/// `linkcallpk_room_pk_info_nt` to both rooms after a gift counted: the new totals and the
/// viewers whose totals changed (seed §D.2). Nothing outside an open battle.
pub fn gift_progress(battle: &Battle, scores: Scores, users: &[GifterRow]) -> Vec<Notification> {
    if battle.is_closed() {
        return Vec::new();
    }
    Notification::info_to_both_rooms(battle, battle.pk_info(scores), users).to_vec()
}
