//! `pk.roompk.v1.RoomPk`: one method per seat operation and per battle action. Each validates
//! its request into domain values, calls the mode's adapter, and answers with the seed's
//! fields. Errors travel as gRPC status with their business code (see `crate::status`).

use std::sync::Arc;

use livepk_core::UserId;
use livepk_engine::ModeBinding;
use livepk_roompk::adapter::RoomPkAdapter;
use livepk_roompk::{
    AddTimeRequest, FinishRequest, Location, SeatCommand, SeatRequest, StartRequest, Team,
};
use tonic::{Request, Response};

use super::convert::{board, location, pk_info, user_totals};
use crate::pb::roompk as proto;
use crate::pb::roompk::room_pk_server::{RoomPk, RoomPkServer};
use crate::services::Answer;
use crate::services::parse::{room, text, user};
use crate::status::ServiceError;

/// The service.
pub struct RoomPkService {
    adapter: Arc<RoomPkAdapter>,
}

/// The tonic server for `RoomPk`.
pub fn server(adapter: Arc<RoomPkAdapter>) -> RoomPkServer<RoomPkService> {
    RoomPkServer::new(RoomPkService { adapter })
}

fn seat_location(raw: u32) -> Result<Location, ServiceError> {
    Ok(Location::parse("location", raw)?)
}

/// A seat operation's answer: the seat now, whether it changed, the server time.
struct SeatAnswer {
    location: Option<proto::RoomPkLocation>,
    changed: bool,
    time_now: u64,
}

impl RoomPkService {
    /// Parses the (`room_id`, `location`) every seat request names, runs `command` on that
    /// seat.
    async fn seat(
        &self,
        room_id: u64,
        raw_location: u32,
        command: SeatCommand,
    ) -> Result<SeatAnswer, ServiceError> {
        let request = SeatRequest {
            room_id: room("room_id", room_id)?,
            location: seat_location(raw_location)?,
            command,
        };
        let reply = self.adapter.operate_seat(request).await?;
        Ok(SeatAnswer {
            location: Some(location(&reply.seat)),
            changed: reply.changed,
            time_now: self.adapter.now_secs(),
        })
    }
}

