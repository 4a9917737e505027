//! RoomPk's hot configuration keys (`roompk.*`), declared once: the server registers them (the
//! SQL config table seeds and validates by them) and [`RoomPkConfig`] reads them. The adapter
//! resolves the values (the 60 s cached config table) and passes a plain copy in.

use livepk_core::{ConfigSpec, ConfigValues};
use serde::{Deserialize, Serialize};

/// `roompk.punish_seconds`: the punishment phase after a battle with a winner (seed 004 §三:
/// 2 min); 0 skips it (the battle is over at the verdict).
pub static PUNISH_SECONDS: ConfigSpec = ConfigSpec {
    name: "roompk.punish_seconds",
    default: 120,
    min: 0,
    max: livepk_core::config::DAY_SECONDS,
    description: "seconds of the team battle's punishment phase; 0 skips it",
};
/// `roompk.max_countdown_seconds`: the longest scoring phase a Start may ask for (its
/// `countdown`). The seed leaves the countdown to the room's operator; livepk bounds it at an
/// hour by default so a typo cannot hold a room's stage for a day.
pub static MAX_COUNTDOWN_SECONDS: ConfigSpec = ConfigSpec::seconds(
    "roompk.max_countdown_seconds",
    3600,
    "longest countdown (scoring seconds) a team battle's Start may ask for",
);
/// `roompk.max_addtime_seconds`: the most one AddTime (加时) may add. The seed gives no figure;
/// livepk chooses 10 minutes.
pub static MAX_ADDTIME_SECONDS: ConfigSpec = ConfigSpec::seconds(
    "roompk.max_addtime_seconds",
    600,
    "most scoring seconds one AddTime of a team battle may add",
);

/// Every RoomPk key, in the order an operator sees them.
pub static CONFIG_KEYS: [&ConfigSpec; 3] =
    [&PUNISH_SECONDS, &MAX_COUNTDOWN_SECONDS, &MAX_ADDTIME_SECONDS];

/// RoomPk settings (`roompk.*`), as the state machine reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomPkConfig {
    /// See [`PUNISH_SECONDS`]. 0 skips the phase.
    pub punish_seconds: u64,
    /// See [`MAX_COUNTDOWN_SECONDS`].
    pub max_countdown_seconds: u64,
    /// See [`MAX_ADDTIME_SECONDS`].
    pub max_addtime_seconds: u64,
}

impl RoomPkConfig {
    /// The settings in `values` (each key's default where the table has no row).
    pub fn from_values(values: &ConfigValues) -> Self {
        Self {
            punish_seconds: values.unsigned(&PUNISH_SECONDS),
            max_countdown_seconds: values.unsigned(&MAX_COUNTDOWN_SECONDS),
            max_addtime_seconds: values.unsigned(&MAX_ADDTIME_SECONDS),
        }
    }
}

impl Default for RoomPkConfig {
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
        let config = RoomPkConfig::default();
        assert_eq!(config.punish_seconds, 120);
        assert_eq!(config.max_countdown_seconds, 3600);
        assert_eq!(config.max_addtime_seconds, 600);
        for spec in CONFIG_KEYS {
            assert!(spec.validate(spec.default).is_ok(), "{}", spec.name);
            assert!(spec.name.starts_with("roompk."), "{}", spec.name);
        }
    }
}
