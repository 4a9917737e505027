//! The team battle (seed 002's `RoomPK`: pk开始、结束、加时), on the phases of seed 004 §三 that
//! every mode shares ([`livepk_battle::Round`]): Start opens scoring for the requested
//! `countdown`; the deadline (or Finish) takes the verdict — red, blue or a draw —; the
//! punishment of `roompk.punish_seconds` follows when not a draw; then the battle is over
//! ([`AfterRound::Close`]). AddTime extends a running scoring phase under the same pkid.
//!
//! Every flow here writes the [`TeamBattle`] (under the room's tag); the [`Room`] is read for its
//! operator, and Start writes it again unchanged — in the battle's own transaction, the same
//! tag — so that the seats and the operator live (3 days from their last write) at least as
//! long as the battle they are read by.

use livepk_battle::{
    AfterRound, DeadlineStep, EndedBy, Phase, PhaseDeadline, Round, RoundRules, ScoreAction, Scores,
};
use livepk_core::{PkId, RoomSid, UserId};

use crate::config::RoomPkConfig;
use crate::effects::{Effects, Notification, NotificationKind, Transition};
use crate::error::RoomPkError;
use crate::model::{BattleInfo, MS_PER_SECOND, Room, Team, TeamBattle, TeamRow, battle_id_of};
use crate::seat_flows::check_operator;

/// RoomPk's round rules: the punishment of `roompk.punish_seconds` after a battle with a winner,
/// then the battle is over.
pub fn rules(config: &RoomPkConfig) -> RoundRules {
    RoundRules::new(config.punish_seconds, AfterRound::Close)
}

/// `Start`: the room's operator opens a team battle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRequest {
    /// `room_id`.
    pub room_id: RoomSid,
    /// `operator_id`: must be the room's operator.
    pub operator_id: UserId,
    /// `punishment`: what the losing team must do (bounded text, may be empty).
    pub punishment: String,
    /// `countdown`: scoring seconds, 1 to `roompk.max_countdown_seconds`.
    pub countdown_secs: u64,
}

/// `AddTime`: the room's operator extends the scoring phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddTimeRequest {
    /// `room_id`.
    pub room_id: RoomSid,
    /// `operator_id`: must be the room's operator.
    pub operator_id: UserId,
    /// `seconds`: 1 to `roompk.max_addtime_seconds`.
    pub seconds: u64,
}

/// `Finish`: the room's operator ends the battle early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinishRequest {
    /// `room_id`.
    pub room_id: RoomSid,
    /// `operator_id`: must be the room's operator.
    pub operator_id: UserId,
}

/// Refuses a duration outside 1..=`max` seconds, naming `field` (021).
fn check_seconds(field: &'static str, value: u64, max: u64) -> Result<u64, RoomPkError> {
    if value == 0 || value > max {
        return Err(RoomPkError::OutOfRange { field, value, max });
    }
    Ok(value.saturating_mul(MS_PER_SECOND))
}

/// The battle, unless there is none or it is over (026).
fn running(battle: Option<&TeamBattle>) -> Result<&TeamBattle, RoomPkError> {
    battle.filter(|battle| !battle.is_closed()).ok_or(RoomPkError::PkOver)
}

fn with_round(battle: &TeamBattle, round: Round) -> TeamBattle {
    let mut next = battle.clone();
    next.round = round;
    next
}

