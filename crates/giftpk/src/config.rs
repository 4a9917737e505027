//! GiftPk's hot configuration keys (`giftpk.*`), declared once: the server registers them (the
//! SQL config table seeds and validates by them) and [`GiftPkConfig`] reads them, so the defaults
//! cannot disagree. The adapter resolves the values and passes a plain copy in.

use livepk_core::{ConfigSpec, ConfigValues};
use serde::{Deserialize, Serialize};

use crate::model::MS_PER_SECOND;

/// `giftpk.pull_interval_ms`: how often clients pull `GetLive` (the seed's `interval`, §2.1.a:
/// the push is lossy, so clients also pull at the pace the server dictates).
pub static PULL_INTERVAL_MS: ConfigSpec = ConfigSpec {
    name: "giftpk.pull_interval_ms",
    default: 3_000,
    min: 100,
    max: 60_000,
    description: "milliseconds between a client's GetLive pulls (the interval Create answers)",
};
/// `giftpk.ranking_page_size`: senders per `GetRanking` page (seed §2.1.e: 20).
pub static RANKING_PAGE_SIZE: ConfigSpec = ConfigSpec {
    name: "giftpk.ranking_page_size",
    default: 20,
    min: 1,
    max: 100,
    description: "senders per page of a gift pk ranking",
};
/// `giftpk.min_duration_seconds`: the shortest countdown Create accepts.
pub static MIN_DURATION_SECONDS: ConfigSpec = ConfigSpec::seconds(
    "giftpk.min_duration_seconds",
    10,
    "shortest gift pk countdown a Create may ask for",
);
/// `giftpk.max_duration_seconds`: the longest countdown Create accepts.
pub static MAX_DURATION_SECONDS: ConfigSpec = ConfigSpec::seconds(
    "giftpk.max_duration_seconds",
    3_600,
    "longest gift pk countdown a Create may ask for",
);
/// `giftpk.history_size`: how many gift PKs a show remembers (`ListShowPks`); a Create beyond
/// it drops the oldest. Bounds the show's stored value and the reads of a listing.
pub static HISTORY_SIZE: ConfigSpec = ConfigSpec {
    name: "giftpk.history_size",
    default: 50,
    min: 1,
    max: 200,
    description: "gift pks a show remembers for ListShowPks (oldest dropped first)",
};

/// `giftpk.settle_grace_ms`: how long after the countdown's end the PK waits before it is
/// settled. Gifts are judged by their send time, so the scoring window still ends at the deadline;
/// the grace only lets a vote sent in the last second, whose `RecordGift` reaches us a moment late
/// (the gateway confirms the payment first), still count. The default, 3 s, covers the gateway's
/// usual delivery lag and is one pull `interval` (a client pulling after its countdown sees the
/// final result on its next pull); the maximum, 60 s, bounds how long a result stays unfinished
/// and the show's next Create waits (301 until the settle). 0 settles at the deadline itself.
pub static SETTLE_GRACE_MS: ConfigSpec = ConfigSpec {
    name: "giftpk.settle_grace_ms",
    default: 3_000,
    min: 0,
    max: 60_000,
    description: "milliseconds after a gift pk's countdown before it is settled, so gifts sent \
                  before the end but recorded late still count",
};

/// Every GiftPk key, in the order an operator sees them.
pub static CONFIG_KEYS: [&ConfigSpec; 6] = [
    &PULL_INTERVAL_MS,
    &RANKING_PAGE_SIZE,
    &MIN_DURATION_SECONDS,
    &MAX_DURATION_SECONDS,
    &HISTORY_SIZE,
    &SETTLE_GRACE_MS,
];

/// How many senders a result lists (seed §2.1.d: "前5位").
pub const RESULT_TOP: usize = 5;

/// GiftPk settings (`giftpk.*`), as the state machine reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftPkConfig {
    /// See [`PULL_INTERVAL_MS`].
    pub pull_interval_ms: u64,
    /// See [`RANKING_PAGE_SIZE`].
    pub ranking_page_size: u32,
    /// See [`MIN_DURATION_SECONDS`].
    pub min_duration_seconds: u64,
    /// See [`MAX_DURATION_SECONDS`].
    pub max_duration_seconds: u64,
    /// See [`HISTORY_SIZE`].
    pub history_size: u32,
    /// See [`SETTLE_GRACE_MS`].
    pub settle_grace_ms: u64,
}

impl GiftPkConfig {
    /// The settings in `values` (each key's default where the table has no row).
    pub fn from_values(values: &ConfigValues) -> Self {
        Self {
            pull_interval_ms: values.unsigned(&PULL_INTERVAL_MS),
            ranking_page_size: u32::try_from(values.unsigned(&RANKING_PAGE_SIZE))
                .unwrap_or(u32::MAX),
            min_duration_seconds: values.unsigned(&MIN_DURATION_SECONDS),
            max_duration_seconds: values.unsigned(&MAX_DURATION_SECONDS),
            history_size: u32::try_from(values.unsigned(&HISTORY_SIZE)).unwrap_or(u32::MAX),
            settle_grace_ms: values.unsigned(&SETTLE_GRACE_MS),
        }
    }

    /// The page size, never 0.
    pub fn rows_per_page(&self) -> usize {
        self.ranking_page_size.max(1) as usize
    }

    /// The history bound, never 0 (the running PK must stay in it).
    pub fn history_len(&self) -> usize {
        self.history_size.max(1) as usize
    }

    pub(crate) fn duration_ms(duration_secs: u64) -> u64 {
        duration_secs.saturating_mul(MS_PER_SECOND)
    }
}

impl Default for GiftPkConfig {
    /// Every key's default.
    fn default() -> Self {
        Self::from_values(&ConfigValues::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_keys_defaults() {
        let config = GiftPkConfig::default();
        assert_eq!(config.pull_interval_ms, 3_000);
        assert_eq!(config.ranking_page_size, 20);
        assert_eq!((config.min_duration_seconds, config.max_duration_seconds), (10, 3_600));
        assert_eq!(config.history_size, 50);
        assert_eq!(config.settle_grace_ms, 3_000);
        for spec in CONFIG_KEYS {
            assert!(spec.validate(spec.default).is_ok(), "{}", spec.name);
            assert!(spec.name.starts_with("giftpk."), "{}", spec.name);
        }
    }
}
