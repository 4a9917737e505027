//! The livepk server: gRPC adapters (proto <-> domain), the registry of modes, and the wiring
//! that starts the battle engine (`livepk-engine`) with every mode on it.
//!
//! Invariant: only this package knows protobuf and tonic. Feature crates are pure state
//! machines with their engine binding; `livepk-engine` runs them; `livepk-store` owns Redis;
//! `livepk-sql` owns SQL.

pub mod config;
pub mod drain;
pub mod gate;
pub mod metrics;
pub mod modes;
pub mod pb;
pub mod services;
pub mod status;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use livepk_core::{Clock, ConfigRegistry, SystemClock};
use livepk_engine::{Engine, RunnerOptions, Runtime, RuntimeOptions, Settings};
use livepk_sql::{Database, DatabaseOptions};
use livepk_store::{MemoryStore, RedisStore, Store, StoreOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::RoutesBuilder;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::config::Config;
use crate::gate::{GateLayer, GateOptions};
use crate::metrics::METRICS;

/// Health service name that stays SERVING for as long as the process runs (for Kubernetes
/// liveness probes: an unreachable Redis makes the replica unready, not dead).
pub const LIVENESS_SERVICE: &str = "liveness";

/// The gRPC services every server exposes whatever its modes.
pub const CORE_SERVICE_NAMES: &[&str] =
    &["pk.gift.v1.Gifts", "pk.events.v1.Events", "pk.admin.v1.Admin"];

/// The gRPC services this server exposes: the core ones, then each mode's (health is reported
/// for each and for "").
pub fn service_names() -> Vec<&'static str> {
    CORE_SERVICE_NAMES.iter().copied().chain(modes::service_names()).collect()
}

/// Everything the gRPC services of a running server hold. Cheap to clone.
#[derive(Clone)]
pub struct App {
    /// The engine with every mode, the ledger and the background machinery.
    pub runtime: Arc<Runtime>,
    /// Shutdown signal for long-lived streams.
    pub stop: watch::Receiver<bool>,
}

impl std::ops::Deref for App {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.runtime.engine
    }
}

/// Every config key the server knows: each mode's, then the engine's.
pub fn config_registry() -> ConfigRegistry {
    ConfigRegistry::new(modes::config_keys().chain(livepk_engine::config::ENGINE_KEYS))
}

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Redis could not be reached at start-up.
    #[error("store: {0}")]
    Store(#[from] livepk_store::StoreError),
    /// SQL could not be reached or migrated at start-up.
    #[error("sql: {0}")]
    Sql(#[from] livepk_sql::SqlError),
    /// The gRPC transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Building the reflection service failed (a broken descriptor set).
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// A setting the server cannot run with.
    #[error("config: {0}")]
    Config(#[from] config::ConfigError),
}

/// Opens the store the configuration asks for: Redis when a URL is set, else the embedded one.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, ServeError> {
    let options = StoreOptions {
        event_retention: config.events.retention,
        min_replicas: config.redis_min_replicas,
        replica_wait: std::time::Duration::from_millis(config.redis_replica_wait_ms),
        record_buckets: config.gifts.record_buckets,
        ..StoreOptions::default()
    };
    Ok(match config.store_url() {
        Some(url) => {
            let store = RedisStore::connect(&url, &config.key_prefix, options).await?;
            if store.is_cluster() && config.redis_min_replicas == 0 {
                tracing::warn!(
                    "Redis Cluster with LIVEPK_REDIS_MIN_REPLICAS=0: writes are answered once a \
                     primary has them; a primary that crashes before its replica copied them \
                     loses them without anyone knowing (README \"Redis Cluster\")"
                );
            }
            Arc::new(store)
        }
        None => {
            tracing::warn!(
                "LIVEPK_REDIS_URL is not set: using the embedded in-process store. It is for ONE \
                 process only (development, demos); state is lost on exit and replicas would not \
                 share it"
            );
            Arc::new(MemoryStore::new(options))
        }
    })
}

/// A server's machinery before it serves: the engine with every registered mode and their
/// background tasks not yet started, and the modes' gRPC services.
pub struct Built {
    /// The engine, the modes, the ledger, the poller and the coalescer.
    pub runtime: Arc<Runtime>,
    /// The gRPC services of the modes (the core services are added by [`run_with_clock`]).
    pub routes: RoutesBuilder,
}

/// Opens the store and SQL `config` names and builds the engine with every mode of
/// [`modes::MODES`] on it, reading time from `clock`.
pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> Result<Built, ServeError> {
    let store = open_store(config).await?;
    let registry = config_registry();
    let database_options =
        DatabaseOptions { config_keys: registry.specs().to_vec(), ..DatabaseOptions::default() };
    let database = Database::connect_with(&config.database_url, &database_options).await?;
    let settings = Arc::new(Settings::new(database.clone(), store.clone(), registry));
    let engine = Arc::new(Engine::new(clock, store, database, settings));
    let mut routes = RoutesBuilder::default();
    let mut parts = Vec::new();
    for mode in modes::MODES {
        let built = (mode.build)(&engine);
        assert_eq!(built.service_name, mode.service_name, "a mode registered under another name");
        (built.add_service)(&mut routes);
        parts.push(built.parts);
    }
    let runtime = Arc::new(Runtime::new(engine, parts, runtime_options(config)));
    Ok(Built { runtime, routes })
}

/// Serves on `listener` until `shutdown` completes, with the real clock.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    run_with_clock(listener, config, Arc::new(SystemClock), shutdown).await
}

