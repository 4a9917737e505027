//! AcrossPk's hot configuration keys (`acrosspk.*`), declared once: the server registers them
//! (the SQL config table seeds and validates by them) and [`AcrossPkConfig`] reads them, so the
//! defaults cannot disagree.

use livepk_battle::{AfterRound, MS_PER_SECOND, RoundRules};
use livepk_core::{ConfigSpec, ConfigValues};
use serde::{Deserialize, Serialize};

/// `acrosspk.challenge_seconds`: how long a challenge waits for an answer (seed 002: "1分钟后过期").
pub static CHALLENGE_SECONDS: ConfigSpec = ConfigSpec::seconds(
    "acrosspk.challenge_seconds",
    60,
    "seconds a cross-room challenge waits for an answer before it lapses",
);
/// `acrosspk.max_countdown_seconds`: the longest scoring phase a room may ask for. The seed
/// lets the room choose its `countdown`; this bounds it (an hour, ten times seed 004's 6 min).
pub static MAX_COUNTDOWN_SECONDS: ConfigSpec = ConfigSpec::seconds(
    "acrosspk.max_countdown_seconds",
    3600,
    "longest countdown (scoring seconds) a cross-room pk may ask for",
);
/// `acrosspk.punish_seconds`: punishment phase length after a PK with a winner (seed 004: 2 min);
/// 0 skips it.
pub static PUNISH_SECONDS: ConfigSpec = ConfigSpec {
    name: "acrosspk.punish_seconds",
    default: 120,
    min: 0,
    max: livepk_core::config::DAY_SECONDS,
    description: "seconds of the cross-room pk punishment phase; 0 skips it",
};
/// `acrosspk.page_size`: open PKs per page of `ListCreated`.
pub static PAGE_SIZE: ConfigSpec = ConfigSpec {
    name: "acrosspk.page_size",
    default: 20,
    min: 1,
    max: 100,
    description: "created cross-room pks per page of ListCreated",
};
/// `acrosspk.max_challenges`: most challenges one room may have pending at once (the seed lets a
/// room challenge many; the bound keeps a room's state small).
pub static MAX_CHALLENGES: ConfigSpec = ConfigSpec {
    name: "acrosspk.max_challenges",
    default: 20,
    min: 1,
    max: 1000,
    description: "most cross-room challenges one room may have pending at once",
};

/// Every AcrossPk key, in the order an operator sees them.
pub static CONFIG_KEYS: [&ConfigSpec; 5] =
    [&CHALLENGE_SECONDS, &MAX_COUNTDOWN_SECONDS, &PUNISH_SECONDS, &PAGE_SIZE, &MAX_CHALLENGES];

/// AcrossPk settings (`acrosspk.*`), as the state machine reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcrossPkConfig {
    /// See [`CHALLENGE_SECONDS`].
    pub challenge_seconds: u64,
    /// See [`MAX_COUNTDOWN_SECONDS`].
    pub max_countdown_seconds: u64,
    /// See [`PUNISH_SECONDS`]. 0 skips the phase.
    pub punish_seconds: u64,
    /// See [`PAGE_SIZE`].
    pub page_size: u32,
    /// See [`MAX_CHALLENGES`].
    pub max_challenges: u64,
}

impl AcrossPkConfig {
    /// The settings in `values` (each key's default where the table has no row).
    pub fn from_values(values: &ConfigValues) -> Self {
        Self {
            challenge_seconds: values.unsigned(&CHALLENGE_SECONDS),
            max_countdown_seconds: values.unsigned(&MAX_COUNTDOWN_SECONDS),
            punish_seconds: values.unsigned(&PUNISH_SECONDS),
            page_size: u32::try_from(values.unsigned(&PAGE_SIZE)).unwrap_or(u32::MAX).max(1),
            max_challenges: values.unsigned(&MAX_CHALLENGES),
        }
    }

    pub(crate) fn challenge_ms(&self) -> u64 {
        self.challenge_seconds.saturating_mul(MS_PER_SECOND)
    }

    /// AcrossPk's round rules: the punishment of `acrosspk.punish_seconds` after a PK with a
    /// winner, then over (a cross-room PK is one round).
    pub fn rules(&self) -> RoundRules {
        RoundRules::new(self.punish_seconds, AfterRound::Close)
    }
}

impl Default for AcrossPkConfig {
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
        let config = AcrossPkConfig::default();
        assert_eq!(config.challenge_seconds, 60);
        assert_eq!(config.punish_seconds, 120);
        assert_eq!(config.max_countdown_seconds, 3600);
        assert_eq!(config.page_size, 20);
        assert_eq!(config.max_challenges, 20);
        for spec in CONFIG_KEYS {
            assert!(spec.validate(spec.default).is_ok(), "{}", spec.name);
            assert!(spec.name.starts_with("acrosspk."), "{}", spec.name);
        }
    }
}
