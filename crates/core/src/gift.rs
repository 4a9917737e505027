//! A gift as the gateway's payment system confirmed it: the one input that moves every score.

use serde::{Deserialize, Serialize};

use crate::error::InvalidArgument;
use crate::ids::{GiftId, ReceiverId, RoomSid, UserId};

/// Longest accepted idempotency key, nickname or icon URL. Bounded so that a caller cannot
/// blow up a Redis value.
pub const MAX_TEXT_LEN: usize = 512;

/// Longest accepted `gift_txn_id`.
pub const MAX_TXN_ID_LEN: usize = 128;

/// The viewer who sent a gift, as shown on leaderboards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderProfile {
    /// The viewer.
    pub user_id: UserId,
    /// Display name.
    pub user_nick: String,
    /// Avatar URL.
    pub user_icon: String,
    /// Platform level.
    pub user_level: u32,
    /// Wealth level (财富等级).
    pub user_wealth: u32,
}

/// One confirmed gift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gift {
    /// The gateway's transaction id: the idempotency key. A repeat changes nothing.
    pub gift_txn_id: String,
    /// Who sent it.
    pub sender: SenderProfile,
    /// The anchor or seated user who received it.
    pub receiver_id: ReceiverId,
    /// The room it was sent in.
    pub room_sid: RoomSid,
    /// Which catalogue gift.
    pub gift_id: GiftId,
    /// How many of it.
    pub gift_count: u32,
    /// Price of one, in the platform's smallest coin unit.
    pub unit_value: u64,
    /// When the viewer sent it (ms since epoch). Scores count a gift only when this falls
    /// inside a PK's scoring window (seed 001).
    pub sent_at_ms: u64,
    /// The live show it was sent in (GiftPk keys gift PKs by it); with `call_id`, the
    /// interactive show it paid for.
    pub show_id: Option<u64>,
    /// The paid 1:1 call it was sent in (an InteractiveShow payment): such a gift is recorded
    /// but scores in no battle — a call is no room's stage.
    #[serde(default)]
    pub call_id: Option<u64>,
}

impl Gift {
    /// Whether it was sent inside a paid 1:1 call rather than in a live room.
    pub fn in_call(&self) -> bool {
        self.call_id.is_some_and(|call| call != 0)
    }

    /// Total value of the gift in coin units (count x unit value), saturating.
    pub fn total_value(&self) -> u64 {
        self.unit_value.saturating_mul(u64::from(self.gift_count))
    }

    /// Score points this gift is worth when `value_per_point` coin units make one point
    /// (seed 004: 0.1 coin = 1 point). Rounds down; a ratio of zero is treated as one.
    pub fn points(&self, value_per_point: u64) -> u64 {
        self.total_value() / value_per_point.max(1)
    }

    /// Checks the fields the type system cannot: text lengths and a positive amount.
    pub fn validate(&self) -> Result<(), InvalidArgument> {
        if self.gift_txn_id.is_empty() {
            return Err(InvalidArgument::new("gift_txn_id", "is required"));
        }
        // The id becomes part of a Redis key and hash tag: keep it to a safe alphabet.
        if self.gift_txn_id.len() > MAX_TXN_ID_LEN
            || !self.gift_txn_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
        {
            return Err(InvalidArgument::new(
                "gift_txn_id",
                format!("must be 1 to {MAX_TXN_ID_LEN} characters of A-Z a-z 0-9 . _ : -"),
            ));
        }
        check_text("sender.user_nick", &self.sender.user_nick)?;
        check_text("sender.user_icon", &self.sender.user_icon)?;
        if self.gift_count == 0 {
            return Err(InvalidArgument::new("gift_count", "must be at least 1"));
        }
        if self.sent_at_ms == 0 {
            return Err(InvalidArgument::new("sent_at_ms", "must be non-zero"));
        }
        Ok(())
    }
}

/// A free-text field of at most [`MAX_TEXT_LEN`] bytes, refused naming `field`.
pub fn check_text(field: &str, value: &str) -> Result<(), InvalidArgument> {
    if value.len() > MAX_TEXT_LEN {
        Err(InvalidArgument::new(field, format!("must be at most {MAX_TEXT_LEN} bytes")))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gift() -> Gift {
        Gift {
            gift_txn_id: "txn-1".into(),
            sender: SenderProfile {
                user_id: UserId::from_trusted(9),
                user_nick: "fan".into(),
                user_icon: String::new(),
                user_level: 3,
                user_wealth: 4,
            },
            receiver_id: ReceiverId::from_trusted(1),
            room_sid: RoomSid::from_trusted(100),
            gift_id: GiftId::from_trusted(5),
            gift_count: 3,
            unit_value: 10,
            sent_at_ms: 1_000,
            show_id: None,
            call_id: None,
        }
    }

    #[test]
    fn points_follow_the_ratio() {
        let gift = gift();
        assert_eq!(gift.total_value(), 30);
        assert_eq!(gift.points(1), 30);
        assert_eq!(gift.points(10), 3);
        assert_eq!(gift.points(0), 30);
    }

    #[test]
    fn validation_names_the_field() {
        let mut bad = gift();
        bad.gift_txn_id.clear();
        assert_eq!(bad.validate().unwrap_err().field, "gift_txn_id");
        let mut bad = gift();
        bad.gift_txn_id = "a}b".into();
        assert_eq!(bad.validate().unwrap_err().field, "gift_txn_id");
        let mut bad = gift();
        bad.gift_count = 0;
        assert_eq!(bad.validate().unwrap_err().field, "gift_count");
        assert!(gift().validate().is_ok());
    }
}
