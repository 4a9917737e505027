//! InteractiveShow's words for the shared shapes of `livepk-battle`: its [`Vocabulary`] (the
//! show and call aggregates, its messages, its invitation-expiry key) and the seed's message
//! (seed 003 "message"), addressed.
//!
//! A show is not a battle: there are no sides, no scores, no scoring window, no room stage and
//! no settled record. The vocabulary's battle is therefore [`NoBattle`], a type with no value,
//! and every transition leaves `battle` empty: the engine commits the aggregates (compare-and-set
//! per aggregate, messages through the outbox of the same transaction) and schedules the
//! invitation expiries, which is all a show needs of it.

use std::convert::Infallible;

use livepk_battle::{Aggregate, BattleId, BattleState, Round, Vocabulary};
use livepk_core::{RoomSid, Target};
use serde::{Deserialize, Serialize};

use crate::model::{Call, CallId, ChatType, Party, Show, ShowGift, ShowId, secs};

/// InteractiveShow as the engine knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shows;

impl Vocabulary for Shows {
    type Aggregate = ShowState;
    type Battle = NoBattle;
    type Notification = ShowMessage;
    type Change = Infallible;
    type InvitationKey = ShowExpiry;
}

/// An InteractiveShow transition: changed aggregates, effects, reply.
pub type Transition<Reply> = livepk_battle::Transition<Shows, Reply>;
/// A deadline an InteractiveShow transition schedules.
pub type TimerRequest = livepk_battle::TimerRequest<ShowExpiry>;

/// What identifies an aggregate of the mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ShowKey {
    /// A call.
    Call(CallId),
    /// A show.
    Show(ShowId),
}

/// The mode's aggregates: calls and shows, each stored whole under a tag of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShowState {
    /// A call.
    Call(Call),
    /// A show.
    Show(Box<Show>),
}

impl Aggregate for ShowState {
    type Id = ShowKey;

    fn id(&self) -> ShowKey {
        match self {
            ShowState::Call(call) => ShowKey::Call(call.call_id),
            ShowState::Show(show) => ShowKey::Show(show.show_id),
        }
    }
}

impl ShowState {
    /// The show, when this is one.
    pub fn as_show(&self) -> Option<&Show> {
        match self {
            ShowState::Show(show) => Some(show),
            ShowState::Call(_) => None,
        }
    }

    /// The call, when this is one.
    pub fn as_call(&self) -> Option<&Call> {
        match self {
            ShowState::Call(call) => Some(call),
            ShowState::Show(_) => None,
        }
    }
}

impl From<Show> for ShowState {
    fn from(show: Show) -> Self {
        ShowState::Show(Box::new(show))
    }
}

impl From<Call> for ShowState {
    fn from(call: Call) -> Self {
        ShowState::Call(call)
    }
}

/// The battle of a mode that has none: no value of it exists, so every function over it is
/// `match *self {}` and no transition of the mode can carry one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NoBattle {}

impl BattleState for NoBattle {
    fn battle_id(&self) -> BattleId {
        match *self {}
    }
    fn round(&self) -> &Round {
        match *self {}
    }
    fn round_mut(&mut self) -> &mut Round {
        match *self {}
    }
    fn stage(&self) -> Vec<RoomSid> {
        match *self {}
    }
}

/// Names an invitation for its expiry job: the show, and when its invitation lapses (an
/// acceptance gives the show a new invitation with a new expiry, which makes the first job
/// stale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowExpiry {
    /// The show.
    pub show: ShowId,
    /// When its invitation lapses.
    pub expires_at_ms: u64,
}

/// A message of seed 003, addressed to the party who receives it (`receive_uid`): the user
/// (unicast to a viewer) or the anchor (unicast to an anchor). It carries everything the wire
/// message shows, so encoding needs no look-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowMessage {
    /// Who receives it.
    pub target: Target,
    /// `chat_type`.
    pub chat_type: ChatType,
    /// `uid`: who it is from.
    pub uid: u64,
    /// `receive_uid`: who it is for.
    pub receive_uid: u64,
    /// `ctime`, UTC seconds.
    pub ctime: u64,
    /// `show_id`.
    pub show_id: ShowId,
    /// `gift_data.call_id`.
    pub call_id: CallId,
    /// `gid` and the rest of `gift_data`.
    pub gift: ShowGift,
}

impl ShowMessage {
    /// The message `chat_type` of `show` at `now_ms`, from its sender to the other party.
    pub fn of(show: &Show, chat_type: ChatType, now_ms: u64) -> Self {
        let sender = chat_type.sender();
        let receiver = sender.other();
        let receive_uid = show.party_id(receiver);
        let target = match receiver {
            Party::Anchor => Target::singer(receive_uid),
            Party::User => Target::user(receive_uid),
        };
        ShowMessage {
            target,
            chat_type,
            uid: show.party_id(sender),
            receive_uid,
            ctime: secs(now_ms),
            show_id: show.show_id,
            call_id: show.call_id,
            gift: show.gift.clone(),
        }
    }

    /// The event type (see [`ChatType::event_type`]).
    pub fn message_name(&self) -> &'static str {
        self.chat_type.event_type()
    }
}
