//! Rows of the hot configuration table (seed 000 §B.0: `info_id -> value`, cached for 60 s by
//! the server). Which keys exist, their defaults and allowed ranges are declared by the features
//! ([`livepk_core::ConfigSpec`]); this crate stores and reads values and seeds the defaults it is
//! given.

/// One row of `pk_config` as `Admin.GetConfig` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The key (`linkcall.pk_seconds`). Rows whose key is no longer in the registry are still
    /// listed, so an operator can see leftovers of an older release.
    pub key: String,
    /// The stored value.
    pub value: i64,
    /// What the key means (seeded from the key's `ConfigSpec::description`).
    pub description: String,
    /// When the value was last written, ms since the epoch; 0 for a seeded default never changed.
    pub updated_at_ms: u64,
}
