//! RoomPk's gRPC adapter: the registry entry, the `pk.roompk.v1.RoomPk` service ([`grpc`]) and
//! the protobuf forms of its messages and notifications ([`convert`]). The mode itself — its
//! rules and its binding to the engine — is `livepk-roompk`.

pub mod convert;
pub mod grpc;

use std::sync::Arc;

use livepk_engine::Engine;
use livepk_roompk::adapter::RoomPkAdapter;

use crate::modes::{BuiltMode, ModeEntry};

/// RoomPk in the registry of modes.
pub const MODE: ModeEntry =
    ModeEntry { service_name: "pk.roompk.v1.RoomPk", config: &livepk_roompk::CONFIG_KEYS, build };

fn build(engine: &Arc<Engine>) -> BuiltMode {
    let adapter = RoomPkAdapter::new(engine.clone(), Arc::new(convert::ProtoEncoder));
    BuiltMode::new(adapter.parts(), grpc::server(adapter))
}