/// Serves on `listener` until `shutdown` completes, reading time from `clock` (tests drive
/// deadlines with a manual clock).
pub async fn run_with_clock(
    listener: TcpListener,
    config: Config,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    config.validate_settings()?;
    log_auth_posture(&config);
    let (stop_sender, stop) = watch::channel(false);
    let Built { runtime, routes } = build(&config, clock).await?;
    let store = runtime.engine.store.clone();
    let service_names = service_names();
    let app = App { runtime, stop: stop.clone() };
    // The clock is measured before any deadline can be claimed.
    if let Err(error) = app.runtime.clock_check.measure().await {
        tracing::warn!(%error, "clock check: cannot read the store's clock at start");
    }
    let background = app.runtime.spawn_background(stop.clone());

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status(LIVENESS_SERVICE, ServingStatus::Serving).await;
    let clock_check = app.runtime.clock_check.clone();
    let initially =
        if clock_check.within_bound() { ServingStatus::Serving } else { ServingStatus::NotServing };
    set_health(&health, &service_names, initially).await;
    let watchdog = tokio::spawn(watch_store(
        store,
        clock_check,
        health.clone(),
        service_names.clone(),
        stop.clone(),
    ));

    let descriptors = pb::FILE_DESCRIPTOR_SET;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(descriptors)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(descriptors)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        // google.rpc.ErrorInfo / BadRequest, so grpcurl can print error details.
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let limits = &config.limits;
    let gate = GateLayer::new(GateOptions {
        auth_token: config.auth_token.clone(),
        admin_token: config.admin_token.clone(),
        max_concurrent_requests: limits.max_concurrent_requests,
    })
    .with_request_timeout(Duration::from_millis(limits.request_timeout_ms));
    let subscribe_limits = services::events::SubscribeLimits {
        max_subscribers: limits.max_subscribers,
        send_timeout: Duration::from_millis(limits.subscribe_send_timeout_ms),
    };
    let shutdown_grace = Duration::from_millis(limits.shutdown_grace_ms);
    let address = listener.local_addr().ok();
    tracing::info!(?address, backend = app.store.backend(), "livepk serving");

    let drain_health = health.clone();
    let drain_names = service_names.clone();
    let drain = async move {
        shutdown.await;
        tracing::info!("shutting down: draining in-flight calls, no more timer claims");
        set_health(&drain_health, &drain_names, ServingStatus::NotServing).await;
        let _ = stop_sender.send(true);
    };
    // Connections still open `shutdown_grace` after the drain began are cut.
    let (cut_sender, cut) = watch::channel(false);
    let incoming = drain::cuttable(no_delay(TcpListenerStream::new(listener)), cut);

    let serve = tonic::transport::Server::builder()
        .trace_fn(telemetry::request_span)
        .http2_keepalive_interval(Some(Duration::from_millis(limits.keepalive_interval_ms)))
        .http2_keepalive_timeout(Some(Duration::from_millis(limits.keepalive_timeout_ms)))
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_connection_age(Duration::from_millis(limits.max_connection_age_ms))
        .max_connection_age_grace(shutdown_grace)
        .layer(gate)
        .add_routes(routes.routes())
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(services::gifts::server(app.clone()))
        .add_service(services::events::server_with(app.clone(), subscribe_limits))
        .add_service(services::admin::server(app.clone()))
        .serve_with_incoming_shutdown(incoming, drain);
    tokio::pin!(serve);
    let mut draining = stop.clone();
    let result = tokio::select! {
        result = &mut serve => result,
        _ = async {
            livepk_engine::stopped(&mut draining).await;
            tokio::time::sleep(shutdown_grace).await;
        } => {
            tracing::warn!(
                grace_ms = shutdown_grace.as_millis() as u64,
                "calls still open after limits.shutdown_grace_ms: closing their connections"
            );
            let _ = cut_sender.send(true);
            serve.await
        }
    };
    // The server has drained; let background tasks finish their current step.
    let _ = tokio::time::timeout(Duration::from_secs(5), background).await;
    watchdog.abort();
    result.map_err(ServeError::from)
}

