//! Process configuration: an optional TOML file, then environment variables on top (12-factor).
//! The names of the variables are a contract with the deploy manifests and the gateway team.
//!
//! Battle tunables (PK length, popup life, star gate, ...) are not here: they live in the SQL
//! config table so operators can change them at run time (see `livepk_engine::settings`).

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

/// Everything the server reads at start-up. `Debug` prints the tokens as `<redacted>`.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// gRPC listen address (`LIVEPK_LISTEN`).
    pub listen: SocketAddr,
    /// Prometheus `/metrics` listen address (`LIVEPK_METRICS_LISTEN`); empty disables it.
    pub metrics_listen: Option<SocketAddr>,
    /// Redis URL (`LIVEPK_REDIS_URL`). Unset: the embedded in-process store (one process only).
    pub redis_url: Option<String>,
    /// The Redis URL names a Redis Cluster (`LIVEPK_REDIS_CLUSTER=1`): its host (or a
    /// comma-separated list of `host:port`) are seed nodes. Same as a `redis+cluster://` URL.
    pub redis_cluster: bool,
    /// Replicas that must have a write before it is answered (`LIVEPK_REDIS_MIN_REPLICAS`, Redis
    /// `WAIT` in the same round trip); 0 = asynchronous replication. Fewer within
    /// `redis_replica_wait_ms` answers UNAVAILABLE, so the caller retries (idempotently).
    pub redis_min_replicas: u32,
    /// How long a write waits for them (`LIVEPK_REDIS_REPLICA_WAIT_MS`).
    pub redis_replica_wait_ms: u64,
    /// Prefix of every Redis key (`LIVEPK_KEY_PREFIX`), so several deployments can share a Redis.
    pub key_prefix: String,
    /// SQL URL (`LIVEPK_DATABASE_URL`): `sqlite://...` (default, a file under `./data/`) or
    /// `mysql://...` for MySQL/MariaDB.
    pub database_url: String,
    /// Bearer token the gateway must send (`LIVEPK_AUTH_TOKEN`). Required with a Redis URL
    /// unless `insecure`; unset on the embedded store disables the check (development).
    pub auth_token: Option<String>,
    /// Bearer token for the `Admin` service (`LIVEPK_ADMIN_TOKEN`). Required with a Redis URL
    /// unless `insecure`; unset, `Admin` takes the gateway token instead (and is open only when
    /// that is unset too).
    pub admin_token: Option<String>,
    /// Allows a deployment with a Redis URL to run without tokens (`LIVEPK_INSECURE=1`): an
    /// explicit, logged choice, never the default.
    pub insecure: bool,
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
    /// The clock check against the store's clock.
    pub clock: ClockConfig,
    /// Gift idempotency.
    pub gifts: GiftsConfig,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |token: &Option<String>| token.as_ref().map(|_| "<redacted>");
        formatter
            .debug_struct("Config")
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<redacted>"))
            .field("redis_cluster", &self.redis_cluster)
            .field("redis_min_replicas", &self.redis_min_replicas)
            .field("redis_replica_wait_ms", &self.redis_replica_wait_ms)
            .field("key_prefix", &self.key_prefix)
            .field(
                "database_url",
                &self
                    .database_url
                    .split_once('@')
                    .map_or(self.database_url.as_str(), |(_, host)| host),
            )
            .field("auth_token", &redacted(&self.auth_token))
            .field("admin_token", &redacted(&self.admin_token))
            .field("insecure", &self.insecure)
            .field("log_format", &self.log_format)
            .field("worker_threads", &self.worker_threads)
            .field("address_file", &self.address_file)
            .field("events", &self.events)
            .field("timers", &self.timers)
            .field("limits", &self.limits)
            .field("clock", &self.clock)
            .finish()
    }
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
    /// Longest time (ms) a call may take until its answer starts: a unary call, or a whole
    /// `RecordGifts` upload. Beyond it the call ends with DEADLINE_EXCEEDED and frees its slot
    /// of `max_concurrent_requests` (an idle upload cannot hold it for ever). A server stream
    /// (`Subscribe`) is bounded by its own limits below instead.
    pub request_timeout_ms: u64,
    /// Open `Events.Subscribe` streams per replica; the next one is refused with
    /// RESOURCE_EXHAUSTED.
    pub max_subscribers: usize,
    /// Longest time (ms) a `Subscribe` stream may wait for its reader to take the next event;
    /// a reader that stopped reading is dropped after it, freeing its slot.
    pub subscribe_send_timeout_ms: u64,
    /// HTTP/2 streams (calls) one connection may have open at once.
    pub max_concurrent_streams: u32,
    /// How often (ms) an idle connection is pinged (HTTP/2 keepalive).
    pub keepalive_interval_ms: u64,
    /// How long (ms) a ping may go unanswered before the connection is closed.
    pub keepalive_timeout_ms: u64,
    /// Longest life (ms) of a connection: then it is asked to go away (GOAWAY, clients
    /// reconnect, spreading them over replicas) and closed `shutdown_grace_ms` later.
    pub max_connection_age_ms: u64,
    /// On shutdown (SIGTERM), how long (ms) calls in flight may take to finish; connections
    /// still open after it are closed, so a reader that stopped reading cannot hold the
    /// process.
    pub shutdown_grace_ms: u64,
}