/// Seed `RoomPK` start: the operator opens a team battle in the room for `countdown` seconds
/// under `fresh_pkid` (allocate one for every Start; missing is 014). Refused while the room's
/// battle runs (025 naming it); a battle that is over is replaced, and the new one starts from
/// zero (totals and boards reset; each user's running totals stay). The seats stay as arranged.
/// The room's stage is claimed by the engine when this is committed (025 naming the holder
/// when another mode holds it). The room itself is written again as it is, renewing the life of
/// the seats and the operator for the battle. The room is told `roompk_start_nt`.
pub fn start(
    room: Option<&Room>,
    battle: Option<&TeamBattle>,
    request: StartRequest,
    fresh_pkid: Option<PkId>,
    config: &RoomPkConfig,
    now_ms: u64,
) -> Result<Transition<BattleInfo>, RoomPkError> {
    let StartRequest { room_id, operator_id, punishment, countdown_secs } = request;
    check_operator(room, room_id, operator_id)?;
    // The operator check found the room.
    let room = room.cloned().unwrap_or_else(|| Room::new(room_id));
    let countdown_ms = check_seconds("countdown", countdown_secs, config.max_countdown_seconds)?;
    if let Some(running) = battle.filter(|battle| !battle.is_closed()) {
        return Err(RoomPkError::BattleRunning { room: room_id, pkid: running.pkid() });
    }
    let pkid = fresh_pkid.ok_or(RoomPkError::PkidMissing)?;
    let battle_id = battle_id_of(room_id);
    let timed = Round::new(pkid).start(battle_id, None, countdown_ms, now_ms)?;
    let started = TeamBattle { battle_id, room_id, operator_id, punishment, round: timed.round };
    let info = started.info(Scores::default());
    let mut effects = Effects { scores: ScoreAction::Reset, ..Effects::default() };
    effects.deadline(timed.deadline);
    effects
        .notifications
        .push(Notification::to_room(room_id, NotificationKind::Start { battle: info.clone() }));
    Ok(Transition { aggregates: vec![room], battle: Some(started), effects, reply: info })
}

/// 加时: the operator extends the running scoring phase by `seconds`, under the same pkid (the
/// issue's rule: one team battle is one pkid; its record is written once, at the verdict). The
/// deadline moves `seconds` past the later of the old deadline and now; totals and boards carry
/// on. Only while scoring and before the deadline: once the deadline has passed it is 026 even
/// before the deadline's job took the verdict (gifts sent since were judged outside for good,
/// and the final totals may already be known); after the verdict (punishment) it is 024 with
/// the verdict — a settled pkid stays final —, and 026 once over. The room is told
/// `roompk_addtime_nt`.
pub fn add_time(
    room: Option<&Room>,
    battle: Option<&TeamBattle>,
    request: AddTimeRequest,
    scores: Scores,
    config: &RoomPkConfig,
    now_ms: u64,
) -> Result<Transition<BattleInfo>, RoomPkError> {
    let AddTimeRequest { room_id, operator_id, seconds } = request;
    check_operator(room, room_id, operator_id)?;
    let add_ms = check_seconds("seconds", seconds, config.max_addtime_seconds)?;
    let battle = running(battle)?;
    let deadline_ms = match battle.round.phase {
        Phase::Scoring { deadline_ms, .. } => deadline_ms,
        _ => {
            return Err(match battle.round.last_result {
                Some(verdict) => RoomPkError::AlreadySettled(verdict),
                None => RoomPkError::PkNotStarted,
            });
        }
    };
    if now_ms >= deadline_ms {
        return Err(RoomPkError::ScoringOver { pkid: battle.pkid(), deadline_ms });
    }
    // `Round::add_time` takes the pkid the extension runs under: RoomPk passes the battle's own,
    // so the deadline job of the old deadline finds its pkid and phase current, comes early and
    // is scheduled again for the new deadline. Before the deadline, the new one is the old one
    // plus `seconds`.
    let timed = battle.round.add_time(battle.battle_id, Some(battle.pkid()), add_ms, now_ms)?;
    let extended = with_round(battle, timed.round);
    let info = extended.info(scores);
    let mut effects = Effects { scores: ScoreAction::CarryOver, ..Effects::default() };
    effects.deadline(timed.deadline);
    effects.notifications.push(Notification::to_room(
        room_id,
        NotificationKind::AddTime { battle: info.clone(), added_secs: seconds },
    ));
    Ok(Transition { aggregates: Vec::new(), battle: Some(extended), effects, reply: info })
}

/// Ends `battle` now (Finish, an operator's forced close): a scoring battle takes its verdict on
/// `scores` — the totals at this moment — and is over without a punishment; a battle in its
/// punishment ends it (the verdict stays). The room is told `roompk_result_nt` when a verdict
/// was taken, then `roompk_over_nt`.
fn close(
    battle: &TeamBattle,
    scores: Scores,
    ended_by: EndedBy,
    now_ms: u64,
) -> Transition<BattleInfo> {
    let closing = battle.round.close(battle.battle_id, scores, ended_by, now_ms);
    let closed = with_round(battle, closing.round);
    let info = closed.info(scores);
    let mut effects = Effects { settled: closing.settled, ..Effects::default() };
    if closing.settled.is_some() {
        effects.notifications.push(Notification::to_room(
            closed.room_id,
            NotificationKind::Result { battle: info.clone() },
        ));
    }
    effects.notifications.push(Notification::to_room(
        closed.room_id,
        NotificationKind::Over { battle: info.clone() },
    ));
    Transition { aggregates: Vec::new(), battle: Some(closed), effects, reply: info }
}