/// Says at start-up who may call: the binary refuses a Redis deployment without tokens unless
/// `LIVEPK_INSECURE=1` (see `Config::validate`); whatever is left open is logged here.
fn log_auth_posture(config: &Config) {
    match (&config.auth_token, &config.admin_token) {
        (Some(_), Some(_)) => tracing::info!("gateway and Admin calls need their bearer tokens"),
        (Some(_), None) => tracing::warn!(
            "LIVEPK_ADMIN_TOKEN is not set: Admin calls need the gateway token (LIVEPK_AUTH_TOKEN)"
        ),
        (None, admin) => {
            let store = if config.redis_url.is_some() {
                "LIVEPK_INSECURE=1"
            } else {
                "embedded store (development)"
            };
            if admin.is_some() {
                tracing::warn!(store, "LIVEPK_AUTH_TOKEN is not set: gateway calls are OPEN");
            } else {
                tracing::warn!(
                    store,
                    "no tokens set: gateway and Admin calls are OPEN to anyone who reaches the port"
                );
            }
        }
    }
}

/// Accepted connections with Nagle's algorithm off: small gRPC replies must not wait for the
/// next packet (tonic's own `tcp_nodelay` does not apply to a caller-supplied listener).
fn no_delay(
    incoming: TcpListenerStream,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use futures::StreamExt;
    incoming.map(|accepted| {
        accepted.inspect(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        })
    })
}

/// The engine's tunables from the process configuration.
fn runtime_options(config: &Config) -> RuntimeOptions {
    RuntimeOptions {
        timers: RunnerOptions {
            poll_interval: Duration::from_millis(config.timers.poll_interval_ms),
            ttr: Duration::from_millis(config.timers.ttr_ms),
            batch: config.timers.batch,
        },
        sweep_interval: Duration::from_millis(config.events.sweep_interval_ms),
        gift_record_ttl: Duration::from_millis(config.gifts.retry_horizon_ms),
        clock_check: livepk_engine::clock_check::ClockCheckOptions {
            max_skew: (config.clock.max_skew_ms > 0)
                .then(|| Duration::from_millis(config.clock.max_skew_ms)),
            interval: Duration::from_millis(config.clock.check_interval_ms),
        },
    }
}

async fn set_health(health: &HealthReporter, services: &[&'static str], status: ServingStatus) {
    health.set_service_status("", status).await;
    for name in services {
        health.set_service_status(*name, status).await;
    }
}

/// Flips health to NOT_SERVING while the store does not answer or this replica's clock is off
/// the store's by more than the bound, and back when both are fine again.
async fn watch_store(
    store: Arc<dyn Store>,
    clock_check: Arc<livepk_engine::clock_check::ClockCheck>,
    health: HealthReporter,
    services: Vec<&'static str>,
    mut stop: watch::Receiver<bool>,
) {
    let mut serving = clock_check.within_bound();
    let mut clock_changes = clock_check.watch();
    let mut store_up = true;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                store_up = tokio::time::timeout(Duration::from_secs(2), store.ping())
                    .await
                    .is_ok_and(|r| r.is_ok());
                METRICS.store_up.set(i64::from(store_up));
            }
            changed = clock_changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = livepk_engine::stopped(&mut stop) => return,
        }
        let clock_ok = clock_check.within_bound();
        let up = store_up && clock_ok;
        if up != serving {
            serving = up;
            if up {
                tracing::info!("store reachable and clock within the bound again: serving");
                set_health(&health, &services, ServingStatus::Serving).await;
            } else {
                let reason = if store_up {
                    "clock off the store's beyond the bound"
                } else {
                    "store unreachable"
                };
                tracing::error!(reason, "health NOT_SERVING");
                set_health(&health, &services, ServingStatus::NotServing).await;
            }
        }
    }
}
