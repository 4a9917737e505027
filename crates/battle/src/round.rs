//! The phases of one battle (seed 004 §三) as a value, [`Round`], and the moves every mode makes
//! with it: start, settle (first settle wins; later ones get the settled result), the phase
//! deadline, add time, close.
//!
//! ```text
//!            start                 deadline / count            deadline
//!   Idle ───────────▶ Scoring ─────────────────────▶ Punishment ────────▶ after the round
//!    ▲                  │   └── draw (or no punishment) ───────────────────▶ after the round
//!    │                  └── add time: same phase, later deadline, new pkid
//!    └── after the round = Idle (LinkCallPk: the link stays for a rematch)
//!                        or Closed (the other modes: the PK is over)
//! ```
//!
//! Scores are not part of the round: they live in the store's counters, and a move that judges
//! gets them read beside the battle. A settle must be made on final numbers: the engine closes
//! the scoring window, re-reads the totals and runs the move again (gifts count by their own
//! send time, so nothing sent before the deadline is lost).

use livepk_core::{BusinessError, ErrorKind, PkId, codes};
use serde::{Deserialize, Serialize};

use crate::side::{Scores, Side};
use crate::{BattleId, MS_PER_SECOND};

/// Where a battle is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Not scoring and not over: before the first start, between rounds (LinkCallPk's linked
    /// state after a draw or a punishment), or a RoomPk room whose seats are being arranged.
    Idle,
    /// 比分阶段: gifts sent in `[from_ms, deadline_ms)` count.
    Scoring {
        /// First millisecond whose gifts count.
        from_ms: u64,
        /// When the phase ends and the battle is settled.
        deadline_ms: u64,
    },
    /// 惩罚阶段: scores are frozen, the loser performs the forfeit.
    Punishment {
        /// When the phase ends.
        deadline_ms: u64,
    },
    /// Over; nothing changes any more. Kept (until its TTL) so that late requests and late
    /// timer jobs see that it ended.
    Closed {
        /// What ended it.
        ended_by: EndedBy,
        /// When.
        at_ms: u64,
    },
}

impl Phase {
    /// The phase's name, for the wire.
    pub fn name(&self) -> PhaseName {
        match self {
            Phase::Idle => PhaseName::Idle,
            Phase::Scoring { .. } => PhaseName::Scoring,
            Phase::Punishment { .. } => PhaseName::Punishment,
            Phase::Closed { .. } => PhaseName::Closed,
        }
    }

    /// The timed phase and its deadline, for phases a timer ends.
    pub fn deadline(&self) -> Option<(TimedPhase, u64)> {
        match *self {
            Phase::Scoring { deadline_ms, .. } => Some((TimedPhase::Scoring, deadline_ms)),
            Phase::Punishment { deadline_ms } => Some((TimedPhase::Punishment, deadline_ms)),
            Phase::Idle | Phase::Closed { .. } => None,
        }
    }
}

/// A phase's name without its data (the wire's `phase` fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PhaseName {
    /// See [`Phase::Idle`].
    Idle,
    /// See [`Phase::Scoring`].
    Scoring,
    /// See [`Phase::Punishment`].
    Punishment,
    /// See [`Phase::Closed`].
    Closed,
}

impl PhaseName {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseName::Idle => "idle",
            PhaseName::Scoring => "scoring",
            PhaseName::Punishment => "punishment",
            PhaseName::Closed => "closed",
        }
    }
}

/// A phase a deadline ends, named in timer jobs so that a job for a phase that already ended is
/// recognised as stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimedPhase {
    /// 比分阶段.
    Scoring,
    /// 惩罚阶段.
    Punishment,
}

impl TimedPhase {
    /// Stable lowercase name (job ids, logs).
    pub fn as_str(self) -> &'static str {
        match self {
            TimedPhase::Scoring => "scoring",
            TimedPhase::Punishment => "punishment",
        }
    }
}

