//! The AcrossPk steps a cross-room battle needs: rooms that create, challenge, answer, accept and
//! finish; gifts sent in a room; the room's state; the mode's events and records.

use livepk::pb::acrosspk::across_pk_client::AcrossPkClient;
use livepk::pb::acrosspk::{
    AcceptRequest, AcceptResponse, AcceptSource, AcrossPkOffer, CancelCreateRequest,
    ChallengeRequest, CreateRequest, FinishRequest, FinishResponse, GetStateRequest,
    GetStateResponse, ListChallengesRequest, ListCreatedRequest, RejectRequest,
};
use livepk::pb::admin::{GetPkRecordRequest, ListPkRecordsRequest, PkRecord};
use livepk::pb::common::Mode;
use livepk::pb::events::{Event, EventFilter};
use livepk::pb::gift::{RecordGiftRequest, RecordGiftResponse};
use tonic::transport::Channel;

use super::{Client, SETTLE_SLACK, eventually, user};

/// An AcrossPk client.
pub fn acrosspk(server: &Client) -> AcrossPkClient<Channel> {
    AcrossPkClient::new(server.channel.clone())
}

/// Only AcrossPk events.
pub fn acrosspk_filter() -> EventFilter {
    EventFilter { modes: vec![Mode::Acrosspk as i32], ..Default::default() }
}

/// The payload of an AcrossPk event of type `kind` as an `M`, when it is one.
pub fn across_nt<M: prost::Message + prost::Name + Default>(
    event: &Event,
    kind: &str,
) -> Option<M> {
    if event.r#type != kind {
        return None;
    }
    super::payload(event)
}

/// A party room of a test: its id, names and its operator (the room owner, `id * 10`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyRoom {
    /// `room_id`.
    pub id: u64,
}

impl PartyRoom {
    /// Room `id`.
    pub fn new(id: u64) -> PartyRoom {
        PartyRoom { id }
    }

    /// Its operator.
    pub fn operator(&self) -> u64 {
        self.id * 10
    }

    /// `room_name`.
    pub fn name(&self) -> String {
        format!("party {}", self.id)
    }

    /// `user_name` (the owner).
    pub fn owner(&self) -> String {
        format!("owner {}", self.id)
    }

    /// `user_avatar`.
    pub fn avatar(&self) -> String {
        format!("https://img.example/r{}.png", self.id)
    }

    /// `Create` with `punishment` and `countdown`.
    pub async fn create(
        &self,
        server: &Client,
        countdown: u64,
    ) -> Result<AcrossPkOffer, tonic::Status> {
        acrosspk(server)
            .create(CreateRequest {
                room_id: self.id,
                operator_id: self.operator(),
                room_name: self.name(),
                user_name: self.owner(),
                user_avatar: self.avatar(),
                punishment: format!("room {} sings", self.id),
                countdown,
            })
            .await
            .map(|response| response.into_inner().pk.expect("the created pk"))
    }

    /// `CancelCreate`.
    pub async fn cancel(&self, server: &Client) -> Result<AcrossPkOffer, tonic::Status> {
        acrosspk(server)
            .cancel_create(CancelCreateRequest { room_id: self.id, operator_id: self.operator() })
            .await
            .map(|response| response.into_inner().pk.expect("the withdrawn pk"))
    }

    /// `Challenge` of `other` with `countdown`.
    pub async fn challenge(
        &self,
        server: &Client,
        other: &PartyRoom,
        countdown: u64,
    ) -> Result<AcrossPkOffer, tonic::Status> {
        acrosspk(server)
            .challenge(ChallengeRequest {
                room_id: self.id,
                pk_room_id: other.id,
                operator_id: self.operator(),
                room_name: self.name(),
                user_name: self.owner(),
                user_avatar: self.avatar(),
                punishment: format!("room {} dances", self.id),
                countdown,
            })
            .await
            .map(|response| response.into_inner().challenge.expect("the challenge"))
    }

    /// `Reject` of `challenger`'s challenge.
    pub async fn reject(
        &self,
        server: &Client,
        challenger: &PartyRoom,
    ) -> Result<AcrossPkOffer, tonic::Status> {
        acrosspk(server)
            .reject(RejectRequest {
                room_id: self.id,
                pk_room_id: challenger.id,
                operator_id: self.operator(),
            })
            .await
            .map(|response| response.into_inner().challenge.expect("the rejected challenge"))
    }