/// Finish: the operator ends the running battle early; the verdict is taken on the totals at
/// this moment (`scores`, read after the scoring window closed). Racing the deadline, whichever
/// commits first takes the one verdict: a Finish after the deadline's verdict ends the
/// punishment. Nothing running: 026.
pub fn finish(
    room: Option<&Room>,
    battle: Option<&TeamBattle>,
    request: FinishRequest,
    scores: Scores,
    now_ms: u64,
) -> Result<Transition<BattleInfo>, RoomPkError> {
    check_operator(room, request.room_id, request.operator_id)?;
    let battle = running(battle)?;
    Ok(close(battle, scores, EndedBy::Close, now_ms))
}

/// An operator's forced close (`Admin.ForceClose`): as Finish, ended by `admin`. Nothing to do
/// for a battle that is over or gone.
pub fn admin_close(
    battle: Option<&TeamBattle>,
    scores: Scores,
    now_ms: u64,
) -> Transition<Option<BattleInfo>> {
    match running(battle) {
        Ok(battle) => close(battle, scores, EndedBy::Admin, now_ms).map_reply(|info, _| Some(info)),
        Err(_) => Transition::unchanged(None),
    }
}

/// The phase-deadline job `deadline`. Scoring due: the verdict on `scores` (ended by the
/// deadline) — the punishment follows when not a draw, else the battle is over. Punishment due:
/// the battle is over. A job for another pkid (an earlier battle of the room) or phase, or for a
/// battle that is over or gone, does nothing; one that came early (AddTime moved the deadline)
/// is asked for again at the deadline.
pub fn on_phase_deadline(
    battle: Option<&TeamBattle>,
    deadline: &PhaseDeadline,
    scores: Scores,
    config: &RoomPkConfig,
    now_ms: u64,
) -> Transition<()> {
    let Some(battle) = battle.filter(|battle| battle.battle_id == deadline.battle) else {
        return Transition::unchanged(());
    };
    let step = battle.round.on_deadline(
        battle.battle_id,
        deadline.pkid,
        deadline.phase,
        scores,
        &rules(config),
        now_ms,
    );
    let mut transition = Transition::unchanged(());
    match step {
        DeadlineStep::Stale => {}
        DeadlineStep::Early(again) => transition.effects.deadline(again),
        DeadlineStep::Settled(settlement) => {
            let settled = with_round(battle, settlement.round);
            let info = settled.info(scores);
            let room = settled.room_id;
            transition.effects.settled = Some(settlement.settled);
            if let Some(punishment) = settlement.punishment {
                transition.effects.deadline(punishment);
            }
            transition.effects.notifications.push(Notification::to_room(
                room,
                NotificationKind::Result { battle: info.clone() },
            ));
            if settled.is_closed() {
                transition
                    .effects
                    .notifications
                    .push(Notification::to_room(room, NotificationKind::Over { battle: info }));
            }
            transition.battle = Some(settled);
        }
        DeadlineStep::PunishmentOver(round) => {
            let over = with_round(battle, round);
            let info = over.info(scores);
            transition
                .effects
                .notifications
                .push(Notification::to_room(over.room_id, NotificationKind::Over { battle: info }));
            transition.battle = Some(over);
        }
    }
    transition
}

/// The coalesced score notification of `team`'s side: the team totals and the changed senders'
/// rows on the team's contribution board. Nothing for a battle that is over.
pub fn score_progress(
    battle: &TeamBattle,
    scores: Scores,
    team: Team,
    rows: &[TeamRow],
) -> Vec<Notification> {
    if battle.is_closed() {
        return Vec::new();
    }
    let kind = NotificationKind::Score { battle: battle.info(scores), team, rows: rows.to_vec() };
    vec![Notification::to_room(battle.room_id, kind)]
}
