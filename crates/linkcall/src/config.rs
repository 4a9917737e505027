//! LinkCallPk's hot configuration keys (`linkcall.*`), declared once: the server registers them
//! (the SQL config table seeds and validates by them) and [`LinkCallConfig`] reads them, so the
//! defaults cannot disagree. The adapter resolves the values (the 60 s cached SQL config table
//! of seed §B.0) and passes a plain copy in.

use livepk_core::{ConfigSpec, ConfigValues};
use serde::{Deserialize, Serialize};

use crate::model::MS_PER_SECOND;

/// `linkcall.min_star`: the lowest star level that may open the function (seed §1.1); 0 lets
/// everyone in.
pub static MIN_STAR: ConfigSpec = ConfigSpec {
    name: "linkcall.min_star",
    default: 0,
    min: 0,
    max: 100,
    description: "minimum anchor star level to open a linkcall pk",
};
/// `linkcall.whitelist_enabled`: when 1, only whitelisted anchors may open the function (seed 004
/// §三.3.1).
pub static WHITELIST_ENABLED: ConfigSpec = ConfigSpec::switch(
    "linkcall.whitelist_enabled",
    false,
    "1: only whitelisted anchors may open a linkcall pk; 0: anyone",
);
/// `linkcall.page_size`: rows per page of the online and applicant lists (seed: "一页10条").
pub static PAGE_SIZE: ConfigSpec = ConfigSpec {
    name: "linkcall.page_size",
    default: 10,
    min: 1,
    max: 100,
    description: "anchors per page of the linkcall online list",
};
/// `linkcall.popup_seconds`: how long an invitation waits for an answer (seed 004: 15 s).
pub static POPUP_SECONDS: ConfigSpec = ConfigSpec::seconds(
    "linkcall.popup_seconds",
    15,
    "seconds an invitation popup waits for an answer",
);
/// `linkcall.pk_seconds`: scoring phase length (seed 004: 6 min).
pub static PK_SECONDS: ConfigSpec =
    ConfigSpec::seconds("linkcall.pk_seconds", 360, "seconds of the scoring phase");
/// `linkcall.punish_seconds`: punishment phase length (seed 004: 2 min); 0 skips the phase (a
/// settled round goes straight back to the linked state).
pub static PUNISH_SECONDS: ConfigSpec = ConfigSpec {
    name: "linkcall.punish_seconds",
    default: 120,
    min: 0,
    max: livepk_core::config::DAY_SECONDS,
    description: "seconds of the punishment phase; 0 skips it",
};
/// `linkcall.addtime_seconds`: how much scoring time one AddTime adds. The seeds give no
/// figure; livepk chooses 180 s, half a scoring phase, so an extension cannot outlast the
/// battle.
pub static ADDTIME_SECONDS: ConfigSpec = ConfigSpec::seconds(
    "linkcall.addtime_seconds",
    180,
    "seconds added by one extension (addtime)",
);

/// Every LinkCallPk key, in the order an operator sees them.
pub static CONFIG_KEYS: [&ConfigSpec; 7] = [
    &MIN_STAR,
    &WHITELIST_ENABLED,
    &PAGE_SIZE,
    &POPUP_SECONDS,
    &PK_SECONDS,
    &PUNISH_SECONDS,
    &ADDTIME_SECONDS,
];

/// LinkCallPk settings (`linkcall.*`), as the state machine reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCallConfig {
    /// See [`MIN_STAR`].
    pub min_star: u32,
    /// See [`WHITELIST_ENABLED`].
    pub whitelist_enabled: bool,
    /// See [`PAGE_SIZE`].
    pub page_size: u32,
    /// See [`POPUP_SECONDS`].
    pub popup_seconds: u64,
    /// See [`PK_SECONDS`].
    pub pk_seconds: u64,
    /// See [`PUNISH_SECONDS`]. 0 skips the phase.
    pub punish_seconds: u64,
    /// See [`ADDTIME_SECONDS`].
    pub addtime_seconds: u64,
}

impl LinkCallConfig {
    /// The settings in `values` (each key's default where the table has no row).
    pub fn from_values(values: &ConfigValues) -> Self {
        Self {
            min_star: u32::try_from(values.unsigned(&MIN_STAR)).unwrap_or(u32::MAX),
            whitelist_enabled: values.get(&WHITELIST_ENABLED) == 1,
            page_size: u32::try_from(values.unsigned(&PAGE_SIZE)).unwrap_or(u32::MAX),
            popup_seconds: values.unsigned(&POPUP_SECONDS),
            pk_seconds: values.unsigned(&PK_SECONDS),
            punish_seconds: values.unsigned(&PUNISH_SECONDS),
            addtime_seconds: values.unsigned(&ADDTIME_SECONDS),
        }
    }

    pub(crate) fn popup_ms(&self) -> u64 {
        self.popup_seconds.saturating_mul(MS_PER_SECOND)
    }

    pub(crate) fn pk_ms(&self) -> u64 {
        self.pk_seconds.saturating_mul(MS_PER_SECOND)
    }

    pub(crate) fn addtime_ms(&self) -> u64 {
        self.addtime_seconds.saturating_mul(MS_PER_SECOND)
    }

    /// The page size, never 0 (a zero would make every page empty and the window arithmetic
    /// meaningless).
    pub fn rows_per_page(&self) -> u32 {
        self.page_size.max(1)
    }
}

impl Default for LinkCallConfig {
    /// Every key's default.
    fn default() -> Self {
        Self::from_values(&ConfigValues::default())
    }
}

/// What OpenFunction's gate needs to know about the anchor, looked up by the adapter (the star
/// level from the profile cache of seed §B.1, the whitelist from the admin table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenGate {
    /// `singer_star`.
    pub singer_star: u32,
    /// Whether the anchor is on the whitelist (only consulted when the whitelist is enabled).
    pub singer_whitelisted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_keys_defaults() {
        let config = LinkCallConfig::default();
        assert_eq!(config.pk_seconds, PK_SECONDS.default as u64);
        assert_eq!(config.addtime_seconds, 180);
        assert_eq!(config.popup_seconds, 15);
        assert_eq!(config.page_size, 10);
        for spec in CONFIG_KEYS {
            assert!(spec.validate(spec.default).is_ok(), "{}", spec.name);
            assert!(spec.name.starts_with("linkcall."), "{}", spec.name);
        }
    }
}