    /// `Accept` of `other`'s created PK or challenge.
    pub async fn accept(
        &self,
        server: &Client,
        other: &PartyRoom,
        source: AcceptSource,
    ) -> Result<AcceptResponse, tonic::Status> {
        acrosspk(server)
            .accept(AcceptRequest {
                room_id: self.id,
                pk_room_id: other.id,
                operator_id: self.operator(),
                source: source as i32,
                room_name: self.name(),
                user_name: self.owner(),
                user_avatar: self.avatar(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// `Finish` of PK `pkid` by the room's operator.
    pub async fn finish(
        &self,
        server: &Client,
        pkid: u64,
    ) -> Result<FinishResponse, tonic::Status> {
        self.finish_by(server, pkid, self.operator()).await
    }

    /// `Finish` of PK `pkid` for this room by `operator_id`.
    pub async fn finish_by(
        &self,
        server: &Client,
        pkid: u64,
        operator_id: u64,
    ) -> Result<FinishResponse, tonic::Status> {
        acrosspk(server)
            .finish(FinishRequest { room_id: self.id, operator_id, pkid })
            .await
            .map(tonic::Response::into_inner)
    }

    /// `GetState`.
    pub async fn state(&self, server: &Client) -> GetStateResponse {
        acrosspk(server)
            .get_state(GetStateRequest { room_id: self.id })
            .await
            .unwrap_or_else(|status| panic!("GetState {}: {status:?}", self.id))
            .into_inner()
    }

    /// `ListChallenges`: the challenging rooms, newest first.
    pub async fn challengers(&self, server: &Client) -> Vec<u64> {
        acrosspk(server)
            .list_challenges(ListChallengesRequest { room_id: self.id })
            .await
            .unwrap_or_else(|status| panic!("ListChallenges {}: {status:?}", self.id))
            .into_inner()
            .challenges
            .iter()
            .map(|challenge| challenge.create_room_id)
            .collect()
    }

    /// `ListCreated` page `page_num`, as seen by this room.
    pub async fn created_list(&self, server: &Client, page_num: u32) -> Vec<AcrossPkOffer> {
        acrosspk(server)
            .list_created(ListCreatedRequest { room_id: self.id, page_num })
            .await
            .unwrap_or_else(|status| panic!("ListCreated {}: {status:?}", self.id))
            .into_inner()
            .pks
    }

    /// `RecordGift` of `value` points sent in this room by viewer `sender` to `receiver` now.
    pub async fn gift(
        &self,
        server: &Client,
        txn: &str,
        sender: u64,
        receiver: u64,
        value: u64,
    ) -> RecordGiftResponse {
        self.gift_at(server, txn, sender, receiver, value, server.now_ms()).await
    }

    /// [`Room::gift`] sent at `sent_at_ms` (a replay of a gift is sent at the same moment).
    pub async fn gift_at(
        &self,
        server: &Client,
        txn: &str,
        sender: u64,
        receiver: u64,
        value: u64,
        sent_at_ms: u64,
    ) -> RecordGiftResponse {
        server
            .gifts()
            .record_gift(RecordGiftRequest {
                gift_txn_id: txn.into(),
                sender: Some(user(sender)),
                receiver_id: receiver,
                room_sid: self.id,
                gift_id: 9,
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
}

/// `Admin.GetPkRecord` for an AcrossPk pkid; `None` on NOT_FOUND.
pub async fn across_record(server: &Client, pkid: u64) -> Option<PkRecord> {
    match server
        .admin()
        .get_pk_record(GetPkRecordRequest { mode: Mode::Acrosspk as i32, pkid })
        .await
    {
        Ok(response) => response.into_inner().record,
        Err(status) if status.code() == tonic::Code::NotFound => None,
        Err(status) => panic!("GetPkRecord {pkid}: {status:?}"),
    }
}

/// Waits until the AcrossPk record of `pkid` exists.
pub async fn wait_across_record(server: &Client, pkid: u64) -> PkRecord {
    eventually(&format!("the acrosspk record of {pkid}"), SETTLE_SLACK, || async move {
        across_record(server, pkid).await
    })
    .await
}

/// Every AcrossPk record (newest first).
pub async fn across_records(server: &Client) -> Vec<PkRecord> {
    server
        .admin()
        .list_pk_records(ListPkRecordsRequest {
            mode: Mode::Acrosspk as i32,
            singer_id: 0,
            page_num: 0,
            page_size: 200,
        })
        .await
        .expect("ListPkRecords")
        .into_inner()
        .records
}