/// What settled a round or ended a battle. The names are those of the PK records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EndedBy {
    /// The scoring deadline passed and the delay queue settled it.
    Deadline,
    /// A party asked for the settle after the deadline, before the delay queue did (LinkCallPk's
    /// Count).
    Count,
    /// A party ended it early (LinkCallPk's Close, RoomPk's and AcrossPk's Finish, GiftPk's
    /// Close).
    Close,
    /// A party left (LinkCallPk's leave event).
    Leave,
    /// An operator forced it closed.
    Admin,
    /// Never taken up: the command that created it did not go through (the engine closes it so
    /// that its deadlines find it over). No record is written for it.
    Abandoned,
}

impl EndedBy {
    /// Stable lowercase name for records and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EndedBy::Deadline => "deadline",
            EndedBy::Count => "count",
            EndedBy::Close => "close",
            EndedBy::Leave => "leave",
            EndedBy::Admin => "admin",
            EndedBy::Abandoned => "abandoned",
        }
    }
}

/// The outcome of one settled round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The pkid that was settled.
    pub pkid: PkId,
    /// The final totals.
    pub scores: Scores,
    /// The side with more points; `None` on a draw.
    pub winner: Option<Side>,
    /// When it was settled.
    pub settled_at_ms: u64,
    /// What settled it.
    pub ended_by: EndedBy,
}

/// The row for the PK records table, emitted once per settled pkid. The mode turns it into its
/// participants (anchors, teams, rooms, gifts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settled {
    /// The battle it belonged to.
    pub battle: BattleId,
    /// The settled pkid.
    pub pkid: PkId,
    /// Final totals.
    pub scores: Scores,
    /// `None` on a draw.
    pub winner: Option<Side>,
    /// When the round started (`starttime`, ms).
    pub start_ms: u64,
    /// When scoring ended: the deadline for a count or the deadline job, the close time for an
    /// early close.
    pub end_ms: u64,
    /// What settled it.
    pub ended_by: EndedBy,
}

/// A phase deadline to schedule: `phase` of `battle` under `pkid` ends at `due_ms`. When it is
/// due the engine calls the mode's deadline handler, which asks [`Round::on_deadline`]; a job for
/// a phase or pkid that is no longer current does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PhaseDeadline {
    /// The battle.
    pub battle: BattleId,
    /// The pkid the phase belongs to; a later pkid (add time, rematch) makes the job stale.
    pub pkid: PkId,
    /// Which phase.
    pub phase: TimedPhase,
    /// When.
    pub due_ms: u64,
}

/// What follows a settled round once any punishment is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AfterRound {
    /// Back to [`Phase::Idle`]: the battle may start another round (LinkCallPk's link).
    Idle,
    /// [`Phase::Closed`]: the battle is over (RoomPk, AcrossPk, GiftPk).
    Close,
}

/// The tunables a mode settles with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundRules {
    /// Length of the punishment phase after a round with a winner; 0 skips it.
    pub punish_ms: u64,
    /// What follows the round.
    pub after: AfterRound,
}

impl RoundRules {
    /// Rules with a punishment of `punish_seconds` followed by `after`.
    pub fn new(punish_seconds: u64, after: AfterRound) -> Self {
        Self { punish_ms: punish_seconds.saturating_mul(MS_PER_SECOND), after }
    }
}

/// Why a move of the round was refused. Each maps to the seed's code; a mode may wrap it in its
/// own error to add what its responses carry (LinkCallPk answers 024 with the PK info).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RoundError {
    /// 403400023: a phase timer is still running (start during scoring or punishment, a settle
    /// before the deadline). Clients ignore it.
    #[error("a pk timer is still running until {deadline_ms} ms")]
    TimerStillRunning {
        /// When the running phase ends.
        deadline_ms: u64,
    },
    /// 403400024: the round was already settled; carries the verdict the first settle made.
    #[error("pk {} is already settled", .0.pkid)]
    AlreadySettled(Verdict),
    /// 403400027: no round has started (a settle or add time on a battle still idle).
    #[error("the pk has not started")]
    NotStarted,
    /// 403400026: the battle is over.
    #[error("the pk is over")]
    Over,
    /// 403400014 (internal, answered as 020): the move needs a fresh pkid and the caller did
    /// not allocate one (see [`Round::next_start_needs_fresh_pkid`]).
    #[error("a fresh pkid is needed but none was allocated")]
    FreshPkidMissing,
}