/// The clock check (issue 12 item 6): every replica measures its clock against the store's
/// (Redis `TIME`; the embedded store's reference is the process's own clock, offset 0).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClockConfig {
    /// Largest offset (ms) from the store's clock at which the replica still fires deadlines
    /// and reports SERVING (`LIVEPK_MAX_CLOCK_SKEW_MS`); 0 switches the check off.
    pub max_skew_ms: u64,
    /// How often (ms) the offset is measured.
    pub check_interval_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 50051)),
            metrics_listen: Some(SocketAddr::from(([0, 0, 0, 0], 9464))),
            redis_url: None,
            redis_cluster: false,
            redis_min_replicas: 0,
            redis_replica_wait_ms: 1_000,
            key_prefix: "livepk".into(),
            database_url: "sqlite://data/livepk.db?mode=rwc".into(),
            auth_token: None,
            admin_token: None,
            insecure: false,
            log_format: LogFormat::Text,
            worker_threads: 0,
            address_file: None,
            events: EventsConfig::default(),
            timers: TimersConfig::default(),
            limits: LimitsConfig::default(),
            clock: ClockConfig::default(),
            gifts: GiftsConfig::default(),
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
        Self {
            max_concurrent_requests: 1024,
            request_timeout_ms: 30_000,
            max_subscribers: 256,
            subscribe_send_timeout_ms: 10_000,
            max_concurrent_streams: 256,
            keepalive_interval_ms: 30_000,
            keepalive_timeout_ms: 10_000,
            max_connection_age_ms: 30 * 60_000,
            shutdown_grace_ms: 20_000,
        }
    }
}

/// Gift idempotency.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GiftsConfig {
    /// How long (ms) a gift's ledger record — its answer, repeated to every retry — is kept
    /// (`LIVEPK_GIFT_RETRY_HORIZON_MS`): the gateway's retry horizon. A retry later than this
    /// is judged anew: by the answer a PK kept of it (a gift that took the general path), else
    /// by its own send time against the windows of the PKs it finds then.
    pub retry_horizon_ms: u64,
    /// On one Redis, how many bucket hashes per horizon keep the records of gifts counted in
    /// one step (`LIVEPK_GIFT_RECORD_BUCKETS`, 8,192; 1 to 1,048,576): size it to the peak
    /// gifts per horizon / 400, so a bucket stays a listpack (README "Retry horizon"). Every
    /// replica must use the same value; changing it forgets those records for one horizon.
    pub record_buckets: u64,
}

impl Default for GiftsConfig {
    fn default() -> Self {
        Self { retry_horizon_ms: 3_600_000, record_buckets: 8_192 }
    }
}

