//! The livepk server: gRPC adapters (proto <-> domain), the registry of modes, and the wiring
//! that starts the battle engine (`livepk-engine`) with every mode on it.
//!
//! Invariant: only this package knows protobuf and tonic. Feature crates are pure state
//! machines with their engine binding; `livepk-engine` runs them; `livepk-store` owns Redis;
//! `livepk-sql` owns SQL.

pub mod config;
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
}

/// Opens the store the configuration asks for: Redis when a URL is set, else the embedded one.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, ServeError> {
    let options =
        StoreOptions { event_retention: config.events.retention, ..StoreOptions::default() };
    Ok(match &config.redis_url {
        Some(url) => Arc::new(RedisStore::connect(url, &config.key_prefix, options).await?),
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
    if config.auth_token.is_none() {
        tracing::warn!("LIVEPK_AUTH_TOKEN is not set: gateway calls are not authenticated");
    }
    if config.admin_token.is_none() {
        tracing::warn!("LIVEPK_ADMIN_TOKEN is not set: Admin calls are not authenticated");
    }
    let (stop_sender, stop) = watch::channel(false);
    let Built { runtime, routes } = build(&config, clock).await?;
    let store = runtime.engine.store.clone();
    let service_names = service_names();
    let app = App { runtime, stop: stop.clone() };
    let background = app.runtime.spawn_background(stop.clone());

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status(LIVENESS_SERVICE, ServingStatus::Serving).await;
    set_health(&health, &service_names, ServingStatus::Serving).await;
    let watchdog =
        tokio::spawn(watch_store(store, health.clone(), service_names.clone(), stop.clone()));

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

    let gate = GateLayer::new(GateOptions {
        auth_token: config.auth_token.clone(),
        admin_token: config.admin_token.clone(),
        max_concurrent_requests: config.limits.max_concurrent_requests,
    });
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

    let result = tonic::transport::Server::builder()
        .trace_fn(telemetry::request_span)
        .layer(gate)
        .add_routes(routes.routes())
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(services::gifts::server(app.clone()))
        .add_service(services::events::server(app.clone()))
        .add_service(services::admin::server(app.clone()))
        .serve_with_incoming_shutdown(no_delay(TcpListenerStream::new(listener)), drain)
        .await;
    // The server has drained; let background tasks finish their current step.
    let _ = tokio::time::timeout(Duration::from_secs(5), background).await;
    watchdog.abort();
    result.map_err(ServeError::from)
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
    }
}

async fn set_health(health: &HealthReporter, services: &[&'static str], status: ServingStatus) {
    health.set_service_status("", status).await;
    for name in services {
        health.set_service_status(*name, status).await;
    }
}

/// Flips health to NOT_SERVING while the store does not answer, and back when it does.
async fn watch_store(
    store: Arc<dyn Store>,
    health: HealthReporter,
    services: Vec<&'static str>,
    mut stop: watch::Receiver<bool>,
) {
    let mut serving = true;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = livepk_engine::stopped(&mut stop) => return,
        }
        let up = tokio::time::timeout(Duration::from_secs(2), store.ping())
            .await
            .is_ok_and(|r| r.is_ok());
        METRICS.store_up.set(i64::from(up));
        if up != serving {
            serving = up;
            if up {
                tracing::info!("store reachable again: serving");
                set_health(&health, &services, ServingStatus::Serving).await;
            } else {
                tracing::error!("store unreachable: health NOT_SERVING");
                set_health(&health, &services, ServingStatus::NotServing).await;
            }
        }
    }
}
