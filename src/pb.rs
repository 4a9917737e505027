//! The generated protobuf types and gRPC stubs (from `proto/`, compiled by `build.rs`).

#![allow(clippy::all, clippy::pedantic, missing_docs)]

/// The `pk.*` packages.
pub mod pk {
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("pk.common.v1");
        }
    }
    pub mod gift {
        pub mod v1 {
            tonic::include_proto!("pk.gift.v1");
        }
    }
    pub mod events {
        pub mod v1 {
            tonic::include_proto!("pk.events.v1");
        }
    }
    pub mod admin {
        pub mod v1 {
            tonic::include_proto!("pk.admin.v1");
        }
    }
    pub mod linkcall {
        pub mod v1 {
            tonic::include_proto!("pk.linkcall.v1");
        }
    }
    pub mod giftpk {
        pub mod v1 {
            tonic::include_proto!("pk.giftpk.v1");
        }
    }
    pub mod acrosspk {
        pub mod v1 {
            tonic::include_proto!("pk.acrosspk.v1");
        }
    }
    pub mod roompk {
        pub mod v1 {
            tonic::include_proto!("pk.roompk.v1");
        }
    }
    pub mod show {
        pub mod v1 {
            tonic::include_proto!("pk.show.v1");
        }
    }
}

/// AcrossPk's package (`pk.acrosspk.v1`).
pub use pk::acrosspk::v1 as acrosspk;
/// GiftPk's package (`pk.giftpk.v1`).
pub use pk::giftpk::v1 as giftpk;
/// RoomPk's package (`pk.roompk.v1`).
pub use pk::roompk::v1 as roompk;
/// InteractiveShow's package (`pk.show.v1`).
pub use pk::show::v1 as show;
pub use pk::{
    admin::v1 as admin, common::v1 as common, events::v1 as events, gift::v1 as gift,
    linkcall::v1 as linkcall,
};

/// Every file of `proto/` as an encoded `FileDescriptorSet`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/livepk_descriptor.bin"));

/// Converts between the domain's [`livepk_core::Mode`] and the wire enum.
pub fn mode_to_proto(mode: livepk_core::Mode) -> common::Mode {
    match mode {
        livepk_core::Mode::LinkCall => common::Mode::Linkcall,
        livepk_core::Mode::RoomPk => common::Mode::Roompk,
        livepk_core::Mode::AcrossPk => common::Mode::Acrosspk,
        livepk_core::Mode::GiftPk => common::Mode::Giftpk,
        livepk_core::Mode::InteractiveShow => common::Mode::Show,
    }
}

/// The domain mode of a wire enum value (`None` for unspecified or unknown values).
pub fn mode_from_proto(value: i32) -> Option<livepk_core::Mode> {
    Some(match common::Mode::try_from(value).ok()? {
        common::Mode::Linkcall => livepk_core::Mode::LinkCall,
        common::Mode::Roompk => livepk_core::Mode::RoomPk,
        common::Mode::Acrosspk => livepk_core::Mode::AcrossPk,
        common::Mode::Giftpk => livepk_core::Mode::GiftPk,
        common::Mode::Show => livepk_core::Mode::InteractiveShow,
        common::Mode::Unspecified => return None,
    })
}

/// A notification message packed as the `payload` of an event.
pub fn any<M: prost::Name>(message: &M) -> prost_types::Any {
    // Encoding into a Vec cannot fail (it grows as needed).
    prost_types::Any::from_msg(message).unwrap_or_default()
}

/// The encoded `pk.events.v1.Event` of one notification, for an outbox: the envelope every mode
/// shares around its own `payload`. The stream position (`event_id`) is set when it is read.
pub fn encode_event(
    mode: livepk_core::Mode,
    target: livepk_core::Target,
    message_name: &str,
    pkid: u64,
    time_now: u64,
    payload: prost_types::Any,
) -> Vec<u8> {
    use prost::Message;
    let kind = match target.kind {
        livepk_core::TargetKind::Room => common::TargetKind::Room,
        livepk_core::TargetKind::Singer => common::TargetKind::Singer,
        livepk_core::TargetKind::User => common::TargetKind::User,
    };
    events::Event {
        event_id: String::new(),
        time_now,
        mode: mode_to_proto(mode) as i32,
        pkid,
        target: Some(common::Target { kind: kind as i32, id: target.id }),
        r#type: message_name.to_owned(),
        payload: Some(payload),
    }
    .encode_to_vec()
}
