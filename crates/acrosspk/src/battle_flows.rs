//! Flows of a running cross-room PK: Finish (either room ends it early), the operator's forced
//! close, the phase deadlines (the verdict at the end of the countdown, the end of the
//! punishment) and the score notification. Each touches only the [`Battle`] (one hash tag): a
//! room's pointer to a closed battle is free, so the rooms need no write.

use livepk_battle::{DeadlineStep, EndedBy, PhaseDeadline, Scores, Side};
use livepk_core::{PkId, RoomSid, UserId};

use crate::config::AcrossPkConfig;
use crate::effects::{Effects, Notification, NotificationKind, TimerRequest, Transition};
use crate::error::AcrossPkError;
use crate::model::{Battle, BoardRow, Finisher, PkInfo};

/// Finish: one of the two rooms ends its PK early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinishRequest {
    /// The room asking.
    pub room_id: RoomSid,
    /// Who acts for it.
    pub operator_id: UserId,
    /// The PK.
    pub pkid: PkId,
}

/// Ends `battle` now (ended by `ended_by`): settled early on `scores` while scoring (the
/// verdict to both rooms), then over (to both rooms). The scoring window closes with it, so no
/// later gift counts in either room.
fn close(
    battle: &Battle,
    scores: Scores,
    ended_by: EndedBy,
    finisher: Option<Finisher>,
    now_ms: u64,
) -> Transition<PkInfo> {
    let closing = battle.round.close(battle.battle_id, scores, ended_by, now_ms);
    let mut closed = battle.clone();
    closed.round = closing.round;
    closed.finished_by = finisher;
    let pk = closed.pk_info(scores);
    let mut effects = Effects { settled: closing.settled, ..Effects::default() };
    if closing.settled.is_some() {
        effects.notifications.extend(Notification::to_both_rooms(
            &closed,
            NotificationKind::Result { pk: pk.clone() },
        ));
    }
    effects.notifications.extend(Notification::to_both_rooms(
        &closed,
        NotificationKind::Over { pk: pk.clone(), ended_by },
    ));
    Transition { aggregates: Vec::new(), battle: Some(closed), effects, reply: pk }
}

/// Seed "A或B有一个房间pk结束之后，送礼均不产生数据": either room ends PK `pkid` (`battle`, as
/// found by its pkid, with its totals), by its operator in this PK (the issue: "only the two
/// rooms' operators can Finish" — who created or challenged for the red room, who accepted for
/// the blue one; see [`Battle::operators`]). While scoring it is settled on the totals so far;
/// during the punishment the verdict stands and the punishment is cut short. Refused: no such PK
/// (026), a room that is not one of the two (103), another operator of one of them (103, naming
/// `operator_id`), a PK already over (026).
pub fn finish(
    battle: Option<&Battle>,
    request: FinishRequest,
    scores: Scores,
    now_ms: u64,
) -> Result<Transition<PkInfo>, AcrossPkError> {
    let battle = battle
        .filter(|battle| battle.pkid() == request.pkid)
        .ok_or(AcrossPkError::NoSuchPk { pkid: request.pkid })?;
    let Some(side) = battle.side_of(request.room_id) else {
        return Err(AcrossPkError::NotAParty { room: request.room_id, what: "pk" });
    };
    if battle.operators[side] != request.operator_id {
        return Err(AcrossPkError::NotTheOperator {
            room: request.room_id,
            operator: request.operator_id,
        });
    }
    if battle.is_closed() {
        return Err(AcrossPkError::PkOver { pkid: battle.pkid() });
    }
    let finisher = Finisher { room_id: request.room_id, operator_id: request.operator_id };
    Ok(close(battle, scores, EndedBy::Close, Some(finisher), now_ms))
}

/// The operator's forced close (`Admin.ForceClose`): as Finish, ended by `admin`, without the
/// party check. A closed or vanished battle is left as it is.
pub fn admin_close(battle: Option<&Battle>, scores: Scores, now_ms: u64) -> Transition<()> {
    match battle.filter(|battle| !battle.is_closed()) {
        Some(open) => close(open, scores, EndedBy::Admin, None, now_ms).map_reply(|_, _| ()),
        None => Transition::unchanged(()),
    }
}

/// The phase-deadline job `deadline` of a battle. Scoring due: the verdict (red, blue or draw)
/// to both rooms and the record; the punishment follows when a room won (its deadline
/// scheduled), else the PK is over at once. Punishment due: over, both rooms told. A job for a
/// phase that already ended or a battle that is over or vanished does nothing; one that came
/// early is asked for again at the deadline.
pub fn on_phase_deadline(
    battle: Option<&Battle>,
    deadline: &PhaseDeadline,
    scores: Scores,
    config: &AcrossPkConfig,
    now_ms: u64,
) -> Transition<()> {
    let Some(battle) = battle else { return Transition::unchanged(()) };
    let step = battle.round.on_deadline(
        battle.battle_id,
        deadline.pkid,
        deadline.phase,
        scores,
        &config.rules(),
        now_ms,
    );
    let mut transition = Transition::unchanged(());
    match step {
        DeadlineStep::Stale => {}
        DeadlineStep::Early(again) => transition.effects.timers.push(TimerRequest::Phase(again)),
        DeadlineStep::Settled(settlement) => {
            let mut settled = battle.clone();
            settled.round = settlement.round;
            let pk = settled.pk_info(settlement.verdict.scores);
            let effects = &mut transition.effects;
            effects.settled = Some(settlement.settled);
            if let Some(punishment) = settlement.punishment {
                effects.deadline(punishment);
            }
            effects.notifications.extend(Notification::to_both_rooms(
                &settled,
                NotificationKind::Result { pk: pk.clone() },
            ));
            if settled.is_closed() {
                effects.notifications.extend(Notification::to_both_rooms(
                    &settled,
                    NotificationKind::Over { pk, ended_by: EndedBy::Deadline },
                ));
            }
            transition.battle = Some(settled);
        }
        DeadlineStep::PunishmentOver(round) => {
            let mut over = battle.clone();
            over.round = round;
            let pk = over.pk_info(scores);
            transition.effects.notifications.extend(Notification::to_both_rooms(
                &over,
                NotificationKind::Over { pk, ended_by: EndedBy::Deadline },
            ));
            transition.battle = Some(over);
        }
    }
    transition
}

/// `acrosspk_score_nt` to both rooms after gifts counted on `side`: both totals and the changed
/// rows of that room's contribution board. Nothing for a PK that is over.
pub fn score_progress(
    battle: &Battle,
    scores: Scores,
    side: Side,
    users: &[BoardRow],
) -> Vec<Notification> {
    if battle.is_closed() {
        return Vec::new();
    }
    Notification::to_both_rooms(
        battle,
        NotificationKind::Score { pkid: battle.pkid(), scores, side, users: users.to_vec() },
    )
    .to_vec()
}
