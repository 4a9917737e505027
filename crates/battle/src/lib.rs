//! What every PK mode shares, as pure functions: two sides, the phases of seed 004 §三 (scoring,
//! then punishment when the scores differ or straight on after a draw, then the next round or
//! the end), start / settle / phase deadline / add time / close, the verdict, invitations with an
//! expiry, timer requests, the settled record, and a generic [`Transition`] that each mode fills
//! with its own aggregates and notifications.
//!
//! Invariant: no I/O, no clock, no tonic/redis/protobuf types. Time comes in as `now_ms`;
//! scores come in as [`Scores`] read by the caller.
//!
//! A mode crate (LinkCallPk's `livepk-linkcall`, ...) names its types in a [`Vocabulary`], keeps
//! a [`Round`] inside its battle aggregate ([`BattleState`]), and writes each command as
//! `(states, request, now) -> Result<Transition<_, Reply>, ModeError>`, using the moves of
//! [`Round`] for everything about phases and verdicts. The engine (`livepk-engine`) loads, runs
//! and commits those transitions for every mode alike.
//!
//! | move | function | refusals |
//! |------|----------|----------|
//! | start a round | [`Round::start`] | 023 timer running, 026 over, 014 no pkid |
//! | a party settles after the deadline | [`Round::count`] | 023 early, 024 settled (with the verdict), 027 not started, 026 over |
//! | the phase deadline | [`Round::on_deadline`] | stale jobs do nothing |
//! | add time | [`Round::add_time`] | 027 not started, 026 over, 014 no pkid |
//! | close early | [`Round::close`] | — |

mod effects;
mod invitation;
mod round;
mod side;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use effects::{
    Aggregate, BattleState, Effects, ScoreAction, TimerRequest, Transition, Vocabulary,
};
pub use invitation::Invitation;
pub use round::{
    AfterRound, Closing, DeadlineStep, EndedBy, Phase, PhaseDeadline, PhaseName, Round, RoundError,
    RoundRules, Settled, Settlement, Timed, TimedPhase, Verdict,
};
pub use side::{Scores, Side, Sides};

/// Milliseconds per second, for the seconds the seeds' fields use (`time_now`, `starttime`).
pub const MS_PER_SECOND: u64 = 1000;

/// Identifies one battle of a mode (LinkCallPk: one link session; RoomPk: one team battle).
/// Allocated by the engine from a counter per mode; unlike the pkid it never changes during the
/// battle, so it names the battle's storage (hash tag, score keys) while pkids come and go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BattleId(u64);

impl BattleId {
    /// Wraps an id the engine allocated.
    pub fn new(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw value, for keys and the wire.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for BattleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
