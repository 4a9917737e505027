//! Process configuration: an optional TOML file, then environment variables on top (12-factor).
//! The names of the variables are a contract with the deploy manifests and the gateway team.
//!
//! Battle tunables (PK length, popup life, star gate, ...) are not here: they live in the SQL
//! config table so operators can change them at run time (see `livepk_engine::settings`).

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

/// Everything the server reads at start-up.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// gRPC listen address (`LIVEPK_LISTEN`).
    pub listen: SocketAddr,
    /// Prometheus `/metrics` listen address (`LIVEPK_METRICS_LISTEN`); empty disables it.
    pub metrics_listen: Option<SocketAddr>,
    /// Redis URL (`LIVEPK_REDIS_URL`). Unset: the embedded in-process store (one process only).
    pub redis_url: Option<String>,
    /// Prefix of every Redis key (`LIVEPK_KEY_PREFIX`), so several deployments can share a Redis.
    pub key_prefix: String,
    /// SQL URL (`LIVEPK_DATABASE_URL`): `sqlite://...` (default, a file under `./data/`) or
    /// `mysql://...` for MySQL/MariaDB.
    pub database_url: String,
    /// Bearer token the gateway must send (`LIVEPK_AUTH_TOKEN`); unset disables the check.
    pub auth_token: Option<String>,
    /// Bearer token for the `Admin` service (`LIVEPK_ADMIN_TOKEN`); unset disables the check.
    pub admin_token: Option<String>,
    /// `text` or `json` (`LIVEPK_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Threads serving requests (`LIVEPK_WORKER_THREADS`); 0 = one per core. Fewer than the
    /// cores leaves room for a Redis or sidecar sharing the host.
    pub worker_threads: usize,
    /// A file the server writes the address it listens on to, once it is bound
    /// (`LIVEPK_ADDRESS_FILE`): with `listen` on port 0 the system picks a free port, and whoever
    /// started the server (a test, a sidecar) reads it here instead of guessing one first.
    pub address_file: Option<std::path::PathBuf>,
    /// Event stream settings.
    pub events: EventsConfig,
    /// Delay-queue settings.
    pub timers: TimersConfig,
    /// Load limits.
    pub limits: LimitsConfig,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Event stream settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// How many events the stream keeps; a gateway further behind than this misses events.
    pub retention: usize,
    /// How often (ms) outboxes left behind by a crash are swept into the stream. A sweep reads
    /// the store's index of recently written outboxes (three round trips); only a replica's
    /// first sweep, and then one an hour, scans the whole keyspace.
    pub sweep_interval_ms: u64,
}

/// Delay-queue settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimersConfig {
    /// Longest pause (ms) between two polls of the queue when nothing is due sooner.
    pub poll_interval_ms: u64,
    /// Time to run (ms): a claimed job not finished within it is delivered again.
    pub ttr_ms: u64,
    /// Most jobs claimed per poll.
    pub batch: usize,
}

/// Load limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Requests served at once; beyond it calls fail fast with RESOURCE_EXHAUSTED instead of
    /// queueing without bound.
    pub max_concurrent_requests: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 50051)),
            metrics_listen: Some(SocketAddr::from(([0, 0, 0, 0], 9464))),
            redis_url: None,
            key_prefix: "livepk".into(),
            database_url: "sqlite://data/livepk.db?mode=rwc".into(),
            auth_token: None,
            admin_token: None,
            log_format: LogFormat::Text,
            worker_threads: 0,
            address_file: None,
            events: EventsConfig::default(),
            timers: TimersConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self { retention: 100_000, sweep_interval_ms: 5_000 }
    }
}

