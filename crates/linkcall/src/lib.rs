//! LinkCallPk (连麦PK, seed 000): two anchors link their rooms and battle for gifts — as a pure
//! state machine. Every command is `(states, request, now) -> Result<Transition, LinkCallError>`;
//! there is no I/O, no clock, no tonic, redis or protobuf type in this crate.
//!
//! # State
//!
//! * [`Anchor`] — one per anchor: function switch and `functiontime`, whether it is in its room,
//!   its busy flag ([`Activity`], codes 028/029), the popup it holds (one per anchor), the
//!   invitation it is waiting on, and a pointer to the battle it is in (one PK scene per
//!   anchor). All anchors share one hash tag, so one transaction can compare-and-set several.
//! * [`Battle`] — one per link session, created by Confirm agree: the current pkid, host and
//!   guest seats (room, scene), the [`Phase`] (`Linked`, `Scoring`, `Punishment`, `Closed`),
//!   `starttime`/`pkalltime`, the last settled result. It has its own hash tag with the score
//!   keys beside it.
//! * Outside the aggregates, maintained by the adapter from effects or read by it: the online
//!   list and the two application lists per anchor (sorted sets, changed through
//!   [`ListChange`]), the side totals ([`Scores`]) and the two top-gifter boards
//!   ([`GifterRow`]), and the scoring window the gift script checks
//!   ([`Battle::scoring_window`]).
//!
//! # How an adapter drives it
//!
//! 1. Validate the request at the edge into `livepk_core` ids (403400021 is the edge's).
//! 2. Load what the command takes, remembering each aggregate's version: the anchors named by
//!    the request; the battle an anchor points at ([`Anchor::battle`], or [`battle_of_pair`] for
//!    Close); the score counters and boards where a function takes [`Scores`] or
//!    [`GifterRow`]s; list members for a [`Withdrawal`]. Allocate ids only where asked:
//!    [`ConfirmDecision::Agree`] needs a battle id and a pkid, a rematch [`start`] needs a pkid
//!    when [`Battle::next_start_needs_fresh_pkid`], [`add_time`] always needs one.
//! 3. Call the function with `now_ms` from the injected clock and the [`LinkCallConfig`].
//!    An `Err` is answered as is ([`LinkCallError`] implements
//!    [`livepk_core::BusinessError`]; [`LinkCallError::pk_state`] and
//!    [`LinkCallError::settled_answer`] give the `pk_state` / result the seed's responses carry
//!    with the error). Nothing was changed.
//! 4. Commit a [`Transition`] atomically: `anchors` (compare-and-set on the versions read),
//!    `battle` (created, or compare-and-set), the scoring window of the new battle
//!    (`scoring_window()`, closed when `None`), [`Effects::lists`], [`Effects::scores`]
//!    ([`ScoreAction`]), the [`Effects::settled`] record, and the [`Effects::notifications`]
//!    through the outbox of the same transaction. On a version conflict, reload and call again:
//!    every function is deterministic in its inputs.
//!    When a transition writes both a battle and anchors (Confirm, Close, the leave event) they
//!    live under different hash tags: write the battle first (a new battle nobody points at yet
//!    is harmless; a closed battle is the truth), then the anchors; if the anchors' write loses a
//!    race, redo just that step with [`release_anchor`] on fresh anchors (Close) or re-run the
//!    command (Confirm: the orphan battle is never referenced and expires). A pointer to a
//!    closed battle is treated as free by Close, SingerComeInRoom and the leave event.
//! 5. Schedule [`Effects::timers`] in the delay queue. When a job is due call
//!    [`on_popup_expired`] or [`on_phase_deadline`] with fresh state and commit their transition
//!    the same way; a job whose state moved on answers [`TimerOutcome::Stale`] with nothing to
//!    do, so re-delivery is harmless.
//! 6. Relay notifications: add `time_now`, the event envelope ([`livepk_core::Mode::LinkCall`],
//!    [`NotificationKind::pkid`]) and the profiles (nick, icon, level, star) of the singer ids
//!    they carry. [`NotificationKind::message_name`] is the seed's message name.
//!
//! Settling reads scores that gifts are still moving. To settle on final numbers: run the
//! function once with the current totals to see whether it settles ([`Effects::settled`]),
//! write the scoring window closed, re-read the totals and run it again for the commit. A gift
//! counts only inside the window by its own time, so nothing sent before the deadline is lost.
//!
//! # Flows (seed 000 numbering)
//!
//! | seed | function | battle phase needed |
//! |------|----------|---------------------|
//! | 1.1 | [`open_function`], [`close_function`] | — |
//! | 1.2 | [`online_list_window`], [`seek_online_list`] | query |
//! | 2 | [`apply`] | — |
//! | 3.1 | [`link`] (+ [`on_popup_expired`]) | — |
//! | 3.2 | [`confirm`] | creates `Linked` |
//! | 4.1 | [`start`] | `Linked` -> `Scoring` |
//! | 4.2 | [`switch_scene`] | any open |
//! | 5.1 | [`count`] (+ [`on_phase_deadline`]) | `Scoring` -> `Punishment` / `Linked` |
//! | 5.2 | [`add_time`] | `Scoring`, or settled -> `Scoring` |
//! | 5.3 | [`close`], [`admin_close`] | any open -> `Closed` |
//! | 6, 7, 9 | [`user_seek_pk`], [`user_seek_gift`], [`user_come_in_room`] | query |
//! | 8 | [`link_list_window`], [`seek_link_list`] | query |
//! | 11 | [`singer_come_in_room`] | — |
//! | 12 | [`singer_leave`] | any open -> `Closed` |
//! | — | [`set_singer_activity`], [`gift_progress`] | — |

mod anchor_flows;
mod battle_flows;
mod config;
mod effects;
mod error;
mod model;
mod queries;

#[cfg(test)]
mod tests;

pub use anchor_flows::{
    ApplyRequest, ConfirmDecision, ConfirmReply, ConfirmRequest, LeaveContext, LinkReply,
    LinkRequest, OpenFunctionReply, OpenFunctionRequest, PopupView, SingerComeInRoomReply,
    SingerComeInRoomRequest, StateReply, TimerOutcome, Withdrawal, apply, close_function, confirm,
    link, on_popup_expired, open_function, release_anchor, set_singer_activity,
    singer_come_in_room, singer_leave,
};
pub use battle_flows::{
    BattleReply, CloseReply, PairRequest, SwitchSceneReply, add_time, admin_close, battle_of_pair,
    close, count, gift_progress, on_phase_deadline, start, switch_scene,
};
pub use config::{LinkCallConfig, OpenGate};
pub use effects::{
    Effects, ListChange, Notification, NotificationKind, ScoreAction, Settled, TimerRequest,
    Transition,
};
pub use error::{GateFailure, LinkCallError, SettledAnswer};
pub use model::{
    Activity, Anchor, Battle, BattleId, BattleResult, BattleSide, EndedBy, GifterRow,
    OutgoingInvite, Phase, PhaseName, PkInfo, PkState, Popup, Scene, Scores, Side, TimedPhase,
};
pub use queries::{
    GiftView, ListWindow, ListedSinger, PkView, TOP_GIFTERS, UserRoomView, link_list_window,
    online_list_window, seek_link_list, seek_online_list, user_come_in_room, user_seek_gift,
    user_seek_pk,
};
