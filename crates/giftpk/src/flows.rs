//! The commands of a gift PK (seed 001 §2.1.a–b): Create, Close, the countdown's deadline, an
//! operator's forced close, and the progress notification of a score change. Phases and verdicts
//! are `livepk_battle::Round`'s: Create is [`Round::start`], the deadline
//! [`Round::on_deadline`] with no punishment and [`AfterRound::Close`], Close [`Round::close`].
//!
//! The countdown's job is due `giftpk.settle_grace_ms` after the deadline (the settle grace):
//! the round's scoring window ends at the deadline, so gifts are still judged by their send time,
//! but a gift sent before the end and recorded during the grace counts. Until the settle the PK
//! is not finished (`time_left` 0, `finished` false, a Create in the show answers 301).

use livepk_battle::{
    AfterRound, BattleId, DeadlineStep, EndedBy, PhaseDeadline, Round, RoundRules, ScoreAction,
    Scores, Side, Sides,
};
use livepk_core::{InvalidArgument, PkId, SingerId};

use crate::config::GiftPkConfig;
use crate::effects::{Effects, Notification, NotificationKind, Transition};
use crate::error::GiftPkError;
use crate::model::{GiftBattle, PkGift, SenderRow, Show, ShowId, ShowPk};

/// A gift PK's rounds: scoring for the countdown, no punishment, then over.
pub const RULES: RoundRules = RoundRules { punish_ms: 0, after: AfterRound::Close };

/// Create (seed §2.1.a): the anchor starts a PK between two gifts of the show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    /// `show_id`.
    pub show_id: ShowId,
    /// The anchor creating it (`singer_id`); the only one who may close it.
    pub singer_id: SingerId,
    /// The two gifts, first and second.
    pub gifts: Sides<PkGift>,
    /// The countdown (`duration`, seconds).
    pub duration_secs: u64,
}

/// The ids a new PK takes, allocated by the adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewPk {
    /// Its battle id.
    pub battle_id: BattleId,
    /// Its pkid.
    pub pkid: PkId,
}

/// What Create answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateReply {
    /// The new pkid.
    pub pkid: PkId,
    /// The pull interval clients must use (ms).
    pub interval_ms: u64,
    /// When the countdown ends (ms since epoch).
    pub deadline_ms: u64,
}

/// Close (seed §2.1.b): the anchor ends the show's PK early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseRequest {
    /// `show_id`.
    pub show_id: ShowId,
    /// `pkid`.
    pub pkid: PkId,
    /// The anchor closing it (`singer_id`).
    pub singer_id: SingerId,
}

/// Checks what Create's input must satisfy whatever the state: two different gifts, a countdown
/// within the configured bounds (403400021 naming the field).
pub fn validate_create(request: &CreateRequest, config: &GiftPkConfig) -> Result<(), GiftPkError> {
    if request.gifts.first.gift_id == request.gifts.second.gift_id {
        return Err(
            InvalidArgument::new("gifts[1].gift_id", "must differ from gifts[0].gift_id").into()
        );
    }
    let (min, max) = (config.min_duration_seconds, config.max_duration_seconds);
    if !(min..=max).contains(&request.duration_secs) {
        return Err(InvalidArgument::new(
            "duration",
            format!("must be {min} to {max} seconds (giftpk.*_duration_seconds)"),
        )
        .into());
    }
    Ok(())
}

/// The running PK of a show: its latest, when `latest` is that battle and it is not over.
pub fn running_pk<'a>(
    show: Option<&Show>,
    latest: Option<&'a GiftBattle>,
) -> Option<&'a GiftBattle> {
    let latest_id = show.and_then(Show::latest).map(|pk| pk.battle)?;
    latest.filter(|battle| battle.battle_id == latest_id && !battle.is_finished())
}

/// Whether a Create on this state would make a new PK (the adapter allocates ids only then).
pub fn create_needs_ids(show: Option<&Show>, latest: Option<&GiftBattle>) -> bool {
    running_pk(show, latest).is_none()
}

