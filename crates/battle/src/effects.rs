//! What a move asks of the outside world, in a shape every mode shares: the states to write,
//! list changes, notifications, deadlines, the settled record and what happens to the score
//! keys. The engine commits them in one ordered plan with the new states (notifications through
//! the outbox of the same transaction), so an effect is never lost nor emitted for a change that
//! did not happen.

use std::fmt::Debug;
use std::hash::Hash;

use livepk_core::RoomSid;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::BattleId;
use crate::round::{PhaseDeadline, Round, Settled};

/// The types a mode plugs into the shared shapes.
pub trait Vocabulary: Debug + Clone + PartialEq + Send + Sync + 'static {
    /// The mode's aggregates besides the battle, each written with compare-and-set on the version
    /// read (LinkCallPk: one per anchor).
    type Aggregate: Aggregate;
    /// The battle aggregate (one per battle, beside its score keys).
    type Battle: BattleState;
    /// The mode's notifications, addressed; the server encodes them for the event stream.
    type Notification: Debug + Clone + PartialEq + Send + Sync;
    /// Changes to the mode's other collections (LinkCallPk: its sorted lists), applied in the
    /// same transaction as the aggregates.
    type Change: Debug + Clone + PartialEq + Send + Sync;
    /// What an invitation-expiry job names (LinkCallPk: the guest and the host).
    type InvitationKey: Debug
        + Clone
        + Copy
        + PartialEq
        + Serialize
        + DeserializeOwned
        + Send
        + Sync;
}

/// An aggregate besides the battle: a value stored whole, with a version.
pub trait Aggregate:
    Debug + Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync
{
    /// What identifies it.
    type Id: Debug + Clone + Copy + PartialEq + Eq + Hash + Ord + Send + Sync;
    /// Its id.
    fn id(&self) -> Self::Id;
}

/// What the engine reads of any mode's battle aggregate.
pub trait BattleState:
    Debug + Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync
{
    /// The battle's id (names its storage; stable across pkids).
    fn battle_id(&self) -> BattleId;
    /// Its phases.
    fn round(&self) -> &Round;
    /// Its phases, to change (the engine closes a battle its creating command abandoned).
    fn round_mut(&mut self) -> &mut Round;
    /// The rooms whose stage the battle holds in its current state (SPEC §5a: LinkCallPk,
    /// RoomPk and AcrossPk each take over a room's stage; at most one of them runs in a room).
    /// Empty for modes that run alongside (GiftPk) and once the battle no longer holds them.
    /// The engine claims the rooms a transition adds and releases those it drops.
    fn stage(&self) -> Vec<RoomSid>;
}

/// A deadline to schedule in the delay queue. When it is due the engine calls the mode's
/// handler with fresh state; handlers check that the state still matches, so a job that is
/// delivered again or outlived its state is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerRequest<K> {
    /// A phase of a battle ends.
    Phase(PhaseDeadline),
    /// An invitation lapses.
    InvitationExpiry {
        /// Which invitation.
        invitation: K,
        /// When.
        due_ms: u64,
    },
}

impl<K> TimerRequest<K> {
    /// When the job is due.
    pub fn due_ms(&self) -> u64 {
        match self {
            TimerRequest::Phase(deadline) => deadline.due_ms,
            TimerRequest::InvitationExpiry { due_ms, .. } => *due_ms,
        }
    }
}

/// What happens to a battle's score keys (side totals, boards, gifter profiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScoreAction {
    /// Leave them as they are.
    #[default]
    Untouched,
    /// A new round: every total and board back to zero before the new scoring window opens.
    Reset,
    /// Add time: keep totals and boards; the new pkid continues them.
    CarryOver,
    /// The battle is over: the keys may go.
    Delete,
}

/// Everything a move asks besides writing the new states.
#[derive(Debug, Clone, PartialEq)]
pub struct Effects<D: Vocabulary> {
    /// Changes to the mode's collections, in order.
    pub changes: Vec<D::Change>,
    /// Notifications, in the order the seed's sequence diagrams list them.
    pub notifications: Vec<D::Notification>,
    /// Deadlines to schedule.
    pub timers: Vec<TimerRequest<D::InvitationKey>>,
    /// The record of a round settled by this move.
    pub settled: Option<Settled>,
    /// What to do with the battle's score keys.
    pub scores: ScoreAction,
}

impl<D: Vocabulary> Default for Effects<D> {
    fn default() -> Self {
        Self {
            changes: Vec::new(),
            notifications: Vec::new(),
            timers: Vec::new(),
            settled: None,
            scores: ScoreAction::Untouched,
        }
    }
}

impl<D: Vocabulary> Effects<D> {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
            && self.notifications.is_empty()
            && self.timers.is_empty()
            && self.settled.is_none()
            && self.scores == ScoreAction::Untouched
    }

    /// Schedules a phase deadline.
    pub fn deadline(&mut self, deadline: PhaseDeadline) {
        self.timers.push(TimerRequest::Phase(deadline));
    }
}

/// The result of one move: the states to write, the effects to commit with them and the data
/// for the response.
///
/// `aggregates` holds only aggregates that changed (each written with compare-and-set on the
/// version read); `battle` is the battle to write when it changed or was created. A transition
/// that writes nothing and asks nothing (see [`Transition::is_noop`]) is not committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition<D: Vocabulary, Reply> {
    /// Changed aggregates.
    pub aggregates: Vec<D::Aggregate>,
    /// The changed or created battle.
    pub battle: Option<D::Battle>,
    /// Effects to commit with the states.
    pub effects: Effects<D>,
    /// Response data.
    pub reply: Reply,
}

impl<D: Vocabulary, Reply> Transition<D, Reply> {
    /// A transition that changes nothing and answers `reply`.
    pub fn unchanged(reply: Reply) -> Self {
        Self { aggregates: Vec::new(), battle: None, effects: Effects::default(), reply }
    }

    /// The same transition with another reply, computed from the old one and the effects (for
    /// example an adapter answering with the settled record).
    pub fn map_reply<Other>(
        self,
        reply: impl FnOnce(Reply, &Effects<D>) -> Other,
    ) -> Transition<D, Other> {
        let reply = reply(self.reply, &self.effects);
        Transition {
            aggregates: self.aggregates,
            battle: self.battle,
            effects: self.effects,
            reply,
        }
    }

    /// Whether nothing is to be written or emitted.
    pub fn is_noop(&self) -> bool {
        self.aggregates.is_empty() && self.battle.is_none() && self.effects.is_empty()
    }
}
