//! The registry of hot configuration values: which keys exist, what they default to and which
//! values are allowed. Seed 000 §B.0 keeps these as `info_id -> value` rows in MySQL, cached for
//! 60 s; livepk names them instead of numbering them, so an operator's `SetConfig` reads like
//! what it changes.
//!
//! The registry is the only list of keys. The database stores values; this module decides what a
//! value may be. `SetConfig` validates here before writing, and readers fall back to
//! [`ConfigKey::default_value`] when a row is missing.

use std::ops::RangeInclusive;

/// One day in seconds: the upper bound of every duration. The lower bound is one second, so tests
/// can run short battles (issue 2 item 8).
const DAY_SECONDS: i64 = 24 * 60 * 60;

/// A known configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigKey {
    /// Minimum anchor star level (`singer_star`) to open a linkcall PK; 0 lets everyone in.
    LinkCallMinStar,
    /// 1: only anchors on the whitelist may open a linkcall PK (seed 004 §三.3); 0: anyone.
    LinkCallWhitelistEnabled,
    /// Anchors per page of the online list (seed 000 §3: "一页10条").
    LinkCallPageSize,
    /// How long an invitation popup waits for an answer, in seconds (seed 004: 15 s).
    LinkCallPopupSeconds,
    /// Length of the scoring phase, in seconds (seed 004: 6 minutes).
    LinkCallPkSeconds,
    /// Length of the punishment phase, in seconds (seed 004: 2 minutes).
    LinkCallPunishSeconds,
    /// Length of one extension (`linkcallpk_addtime_rq`), in seconds. The seeds give no figure;
    /// livepk chooses 180 s, half a scoring phase, so an extension cannot outlast the battle.
    LinkCallAddTimeSeconds,
    /// Gift value (smallest coin unit) per score point (seed 004: 0.1 鹅肝 = 1 point).
    ScoreValuePerPoint,
    /// Coalescing window for score-change notifications per PK, in milliseconds; 0 disables
    /// coalescing. State changes are never coalesced.
    EventsScoreCoalesceMs,
}

impl ConfigKey {
    /// Every key, in the order an operator sees them.
    pub const ALL: [ConfigKey; 9] = [
        ConfigKey::LinkCallMinStar,
        ConfigKey::LinkCallWhitelistEnabled,
        ConfigKey::LinkCallPageSize,
        ConfigKey::LinkCallPopupSeconds,
        ConfigKey::LinkCallPkSeconds,
        ConfigKey::LinkCallPunishSeconds,
        ConfigKey::LinkCallAddTimeSeconds,
        ConfigKey::ScoreValuePerPoint,
        ConfigKey::EventsScoreCoalesceMs,
    ];

    /// The key as stored in `pk_config.info_key` and sent over `Admin.SetConfig`.
    pub fn name(self) -> &'static str {
        match self {
            ConfigKey::LinkCallMinStar => "linkcall.min_star",
            ConfigKey::LinkCallWhitelistEnabled => "linkcall.whitelist_enabled",
            ConfigKey::LinkCallPageSize => "linkcall.page_size",
            ConfigKey::LinkCallPopupSeconds => "linkcall.popup_seconds",
            ConfigKey::LinkCallPkSeconds => "linkcall.pk_seconds",
            ConfigKey::LinkCallPunishSeconds => "linkcall.punish_seconds",
            ConfigKey::LinkCallAddTimeSeconds => "linkcall.addtime_seconds",
            ConfigKey::ScoreValuePerPoint => "score.value_per_point",
            ConfigKey::EventsScoreCoalesceMs => "events.score_coalesce_ms",
        }
    }

    /// Parses [`ConfigKey::name`] back; `None` for a key livepk does not know.
    pub fn parse(name: &str) -> Option<ConfigKey> {
        ConfigKey::ALL.into_iter().find(|key| key.name() == name)
    }

    /// The value used when the table has no row for this key.
    pub fn default_value(self) -> i64 {
        match self {
            ConfigKey::LinkCallMinStar => 0,
            ConfigKey::LinkCallWhitelistEnabled => 0,
            ConfigKey::LinkCallPageSize => 10,
            ConfigKey::LinkCallPopupSeconds => 15,
            ConfigKey::LinkCallPkSeconds => 360,
            ConfigKey::LinkCallPunishSeconds => 120,
            ConfigKey::LinkCallAddTimeSeconds => 180,
            ConfigKey::ScoreValuePerPoint => 1,
            ConfigKey::EventsScoreCoalesceMs => 500,
        }
    }

    /// The values `SetConfig` accepts. Durations accept 1 s to 24 h.
    pub fn allowed_range(self) -> RangeInclusive<i64> {
        match self {
            ConfigKey::LinkCallMinStar => 0..=100,
            ConfigKey::LinkCallWhitelistEnabled => 0..=1,
            ConfigKey::LinkCallPageSize => 1..=100,
            ConfigKey::LinkCallPopupSeconds
            | ConfigKey::LinkCallPkSeconds
            | ConfigKey::LinkCallPunishSeconds
            | ConfigKey::LinkCallAddTimeSeconds => 1..=DAY_SECONDS,
            ConfigKey::ScoreValuePerPoint => 1..=1_000_000,
            ConfigKey::EventsScoreCoalesceMs => 0..=60_000,
        }
    }

    /// One line for operators, stored in `pk_config.description` when the default is seeded.
    pub fn description(self) -> &'static str {
        match self {
            ConfigKey::LinkCallMinStar => "minimum anchor star level to open a linkcall pk",
            ConfigKey::LinkCallWhitelistEnabled => {
                "1: only whitelisted anchors may open a linkcall pk; 0: anyone"
            }
            ConfigKey::LinkCallPageSize => "anchors per page of the linkcall online list",
            ConfigKey::LinkCallPopupSeconds => "seconds an invitation popup waits for an answer",
            ConfigKey::LinkCallPkSeconds => "seconds of the scoring phase",
            ConfigKey::LinkCallPunishSeconds => "seconds of the punishment phase",
            ConfigKey::LinkCallAddTimeSeconds => "seconds added by one extension (addtime)",
            ConfigKey::ScoreValuePerPoint => "gift value (smallest coin unit) per score point",
            ConfigKey::EventsScoreCoalesceMs => {
                "milliseconds to coalesce score notifications per pk; 0 disables"
            }
        }
    }

    /// Checks `value` against [`ConfigKey::allowed_range`].
    pub fn validate(self, value: i64) -> Result<(), ConfigError> {
        let range = self.allowed_range();
        if range.contains(&value) {
            Ok(())
        } else {
            Err(ConfigError::OutOfRange {
                key: self.name(),
                value,
                min: *range.start(),
                max: *range.end(),
            })
        }
    }
}

