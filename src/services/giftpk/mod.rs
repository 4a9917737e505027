//! GiftPk's gRPC adapter: the registry entry, the `pk.giftpk.v1.GiftPk` service ([`grpc`]) and
//! the protobuf forms of its messages and notifications ([`convert`]). The mode itself — its
//! rules and its binding to the engine — is `livepk-giftpk`.

pub mod convert;
pub mod grpc;

use std::sync::Arc;

use livepk_engine::Engine;
use livepk_giftpk::adapter::GiftPkAdapter;

use crate::modes::{BuiltMode, ModeEntry};

/// GiftPk in the registry of modes.
pub const MODE: ModeEntry =
    ModeEntry { service_name: "pk.giftpk.v1.GiftPk", config: &livepk_giftpk::CONFIG_KEYS, build };

fn build(engine: &Arc<Engine>) -> BuiltMode {
    let adapter = GiftPkAdapter::new(engine.clone(), Arc::new(convert::ProtoEncoder));
    BuiltMode::new(adapter.parts(), grpc::server(adapter))
}
