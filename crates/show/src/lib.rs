//! InteractiveShow (交互式表演, seed 003): during a paid 1:1 call the anchor invites the user to a
//! show, or the user asks the anchor for one; the user pays by sending the show's gift; the
//! anchor is told whether the payment went through — as a pure state machine. Every command is
//! `(states, request, now) -> Result<Transition, ShowError>`; there is no I/O, no clock, no
//! tonic, redis or protobuf type in it. The `adapter` module (feature `adapter`) binds it to the
//! battle engine and writes the `tb_show` rows.
//!
//! # State
//!
//! * [`Show`] — one per invitation (`show_id`): the call's parties, who invited, the gift as
//!   the catalogue had it, where it is ([`ShowStage`]: invited → accepted (a user's invitation
//!   the anchor agreed to) → paid, or rejected, or lapsed), every payment report it answered
//!   (so a repeated transaction id answers as the first time), `finish_time`, the rating, and a
//!   version (the `tb_show` row's).
//! * [`Call`] — one per 1:1 call: its anchor and user (fixed by its first invitation), its
//!   latest invitation (the guard of "one open invitation per call", [`Call::blocking`]) and its
//!   shows.
//!
//! Both are aggregates of the engine, each under its own hash tag; a show has no battle (no
//! sides, scores, scoring window, room stage or settled record), so the vocabulary's battle is
//! [`NoBattle`], which has no value. Invitations are `livepk_battle::Invitation`s; their expiry
//! is the engine's invitation-expiry job ([`on_invitation_expired`]).
//!
//! # Flows (seed 003's four sequence diagrams)
//!
//! | diagram | function | stage before → after | message |
//! |---------|----------|----------------------|---------|
//! | 1, 2 | [`invite`] by the anchor | — → invited (to the user) | 51 to the user |
//! | 3, 4 | [`invite`] by the user | — → invited (to the anchor) | 52 to the anchor |
//! | 3 | [`anchor_accept`] | invited → accepted (to the user, new expiry) | 53 to the user |
//! | 4 | [`anchor_reject`] | invited → rejected | 55 to the user |
//! | 2 | [`user_reject`] | invited / accepted → rejected | 56 to the anchor |
//! | 1, 3 | [`report_payment`] success | invited / accepted → paid; lapsed → paid when charged before the lapse | 54 / 58 to the anchor |
//! | 1, 3 | [`report_payment`] insufficient balance | unchanged | 57 to the anchor |
//! | — | [`on_invitation_expired`] | invited / accepted → lapsed | — |
//! | — | [`finish`], [`rate`] | paid (`finish_time`, rating) | — |

mod config;
mod effects;
mod error;
mod flows;
mod model;
mod ranking;

#[cfg(any(test, feature = "adapter"))]
pub mod adapter;
#[cfg(test)]
mod tests;

pub use config::{CONFIG_KEYS, ENABLED, INVITE_SECONDS, RANKING_UTC_OFFSET_MINUTES, ShowConfig};
pub use effects::{
    NoBattle, ShowExpiry, ShowKey, ShowMessage, ShowState, Shows, TimerRequest, Transition,
};
pub use error::{ShowError, show_codes};
pub use flows::{
    InviteRequest, PaymentRequest, ShowGates, anchor_accept, anchor_reject, check_invite, finish,
    invite, on_invitation_expired, pending_expiry, rate, report_payment, show_to_rate, user_reject,
};
pub use model::{
    Call, CallId, ChatType, MAX_PAYMENT_REPORTS, MAX_SHOWS_PER_CALL, MAX_TXN_ID_LEN,
    OpenInvitation, Party, PaymentAnswer, PaymentOutcome, PaymentReport, Show, ShowGift, ShowId,
    ShowInvitation, ShowRating, ShowStage, ShowStatus, TxnId, secs,
};
pub use ranking::{RankingPeriod, ranking_window};
