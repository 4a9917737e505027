//! GiftPk (PK礼物, seed 001): in a live show the anchor starts a PK between two gifts, each with a
//! caption ("投它，我唱首浮夸") and a countdown; viewers vote by sending either gift, and the gift
//! sent more often wins — as a pure state machine. Every command is
//! `(states, request, now) -> Result<Transition, GiftPkError>`; there is no I/O, no clock, no
//! tonic, redis or protobuf type in it. The `adapter` module (feature `adapter`) binds it to the
//! battle engine; it reaches the store only through the engine.
//!
//! # State
//!
//! * [`Show`] — one per show: its gift PKs (battle and pkid), oldest first, bounded by
//!   `giftpk.history_size`. The latest is the show's running PK while its battle is not over:
//!   one running gift PK per show. Only Create writes it.
//! * [`GiftBattle`] — one per gift PK: the show, the anchor who created it, the two gifts
//!   (name, logo, caption), the countdown, the pull interval, and a [`livepk_battle::Round`]
//!   (scoring from Create, then closed: no punishment). It takes no room stage: a gift PK runs
//!   alongside any other PK of the room (SPEC §5a).
//! * Beside the battle, under its tag, maintained by the gift script: each gift's count (the side
//!   totals, [`livepk_battle::Scores`], which decide the winner) and value, each gift's sender
//!   board (counts; ties to the first to reach the total), a board over both gifts (the result
//!   of a draw), and the senders' profiles.
//!
//! # Flows (seed 001 numbering)
//!
//! | seed | function | |
//! |------|----------|-|
//! | 2.1.a | [`create`] | creates a battle in `Scoring` |
//! | 2.1.b | [`close`] (+ [`on_phase_deadline`], [`admin_close`]) | `Scoring` -> `Closed` |
//! | 2.1.c | [`live`] | query (time left, extra info) |
//! | 2.1.d | [`result_plan`], [`result`] | query (`finished`) |
//! | 2.1.e | [`ranking_window`], [`ranking_page`] | query |
//! | 2.2.a | [`pk_view`] | the show's latest PK and its history |
//! | 2.3 | `giftpk_create_nt`, [`progress`], `giftpk_end_nt` | notifications |
//!
//! # Gifts
//!
//! A gift counts for the show's running PK when it carries the show's id and one of the two gift
//! ids and was sent (`sent_at_ms`) inside the PK's window: from Create until the deadline or an
//! early Close. It counts as long as it reaches the ledger before the PK is settled, and the
//! countdown's settle waits `giftpk.settle_grace_ms` (default 3 s) after the deadline: a vote
//! sent in the last second whose `RecordGift` arrives a moment late (during the grace) counts.
//! During the grace the PK is not finished (`time_left` 0, `finished` false, another Create in
//! the show answers 301); a Close then settles it at once, ended at the deadline by `deadline`.
//! A gift recorded after the settle does not count, however early it was sent (the settle closes
//! the window for good).

mod config;
mod effects;
mod error;
mod flows;
mod model;
mod queries;

#[cfg(any(test, feature = "adapter"))]
pub mod adapter;
#[cfg(test)]
mod tests;

pub use config::{
    CONFIG_KEYS, GiftPkConfig, HISTORY_SIZE, MAX_DURATION_SECONDS, MIN_DURATION_SECONDS,
    PULL_INTERVAL_MS, RANKING_PAGE_SIZE, RESULT_TOP, SETTLE_GRACE_MS,
};
pub use effects::{Effects, GiftPk, Notification, NotificationKind, Transition};
pub use error::{GiftPkError, giftpk_codes};
pub use flows::{
    CloseRequest, CreateReply, CreateRequest, NewPk, RULES, admin_close, battle_of_show_pk, close,
    create, create_needs_ids, on_phase_deadline, progress, running_pk, validate_create,
};
pub use model::{GiftBattle, PkGift, SenderRow, Show, ShowId, ShowPk, seconds_left};
pub use queries::{
    GiftTotals, LiveView, PkView, RankedSender, RankingPage, RankingWindow, ResultPlan, ResultView,
    SenderBoard, live, pk_view, ranking_page, ranking_window, result, result_plan, totals,
};
