//! InteractiveShow's gRPC adapter: the registry entry, the `pk.show.v1.InteractiveShow` service
//! ([`grpc`]) and the protobuf forms of its messages ([`convert`]). The mode itself — its rules,
//! its binding to the engine and its `tb_show` writes — is `livepk-show`.

pub mod convert;
pub mod grpc;

use std::sync::Arc;

use livepk_engine::Engine;
use livepk_show::adapter::ShowAdapter;

use crate::modes::{BuiltMode, ModeEntry};

/// InteractiveShow in the registry of modes.
pub const MODE: ModeEntry = ModeEntry {
    service_name: "pk.show.v1.InteractiveShow",
    config: &livepk_show::CONFIG_KEYS,
    build,
};

fn build(engine: &Arc<Engine>) -> BuiltMode {
    let adapter = ShowAdapter::new(engine.clone(), Arc::new(convert::ProtoEncoder));
    BuiltMode::new(adapter.parts(), grpc::server(adapter))
}
