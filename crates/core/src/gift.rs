//! A gift as the gateway's payment system confirmed it: the one input that moves every score.

use serde::{Deserialize, Serialize};

use crate::error::{BusinessError, ErrorKind, InvalidArgument, codes};
use crate::ids::{GiftId, ReceiverId, RoomSid, UserId};

/// Longest accepted idempotency key, nickname or icon URL. Bounded so that a caller cannot
/// blow up a Redis value.
pub const MAX_TEXT_LEN: usize = 512;

/// Longest accepted `gift_txn_id`.
pub const MAX_TXN_ID_LEN: usize = 128;

/// Largest accepted value of one gift, `gift_count x unit_value`, in coin units (10^11):
/// refused above it with 021 naming `unit_value`. Every score is an exact integer up to 2^53 - 1
/// (`livepk_store::MAX_SCORE`; Redis keeps leaderboard totals as doubles), which this leaves
/// room for over 90,000 gifts of the largest value on one total; a gift that would take a total
/// past it anyway is refused by the store before anything is written.
pub const MAX_GIFT_VALUE: u64 = 100_000_000_000;

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

    /// Total value of the gift in coin units (count x unit value), saturating (a validated
    /// gift's is at most [`MAX_GIFT_VALUE`]).
    pub fn total_value(&self) -> u64 {
        self.unit_value.saturating_mul(u64::from(self.gift_count))
    }

    /// A 64-bit digest (FNV-1a) of what the gift is: sender, receiver, room, show, call, gift
    /// id, count, unit value and send time — not the sender's profile text, which may change
    /// between retries. Kept with the gift's records so that its txn id reused for another gift
    /// is recognised ([`GiftTxnReused`]). Never 0 (0 means "none" to the store).
    pub fn fingerprint(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |value: u64| {
            for byte in value.to_le_bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        // 0 and absent are one thing on the wire ("no show", "no call"): a retry that sends 0
        // where the first call left the field out is the same gift.
        let optional = |value: Option<u64>| value.unwrap_or(0);
        for value in [
            self.sender.user_id.get(),
            self.receiver_id.get(),
            self.room_sid.get(),
            optional(self.show_id),
            optional(self.call_id),
            self.gift_id.get(),
            u64::from(self.gift_count),
            self.unit_value,
            self.sent_at_ms,
        ] {
            eat(value);
        }
        hash.max(1)
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
        if self
            .unit_value
            .checked_mul(u64::from(self.gift_count))
            .is_none_or(|v| v > MAX_GIFT_VALUE)
        {
            return Err(InvalidArgument::new(
                "unit_value",
                format!("gift_count x unit_value must be at most {MAX_GIFT_VALUE}"),
            ));
        }
        if self.sent_at_ms == 0 {
            return Err(InvalidArgument::new("sent_at_ms", "must be non-zero"));
        }
        Ok(())
    }
}

/// A `gift_txn_id` already recorded for another gift (other sender, receiver, room, show, gift,
/// count, value or time): refused rather than answered as a duplicate, so that the gateway sees
/// its own bug instead of a gift lost silently. INVALID_ARGUMENT naming `gift_txn_id`, business
/// code [`codes::GIFT_TXN_REUSED`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid gift_txn_id: {gift_txn_id:?} was already recorded for another gift")]
pub struct GiftTxnReused {
    /// The reused id.
    pub gift_txn_id: String,
}

impl BusinessError for GiftTxnReused {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
    fn business_code(&self) -> u32 {
        codes::GIFT_TXN_REUSED
    }
    fn field(&self) -> Option<&str> {
        Some("gift_txn_id")
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
    fn item1_gift_value_is_bounded_at_the_edge() {
        let mut bad = gift();
        bad.unit_value = MAX_GIFT_VALUE / 3 + 1;
        let error = bad.validate().unwrap_err();
        assert_eq!((error.field.as_str(), error.business_code()), ("unit_value", 403_400_021));
        bad.unit_value = u64::MAX;
        assert_eq!(bad.validate().unwrap_err().field, "unit_value", "no overflow either");
        let mut largest = gift();
        largest.unit_value = MAX_GIFT_VALUE / 3;
        assert!(largest.validate().is_ok());
    }

    #[test]
    fn item2_fingerprint_tells_gifts_apart_but_not_profiles() {
        let base = gift().fingerprint();
        let changes: [fn(&mut Gift); 9] = [
            |g| g.sender.user_id = UserId::from_trusted(10),
            |g| g.receiver_id = ReceiverId::from_trusted(2),
            |g| g.room_sid = RoomSid::from_trusted(101),
            |g| g.show_id = Some(5),
            |g| g.call_id = Some(1),
            |g| g.gift_id = GiftId::from_trusted(6),
            |g| g.gift_count = 4,
            |g| g.unit_value = 11,
            |g| g.sent_at_ms = 1_001,
        ];
        for (index, change) in changes.iter().enumerate() {
            let mut other = gift();
            change(&mut other);
            assert_ne!(other.fingerprint(), base, "change {index} must change the fingerprint");
        }
        let mut zeros = gift();
        (zeros.show_id, zeros.call_id) = (Some(0), Some(0));
        assert_eq!(
            zeros.fingerprint(),
            base,
            "0 is absent on the wire: a retry sending it is the same gift"
        );
        let mut renamed = gift();
        renamed.sender.user_nick = "new name".into();
        renamed.gift_txn_id = "txn-2".into();
        assert_eq!(renamed.fingerprint(), base);
        assert_ne!(base, 0);
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
