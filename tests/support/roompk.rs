//! The RoomPk steps the black-box tests share: a client, the room's state, gifts to seated
//! users, and the events of the mode.

use livepk::pb::common::{Mode, UserProfile};
use livepk::pb::events::{Event, EventFilter};
use livepk::pb::gift::{RecordGiftRequest, RecordGiftResponse};
use livepk::pb::roompk::room_pk_client::RoomPkClient;
use livepk::pb::roompk::{GetStateRequest, GetStateResponse, Phase, RoomPkInfo};
use tonic::transport::Channel;

use super::{Client, SETTLE_SLACK, eventually};

/// A RoomPk client of `server`.
pub fn roompk(server: &Client) -> RoomPkClient<Channel> {
    RoomPkClient::new(server.channel.clone())
}

/// Only RoomPk events.
pub fn roompk_filter() -> EventFilter {
    EventFilter { modes: vec![Mode::Roompk as i32], ..Default::default() }
}

/// A sender's profile as the tests send it with every gift.
pub fn sender(user_id: u64) -> UserProfile {
    UserProfile {
        user_id,
        user_nick: format!("fan-{user_id}"),
        user_icon: format!("https://img.example/u{user_id}.png"),
        user_level: (user_id % 30) as u32 + 1,
        user_wealth: (user_id % 7) as u32,
    }
}

/// `GetState` of `room` (with `user`'s totals when non-zero).
pub async fn room_state(server: &Client, room: u64, user: u64) -> GetStateResponse {
    roompk(server)
        .get_state(GetStateRequest { room_id: room, user_id: user })
        .await
        .unwrap_or_else(|status| panic!("GetState {room}: {status:?}"))
        .into_inner()
}

/// A gift of `value` points from `from` to `to` in `room`, sent now (the server's clock), as
/// `txn`.
pub async fn room_gift(
    server: &Client,
    txn: &str,
    from: u64,
    to: u64,
    room: u64,
    value: u64,
) -> RecordGiftResponse {
    room_gift_at(server, txn, from, to, room, value, server.now_ms()).await
}

/// [`room_gift`] sent at `sent_at_ms` (a replay of a gift is sent at the same moment).
pub async fn room_gift_at(
    server: &Client,
    txn: &str,
    from: u64,
    to: u64,
    room: u64,
    value: u64,
    sent_at_ms: u64,
) -> RecordGiftResponse {
    server
        .gifts()
        .record_gift(RecordGiftRequest {
            gift_txn_id: txn.into(),
            sender: Some(sender(from)),
            receiver_id: to,
            room_sid: room,
            gift_id: 7,
            gift_count: 1,
            unit_value: value,
            sent_at_ms,
            show_id: None,
            call_id: None,
        })
        .await
        .unwrap_or_else(|status| panic!("RecordGift {txn}: {status:?}"))
        .into_inner()
}

/// Waits until `room`'s battle is in `phase`; returns it.
pub async fn wait_room_phase(server: &Client, room: u64, phase: Phase) -> RoomPkInfo {
    eventually(&format!("room {room} in phase {phase:?}"), SETTLE_SLACK, || async move {
        room_state(server, room, 0).await.pk.filter(|pk| pk.phase == phase as i32)
    })
    .await
}

/// The `type` and payload of a RoomPk event, decoded as `M` when it holds one.
pub fn roompk_nt<M: prost::Message + prost::Name + Default>(
    event: &Event,
    kind: &str,
) -> Option<M> {
    (event.r#type == kind).then(|| super::payload::<M>(event)).flatten()
}
