//! The battle engine: the machinery every PK mode runs on, so that a mode is only its pure rules
//! (`livepk-battle` plus its own crate) and a thin description of itself ([`ModeBinding`]).
//!
//! * [`Engine`] — load with versions, decide with the mode's pure function, commit one ordered
//!   plan (room stages, deadlines, the battle as the truth, then the pointers, outboxes, records),
//!   retry on contention, settle on final numbers. See the `engine` module documentation.
//! * Room stages — one room, one battle across modes (SPEC §5a), see [`stage`].
//! * Gifts — [`GiftLedger`] counts each gift at most once per battle however often it is
//!   retried; [`Router`] finds the battles a gift scores in for every way a mode claims gifts
//!   ([`Claim`]), with the cached-target rule; [`GiftConsumer::after_scored`] lets a gift cause a
//!   transition.
//! * Deadlines — [`Timers`] schedules, [`TimerRunner`] claims and fires them once across replicas;
//!   the phase and invitation handlers of every mode are the engine's own.
//! * Notifications — through per-tag outboxes relayed exactly once ([`EventBus`]); score changes
//!   coalesced per battle side with the changed gifters ([`ScoreCoalescer`]).
//! * [`Settings`] — the hot config table, keys declared by the modes ([`livepk_core::ConfigSpec`]).
//! * [`Runtime`] — all of it wired for a set of modes ([`ModeParts`]), with background tasks.
//!
//! Invariant: no tonic or protobuf types. The server encodes notifications through each mode's
//! [`ModeBinding::encode`] and maps [`EngineError`] to gRPC statuses in one place.
//!
//! With the `testkit` feature, [`testkit`] runs all of it on the in-process store, a manual clock
//! and an in-memory SQLite, for the feature crates' own tests.

mod binding;
pub mod clock_check;
pub mod config;
mod driver;
mod engine;
mod error;
pub mod events;
mod ids;
pub mod ledger;
pub mod metrics;
mod profiles;
pub mod routing;
mod runtime;
pub mod settings;
pub mod stage;
pub mod timers;

#[cfg(feature = "testkit")]
pub mod testkit;

use tokio::sync::watch;

pub use binding::{
    AggregateId, BoardRow, EncodeContext, ModeBinding, ScoreKeys, Snapshot, StoreKey,
    settled_record,
};
pub use driver::{MAX_USERS_PER_NOTIFICATION, ModeParts};
pub use engine::{Engine, RECORD_TOPIC, STATE_TTL, invitation_topic, phase_topic};
pub use error::{Contended, EngineError, EngineResult, StageTaken};
pub use events::{EventBus, NotifyKey, ScoreCoalescer, ScoreNotifier};
pub use ledger::{
    GiftConsumer, GiftLedger, GiftOutcome, GuardedTarget, Lookup, ScoreChange, ScoreTarget,
    one_change_done_head,
};
pub use profiles::GifterProfile;
pub use routing::{Claim, Credit, GiftRoute, Located, RouteKey, Router};
pub use runtime::{GIFT_RECORD_TTL, Runtime, RuntimeOptions};
pub use settings::Settings;
pub use timers::{RunnerOptions, TimerHandler, TimerRunner, Timers};

/// Completes when `stop` turns true (or its sender is gone). Holds no borrow of the channel
/// afterwards, so it can sit in a `select!` next to other awaits.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
