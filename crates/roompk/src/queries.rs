//! What `GetState` answers: the seats, the battle with its phase and time left, the team
//! totals, the four boards (each team's contribution board — senders, 贡献值 — and PK-value
//! board — receivers, pk值 —, top [`BOARD_SIZE`]) and, when asked, one user's own totals. The
//! adapter reads the boards and totals; this module only names the shapes.

use livepk_battle::Sides;
use livepk_core::UserId;
use serde::{Deserialize, Serialize};

use crate::model::{BattleInfo, Location, Room, TeamRow};

/// Rows of each board `GetState` lists (the issue: top 20 each). Ties rank whoever reached the
/// total first higher (the store's boards, seed 004 §周星榜 2).
pub const BOARD_SIZE: usize = 20;

/// The four boards of a battle, red first in each pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boards {
    /// Each team's contribution board (senders of gifts to its seated users, 贡献值).
    pub contribution: Sides<Vec<TeamRow>>,
    /// Each team's PK-value board (its seated users who received, pk值).
    pub pk_value: Sides<Vec<TeamRow>>,
}

/// One user's totals (the seed's `User.totalPkValue` / `totalContributeValue`, plus what they
/// did in the room's current or last battle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserTotals {
    /// The user.
    pub user_id: UserId,
    /// The PK seat they hold now, if any.
    pub location: Option<Location>,
    /// `total_pk_value`: points received on PK seats across every team battle of the room.
    pub total_pk_value: u64,
    /// `total_contribute_value`: points sent to seated users across every team battle of the
    /// room.
    pub total_contribute_value: u64,
    /// Points received in the current (or last) battle, both teams together.
    pub pk_value: u64,
    /// Points sent in the current (or last) battle, both teams together.
    pub contribute_value: u64,
}

/// `GetState`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomState {
    /// The room: operator and seats 11 to 18.
    pub room: Room,
    /// The current battle, or the last one once over (until the next Start); `None` before the
    /// room's first battle.
    pub battle: Option<BattleInfo>,
    /// The battle's boards (empty without one).
    pub boards: Boards,
    /// The user asked about, when one was.
    pub user: Option<UserTotals>,
}
