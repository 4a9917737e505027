//! InteractiveShow's hot configuration keys (`show.*`), declared once: the server registers them
//! (the SQL config table seeds and validates by them) and [`ShowConfig`] reads them.

use livepk_core::{ConfigSpec, ConfigValues};
use serde::{Deserialize, Serialize};

use livepk_battle::MS_PER_SECOND;

/// `show.enabled`: the feature's switch. Off, `GetShowEnable` answers 0 for everyone and new
/// invitations are refused (403400405); shows already running go on.
pub static ENABLED: ConfigSpec = ConfigSpec::switch(
    "show.enabled",
    true,
    "1: interactive shows are offered in paid calls; 0: off for everyone",
);
/// `show.invite_seconds`: how long an invitation (or an acceptance's request to pay) waits for
/// its answer before it lapses.
pub static INVITE_SECONDS: ConfigSpec = ConfigSpec::seconds(
    "show.invite_seconds",
    60,
    "seconds a show invitation waits for its answer",
);
/// `show.ranking_utc_offset_minutes`: the time zone of the income ranking's day, week (from
/// Monday) and month, as minutes east of UTC (default 480: China, UTC+8).
pub static RANKING_UTC_OFFSET_MINUTES: ConfigSpec = ConfigSpec {
    name: "show.ranking_utc_offset_minutes",
    default: 480,
    min: -720,
    max: 840,
    description: "time zone of the show-income ranking's day/week/month, minutes east of UTC",
};

/// Every InteractiveShow key, in the order an operator sees them.
pub static CONFIG_KEYS: [&ConfigSpec; 3] = [&ENABLED, &INVITE_SECONDS, &RANKING_UTC_OFFSET_MINUTES];

/// InteractiveShow settings (`show.*`), as the state machine reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowConfig {
    /// See [`ENABLED`].
    pub enabled: bool,
    /// See [`INVITE_SECONDS`].
    pub invite_seconds: u64,
    /// See [`RANKING_UTC_OFFSET_MINUTES`].
    pub ranking_utc_offset_minutes: i64,
}

impl ShowConfig {
    /// The settings in `values` (each key's default where the table has no row).
    pub fn from_values(values: &ConfigValues) -> Self {
        Self {
            enabled: values.get(&ENABLED) == 1,
            invite_seconds: values.unsigned(&INVITE_SECONDS),
            ranking_utc_offset_minutes: values.get(&RANKING_UTC_OFFSET_MINUTES),
        }
    }

    /// How long an invitation waits, in ms.
    pub fn invite_ms(&self) -> u64 {
        self.invite_seconds.saturating_mul(MS_PER_SECOND)
    }
}

impl Default for ShowConfig {
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
        let config = ShowConfig::default();
        assert!(config.enabled);
        assert_eq!(config.invite_seconds, 60);
        assert_eq!(config.invite_ms(), 60_000);
        assert_eq!(config.ranking_utc_offset_minutes, 480);
        for spec in CONFIG_KEYS {
            assert!(spec.validate(spec.default).is_ok(), "{}", spec.name);
            assert!(spec.name.starts_with("show."), "{}", spec.name);
        }
    }
}