impl Default for ClockConfig {
    fn default() -> Self {
        Self { max_skew_ms: 500, check_interval_ms: 10_000 }
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
    /// A setting (file key or variable) has a value the server cannot run with.
    #[error("invalid setting {setting}: {reason}")]
    Invalid { setting: &'static str, reason: String },
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
        config.validate()?;
        Ok(config)
    }

    /// The URL the store connects to: `redis_url`, as a `redis+cluster://` URL when
    /// `redis_cluster` is set (a URL that already says `+cluster` is taken as it is).
    pub fn store_url(&self) -> Option<String> {
        let url = self.redis_url.as_deref()?;
        if !self.redis_cluster || url.contains("+cluster://") {
            return Some(url.to_owned());
        }
        Some(match url.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}+cluster://{rest}"),
            None => format!("redis+cluster://{url}"),
        })
    }

    /// Everything [`Config::validate_settings`] checks, plus the security posture: with a Redis
    /// URL (a real deployment) both tokens are required unless `insecure` says otherwise.
    /// `Config::load` (the binary) runs it; a server embedded in a test or benchmark is only
    /// held to [`Config::validate_settings`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_settings()?;
        if self.redis_url.is_some() && !self.insecure {
            for (setting, token) in [
                ("auth_token (LIVEPK_AUTH_TOKEN)", &self.auth_token),
                ("admin_token (LIVEPK_ADMIN_TOKEN)", &self.admin_token),
            ] {
                if token.is_none() {
                    return Err(ConfigError::Invalid {
                        setting,
                        reason: "is required when a Redis URL is set (a real deployment); set \
                                 both tokens, or LIVEPK_INSECURE=1 to run without authentication"
                            .into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Refuses values the server cannot run with, naming the setting: zero batches, intervals,
    /// timeouts and limits, a blank or unusable token.
    pub fn validate_settings(&self) -> Result<(), ConfigError> {
        let invalid = |setting: &'static str, reason: &str| ConfigError::Invalid {
            setting,
            reason: reason.into(),
        };
        // The WAIT's reply must come within the store's 2 s response timeout.
        if self.redis_min_replicas > 0 && !(1..=1_000).contains(&self.redis_replica_wait_ms) {
            return Err(invalid(
                "redis_replica_wait_ms (LIVEPK_REDIS_REPLICA_WAIT_MS)",
                "must be 1 to 1000 ms when redis_min_replicas is set",
            ));
        }
        if self.redis_cluster && self.redis_url.is_none() {
            return Err(invalid(
                "redis_cluster (LIVEPK_REDIS_CLUSTER)",
                "needs redis_url (LIVEPK_REDIS_URL): the cluster's seed nodes",
            ));
        }
        for (setting, token) in
            [("auth_token", &self.auth_token), ("admin_token", &self.admin_token)]
        {
            if let Some(token) = token {
                if token.trim().is_empty() {
                    return Err(invalid(setting, "is blank: remove it or give a token"));
                }
                if !token.bytes().all(|byte| byte.is_ascii_graphic()) {
                    return Err(invalid(
                        setting,
                        "must be printable ASCII without spaces (it is sent as an HTTP header)",
                    ));
                }
            }
        }
        let at_least = |setting: &'static str, value: u64, minimum: u64, unit: &str| {
            if value < minimum {
                Err(ConfigError::Invalid {
                    setting,
                    reason: format!("is {value}; it must be at least {minimum}{unit}"),
                })
            } else {
                Ok(())
            }
        };
        let at_most = |setting: &'static str, value: u64, maximum: u64, unit: &str| {
            if value > maximum {
                Err(ConfigError::Invalid {
                    setting,
                    reason: format!("is {value}; it must be at most {maximum}{unit}"),
                })
            } else {
                Ok(())
            }
        };
        at_least("events.retention", self.events.retention as u64, 1, " events")?;
        at_least("events.sweep_interval_ms", self.events.sweep_interval_ms, 100, " ms")?;
        at_least("timers.poll_interval_ms", self.timers.poll_interval_ms, 1, " ms")?;
        at_most("timers.poll_interval_ms", self.timers.poll_interval_ms, 60_000, " ms")?;
        at_least("timers.ttr_ms", self.timers.ttr_ms, 100, " ms")?;
        at_least("timers.batch", self.timers.batch as u64, 1, "")?;
        at_most("timers.batch", self.timers.batch as u64, 10_000, "")?;
        let limits = &self.limits;
        at_least("limits.max_concurrent_requests", limits.max_concurrent_requests as u64, 1, "")?;
        at_least("limits.request_timeout_ms", limits.request_timeout_ms, 100, " ms")?;
        at_least("limits.max_subscribers", limits.max_subscribers as u64, 1, "")?;
        at_least("limits.subscribe_send_timeout_ms", limits.subscribe_send_timeout_ms, 10, " ms")?;
        at_least("limits.max_concurrent_streams", u64::from(limits.max_concurrent_streams), 1, "")?;
        at_least("limits.keepalive_interval_ms", limits.keepalive_interval_ms, 100, " ms")?;
        at_least("limits.keepalive_timeout_ms", limits.keepalive_timeout_ms, 100, " ms")?;
        at_least("limits.max_connection_age_ms", limits.max_connection_age_ms, 1_000, " ms")?;
        at_least("limits.shutdown_grace_ms", limits.shutdown_grace_ms, 1, " ms")?;
        if self.clock.max_skew_ms > 0 {
            at_least("clock.max_skew_ms", self.clock.max_skew_ms, 10, " ms (0 = off)")?;
        }
        at_least("clock.check_interval_ms", self.clock.check_interval_ms, 10, " ms")?;
        at_least("gifts.retry_horizon_ms", self.gifts.retry_horizon_ms, 60_000, " ms")?;
        at_most("gifts.retry_horizon_ms", self.gifts.retry_horizon_ms, 7 * 86_400_000, " ms")?;
        at_least("gifts.record_buckets", self.gifts.record_buckets, 1, "")?;
        at_most("gifts.record_buckets", self.gifts.record_buckets, 1 << 20, "")?;
        Ok(())
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
        let flag = |name: &'static str, value: String| match value.trim() {
            "1" | "true" => Ok(true),
            "0" | "false" => Ok(false),
            _ => Err(ConfigError::Env { name, value, reason: "must be 1 or 0".into() }),
        };
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
        if let Some(value) = env("LIVEPK_REDIS_CLUSTER").and_then(non_empty) {
            self.redis_cluster = flag("LIVEPK_REDIS_CLUSTER", value)?;
        }
        if let Some(value) = env("LIVEPK_REDIS_MIN_REPLICAS").and_then(non_empty) {
            self.redis_min_replicas = value.trim().parse().map_err(|_| ConfigError::Env {
                name: "LIVEPK_REDIS_MIN_REPLICAS",
                value,
                reason: "must be a whole number of replicas (0 = do not wait)".into(),
            })?;
        }
        if let Some(value) = env("LIVEPK_REDIS_REPLICA_WAIT_MS").and_then(non_empty) {
            self.redis_replica_wait_ms = value.trim().parse().map_err(|_| ConfigError::Env {
                name: "LIVEPK_REDIS_REPLICA_WAIT_MS",
                value,
                reason: "must be a whole number of milliseconds".into(),
            })?;
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
        if let Some(value) = env("LIVEPK_INSECURE").and_then(non_empty) {
            self.insecure = flag("LIVEPK_INSECURE", value)?;
        }
        if let Some(value) = env("LIVEPK_GIFT_RETRY_HORIZON_MS").and_then(non_empty) {
            self.gifts.retry_horizon_ms = value.trim().parse().map_err(|_| ConfigError::Env {
                name: "LIVEPK_GIFT_RETRY_HORIZON_MS",
                value,
                reason: "must be a whole number of milliseconds".into(),
            })?;
        }
        if let Some(value) = env("LIVEPK_GIFT_RECORD_BUCKETS").and_then(non_empty) {
            self.gifts.record_buckets = value.trim().parse().map_err(|_| ConfigError::Env {
                name: "LIVEPK_GIFT_RECORD_BUCKETS",
                value,
                reason: "must be a whole number of buckets".into(),
            })?;
        }
        if let Some(value) = env("LIVEPK_MAX_CLOCK_SKEW_MS").and_then(non_empty) {
            self.clock.max_skew_ms = value.trim().parse().map_err(|_| ConfigError::Env {
                name: "LIVEPK_MAX_CLOCK_SKEW_MS",
                value,
                reason: "must be a whole number of milliseconds (0 = no check)".into(),
            })?;
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
    fn a_cluster_is_named_by_the_url_or_by_the_flag() {
        let configured = |pairs: &[(&str, &str)]| {
            let mut config = Config::default();
            config.apply_env(env(pairs)).map(|()| config)
        };
        let plain = configured(&[("LIVEPK_REDIS_URL", "redis://:pw@r1:7000")]).unwrap();
        assert_eq!(plain.store_url().as_deref(), Some("redis://:pw@r1:7000"));
        let flagged = configured(&[
            ("LIVEPK_REDIS_URL", "redis://:pw@r1:7000,r2:7000"),
            ("LIVEPK_REDIS_CLUSTER", "1"),
        ])
        .unwrap();
        assert_eq!(flagged.store_url().as_deref(), Some("redis+cluster://:pw@r1:7000,r2:7000"));
        let url = configured(&[
            ("LIVEPK_REDIS_URL", "redis+cluster://r1:7000"),
            ("LIVEPK_REDIS_CLUSTER", "1"),
        ])
        .unwrap();
        assert_eq!(url.store_url().as_deref(), Some("redis+cluster://r1:7000"));
        let error = configured(&[("LIVEPK_REDIS_CLUSTER", "yes")]).expect_err("refused");
        assert!(error.to_string().contains("LIVEPK_REDIS_CLUSTER"), "{error}");
        let replicated = configured(&[
            ("LIVEPK_REDIS_URL", "redis+cluster://r1:7000"),
            ("LIVEPK_REDIS_MIN_REPLICAS", "1"),
            ("LIVEPK_REDIS_REPLICA_WAIT_MS", "250"),
        ])
        .unwrap();
        assert_eq!((replicated.redis_min_replicas, replicated.redis_replica_wait_ms), (1, 250));
        replicated.validate_settings().expect("a sensible wait");
        let error = configured(&[("LIVEPK_REDIS_MIN_REPLICAS", "-1")]).expect_err("refused");
        assert!(error.to_string().contains("LIVEPK_REDIS_MIN_REPLICAS"), "{error}");
        let forever = configured(&[
            ("LIVEPK_REDIS_URL", "redis://r1:7000"),
            ("LIVEPK_REDIS_MIN_REPLICAS", "1"),
            ("LIVEPK_REDIS_REPLICA_WAIT_MS", "0"),
        ])
        .unwrap();
        let error = forever.validate_settings().unwrap_err().to_string();
        assert!(error.contains("redis_replica_wait_ms"), "{error}");
        let lonely = configured(&[("LIVEPK_REDIS_CLUSTER", "1")]).unwrap();
        let error = lonely.validate_settings().unwrap_err().to_string();
        assert!(error.contains("redis_cluster") && error.contains("LIVEPK_REDIS_URL"), "{error}");
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
    fn item3_redis_deployment_needs_both_tokens_unless_insecure() {
        let mut config = Config::default();
        config.validate().expect("embedded store without tokens: development, open");
        config.redis_url = Some("redis://r:6379".into());
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("LIVEPK_AUTH_TOKEN") && error.contains("LIVEPK_INSECURE"),
            "{error}"
        );
        config.auth_token = Some("gateway-token".into());
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("LIVEPK_ADMIN_TOKEN"), "only the gateway token: {error}");
        config.admin_token = Some("admin-token".into());
        config.validate().expect("both tokens");

        let mut insecure = Config::default();
        insecure
            .apply_env(env(&[("LIVEPK_REDIS_URL", "redis://r:6379"), ("LIVEPK_INSECURE", "1")]))
            .unwrap();
        insecure.validate().expect("an explicit LIVEPK_INSECURE=1");
        // A blank variable is no token at all.
        let mut blank = Config::default();
        blank
            .apply_env(env(&[("LIVEPK_REDIS_URL", "redis://r:6379"), ("LIVEPK_AUTH_TOKEN", " ")]))
            .unwrap();
        assert!(blank.validate().is_err());
        let error = Config::default().apply_env(env(&[("LIVEPK_INSECURE", "yes")])).unwrap_err();
        assert!(error.to_string().contains("LIVEPK_INSECURE"));
    }

    #[test]
    fn item3_blank_token_in_the_file_is_refused() {
        let config: Config = toml::from_str("auth_token = \"\"").unwrap();
        let error = config.validate_settings().unwrap_err().to_string();
        assert!(error.contains("auth_token") && error.contains("blank"), "{error}");
        let config: Config = toml::from_str("admin_token = \"tok en\"").unwrap();
        let error = config.validate_settings().unwrap_err().to_string();
        assert!(error.contains("admin_token"), "{error}");
    }

    #[test]
    fn item3_debug_of_the_config_hides_secrets() {
        let config = Config {
            auth_token: Some("gateway-s3cret".into()),
            admin_token: Some("admin-s3cret".into()),
            redis_url: Some("redis://:redis-s3cret@r:6379".into()),
            database_url: "mysql://u:sql-s3cret@db/livepk".into(),
            ..Config::default()
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("auth_token: Some(\"<redacted>\")"), "{printed}");
        assert!(printed.contains("db/livepk"), "{printed}");
    }

    #[test]
    fn item9_nonsense_settings_are_refused_naming_the_setting() {
        Config::default().validate_settings().expect("the defaults are valid");
        let cases: &[(&str, &str)] = &[
            ("[timers]\nbatch = 0", "timers.batch"),
            ("[timers]\npoll_interval_ms = 0", "timers.poll_interval_ms"),
            ("[timers]\nttr_ms = 0", "timers.ttr_ms"),
            ("[events]\nretention = 0", "events.retention"),
            ("[events]\nsweep_interval_ms = 0", "events.sweep_interval_ms"),
            ("[limits]\nmax_concurrent_requests = 0", "limits.max_concurrent_requests"),
            ("[limits]\nrequest_timeout_ms = 0", "limits.request_timeout_ms"),
            ("[limits]\nmax_subscribers = 0", "limits.max_subscribers"),
            ("[limits]\nsubscribe_send_timeout_ms = 0", "limits.subscribe_send_timeout_ms"),
            ("[limits]\nmax_concurrent_streams = 0", "limits.max_concurrent_streams"),
            ("[limits]\nkeepalive_interval_ms = 0", "limits.keepalive_interval_ms"),
            ("[limits]\nkeepalive_timeout_ms = 0", "limits.keepalive_timeout_ms"),
            ("[limits]\nmax_connection_age_ms = 0", "limits.max_connection_age_ms"),
            ("[limits]\nshutdown_grace_ms = 0", "limits.shutdown_grace_ms"),
            ("[clock]\ncheck_interval_ms = 0", "clock.check_interval_ms"),
            ("[clock]\nmax_skew_ms = 1", "clock.max_skew_ms"),
            ("[gifts]\nretry_horizon_ms = 1000", "gifts.retry_horizon_ms"),
            ("[gifts]\nretry_horizon_ms = 999999999999", "gifts.retry_horizon_ms"),
            ("[gifts]\nrecord_buckets = 0", "gifts.record_buckets"),
            ("[gifts]\nrecord_buckets = 2000000", "gifts.record_buckets"),
        ];
        for (text, setting) in cases {
            let config: Config = toml::from_str(text).unwrap();
            let error = config.validate_settings().expect_err(text).to_string();
            assert!(error.contains(setting), "{text}: {error}");
        }
        let off: Config = toml::from_str("[clock]\nmax_skew_ms = 0").unwrap();
        off.validate_settings().expect("0 switches the clock check off");
    }

    #[test]
    fn example_file_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/livepk.example.toml");
        if Path::new(path).exists() {
            let config = Config::from_file(path).expect("livepk.example.toml must stay valid");
            config.validate_settings().expect("livepk.example.toml must hold valid settings");
        }
    }
}