impl Default for TimersConfig {
    fn default() -> Self {
        Self { poll_interval_ms: 50, ttr_ms: 30_000, batch: 100 }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self { max_concurrent_requests: 1024 }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    /// The file is not valid TOML for [`Config`].
    #[error("invalid config file {path}: {source}")]
    Parse { path: String, source: toml::de::Error },
    /// An environment variable has a bad value.
    #[error("invalid {name}={value:?}: {reason}")]
    Env { name: &'static str, value: String, reason: String },
}

impl Config {
    /// Reads `LIVEPK_CONFIG` (or `./livepk.toml` when present), then applies the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        let path = env("LIVEPK_CONFIG")
            .or_else(|| Path::new("livepk.toml").exists().then(|| "livepk.toml".to_owned()));
        let mut config = match path {
            Some(path) => Self::from_file(&path)?,
            None => Self::default(),
        };
        config.apply_env(env)?;
        Ok(config)
    }

    /// Parses a TOML file.
    pub fn from_file(path: &str) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.into(), source })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.into(), source })
    }

    /// Applies `LIVEPK_*` variables read through `env` (injectable for tests).
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let address = |name: &'static str, value: String| {
            value.parse::<SocketAddr>().map_err(|error| ConfigError::Env {
                name,
                value,
                reason: error.to_string(),
            })
        };
        let non_empty = |value: String| (!value.trim().is_empty()).then_some(value);
        if let Some(value) = env("LIVEPK_LISTEN") {
            self.listen = address("LIVEPK_LISTEN", value)?;
        }
        if let Some(value) = env("LIVEPK_METRICS_LISTEN") {
            self.metrics_listen = match non_empty(value) {
                Some(value) => Some(address("LIVEPK_METRICS_LISTEN", value)?),
                None => None,
            };
        }
        if let Some(value) = env("LIVEPK_REDIS_URL") {
            self.redis_url = non_empty(value);
        }
        if let Some(value) = env("LIVEPK_KEY_PREFIX") {
            if value.is_empty() || value.contains(['{', '}']) {
                return Err(ConfigError::Env {
                    name: "LIVEPK_KEY_PREFIX",
                    value,
                    reason: "must be non-empty and free of braces".into(),
                });
            }
            self.key_prefix = value;
        }
        if let Some(value) = env("LIVEPK_DATABASE_URL").and_then(non_empty) {
            self.database_url = value;
        }
        if let Some(value) = env("LIVEPK_AUTH_TOKEN") {
            self.auth_token = non_empty(value);
        }
        if let Some(value) = env("LIVEPK_ADMIN_TOKEN") {
            self.admin_token = non_empty(value);
        }
        if let Some(value) = env("LIVEPK_WORKER_THREADS").and_then(non_empty) {
            self.worker_threads = value.trim().parse().map_err(|_| ConfigError::Env {
                name: "LIVEPK_WORKER_THREADS",
                value,
                reason: "must be a whole number (0 = one per core)".into(),
            })?;
        }
        if let Some(value) = env("LIVEPK_ADDRESS_FILE") {
            self.address_file = non_empty(value).map(std::path::PathBuf::from);
        }
        if let Some(value) = env("LIVEPK_LOG_FORMAT") {
            self.log_format = match value.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError::Env {
                        name: "LIVEPK_LOG_FORMAT",
                        value,
                        reason: "must be text or json".into(),
                    });
                }
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = Config::default();
        assert_eq!(config.listen.to_string(), "0.0.0.0:50051");
        assert_eq!(config.metrics_listen.unwrap().to_string(), "0.0.0.0:9464");
        assert_eq!(config.key_prefix, "livepk");
        assert!(config.redis_url.is_none());
        assert!(config.database_url.starts_with("sqlite://data/"));
    }

    #[test]
    fn environment_overrides_and_validates() {
        let mut config = Config::default();
        config
            .apply_env(env(&[
                ("LIVEPK_LISTEN", "127.0.0.1:6000"),
                ("LIVEPK_REDIS_URL", "redis://r:6379"),
                ("LIVEPK_LOG_FORMAT", "json"),
                ("LIVEPK_METRICS_LISTEN", ""),
                ("LIVEPK_AUTH_TOKEN", "secret"),
                ("LIVEPK_WORKER_THREADS", "1"),
            ]))
            .unwrap();
        assert_eq!(config.worker_threads, 1);
        assert_eq!(config.listen.port(), 6000);
        assert_eq!(config.redis_url.as_deref(), Some("redis://r:6379"));
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(config.metrics_listen.is_none());
        assert_eq!(config.auth_token.as_deref(), Some("secret"));

        let error = Config::default().apply_env(env(&[("LIVEPK_LISTEN", "nope")])).unwrap_err();
        assert!(error.to_string().contains("LIVEPK_LISTEN"));
        let error =
            Config::default().apply_env(env(&[("LIVEPK_WORKER_THREADS", "-1")])).unwrap_err();
        assert!(error.to_string().contains("LIVEPK_WORKER_THREADS"));
        let error = Config::default().apply_env(env(&[("LIVEPK_KEY_PREFIX", "a{b}")])).unwrap_err();
        assert!(error.to_string().contains("LIVEPK_KEY_PREFIX"));
    }

    #[test]
    fn example_file_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/livepk.example.toml");
        if Path::new(path).exists() {
            Config::from_file(path).expect("livepk.example.toml must stay valid");
        }
    }
}
