//! RoomPk (团战PK, the first half of seed 002): inside one party room, the users on the red PK
//! seats (11–14) battle the users on the blue ones (15–18), and every gift to a seated user
//! scores for that user's team — as a pure state machine. Every command is
//! `(states, request, now) -> Result<Transition, RoomPkError>`; there is no I/O, no clock, no
//! tonic, redis or protobuf type in it. The `adapter` module (feature `adapter`) binds it to the
//! battle engine. The seed keeps a room's battle in one process's memory ("服务器重启时，团战pk
//! 数据清空"); here it lives in the store, so a restart or a second replica loses nothing.
//!
//! # State
//!
//! * [`Room`] — one per room: the eight PK seats (user, locked, disabled, invitation) and the
//!   room's operator. Seats are arranged before a battle and change during it.
//! * [`TeamBattle`] — the room's team battle (the seed's `RoomPK`): who started it, the
//!   punishment text and a [`livepk_battle::Round`] (pkid, phase, `start_time`, `countdown`,
//!   verdict). One at a time per room; its battle id is the room's ([`battle_id_of`]), each
//!   battle of the room has its own pkid, and a Start after one is over replaces it.
//! * Outside the aggregates, written by the gift script and read by the adapter: the team
//!   totals, each team's contribution and PK-value boards, the senders' profiles, and each
//!   user's running totals across battles (`total_pk_value`, `total_contribute_value`).
//!
//! Everything of a room — both aggregates, the scoring window, the totals, boards and running
//! totals — lives under the room's one hash tag, so one gift is one script that adds to the
//! team total, both boards and both users' running totals at once, exactly once.
//!
//! # Invariants
//!
//! * One user holds at most one PK seat of a room; a locked seat is empty.
//! * A gift counts for the team of the seat its receiver holds when the gift is recorded (its
//!   script counts it only if the room's seats are still as they were read), and for no team
//!   when the receiver holds none.
//! * A battle holds its room's stage from Start until it is over ([`TeamBattle::stage`]);
//!   arranging seats never does.
//!
//! # Flows
//!
//! | request | function | needs |
//! |---------|----------|-------|
//! | SetOperator | [`set_operator`] | — |
//! | TakeSeat, LeaveSeat, HoldUp, HoldDown, LockSeat, DisableSeat, InviteToSeat, CancelInvite | [`operate_seat`] | the operator for all but take and leave |
//! | Start | [`start`] | the operator; no running battle |
//! | AddTime | [`add_time`] | the operator; scoring |
//! | Finish | [`finish`] | the operator; scoring or punishment |
//! | the phase deadline | [`on_phase_deadline`] | — |
//! | a forced close | [`admin_close`] | — |
//! | a score change | [`score_progress`] | — |

mod battle_flows;
mod config;
mod effects;
mod error;
mod model;
mod queries;
mod seat_flows;

#[cfg(any(test, feature = "adapter"))]
pub mod adapter;
#[cfg(test)]
mod tests;

pub use battle_flows::{
    AddTimeRequest, FinishRequest, StartRequest, add_time, admin_close, finish, on_phase_deadline,
    rules, score_progress, start,
};
pub use config::{
    CONFIG_KEYS, MAX_ADDTIME_SECONDS, MAX_COUNTDOWN_SECONDS, PUNISH_SECONDS, RoomPkConfig,
};
pub use effects::{Effects, Notification, NotificationKind, RoomPk, SeatAction, Transition};
pub use error::{RoomPkError, roompk_codes};
pub use model::{
    BattleInfo, Location, Room, Seat, SeatInvite, Team, TeamBattle, TeamRow, battle_id_of, room_of,
};
pub use queries::{BOARD_SIZE, Boards, RoomState, UserTotals};
pub use seat_flows::{SeatCommand, SeatReply, SeatRequest, operate_seat, set_operator};
