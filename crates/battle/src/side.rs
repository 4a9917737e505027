//! The two sides of every battle and the values kept per side.
//!
//! Every mode is two against two: LinkCallPk's host against its guest, RoomPk's red team against
//! its blue team, AcrossPk's creator room (red, seed 002: "默认创建pk的房间视为红队") against the
//! room that accepted, GiftPk's first gift against its second. The crate calls them the
//! [`Side::First`] and the [`Side::Second`]; each mode names them in its own words.

use std::ops::{Index, IndexMut};

use serde::{Deserialize, Serialize};

/// One of the two sides of a battle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Side {
    /// The side that opened the battle: LinkCall's host, RoomPk's red team, AcrossPk's creator
    /// room, GiftPk's first gift.
    First,
    /// The other side: LinkCall's guest, RoomPk's blue team, AcrossPk's accepting room,
    /// GiftPk's second gift.
    Second,
}

impl Side {
    /// Both sides, first first.
    pub const BOTH: [Side; 2] = [Side::First, Side::Second];

    /// The opposing side.
    pub fn other(self) -> Side {
        match self {
            Side::First => Side::Second,
            Side::Second => Side::First,
        }
    }
}

/// A value for each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Sides<T> {
    /// The first side's.
    pub first: T,
    /// The second side's.
    pub second: T,
}

impl<T> Sides<T> {
    /// The pair.
    pub fn new(first: T, second: T) -> Self {
        Self { first, second }
    }

    /// Both values, first first.
    pub fn both(&self) -> [&T; 2] {
        [&self.first, &self.second]
    }

    /// Applies `f` to each side's value.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Sides<U> {
        Sides { first: f(self.first), second: f(self.second) }
    }

    /// The side whose value satisfies `matches`, the first side first.
    pub fn find(&self, mut matches: impl FnMut(&T) -> bool) -> Option<Side> {
        Side::BOTH.into_iter().find(|side| matches(&self[*side]))
    }
}

impl<T> Index<Side> for Sides<T> {
    type Output = T;
    fn index(&self, side: Side) -> &T {
        match side {
            Side::First => &self.first,
            Side::Second => &self.second,
        }
    }
}

impl<T> IndexMut<Side> for Sides<T> {
    fn index_mut(&mut self, side: Side) -> &mut T {
        match side {
            Side::First => &mut self.first,
            Side::Second => &mut self.second,
        }
    }
}

/// The two sides' totals in points. They live in the store's counters, outside the battle
/// aggregate, so the gift hot path never rewrites the battle; a transition that needs them gets
/// them read beside the battle.
pub type Scores = Sides<u64>;

impl Scores {
    /// The side ahead, `None` on a draw (the verdict of seed 004 §三).
    pub fn leader(&self) -> Option<Side> {
        match self.first.cmp(&self.second) {
            std::cmp::Ordering::Greater => Some(Side::First),
            std::cmp::Ordering::Less => Some(Side::Second),
            std::cmp::Ordering::Equal => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leader_is_the_side_with_more_points() {
        assert_eq!(Scores::new(3, 1).leader(), Some(Side::First));
        assert_eq!(Scores::new(1, 3).leader(), Some(Side::Second));
        assert_eq!(Scores::new(2, 2).leader(), None);
        assert_eq!(Scores::default().leader(), None);
    }

    #[test]
    fn sides_index_and_find() {
        let mut sides = Sides::new(10, 20);
        sides[Side::Second] += 1;
        assert_eq!(sides[Side::Second], 21);
        assert_eq!(sides.find(|value| *value == 10), Some(Side::First));
        assert_eq!(sides.find(|value| *value == 99), None);
        assert_eq!(Side::First.other(), Side::Second);
    }
}
