//! The LinkCallPk steps every battle needs: anchors online, link, confirm, start, count, close,
//! and gifts.

use livepk::pb::common::UserProfile;
use livepk::pb::gift::{RecordGiftRequest, RecordGiftResponse};
use livepk::pb::linkcall::{
    ConfirmCode, ConfirmRequest, ConfirmResponse, LinkRequest, OpenFunctionRequest,
    RefreshSingerProfileRequest, SingerComeInRoomRequest, StartRequest, StartResponse,
};

use super::Client;

/// An anchor of a test: id, room and profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// `singer_id`.
    pub id: u64,
    /// `singer_sid`.
    pub sid: u64,
    /// Nickname.
    pub nick: String,
    /// Star level.
    pub star: u32,
}

impl Anchor {
    /// Anchor `id` in room `sid`, star 5.
    pub fn new(id: u64, sid: u64) -> Anchor {
        Anchor { id, sid, nick: format!("anchor-{id}"), star: 5 }
    }

    /// Its avatar URL.
    pub fn icon(&self) -> String {
        format!("https://img.example/{}.png", self.id)
    }

    /// Its level.
    pub fn level(&self) -> u32 {
        (self.id % 50) as u32 + 1
    }

    /// `RefreshSingerProfile`.
    pub async fn refresh(&self, server: &Client) {
        server
            .linkcall()
            .refresh_singer_profile(RefreshSingerProfileRequest {
                singer_id: self.id,
                singer_sid: self.sid,
                singer_nick: self.nick.clone(),
                singer_icon: self.icon(),
                singer_level: self.level(),
                singer_star: self.star,
            })
            .await
            .unwrap_or_else(|status| panic!("RefreshSingerProfile {}: {status:?}", self.id));
    }

    /// `OpenFunction` with `pk_open` 1 (result returned).
    pub async fn open(
        &self,
        server: &Client,
    ) -> Result<livepk::pb::linkcall::OpenFunctionResponse, tonic::Status> {
        server
            .linkcall()
            .open_function(OpenFunctionRequest {
                singer_id: self.id,
                singer_sid: self.sid,
                pk_open: 1,
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Refresh profile, come in the room and open the function: ready to be listed and linked.
    pub async fn online(&self, server: &Client) {
        self.refresh(server).await;
        server
            .linkcall()
            .singer_come_in_room(SingerComeInRoomRequest {
                singer_id: self.id,
                singer_sid: self.sid,
            })
            .await
            .unwrap_or_else(|status| panic!("SingerComeInRoom {}: {status:?}", self.id));
        self.open(server)
            .await
            .unwrap_or_else(|status| panic!("OpenFunction {}: {status:?}", self.id));
    }
}

/// `Link` host -> guest.
pub async fn link(
    server: &Client,
    host: &Anchor,
    guest: &Anchor,
) -> Result<livepk::pb::linkcall::LinkResponse, tonic::Status> {
    server
        .linkcall()
        .link(LinkRequest {
            host_id: host.id,
            host_sid: host.sid,
            guest_id: guest.id,
            guest_sid: guest.sid,
        })
        .await
        .map(tonic::Response::into_inner)
}

/// `Confirm` by `guest` of `host`'s popup.
pub async fn confirm(
    server: &Client,
    guest: &Anchor,
    host: &Anchor,
    code: ConfirmCode,
) -> Result<ConfirmResponse, tonic::Status> {
    server
        .linkcall()
        .confirm(ConfirmRequest {
            guest_id: guest.id,
            guest_sid: guest.sid,
            host_id: host.id,
            host_sid: host.sid,
            code: code as i32,
        })
        .await
        .map(tonic::Response::into_inner)
}

/// `Start` by `host`.
pub async fn start(
    server: &Client,
    host: &Anchor,
    guest: &Anchor,
) -> Result<StartResponse, tonic::Status> {
    server
        .linkcall()
        .start(StartRequest {
            host_id: host.id,
            host_sid: host.sid,
            guest_id: guest.id,
            guest_sid: guest.sid,
        })
        .await
        .map(tonic::Response::into_inner)
}

/// `Count` called by `caller` (host or guest).
pub async fn count(
    server: &Client,
    caller: &Anchor,
    host: &Anchor,
    guest: &Anchor,
) -> Result<livepk::pb::linkcall::CountResponse, tonic::Status> {
    server
        .linkcall()
        .count(livepk::pb::linkcall::CountRequest {
            singer_id: caller.id,
            guest_id: guest.id,
            guest_sid: guest.sid,
            host_id: host.id,
            host_sid: host.sid,
        })
        .await
        .map(tonic::Response::into_inner)
}

/// `Close` called by `caller` (host or guest).
pub async fn close(
    server: &Client,
    caller: &Anchor,
    host: &Anchor,
    guest: &Anchor,
) -> Result<livepk::pb::linkcall::CloseResponse, tonic::Status> {
    server
        .linkcall()
        .close(livepk::pb::linkcall::CloseRequest {
            singer_id: caller.id,
            guest_id: guest.id,
            guest_sid: guest.sid,
            host_id: host.id,
            host_sid: host.sid,
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Link + Confirm agree: returns the placeholder pkid.
pub async fn pair_up(server: &Client, host: &Anchor, guest: &Anchor) -> u64 {
    link(server, host, guest)
        .await
        .unwrap_or_else(|status| panic!("Link {}->{}: {status:?}", host.id, guest.id));
    let confirmed = confirm(server, guest, host, ConfirmCode::Agree)
        .await
        .unwrap_or_else(|status| panic!("Confirm {}<-{}: {status:?}", guest.id, host.id));
    assert!(confirmed.pkid > 0, "{confirmed:?}");
    confirmed.pkid
}

/// Link + Confirm + Start: returns the Start response (scoring has begun).
pub async fn battle(server: &Client, host: &Anchor, guest: &Anchor) -> StartResponse {
    let placeholder = pair_up(server, host, guest).await;
    let started =
        start(server, host, guest).await.unwrap_or_else(|status| panic!("Start: {status:?}"));
    assert_eq!(started.pkid, placeholder, "the first Start reuses the placeholder pkid");
    started
}

/// A viewer.
pub fn user(id: u64) -> UserProfile {
    UserProfile {
        user_id: id,
        user_nick: format!("user-{id}"),
        user_icon: format!("https://img.example/u{id}.png"),
        user_level: (id % 30) as u32 + 1,
        user_wealth: (id % 7) as u32 + 1,
    }
}

/// `RecordGift` of `value` points (one gift of unit value `value`) from `sender` to `to`, sent
/// now (on the server's clock).
pub async fn gift(
    server: &Client,
    txn: &str,
    sender: u64,
    to: &Anchor,
    value: u64,
) -> RecordGiftResponse {
    gift_at(server, txn, sender, to, value, server.now_ms()).await
}

/// `RecordGift` as [`gift`], sent at `sent_at_ms`.
pub async fn gift_at(
    server: &Client,
    txn: &str,
    sender: u64,
    to: &Anchor,
    value: u64,
    sent_at_ms: u64,
) -> RecordGiftResponse {
    server
        .gifts()
        .record_gift(RecordGiftRequest {
            gift_txn_id: txn.into(),
            sender: Some(user(sender)),
            receiver_id: to.id,
            room_sid: to.sid,
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
