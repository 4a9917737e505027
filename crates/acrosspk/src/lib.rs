//! AcrossPk (跨房PK, seed 002): party rooms challenge each other and battle room against room —
//! as a pure state machine. Every command is `(states, request, now) -> Result<Transition,
//! AcrossPkError>`; there is no I/O, no clock, no tonic, redis or protobuf type in it. The
//! `adapter` module (feature `adapter`) binds it to the battle engine.
//!
//! # State
//!
//! * [`Room`] — one per room, under the room's own hash tag: its created PK (at most one, seed
//!   "一个房间只能创建一次pk"), the challenges it sent and received, and a pointer to its current or
//!   latest [`Battle`]. Where the seed keeps three Redis hashes (`create_across_pk`,
//!   `sponsored_across_pk:<room>`, `across_pk_data:<room>`), the rules live here. A challenge is
//!   pending only while both rooms hold it (see [`pending_challenge`]) and it has not lapsed
//!   ([`livepk_battle::Invitation`]), so withdrawing it from either room ends it.
//!   Commands read a room as a [`RoomView`]: a room pointing at a battle the engine abandoned
//!   (an Accept that wrote it and lost the other room) is seen as it was before that Accept.
//! * [`Battle`] — one per cross-room PK, under its own tag with its score keys: both rooms (red =
//!   the creating or challenging room, seed "默认创建pk的房间视为红队"), each room's operator
//!   (only they may Finish), the terms, what the Accept withdrew from each room
//!   ([`Withdrawal`]: the rooms on the other ends are told from it, and an abandoned battle gives
//!   it back), and a [`livepk_battle::Round`]. Both rooms read this one battle: where the seed syncs A's numbers
//!   to B by hand, both rooms see the same totals and boards because there is one copy.
//! * Outside the aggregates, kept by the adapter: the open-PK list (one sorted set of every
//!   created PK, an index changed through [`OpenListChange`]), each side's total and its two
//!   boards (contribution = senders, PK value = receivers), the scoring window the gift script
//!   checks.
//!
//! # How it runs
//!
//! Phases, verdicts, lapsing invitations and the shape of a [`Transition`] are
//! `livepk-battle`'s; the engine (`livepk-engine`) loads, decides, commits, schedules and retries.
//! A battle holds both rooms' stages from Accept until it is over ([`Battle`]'s
//! `BattleState::stage`), so the engine refuses a battle of another stage-taking mode in either
//! room, and refuses an Accept into a room another mode holds (025 naming it).
//!
//! # Flows (seed 002 逻辑处理)
//!
//! | flow | function | |
//! |------|----------|---|
//! | Create / CancelCreate | [`create`], [`cancel_create`] | one open PK per room, listed newest first |
//! | Challenge (发起) | [`challenge`] (+ [`on_challenge_expired`]) | lapses after 60 s; B → A refused while A → B pends |
//! | Reject | [`reject`] | ends the challenge at once |
//! | Accept | [`accept`] ([`offer_to_accept`]; refused after an abandoned attempt: [`restore`]) | starts scoring in both rooms; `clearAcrossPK` |
//! | the countdown's end, the punishment's end | [`on_phase_deadline`] | `Scoring` -> `Punishment` / over -> over |
//! | Finish, forced close | [`finish`], [`admin_close`] | any running phase -> over |
//! | gifts | [`score_progress`] | both rooms told |
//! | ListChallenges, ListCreated, GetState | [`pending_challenges`], [`created_page`], [`room_pk`] | queries |

mod battle_flows;
mod config;
mod effects;
mod error;
mod model;
mod offer_flows;
mod queries;

#[cfg(any(test, feature = "adapter"))]
pub mod adapter;
#[cfg(test)]
mod tests;

pub use battle_flows::{FinishRequest, admin_close, finish, on_phase_deadline, score_progress};
pub use config::{
    AcrossPkConfig, CHALLENGE_SECONDS, CONFIG_KEYS, MAX_CHALLENGES, MAX_COUNTDOWN_SECONDS,
    PAGE_SIZE, PUNISH_SECONDS,
};
pub use effects::{
    AcrossPk, ChallengeKey, Effects, Notification, NotificationKind, OpenListChange, TimerRequest,
    Transition,
};
pub use error::{AcrossPkError, acrosspk_codes};
pub use model::{
    Battle, BoardRow, Challenge, CreatedPk, Finisher, Offer, PkInfo, Room, RoomCard, Source, Terms,
    Withdrawal,
};
pub use offer_flows::{
    AcceptRequest, AcceptSource, AcceptedOffer, ChallengeRequest, CreateRequest, NewBattle,
    RejectRequest, RoomView, SETTLE_MS, accept, cancel_create, challenge, challenged_rooms, create,
    offer_to_accept, on_challenge_expired, pending_challenge, reject, restore,
};
pub use queries::{
    RoomPk, TOP_BOARD_ROWS, created_page, created_window, pending_challenges, room_pk,
};
