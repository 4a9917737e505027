//! `pk.acrosspk.v1.AcrossPk`: one method per flow of seed 002's cross-room PK. Each validates
//! its request into domain values, calls the mode's adapter, and answers with the seed's fields.
//! Errors travel as gRPC status with their business code (see `crate::status`).

use std::sync::Arc;

use livepk_acrosspk::adapter::AcrossPkAdapter;
use livepk_acrosspk::{
    AcceptRequest, AcceptSource, ChallengeRequest, CreateRequest, FinishRequest, RejectRequest,
    RoomCard, Terms,
};
use livepk_core::{InvalidArgument, PkId, RoomSid, UserId};
use livepk_engine::ModeBinding;
use tonic::{Request, Response};

use super::convert::{Boards, offer, pk_info};
use crate::pb::acrosspk as proto;
use crate::pb::acrosspk::across_pk_server::{AcrossPk, AcrossPkServer};
use crate::services::Answer;
use crate::services::parse::{self, room, user};
use crate::status::ServiceError;

/// The service.
pub struct AcrossPkService {
    adapter: Arc<AcrossPkAdapter>,
}

/// The tonic server for `AcrossPk`.
pub fn server(adapter: Arc<AcrossPkAdapter>) -> AcrossPkServer<AcrossPkService> {
    AcrossPkServer::new(AcrossPkService { adapter })
}

fn operator(raw: u64) -> Result<UserId, ServiceError> {
    user("operator_id", raw)
}

/// A text field, bounded so that a caller cannot blow up a stored value.
fn text(field: &str, value: String) -> Result<String, ServiceError> {
    parse::text(field, &value)?;
    Ok(value)
}

/// The room a request acts for, as the other room sees it.
fn card(
    room_id: RoomSid,
    room_name: String,
    user_name: String,
    user_avatar: String,
) -> Result<RoomCard, ServiceError> {
    Ok(RoomCard {
        room_id,
        room_name: text("room_name", room_name)?,
        user_name: text("user_name", user_name)?,
        user_avatar: text("user_avatar", user_avatar)?,
    })
}

/// `punishment` and `countdown` (at least a second; the maximum is the mode's config, checked by
/// the command).
fn terms(punishment: String, countdown: u64) -> Result<Terms, ServiceError> {
    if countdown == 0 {
        return Err(InvalidArgument::new("countdown", "must be at least 1 second").into());
    }
    Ok(Terms { punishment: text("punishment", punishment)?, countdown_secs: countdown })
}

fn source(raw: i32) -> Result<AcceptSource, ServiceError> {
    match proto::AcceptSource::try_from(raw) {
        Ok(proto::AcceptSource::Created) => Ok(AcceptSource::Created),
        Ok(proto::AcceptSource::Challenge) => Ok(AcceptSource::Challenge),
        _ => Err(InvalidArgument::new(
            "source",
            "must be ACCEPT_SOURCE_CREATED or ACCEPT_SOURCE_CHALLENGE",
        )
        .into()),
    }
}