/// Seed §2.1.a. `show` and `latest` are the show and the battle of its latest PK as read. Bad
/// input: 021 ([`validate_create`]). While the show's PK runs (also past its deadline, during
/// the settle grace, until the settle ran): 301. Otherwise a new PK under `new_pk` starts
/// scoring now for the countdown; the show remembers it (dropping its oldest beyond
/// `giftpk.history_size`); the countdown's job is scheduled for the deadline + the settle grace
/// (`giftpk.settle_grace_ms`) and the show's room told `giftpk_create_nt`.
pub fn create(
    show: Option<&Show>,
    latest: Option<&GiftBattle>,
    request: &CreateRequest,
    new_pk: Option<NewPk>,
    config: &GiftPkConfig,
    now_ms: u64,
) -> Result<Transition<CreateReply>, GiftPkError> {
    validate_create(request, config)?;
    if let Some(running) = running_pk(show, latest) {
        return Err(GiftPkError::AlreadyRunning { show: request.show_id, pkid: running.pkid() });
    }
    let NewPk { battle_id, pkid } = new_pk.ok_or(GiftPkError::IdsMissing)?;
    let duration_ms = GiftPkConfig::duration_ms(request.duration_secs);
    // Cannot fail: a new round is idle (no timer runs) and not closed, and its first start
    // keeps its own pkid (no fresh one needed).
    let timed =
        Round::new(pkid).start(battle_id, None, duration_ms, now_ms).expect("a new round starts");
    let battle = GiftBattle {
        battle_id,
        show_id: request.show_id,
        singer_id: request.singer_id,
        gifts: request.gifts.clone(),
        duration_secs: request.duration_secs,
        interval_ms: config.pull_interval_ms,
        settle_grace_ms: config.settle_grace_ms,
        round: timed.round,
    };
    let mut remembered = show.cloned().unwrap_or_else(|| Show::new(request.show_id));
    remembered.pks.push(ShowPk { battle: battle_id, pkid });
    let overflow = remembered.pks.len().saturating_sub(config.history_len());
    remembered.pks.drain(..overflow);

    let reply =
        CreateReply { pkid, interval_ms: battle.interval_ms, deadline_ms: battle.deadline_ms() };
    let mut effects = Effects { scores: ScoreAction::Reset, ..Effects::default() };
    // The round's own deadline is the countdown's end; its job waits out the grace.
    effects.deadline(battle.settle_job());
    effects.notifications.push(Notification::to_show(
        &battle,
        NotificationKind::Create {
            pkid,
            duration_secs: battle.duration_secs,
            interval_ms: battle.interval_ms,
            deadline_ms: reply.deadline_ms,
            gifts: battle.gifts.clone(),
        },
    ));
    Ok(Transition { aggregates: vec![remembered], battle: Some(battle), effects, reply })
}

/// Which battle a Close (or any request naming a show and a pkid) is about: the show's PK
/// `pkid`, if the show still remembers it.
pub fn battle_of_show_pk(show: Option<&Show>, pkid: PkId) -> Option<BattleId> {
    show.and_then(|show| show.find(pkid)).map(|pk| pk.battle)
}

/// `battle` ended now by `ended_by`: settled on `scores` (ending at the deadline if that passed
/// first), the room told `giftpk_end_nt`. Totals and boards stay for the result pulls.
fn ended(battle: &GiftBattle, scores: Scores, ended_by: EndedBy, now_ms: u64) -> Transition<()> {
    let closing = battle.round.close(battle.battle_id, scores, ended_by, now_ms);
    let mut closed = battle.clone();
    closed.round = closing.round;
    let mut transition = Transition::unchanged(());
    transition.effects.settled = closing.settled;
    transition
        .effects
        .notifications
        .push(Notification::to_show(battle, NotificationKind::End { pkid: battle.pkid() }));
    transition.battle = Some(closed);
    transition
}