impl std::fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Validates a raw `SetConfig {key, value}`: the key must be known and the value within its
/// range. Returns the parsed key so the caller does not parse it twice.
pub fn validate(key: &str, value: i64) -> Result<ConfigKey, ConfigError> {
    let parsed =
        ConfigKey::parse(key).ok_or_else(|| ConfigError::UnknownKey { key: key.to_owned() })?;
    parsed.validate(value)?;
    Ok(parsed)
}

/// Why a config write was refused. Both messages name the key, and the range when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The key is not in the registry.
    #[error("unknown config key {key:?}")]
    UnknownKey {
        /// The key as the caller sent it.
        key: String,
    },
    /// The value is outside the key's allowed range.
    #[error("config key {key} must be within {min}..={max}, got {value}")]
    OutOfRange {
        /// The key.
        key: &'static str,
        /// The refused value.
        value: i64,
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
}

/// One row of `pk_config` as `Admin.GetConfig` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The key (`linkcall.pk_seconds`). Rows whose key is no longer in the registry are still
    /// listed, so an operator can see leftovers of an older release.
    pub key: String,
    /// The stored value.
    pub value: i64,
    /// What the key means (seeded from [`ConfigKey::description`]).
    pub description: String,
    /// When the value was last written, ms since the epoch; 0 for a seeded default never changed.
    pub updated_at_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_is_within_its_own_range() {
        for key in ConfigKey::ALL {
            assert!(key.validate(key.default_value()).is_ok(), "{key}");
            assert_eq!(ConfigKey::parse(key.name()), Some(key));
            assert!(key.name().len() <= 64 && key.description().len() <= 255, "{key}");
        }
    }

    #[test]
    fn durations_accept_one_second_to_one_day() {
        let table = [
            ("linkcall.pk_seconds", 0, false),
            ("linkcall.pk_seconds", 1, true),
            ("linkcall.pk_seconds", 86_400, true),
            ("linkcall.pk_seconds", 86_401, false),
            ("linkcall.popup_seconds", 1, true),
            ("linkcall.punish_seconds", 86_400, true),
            ("linkcall.addtime_seconds", -1, false),
            ("linkcall.whitelist_enabled", 2, false),
            ("events.score_coalesce_ms", 0, true),
        ];
        for (key, value, accepted) in table {
            assert_eq!(validate(key, value).is_ok(), accepted, "{key} = {value}");
        }
    }

    #[test]
    fn errors_name_the_key_and_the_range() {
        let message = validate("linkcall.pk_seconds", 0).unwrap_err().to_string();
        assert!(
            message.contains("linkcall.pk_seconds") && message.contains("1..=86400"),
            "{message}"
        );
        let message = validate("linkcall.nope", 1).unwrap_err().to_string();
        assert!(message.contains("linkcall.nope"), "{message}");
    }
}
