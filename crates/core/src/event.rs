//! The vocabulary of notifications: which feature emitted it and to whom it goes. The envelope
//! itself (`event_id`, `time_now`, payload) is assembled by the server from these parts.

use serde::{Deserialize, Serialize};

/// The feature a PK or an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mode {
    /// 连麦PK, anchor against anchor over a link-mic call (seed 000).
    LinkCall,
    /// 团战PK, red/blue team battle in one room (seed 002).
    RoomPk,
    /// 跨房PK, room against room (seed 002).
    AcrossPk,
    /// PK礼物, two gifts compete in one show (seed 001).
    GiftPk,
    /// 交互式表演, a paid show inside a 1:1 call (seed 003).
    InteractiveShow,
}

impl Mode {
    /// Every mode, in a stable order.
    pub const ALL: [Mode; 5] =
        [Mode::LinkCall, Mode::RoomPk, Mode::AcrossPk, Mode::GiftPk, Mode::InteractiveShow];

    /// The stable lowercase name used in keys, metrics, records and event filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::LinkCall => "linkcall",
            Mode::RoomPk => "roompk",
            Mode::AcrossPk => "acrosspk",
            Mode::GiftPk => "giftpk",
            Mode::InteractiveShow => "show",
        }
    }

    /// Parses [`Mode::as_str`] back.
    pub fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|mode| mode.as_str() == name)
    }
}

/// Who an event is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TargetKind {
    /// Multicast to everyone in a room (`singer_sid` / `room_id` / `show_id`).
    Room,
    /// Unicast to one anchor.
    Singer,
    /// Unicast to one viewer.
    User,
}

/// The addressee of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    /// Room, anchor or user.
    pub kind: TargetKind,
    /// The room sid, anchor id or user id.
    pub id: u64,
}

impl Target {
    /// Everyone in room `sid`.
    pub fn room(sid: u64) -> Self {
        Self { kind: TargetKind::Room, id: sid }
    }
    /// Anchor `singer_id` alone.
    pub fn singer(singer_id: u64) -> Self {
        Self { kind: TargetKind::Singer, id: singer_id }
    }
    /// Viewer `user_id` alone.
    pub fn user(user_id: u64) -> Self {
        Self { kind: TargetKind::User, id: user_id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_round_trip() {
        for mode in Mode::ALL {
            assert_eq!(Mode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(Mode::parse("nope"), None);
    }
}
