//! AcrossPk's gRPC adapter: the registry entry, the `pk.acrosspk.v1.AcrossPk` service ([`grpc`])
//! and the protobuf forms of its messages and notifications ([`convert`]). The mode itself — its
//! rules and its binding to the engine — is `livepk-acrosspk`.

pub mod convert;
pub mod grpc;

use std::sync::Arc;

use livepk_acrosspk::adapter::AcrossPkAdapter;
use livepk_engine::Engine;

use crate::modes::{BuiltMode, ModeEntry};

/// AcrossPk in the registry of modes.
pub const MODE: ModeEntry = ModeEntry {
    service_name: "pk.acrosspk.v1.AcrossPk",
    config: &livepk_acrosspk::CONFIG_KEYS,
    build,
};

fn build(engine: &Arc<Engine>) -> BuiltMode {
    let adapter = AcrossPkAdapter::new(engine.clone(), Arc::new(convert::ProtoEncoder));
    BuiltMode::new(adapter.parts(), grpc::server(adapter))
}
