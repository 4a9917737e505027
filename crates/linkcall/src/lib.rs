//! LinkCallPk (连麦PK, seed 000): two anchors link their rooms and battle for gifts — as a pure
//! state machine. Every command is `(states, request, now) -> Result<Transition, LinkCallError>`;
//! there is no I/O, no clock, no tonic, redis or protobuf type in it. The `adapter` module
//! (feature `adapter`) binds it to the battle engine; it reaches the store only through the
//! engine.
//!
//! # State
//!
//! * [`Anchor`] — one per anchor: function switch and `functiontime`, whether it is in its room,
//!   its busy flag ([`Activity`], codes 028/029), the popup it holds (one per anchor), the
//!   invitation it is waiting on, and a pointer to the battle it is in (one PK scene per
//!   anchor). All anchors share one hash tag, so one transaction can compare-and-set several.
//! * [`Battle`] — one per link session, created by Confirm agree: host and guest seats (room,
//!   scene) and a [`livepk_battle::Round`] (the current pkid, the phase — idle is the seed's
//!   linked state —, `starttime`/`pkalltime`, the last verdict). It has its own hash tag with the
//!   score keys beside it.
//! * Outside the aggregates, maintained by the adapter from effects or read by it: the online
//!   list and the two application lists per anchor (sorted sets, changed through
//!   [`ListChange`]), the side totals ([`livepk_battle::Scores`]) and the two top-gifter boards
//!   ([`GifterRow`]), and the scoring window the gift script checks
//!   ([`livepk_battle::Round::scoring_window`]).
//!
//! # How it runs
//!
//! Phases, verdicts, the popup's expiry and the shape of a [`Transition`] are `livepk-battle`'s;
//! this crate adds the anchors, the link and the seed's notifications. The `adapter` module
//! tells the engine (`livepk-engine`) where LinkCallPk's states live and which of these
//! functions answer its deadlines; the engine loads, decides, commits, schedules and retries for
//! it as for every mode. Its commands load what each function takes: the anchors named by the
//! request; the battle an anchor points at ([`Anchor::battle`], or [`battle_of_pair`] for Close)
//! with its side totals; list members for a [`Withdrawal`]; ids only where asked
//! ([`ConfirmDecision::Agree`] needs a [`NewBattle`]'s ids, a rematch [`start`] needs a pkid
//! when [`livepk_battle::Round::next_start_needs_fresh_pkid`], [`add_time`] always needs one).
//! An `Err` changes nothing ([`LinkCallError`] implements [`livepk_core::BusinessError`];
//! [`LinkCallError::pk_state`] and [`LinkCallError::settled_answer`] give the `pk_state` /
//! result the seed's responses carry with the error).
//!
//! A transition that writes both a battle and anchors (Confirm, Close, the leave event) touches
//! two hash tags: the battle is written first (a new battle nobody points at yet is harmless; a
//! closed battle is the truth), then the anchors; a lost race re-runs the command, which finds
//! the battle and heals the anchors ([`release_anchor`] is idempotent). A pointer to a closed
//! battle is treated as free by Close, SingerComeInRoom and the leave event.
//!
//! # Flows (seed 000 numbering)
//!
//! | seed | function | battle phase needed |
//! |------|----------|---------------------|
//! | 1.1 | [`open_function`], [`close_function`] | — |
//! | 1.2 | [`online_list_window`], [`seek_online_list`] | query |
//! | 2 | [`apply`] | — |
//! | 3.1 | [`link`] (+ [`on_popup_expired`]) | — |
//! | 3.2 | [`confirm`] | creates `Idle` (the seed's linked state) |
//! | 4.1 | [`start`] | `Idle` -> `Scoring` |
//! | 4.2 | [`switch_scene`] | any open |
//! | 5.1 | [`count`] (+ [`on_phase_deadline`]) | `Scoring` -> `Punishment` / `Idle` |
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

#[cfg(any(test, feature = "adapter"))]
pub mod adapter;
#[cfg(test)]
mod tests;

pub use anchor_flows::{
    ApplyRequest, ConfirmDecision, ConfirmReply, ConfirmRequest, LeaveContext, LinkReply,
    LinkRequest, NewBattle, OpenFunctionReply, OpenFunctionRequest, PopupView,
    SingerComeInRoomReply, SingerComeInRoomRequest, StateReply, TimerOutcome, Withdrawal, apply,
    close_function, confirm, link, on_popup_expired, open_function, release_anchor,
    set_singer_activity, singer_come_in_room, singer_leave,
};
pub use battle_flows::{
    BattleReply, CloseReply, PairRequest, SwitchSceneReply, add_time, admin_close, battle_of_pair,
    close, count, gift_progress, on_phase_deadline, rules, start, switch_scene,
};
pub use config::{CONFIG_KEYS, LinkCallConfig, OpenGate};
pub use effects::{
    Effects, LinkCall, ListChange, Notification, NotificationKind, PopupKey, TimerRequest,
    Transition,
};
pub use error::{GateFailure, LinkCallError, SettledAnswer};
pub use model::{Activity, Anchor, Battle, BattleSide, GifterRow, PkInfo, PkState, Popup, Scene};
pub use queries::{
    GiftView, ListWindow, ListedSinger, PkView, TOP_GIFTERS, UserRoomView, link_list_window,
    online_list_window, seek_link_list, seek_online_list, user_come_in_room, user_seek_gift,
    user_seek_pk,
};