#[tonic::async_trait]
impl AcrossPk for AcrossPkService {
    /// A room opens its one PK.
    async fn create(
        &self,
        request: Request<proto::CreateRequest>,
    ) -> Answer<proto::CreateResponse> {
        let request = request.into_inner();
        let room_id = room("room_id", request.room_id)?;
        let create = CreateRequest {
            operator_id: operator(request.operator_id)?,
            card: card(room_id, request.room_name, request.user_name, request.user_avatar)?,
            terms: terms(request.punishment, request.countdown)?,
        };
        let created = self.adapter.create(create).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::CreateResponse {
            time_now: self.adapter.now_secs(),
            pk: Some(offer(&created)),
        }))
    }

    /// The room withdraws its created PK.
    async fn cancel_create(
        &self,
        request: Request<proto::CancelCreateRequest>,
    ) -> Answer<proto::CancelCreateResponse> {
        let request = request.into_inner();
        let room_id = room("room_id", request.room_id)?;
        operator(request.operator_id)?;
        let withdrawn = self.adapter.cancel_create(room_id).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::CancelCreateResponse {
            time_now: self.adapter.now_secs(),
            pk: Some(offer(&withdrawn)),
        }))
    }

    /// A page of the other rooms' open PKs, newest first.
    async fn list_created(
        &self,
        request: Request<proto::ListCreatedRequest>,
    ) -> Answer<proto::ListCreatedResponse> {
        let request = request.into_inner();
        let room_id = room("room_id", request.room_id)?;
        let offers =
            self.adapter.created(room_id, request.page_num).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::ListCreatedResponse {
            time_now: self.adapter.now_secs(),
            pks: offers.iter().map(offer).collect(),
        }))
    }

    /// Room A challenges room B.
    async fn challenge(
        &self,
        request: Request<proto::ChallengeRequest>,
    ) -> Answer<proto::ChallengeResponse> {
        let request = request.into_inner();
        let room_id = room("room_id", request.room_id)?;
        let challenge = ChallengeRequest {
            pk_room_id: room("pk_room_id", request.pk_room_id)?,
            operator_id: operator(request.operator_id)?,
            card: card(room_id, request.room_name, request.user_name, request.user_avatar)?,
            terms: terms(request.punishment, request.countdown)?,
        };
        let sent = self.adapter.challenge(challenge).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::ChallengeResponse {
            time_now: self.adapter.now_secs(),
            challenge: Some(offer(&sent)),
        }))
    }

    /// The challenged room rejects a challenge.
    async fn reject(
        &self,
        request: Request<proto::RejectRequest>,
    ) -> Answer<proto::RejectResponse> {
        let request = request.into_inner();
        let reject = RejectRequest {
            room_id: room("room_id", request.room_id)?,
            pk_room_id: room("pk_room_id", request.pk_room_id)?,
            operator_id: operator(request.operator_id)?,
        };
        let rejected = self.adapter.reject(reject).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::RejectResponse {
            time_now: self.adapter.now_secs(),
            challenge: Some(offer(&rejected)),
        }))
    }

    /// The challenges a room received that are pending.
    async fn list_challenges(
        &self,
        request: Request<proto::ListChallengesRequest>,
    ) -> Answer<proto::ListChallengesResponse> {
        let request = request.into_inner();
        let room_id = room("room_id", request.room_id)?;
        let offers = self.adapter.challenges(room_id).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::ListChallengesResponse {
            time_now: self.adapter.now_secs(),
            challenges: offers.iter().map(offer).collect(),
        }))
    }

    /// Room B takes up room A's created PK or challenge: the PK starts in both rooms.
    async fn accept(
        &self,
        request: Request<proto::AcceptRequest>,
    ) -> Answer<proto::AcceptResponse> {
        let request = request.into_inner();
        let room_id = room("room_id", request.room_id)?;
        let accept = AcceptRequest {
            pk_room_id: room("pk_room_id", request.pk_room_id)?,
            operator_id: operator(request.operator_id)?,
            source: source(request.source)?,
            card: card(room_id, request.room_name, request.user_name, request.user_avatar)?,
        };
        let pk = self.adapter.accept(accept).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::AcceptResponse {
            time_now: self.adapter.now_secs(),
            pkid: pk.pkid.get(),
            pk: Some(pk_info(&pk, self.adapter.now_ms(), None)),
        }))
    }

    /// Either room ends its PK early.
    async fn finish(
        &self,
        request: Request<proto::FinishRequest>,
    ) -> Answer<proto::FinishResponse> {
        let request = request.into_inner();
        let finish = FinishRequest {
            room_id: room("room_id", request.room_id)?,
            operator_id: operator(request.operator_id)?,
            pkid: PkId::parse("pkid", request.pkid).map_err(ServiceError::from)?,
        };
        let pk = self.adapter.finish(finish).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::FinishResponse {
            time_now: self.adapter.now_secs(),
            pkid: pk.pkid.get(),
            pk: Some(pk_info(&pk, self.adapter.now_ms(), None)),
        }))
    }

    /// A room's current or latest PK with both rooms' boards.
    async fn get_state(
        &self,
        request: Request<proto::GetStateRequest>,
    ) -> Answer<proto::GetStateResponse> {
        let request = request.into_inner();
        let room_id = room("room_id", request.room_id)?;
        let state = self.adapter.state(room_id).await.map_err(ServiceError::from)?;
        let now_ms = self.adapter.now_ms();
        let mut response = proto::GetStateResponse {
            time_now: now_ms / 1000,
            room_id: room_id.get(),
            ..Default::default()
        };
        if let Some(room_pk) = &state.pk {
            let boards = Boards { boards: &state.boards, profiles: &state.profiles };
            response.pkid = room_pk.pk.pkid.get();
            response.pk_room_id = room_pk.other.room_id.get();
            response.pk_room_name = room_pk.other.room_name.clone();
            response.pk_user_name = room_pk.other.user_name.clone();
            response.pk_user_avatar = room_pk.other.user_avatar.clone();
            response.pk = Some(pk_info(&room_pk.pk, now_ms, Some(boards)));
        }
        Ok(Response::new(response))
    }
}
