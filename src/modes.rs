//! The registry of modes: the one place that lists what this server serves. Each mode declares
//! itself in one [`ModeEntry`] beside its gRPC adapter — its config keys, and how to build it on
//! the engine: its engine parts (gift claims, deadline handlers, score notifications, forced
//! close) and its gRPC service with the health name that service answers to. The machinery
//! (`livepk-engine`), the admin service and the server wiring name no mode.
//!
//! Adding a mode is one line in [`MODES`] (see `ARCHITECTURE.md`, "Adding a mode").

use std::sync::Arc;

use livepk_core::ConfigSpec;
use livepk_engine::{Engine, ModeParts};
use tonic::service::RoutesBuilder;

use crate::services;

/// Every mode this server serves, in the order their config keys are listed.
pub const MODES: &[ModeEntry] = &[
    services::linkcall::MODE,
    services::giftpk::MODE,
    services::roompk::MODE,
    services::acrosspk::MODE,
    services::show::MODE,
];

/// How one mode registers itself.
pub struct ModeEntry {
    /// Its gRPC service's full name (`pk.<mode>.v1.<Service>`): the name health reports it under.
    pub service_name: &'static str,
    /// Its hot config keys (`<mode>.*`), seeded, validated and listed by `Admin`.
    pub config: &'static [&'static ConfigSpec],
    /// Builds it on the engine.
    pub build: fn(&Arc<Engine>) -> BuiltMode,
}

/// A mode built on an engine.
pub struct BuiltMode {
    /// What it plugs into the engine's runtime.
    pub parts: ModeParts,
    /// Its gRPC service's full name (`pk.<mode>.v1.<Service>`), reported by health.
    pub service_name: &'static str,
    /// Adds its gRPC service to the server.
    pub add_service: Box<dyn FnOnce(&mut RoutesBuilder) + Send>,
}

impl BuiltMode {
    /// A built mode serving `service` (a tonic server) with `parts` plugged into the runtime.
    pub fn new<S>(parts: ModeParts, service: S) -> BuiltMode
    where
        S: tonic::server::NamedService
            + tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        BuiltMode {
            parts,
            service_name: S::NAME,
            add_service: Box::new(move |routes| {
                routes.add_service(service);
            }),
        }
    }
}

/// Every mode's gRPC service name.
pub fn service_names() -> impl Iterator<Item = &'static str> {
    MODES.iter().map(|mode| mode.service_name)
}

/// Every mode's config keys.
pub fn config_keys() -> impl Iterator<Item = &'static ConfigSpec> {
    MODES.iter().flat_map(|mode| mode.config.iter().copied())
}