impl BusinessError for RoundError {
    fn kind(&self) -> ErrorKind {
        match self {
            // The second of two racing settles lost the race.
            RoundError::AlreadySettled(_) => ErrorKind::Aborted,
            RoundError::FreshPkidMissing => ErrorKind::Internal,
            RoundError::TimerStillRunning { .. } | RoundError::NotStarted | RoundError::Over => {
                ErrorKind::FailedPrecondition
            }
        }
    }

    fn business_code(&self) -> u32 {
        match self {
            RoundError::TimerStillRunning { .. } => codes::TIMER_STILL_RUNNING,
            RoundError::AlreadySettled(_) => codes::ALREADY_SETTLED,
            RoundError::NotStarted => codes::PK_NOT_STARTED,
            RoundError::Over => codes::PK_OVER,
            RoundError::FreshPkidMissing => codes::INTERNAL_PKID_FAILED,
        }
    }
}

/// The timing state of one battle: its current pkid, phase, start and length, and the verdict
/// of the current pkid once settled. Each mode's battle aggregate holds one (flattened into its
/// own fields when stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    /// The current pkid: the battle's first, then a new one per rematch start and per add time
    /// (LinkCallPk seed §4.1, §5.2).
    pub pkid: PkId,
    /// Where the battle is.
    pub phase: Phase,
    /// Whether any round was started; a start after the first needs a fresh pkid.
    pub ever_started: bool,
    /// `starttime` of the current round (0 before the first start). Add time keeps it: the
    /// extended round is the same round continued.
    pub started_at_ms: u64,
    /// `pkalltime`: total scoring length of the current round, so that `starttime + pkalltime`
    /// is always the scoring deadline, also after add time.
    pub pk_total_ms: u64,
    /// The verdict of the current pkid, once settled. Cleared by start and add time.
    pub last_result: Option<Verdict>,
}

/// A round after a move that needs a deadline scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timed {
    /// The new round.
    pub round: Round,
    /// The deadline of its new phase.
    pub deadline: PhaseDeadline,
}

/// A round after its scoring phase was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    /// The new round (punishment, or what follows the round).
    pub round: Round,
    /// The verdict.
    pub verdict: Verdict,
    /// The record of it.
    pub settled: Settled,
    /// The punishment's deadline, when there is a punishment.
    pub punishment: Option<PhaseDeadline>,
}

/// A round after a close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing {
    /// The closed round.
    pub round: Round,
    /// The record, when the close settled a scoring round early.
    pub settled: Option<Settled>,
}

/// What a phase-deadline job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineStep {
    /// The job's pkid or phase is no longer current, or the battle is over: nothing to do.
    Stale,
    /// The job came before its deadline: ask for it again then.
    Early(PhaseDeadline),
    /// The scoring deadline passed: the round is settled.
    Settled(Settlement),
    /// The punishment is over: what follows the round.
    PunishmentOver(Round),
}

impl Round {
    /// A battle that has not started: idle under `pkid` (LinkCallPk's placeholder pkid, seed
    /// §3.2 备注).
    pub fn new(pkid: PkId) -> Round {
        Round {
            pkid,
            phase: Phase::Idle,
            ever_started: false,
            started_at_ms: 0,
            pk_total_ms: 0,
            last_result: None,
        }
    }