#[tonic::async_trait]
impl RoomPk for RoomPkService {
    /// Names the room's operator.
    async fn set_operator(
        &self,
        request: Request<proto::SetOperatorRequest>,
    ) -> Answer<proto::SetOperatorResponse> {
        let request = request.into_inner();
        let room_id = room("room_id", request.room_id)?;
        let operator = user("operator_id", request.operator_id)?;
        self.adapter.set_operator(room_id, operator).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::SetOperatorResponse {
            room_id: room_id.get(),
            operator_id: operator.get(),
            time_now: self.adapter.now_secs(),
        }))
    }

    /// 上麦.
    async fn take_seat(
        &self,
        request: Request<proto::TakeSeatRequest>,
    ) -> Answer<proto::TakeSeatResponse> {
        let request = request.into_inner();
        let command = SeatCommand::Take { user: user("user_id", request.user_id)? };
        let answer = self.seat(request.room_id, request.location, command).await?;
        let SeatAnswer { location, changed, time_now } = answer;
        Ok(Response::new(proto::TakeSeatResponse { location, changed, time_now }))
    }

    /// 下麦.
    async fn leave_seat(
        &self,
        request: Request<proto::LeaveSeatRequest>,
    ) -> Answer<proto::LeaveSeatResponse> {
        let request = request.into_inner();
        let command = SeatCommand::Leave { user: user("user_id", request.user_id)? };
        let answer = self.seat(request.room_id, request.location, command).await?;
        let SeatAnswer { location, changed, time_now } = answer;
        Ok(Response::new(proto::LeaveSeatResponse { location, changed, time_now }))
    }

    /// 抱上麦.
    async fn hold_up(
        &self,
        request: Request<proto::HoldUpRequest>,
    ) -> Answer<proto::HoldUpResponse> {
        let request = request.into_inner();
        let command = SeatCommand::HoldUp {
            operator: user("operator_id", request.operator_id)?,
            user: user("user_id", request.user_id)?,
        };
        let answer = self.seat(request.room_id, request.location, command).await?;
        let SeatAnswer { location, changed, time_now } = answer;
        Ok(Response::new(proto::HoldUpResponse { location, changed, time_now }))
    }

    /// 抱下麦.
    async fn hold_down(
        &self,
        request: Request<proto::HoldDownRequest>,
    ) -> Answer<proto::HoldDownResponse> {
        let request = request.into_inner();
        let command = SeatCommand::HoldDown { operator: user("operator_id", request.operator_id)? };
        let answer = self.seat(request.room_id, request.location, command).await?;
        let SeatAnswer { location, changed, time_now } = answer;
        Ok(Response::new(proto::HoldDownResponse { location, changed, time_now }))
    }

    /// 锁麦 / 解锁.
    async fn lock_seat(
        &self,
        request: Request<proto::LockSeatRequest>,
    ) -> Answer<proto::LockSeatResponse> {
        let request = request.into_inner();
        let command = SeatCommand::Lock {
            operator: user("operator_id", request.operator_id)?,
            locked: request.locked,
        };
        let answer = self.seat(request.room_id, request.location, command).await?;
        let SeatAnswer { location, changed, time_now } = answer;
        Ok(Response::new(proto::LockSeatResponse { location, changed, time_now }))
    }

    /// 禁麦 / 解禁.
    async fn disable_seat(
        &self,
        request: Request<proto::DisableSeatRequest>,
    ) -> Answer<proto::DisableSeatResponse> {
        let request = request.into_inner();
        let command = SeatCommand::Disable {
            operator: user("operator_id", request.operator_id)?,
            disabled: request.disabled,
        };
        let answer = self.seat(request.room_id, request.location, command).await?;
        let SeatAnswer { location, changed, time_now } = answer;
        Ok(Response::new(proto::DisableSeatResponse { location, changed, time_now }))
    }

    /// Offers a seat to a user.
    async fn invite_to_seat(
        &self,
        request: Request<proto::InviteToSeatRequest>,
    ) -> Answer<proto::InviteToSeatResponse> {
        let request = request.into_inner();
        let command = SeatCommand::Invite {
            operator: user("operator_id", request.operator_id)?,
            user: user("invite_user_id", request.invite_user_id)?,
            room: room("invite_room_id", request.invite_room_id)?,
        };
        let answer = self.seat(request.room_id, request.location, command).await?;
        let SeatAnswer { location, changed, time_now } = answer;
        Ok(Response::new(proto::InviteToSeatResponse { location, changed, time_now }))
    }

    /// Withdraws a seat's invitation.
    async fn cancel_invite(
        &self,
        request: Request<proto::CancelInviteRequest>,
    ) -> Answer<proto::CancelInviteResponse> {
        let request = request.into_inner();
        let command =
            SeatCommand::CancelInvite { operator: user("operator_id", request.operator_id)? };
        let answer = self.seat(request.room_id, request.location, command).await?;
        let SeatAnswer { location, changed, time_now } = answer;
        Ok(Response::new(proto::CancelInviteResponse { location, changed, time_now }))
    }

    /// Starts a team battle.
    async fn start(&self, request: Request<proto::StartRequest>) -> Answer<proto::StartResponse> {
        let request = request.into_inner();
        text("punishment", &request.punishment)?;
        let start = StartRequest {
            room_id: room("room_id", request.room_id)?,
            operator_id: user("operator_id", request.operator_id)?,
            punishment: request.punishment,
            countdown_secs: u64::from(request.countdown),
        };
        let info = self.adapter.start(start).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::StartResponse {
            pk: Some(pk_info(&info, self.adapter.now_ms())),
            time_now: self.adapter.now_secs(),
        }))
    }

    /// 加时.
    async fn add_time(
        &self,
        request: Request<proto::AddTimeRequest>,
    ) -> Answer<proto::AddTimeResponse> {
        let request = request.into_inner();
        let add = AddTimeRequest {
            room_id: room("room_id", request.room_id)?,
            operator_id: user("operator_id", request.operator_id)?,
            seconds: u64::from(request.seconds),
        };
        let info = self.adapter.add_time(add).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::AddTimeResponse {
            pk: Some(pk_info(&info, self.adapter.now_ms())),
            time_now: self.adapter.now_secs(),
        }))
    }

    /// Ends the battle early.
    async fn finish(
        &self,
        request: Request<proto::FinishRequest>,
    ) -> Answer<proto::FinishResponse> {
        let request = request.into_inner();
        let finish = FinishRequest {
            room_id: room("room_id", request.room_id)?,
            operator_id: user("operator_id", request.operator_id)?,
        };
        let info = self.adapter.finish(finish).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::FinishResponse {
            pk: Some(pk_info(&info, self.adapter.now_ms())),
            time_now: self.adapter.now_secs(),
        }))
    }

    /// The room as a client draws it.
    async fn get_state(
        &self,
        request: Request<proto::GetStateRequest>,
    ) -> Answer<proto::GetStateResponse> {
        let request = request.into_inner();
        let room_id = room("room_id", request.room_id)?;
        let asked = match request.user_id {
            0 => None,
            raw => Some(user("user_id", raw)?),
        };
        let state = self.adapter.state(room_id, asked).await.map_err(ServiceError::from)?;
        let boards = &state.boards;
        let senders: Vec<UserId> = Team::BOTH
            .into_iter()
            .flat_map(|team| boards.contribution[team.side()].iter().map(|row| row.user_id))
            .collect();
        let profiles =
            self.adapter.gifter_profiles(room_id, &senders).await.map_err(ServiceError::from)?;
        let none = Default::default();
        let now_ms = self.adapter.now_ms();
        Ok(Response::new(proto::GetStateResponse {
            room_id: room_id.get(),
            operator_id: state.room.operator_id.map_or(0, UserId::get),
            locations: state.room.seats.iter().map(location).collect(),
            pk: state.battle.as_ref().map(|info| pk_info(info, now_ms)),
            red_contribution: board(&boards.contribution.first, &profiles),
            blue_contribution: board(&boards.contribution.second, &profiles),
            red_pk_value: board(&boards.pk_value.first, &none),
            blue_pk_value: board(&boards.pk_value.second, &none),
            user: state.user.as_ref().map(user_totals),
            time_now: now_ms / 1000,
        }))
    }
}
