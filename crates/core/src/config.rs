//! Hot configuration keys, declared once where they are used. Seed 000 §B.0 keeps the battle
//! tunables as `info_id -> value` rows in MySQL, cached for 60 s; livepk names them instead of
//! numbering them, so an operator's `SetConfig` reads like what it changes.
//!
//! Each feature declares its keys as [`ConfigSpec`] constants next to the code that reads them,
//! and registers them with the server; the SQL table stores values, the spec decides what a
//! value may be and what it is when no row exists. A feature's own defaults are built from the
//! same constants, so two places cannot disagree.

use std::collections::HashMap;

/// One day in seconds: the upper bound of every duration. The lower bound is one second, so tests
/// can run short battles.
pub const DAY_SECONDS: i64 = 24 * 60 * 60;

/// One configuration key: its name, default and allowed range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConfigSpec {
    /// The key as stored in `pk_config.info_key` and sent over `Admin.SetConfig`
    /// (`<feature>.<name>`, e.g. `linkcall.pk_seconds`).
    pub name: &'static str,
    /// The value used when the table has no row.
    pub default: i64,
    /// Smallest allowed value.
    pub min: i64,
    /// Largest allowed value.
    pub max: i64,
    /// One line for operators, stored in `pk_config.description`.
    pub description: &'static str,
}

impl ConfigSpec {
    /// A duration in seconds: 1 s to a day.
    pub const fn seconds(name: &'static str, default: i64, description: &'static str) -> Self {
        Self { name, default, min: 1, max: DAY_SECONDS, description }
    }

    /// A 0/1 switch.
    pub const fn switch(name: &'static str, default: bool, description: &'static str) -> Self {
        Self { name, default: default as i64, min: 0, max: 1, description }
    }

    /// Whether `name` is a duration in seconds (accepts `90s`, `15m`, `2h` in `SetConfig`).
    pub fn is_duration(&self) -> bool {
        self.name.ends_with("_seconds")
    }

    /// Checks `value` against the allowed range.
    pub fn validate(&self, value: i64) -> Result<(), ConfigError> {
        if (self.min..=self.max).contains(&value) {
            Ok(())
        } else {
            Err(ConfigError::OutOfRange { key: self.name, value, min: self.min, max: self.max })
        }
    }
}

/// Why a config write was refused. Both messages name the key, and the range when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The key is not registered.
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

/// Every key the running server knows, in registration order (what `GetConfig` lists).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigRegistry {
    specs: Vec<&'static ConfigSpec>,
}

impl ConfigRegistry {
    /// A registry of `specs`. Panics on a name registered twice: two features claiming one key
    /// is a programming error found at start-up.
    pub fn new(specs: impl IntoIterator<Item = &'static ConfigSpec>) -> Self {
        let mut registry = ConfigRegistry::default();
        for spec in specs {
            registry.add(spec);
        }
        registry
    }

    /// Adds `spec` (see [`ConfigRegistry::new`] for duplicates).
    pub fn add(&mut self, spec: &'static ConfigSpec) {
        assert!(self.find(spec.name).is_none(), "config key {} is registered twice", spec.name);
        assert!(
            spec.min <= spec.default && spec.default <= spec.max,
            "config key {}: default outside its range",
            spec.name
        );
        self.specs.push(spec);
    }

    /// Every spec.
    pub fn specs(&self) -> &[&'static ConfigSpec] {
        &self.specs
    }

    /// The spec named `name`.
    pub fn find(&self, name: &str) -> Option<&'static ConfigSpec> {
        self.specs.iter().copied().find(|spec| spec.name == name)
    }

    /// Validates a raw `SetConfig {key, value}`: the key must be known and the value within its
    /// range. Returns the spec so the caller does not look it up twice.
    pub fn validate(&self, name: &str, value: i64) -> Result<&'static ConfigSpec, ConfigError> {
        let spec =
            self.find(name).ok_or_else(|| ConfigError::UnknownKey { key: name.to_owned() })?;
        spec.validate(value)?;
        Ok(spec)
    }
}

/// A copy of every key's current value, as read from the config table (missing rows read as
/// their default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigValues {
    values: HashMap<&'static str, i64>,
}

impl ConfigValues {
    /// Values from `(name, value)` rows; `registry` gives the defaults of missing rows and drops
    /// names it does not know.
    pub fn new(
        registry: &ConfigRegistry,
        rows: impl IntoIterator<Item = (String, i64)>,
    ) -> ConfigValues {
        let mut values: HashMap<&'static str, i64> =
            registry.specs().iter().map(|spec| (spec.name, spec.default)).collect();
        for (name, value) in rows {
            if let Some(spec) = registry.find(&name) {
                values.insert(spec.name, value);
            }
        }
        ConfigValues { values }
    }

    /// The value of `spec` (its default when not loaded).
    pub fn get(&self, spec: &ConfigSpec) -> i64 {
        self.values.get(spec.name).copied().unwrap_or(spec.default)
    }

    /// The value of `spec` as a non-negative number (every key's range starts at 0 or 1).
    pub fn unsigned(&self, spec: &ConfigSpec) -> u64 {
        self.get(spec).max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static PK: ConfigSpec = ConfigSpec::seconds("demo.pk_seconds", 360, "seconds of scoring");
    static SWITCH: ConfigSpec = ConfigSpec::switch("demo.enabled", false, "on or off");

    #[test]
    fn durations_accept_one_second_to_one_day() {
        let registry = ConfigRegistry::new([&PK, &SWITCH]);
        let table = [
            ("demo.pk_seconds", 0, false),
            ("demo.pk_seconds", 1, true),
            ("demo.pk_seconds", 86_400, true),
            ("demo.pk_seconds", 86_401, false),
            ("demo.enabled", 2, false),
            ("demo.enabled", 1, true),
        ];
        for (key, value, accepted) in table {
            assert_eq!(registry.validate(key, value).is_ok(), accepted, "{key} = {value}");
        }
    }

    #[test]
    fn errors_name_the_key_and_the_range() {
        let registry = ConfigRegistry::new([&PK]);
        let message = registry.validate("demo.pk_seconds", 0).unwrap_err().to_string();
        assert!(message.contains("demo.pk_seconds") && message.contains("1..=86400"), "{message}");
        let message = registry.validate("demo.nope", 1).unwrap_err().to_string();
        assert!(message.contains("demo.nope"), "{message}");
    }

    #[test]
    fn values_fall_back_to_defaults_and_ignore_unknown_rows() {
        let registry = ConfigRegistry::new([&PK, &SWITCH]);
        let values =
            ConfigValues::new(&registry, [("demo.enabled".into(), 1), ("old.key".into(), 5)]);
        assert_eq!(values.get(&PK), 360);
        assert_eq!(values.get(&SWITCH), 1);
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_key_cannot_be_registered_twice() {
        ConfigRegistry::new([&PK, &PK]);
    }
}