    /// Whether the battle is over.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed { .. })
    }

    /// `(from_ms, until_ms)` while scoring: the window the gift script checks (a gift counts if
    /// `from_ms <= sent_at_ms < until_ms`). `None` in every other phase, which the engine
    /// stores as a closed window.
    pub fn scoring_window(&self) -> Option<(u64, u64)> {
        match self.phase {
            Phase::Scoring { from_ms, deadline_ms } => Some((from_ms, deadline_ms)),
            _ => None,
        }
    }

    /// Whether the next start needs a fresh pkid (the first start reuses the battle's own).
    pub fn next_start_needs_fresh_pkid(&self) -> bool {
        self.ever_started
    }

    /// The winner of the current pkid once it was settled (`None` while unsettled or on a
    /// draw): what the wire's `winner_id` fields show.
    pub fn winner(&self) -> Option<Side> {
        self.last_result.filter(|verdict| verdict.pkid == self.pkid).and_then(|v| v.winner)
    }

    /// When the current phase ends (0 for phases without a deadline).
    pub fn phase_deadline_ms(&self) -> u64 {
        self.phase.deadline().map_or(0, |(_, deadline)| deadline)
    }

    /// Starts a round of `scoring_ms` now. Refused while a phase timer runs (023) and on a
    /// closed battle (026). The first start keeps the battle's pkid; later ones take
    /// `fresh_pkid` (014 when missing).
    pub fn start(
        &self,
        battle: BattleId,
        fresh_pkid: Option<PkId>,
        scoring_ms: u64,
        now_ms: u64,
    ) -> Result<Timed, RoundError> {
        if self.is_closed() {
            return Err(RoundError::Over);
        }
        if let Some((_, deadline_ms)) = self.phase.deadline() {
            return Err(RoundError::TimerStillRunning { deadline_ms });
        }
        let pkid = if self.ever_started {
            fresh_pkid.ok_or(RoundError::FreshPkidMissing)?
        } else {
            self.pkid
        };
        let deadline_ms = now_ms.saturating_add(scoring_ms);
        let round = Round {
            pkid,
            phase: Phase::Scoring { from_ms: now_ms, deadline_ms },
            ever_started: true,
            started_at_ms: now_ms,
            pk_total_ms: scoring_ms,
            last_result: None,
        };
        let deadline =
            PhaseDeadline { battle, pkid, phase: TimedPhase::Scoring, due_ms: deadline_ms };
        Ok(Timed { round, deadline })
    }

    /// Judges the scoring phase that ended at `deadline_ms` on `scores`: punishment when a side
    /// won and the rules have one, else what follows the round.
    fn settle(
        &self,
        battle: BattleId,
        deadline_ms: u64,
        scores: Scores,
        ended_by: EndedBy,
        rules: &RoundRules,
        now_ms: u64,
    ) -> Settlement {
        let winner = scores.leader();
        let verdict = Verdict { pkid: self.pkid, scores, winner, settled_at_ms: now_ms, ended_by };
        let settled = Settled {
            battle,
            pkid: self.pkid,
            scores,
            winner,
            start_ms: self.started_at_ms,
            end_ms: deadline_ms,
            ended_by,
        };
        let mut round = *self;
        round.last_result = Some(verdict);
        let mut punishment = None;
        round.phase = if winner.is_some() && rules.punish_ms > 0 {
            let due_ms = now_ms.saturating_add(rules.punish_ms);
            punishment = Some(PhaseDeadline {
                battle,
                pkid: self.pkid,
                phase: TimedPhase::Punishment,
                due_ms,
            });
            Phase::Punishment { deadline_ms: due_ms }
        } else {
            after_round(rules, ended_by, now_ms)
        };
        Settlement { round, verdict, settled, punishment }
    }

    /// A party asks for the settle (LinkCallPk's Count). Before the deadline: 023 (the deadline
    /// job settles it). After a settle: 024 carrying that verdict, so the second of two racing
    /// settles answers what the first did. Before any start: 027. Over: 026.
    pub fn count(
        &self,
        battle: BattleId,
        scores: Scores,
        rules: &RoundRules,
        now_ms: u64,
    ) -> Result<Settlement, RoundError> {
        match self.phase {
            Phase::Scoring { deadline_ms, .. } if now_ms < deadline_ms => {
                Err(RoundError::TimerStillRunning { deadline_ms })
            }
            Phase::Scoring { deadline_ms, .. } => {
                Ok(self.settle(battle, deadline_ms, scores, EndedBy::Count, rules, now_ms))
            }
            Phase::Punishment { .. } | Phase::Idle => match self.last_result {
                Some(verdict) => Err(RoundError::AlreadySettled(verdict)),
                None => Err(RoundError::NotStarted),
            },
            Phase::Closed { .. } => Err(RoundError::Over),
        }
    }

    /// The deadline job for (`pkid`, `phase`). Scoring due: settled (ended by the deadline).
    /// Punishment due: what follows the round. A job for another pkid or phase, or for a closed
    /// battle, is stale; one that came early is asked for again at the deadline.
    pub fn on_deadline(
        &self,
        battle: BattleId,
        pkid: PkId,
        phase: TimedPhase,
        scores: Scores,
        rules: &RoundRules,
        now_ms: u64,
    ) -> DeadlineStep {
        if self.pkid != pkid {
            return DeadlineStep::Stale;
        }
        let Some((current, deadline_ms)) = self.phase.deadline().filter(|(p, _)| *p == phase)
        else {
            return DeadlineStep::Stale;
        };
        if now_ms < deadline_ms {
            return DeadlineStep::Early(PhaseDeadline { battle, pkid, phase, due_ms: deadline_ms });
        }
        match current {
            TimedPhase::Scoring => DeadlineStep::Settled(self.settle(
                battle,
                deadline_ms,
                scores,
                EndedBy::Deadline,
                rules,
                now_ms,
            )),
            TimedPhase::Punishment => {
                let ended_by = self.last_result.map_or(EndedBy::Deadline, |v| v.ended_by);
                let mut round = *self;
                round.phase = after_round(rules, ended_by, now_ms);
                DeadlineStep::PunishmentOver(round)
            }
        }
    }

    /// Adds `add_ms` of scoring under `fresh_pkid`, the totals carried over (the old pkid is
    /// superseded and gets no record of its own):
    /// * while scoring: the deadline moves `add_ms` past the later of the old deadline and now;
    /// * after a settle (punishment, or idle with a verdict): overtime — scoring resumes now
    ///   for `add_ms` on the carried totals and any punishment is called off.
    ///
    /// Before any start: 027; over: 026; no pkid: 014. `starttime` stays the round's start and
    /// `pkalltime` grows so that `starttime + pkalltime` is the new deadline.
    pub fn add_time(
        &self,
        battle: BattleId,
        fresh_pkid: Option<PkId>,
        add_ms: u64,
        now_ms: u64,
    ) -> Result<Timed, RoundError> {
        let (from_ms, deadline_ms) = match self.phase {
            Phase::Scoring { from_ms, deadline_ms } => {
                (from_ms, deadline_ms.max(now_ms).saturating_add(add_ms))
            }
            Phase::Punishment { .. } | Phase::Idle if self.last_result.is_some() => {
                (now_ms, now_ms.saturating_add(add_ms))
            }
            Phase::Punishment { .. } | Phase::Idle => return Err(RoundError::NotStarted),
            Phase::Closed { .. } => return Err(RoundError::Over),
        };
        let pkid = fresh_pkid.ok_or(RoundError::FreshPkidMissing)?;
        let round = Round {
            pkid,
            phase: Phase::Scoring { from_ms, deadline_ms },
            ever_started: true,
            started_at_ms: self.started_at_ms,
            pk_total_ms: deadline_ms.saturating_sub(self.started_at_ms),
            last_result: None,
        };
        let deadline =
            PhaseDeadline { battle, pkid, phase: TimedPhase::Scoring, due_ms: deadline_ms };
        Ok(Timed { round, deadline })
    }

    /// Ends the battle now: a scoring round is settled early on `scores` (its record ends now,
    /// or at the deadline if that passed first); the verdict of an earlier settle stays.
    /// Closing a closed battle changes nothing.
    pub fn close(
        &self,
        battle: BattleId,
        scores: Scores,
        ended_by: EndedBy,
        now_ms: u64,
    ) -> Closing {
        if self.is_closed() {
            return Closing { round: *self, settled: None };
        }
        let mut round = *self;
        let mut settled = None;
        if let Phase::Scoring { deadline_ms, .. } = self.phase {
            let close_rules = RoundRules { punish_ms: 0, after: AfterRound::Close };
            let settlement = self.settle(
                battle,
                deadline_ms.min(now_ms),
                scores,
                ended_by,
                &close_rules,
                now_ms,
            );
            round.last_result = Some(settlement.verdict);
            settled = Some(settlement.settled);
        }
        round.phase = Phase::Closed { ended_by, at_ms: now_ms };
        Closing { round, settled }
    }
}

fn after_round(rules: &RoundRules, ended_by: EndedBy, now_ms: u64) -> Phase {
    match rules.after {
        AfterRound::Idle => Phase::Idle,
        AfterRound::Close => Phase::Closed { ended_by, at_ms: now_ms },
    }
}
