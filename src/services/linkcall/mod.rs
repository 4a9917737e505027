//! LinkCallPk's gRPC adapter: the registry entry, the `pk.linkcall.v1.LinkCallPk` service
//! ([`grpc`]) and the protobuf forms of its messages and notifications ([`convert`]). The mode
//! itself — its rules and its binding to the engine — is `livepk-linkcall`.

pub mod convert;
pub mod grpc;

use std::sync::Arc;

use livepk_engine::Engine;
use livepk_linkcall::adapter::LinkCallAdapter;

use crate::modes::{BuiltMode, ModeEntry};

/// LinkCallPk in the registry of modes.
pub const MODE: ModeEntry = ModeEntry {
    service_name: "pk.linkcall.v1.LinkCallPk",
    config: &livepk_linkcall::CONFIG_KEYS,
    build,
};

fn build(engine: &Arc<Engine>) -> BuiltMode {
    let adapter = LinkCallAdapter::new(engine.clone(), Arc::new(convert::ProtoEncoder));
    BuiltMode::new(adapter.parts(), grpc::server(adapter))
}