/// Seed §2.1.b: the anchor ends the PK early; empty reply. `battle` is the one
/// [`battle_of_show_pk`] names, as read. Unknown here (another show's, forgotten): 021
/// NOT_FOUND. Another anchor: 302. Already over (the settle or an earlier Close won): 026.
/// Otherwise settled now on `scores` and the room told `giftpk_end_nt`: ended by `close` before
/// the deadline; during the settle grace (the countdown already ended, the anchor does not want
/// to wait for the settle, e.g. to start the next PK) ended by `deadline`, scoring having ended at
/// the deadline — gifts not recorded by then no longer count.
pub fn close(
    battle: Option<&GiftBattle>,
    request: CloseRequest,
    scores: Scores,
    now_ms: u64,
) -> Result<Transition<()>, GiftPkError> {
    let unknown = GiftPkError::UnknownPk { pkid: request.pkid };
    let battle = battle.ok_or(unknown.clone())?;
    if battle.show_id != request.show_id || battle.pkid() != request.pkid {
        return Err(unknown);
    }
    if battle.singer_id != request.singer_id {
        return Err(GiftPkError::NotShowAnchor { singer: request.singer_id, pkid: request.pkid });
    }
    if battle.is_finished() {
        return Err(GiftPkError::PkOver { pkid: request.pkid });
    }
    let ended_by = if now_ms < battle.deadline_ms() { EndedBy::Close } else { EndedBy::Deadline };
    Ok(ended(battle, scores, ended_by, now_ms))
}

/// An operator closes the PK (`Admin.ForcePkClose`): as Close, ended by `admin`, without the
/// anchor check. Nothing to do when it is over or gone.
pub fn admin_close(battle: Option<&GiftBattle>, scores: Scores, now_ms: u64) -> Transition<()> {
    match battle.filter(|battle| !battle.is_finished()) {
        Some(open) => ended(open, scores, EndedBy::Admin, now_ms),
        None => Transition::unchanged(()),
    }
}

/// The countdown's job (the seed's timer, §2.4), due at the deadline + the settle grace: settled
/// on `scores` (ended by the deadline, scoring ended at the deadline) and the room told
/// `giftpk_end_nt`. A job for another pkid, or for a PK already over or gone, does nothing; one
/// that came before the grace is over is asked for again then.
pub fn on_phase_deadline(
    battle: Option<&GiftBattle>,
    deadline: &PhaseDeadline,
    scores: Scores,
    now_ms: u64,
) -> Transition<()> {
    let Some(battle) = battle else { return Transition::unchanged(()) };
    let step = battle.round.on_deadline(
        battle.battle_id,
        deadline.pkid,
        deadline.phase,
        scores,
        &RULES,
        now_ms,
    );
    let mut transition = Transition::unchanged(());
    match step {
        DeadlineStep::Stale | DeadlineStep::PunishmentOver(_) => {}
        DeadlineStep::Early(_) => transition.effects.deadline(battle.settle_job()),
        DeadlineStep::Settled(_) if now_ms < battle.settle_at_ms() => {
            transition.effects.deadline(battle.settle_job());
        }
        DeadlineStep::Settled(settlement) => {
            let mut settled = battle.clone();
            settled.round = settlement.round;
            transition.effects.settled = Some(settlement.settled);
            transition
                .effects
                .notifications
                .push(Notification::to_show(battle, NotificationKind::End { pkid: battle.pkid() }));
            transition.battle = Some(settled);
        }
    }
    transition
}

/// `giftpk_progress_nt` after gifts moved `side` of `battle` (seed §2.3.c): both counts, the
/// deadline (the encoder turns it into `time_left`) and that gift's senders whose totals
/// changed. Nothing once the PK is over.
pub fn progress(
    battle: &GiftBattle,
    counts: Scores,
    side: Side,
    users: &[SenderRow],
) -> Vec<Notification> {
    if battle.is_finished() {
        return Vec::new();
    }
    vec![Notification::to_show(
        battle,
        NotificationKind::Progress {
            pkid: battle.pkid(),
            counts,
            gift_ids: battle.gift_ids(),
            deadline_ms: battle.deadline_ms(),
            gift_id: battle.gifts[side].gift_id,
            users: users.to_vec(),
        },
    )]
}
