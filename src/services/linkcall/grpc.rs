//! `pk.linkcall.v1.LinkCallPk`: one method per seed flow. Each validates its request into
//! domain ids, calls the mode's adapter, and answers with the seed's response fields. Errors
//! travel as gRPC status with the seed's code (see `crate::status`).

use std::collections::HashMap;
use std::sync::Arc;

use livepk_battle::BattleId;
use livepk_core::{InvalidArgument, PkId, RoomSid, SingerId};
use livepk_engine::ModeBinding;
use livepk_linkcall::adapter::{LinkCallAdapter, SingerProfile};
use livepk_linkcall::{self as domain, Activity, Anchor, GifterRow, PairRequest, PkState};
use tonic::{Request, Response};

use super::convert::{pk_info, pk_list, pk_singer, singer_info, state, user_info};
use crate::pb::linkcall as proto;
use crate::pb::linkcall::link_call_pk_server::{LinkCallPk, LinkCallPkServer};
use crate::services::Answer;
use crate::services::parse::{room, singer, text};
use crate::status::ServiceError;

/// The service.
pub struct LinkCallService {
    adapter: Arc<LinkCallAdapter>,
}

/// The tonic server for `LinkCallPk`.
pub fn server(adapter: Arc<LinkCallAdapter>) -> LinkCallPkServer<LinkCallService> {
    LinkCallPkServer::new(LinkCallService { adapter })
}

/// Parses the (host, guest) pair every battle request names, with their rooms.
fn pair(
    host_id: u64,
    host_sid: u64,
    guest_id: u64,
    guest_sid: u64,
) -> Result<(PairRequest, u64, u64), ServiceError> {
    let request = PairRequest {
        host_id: singer("host_id", host_id)?,
        guest_id: singer("guest_id", guest_id)?,
    };
    Ok((request, room("host_sid", host_sid)?.get(), room("guest_sid", guest_sid)?.get()))
}

/// Parses the (`singer_id`, `singer_sid`) every room-level request carries.
fn singer_in_room(singer_id: u64, singer_sid: u64) -> Result<(SingerId, RoomSid), ServiceError> {
    Ok((singer("singer_id", singer_id)?, room("singer_sid", singer_sid)?))
}

fn activity(raw: i32) -> Result<Activity, ServiceError> {
    match proto::SingerActivity::try_from(raw) {
        Ok(proto::SingerActivity::None) => Ok(Activity::Idle),
        Ok(proto::SingerActivity::Game) => Ok(Activity::Game),
        Ok(proto::SingerActivity::Saw) => Ok(Activity::Saw),
        _ => Err(InvalidArgument::new("activity", "must be NONE, GAME or SAW").into()),
    }
}

fn activity_to_proto(activity: Activity) -> i32 {
    match activity {
        Activity::Idle => proto::SingerActivity::None as i32,
        Activity::Game => proto::SingerActivity::Game as i32,
        Activity::Saw => proto::SingerActivity::Saw as i32,
    }
}

/// The rooms of the snapshot's battle, host's first (zeros without one).
fn rooms(battle: Option<&domain::Battle>) -> (u64, u64) {
    battle.map_or((0, 0), |battle| (battle.host.singer_sid.get(), battle.guest.singer_sid.get()))
}

impl LinkCallService {
    async fn profiles(
        &self,
        singers: &[SingerId],
    ) -> Result<HashMap<SingerId, SingerProfile>, ServiceError> {
        Ok(self.adapter.singer_profiles(singers).await?)
    }

    /// Anchor rows of a list, with profiles.
    async fn listed(
        &self,
        rows: &[domain::ListedSinger],
    ) -> Result<Vec<proto::LinkcallpkSingerInfo>, ServiceError> {
        let ids: Vec<SingerId> = rows.iter().map(|row| row.singer_id).collect();
        let profiles = self.profiles(&ids).await?;
        Ok(rows.iter().map(|row| singer_info(row, &profiles)).collect())
    }

    /// Gifter rows of a battle, with profiles.
    async fn gifters(
        &self,
        battle: BattleId,
        rows: &[GifterRow],
    ) -> Result<Vec<proto::LinkcallpkUserInfo>, ServiceError> {
        let ids: Vec<_> = rows.iter().map(|row| row.user_id).collect();
        let profiles = self.adapter.gifter_profiles(battle, &ids).await?;
        Ok(rows.iter().map(|row| user_info(row, &profiles)).collect())
    }

    /// Anchors loaded for a page of ids, in that order.
    async fn anchors_in_order(&self, ids: &[SingerId]) -> Result<Vec<Anchor>, ServiceError> {
        Ok(self.adapter.anchors_in_order(ids).await?)
    }
}

#[tonic::async_trait]
impl LinkCallPk for LinkCallService {
    /// 1.1: an anchor switches the linkcall function on (star gate, whitelist) or off.
    async fn open_function(
        &self,
        request: Request<proto::OpenFunctionRequest>,
    ) -> Answer<proto::OpenFunctionResponse> {
        let request = request.into_inner();
        let (singer_id, singer_sid) = singer_in_room(request.singer_id, request.singer_sid)?;
        let reply = match request.pk_open {
            1 => {
                let open = domain::OpenFunctionRequest { singer_id, singer_sid };
                self.adapter.open_function(open).await.map_err(ServiceError::from)?
            }
            0 => self.adapter.close_function(singer_id).await.map_err(ServiceError::from)?,
            _ => {
                return Err(ServiceError::from(InvalidArgument::new(
                    "pk_open",
                    "must be 0 (off) or 1 (on)",
                ))
                .into());
            }
        };
        Ok(Response::new(proto::OpenFunctionResponse {
            singer_id: singer_id.get(),
            time_now: self.adapter.now_secs(),
            open_state: u64::from(reply.open_state),
        }))
    }

    /// 1.2: the anchors the caller may apply to, most recently available first.
    async fn seek_online_list(
        &self,
        request: Request<proto::SeekOnlineListRequest>,
    ) -> Answer<proto::SeekOnlineListResponse> {
        let request = request.into_inner();
        let (caller, _) = singer_in_room(request.singer_id, request.singer_sid)?;
        let adapter = &self.adapter;
        let config =
            livepk_engine::ModeBinding::config(&**adapter).await.map_err(ServiceError::from)?;
        let rank = adapter.online_rank(caller).await.map_err(ServiceError::from)?;
        let window = domain::online_list_window(request.page_num, &config, rank);
        let ids = adapter.online_page(window).await.map_err(ServiceError::from)?;
        let anchors = self.anchors_in_order(&ids).await?;
        let applied_to = adapter.applied_to(caller).await.map_err(ServiceError::from)?;
        let rows =
            domain::seek_online_list(caller, &anchors, &applied_to, &config, adapter.now_ms());
        Ok(Response::new(proto::SeekOnlineListResponse {
            singer_id: caller.get(),
            time_now: self.adapter.now_secs(),
            singers: self.listed(&rows).await?,
        }))
    }

    /// 2: the guest applies to a host (the host is told `apply`).
    async fn apply(&self, request: Request<proto::ApplyRequest>) -> Answer<proto::ApplyResponse> {
        let request = request.into_inner();
        let (pair, _, _) =
            pair(request.host_id, request.host_sid, request.guest_id, request.guest_sid)?;
        let apply = domain::ApplyRequest { guest_id: pair.guest_id, host_id: pair.host_id };
        let reply = self.adapter.apply(apply).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::ApplyResponse {
            pk_state: state(reply.pk_state),
            guest_id: pair.guest_id.get(),
            host_id: pair.host_id.get(),
            time_now: self.adapter.now_secs(),
        }))
    }

    /// 3.1: the host invites the guest: one popup on the guest, or the guest's busy state.
    async fn link(&self, request: Request<proto::LinkRequest>) -> Answer<proto::LinkResponse> {
        let request = request.into_inner();
        let (pair, _, _) =
            pair(request.host_id, request.host_sid, request.guest_id, request.guest_sid)?;
        let link = domain::LinkRequest { host_id: pair.host_id, guest_id: pair.guest_id };
        let reply = self.adapter.link(link).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::LinkResponse {
            pk_state: state(reply.pk_state),
            host_id: pair.host_id.get(),
            guest_id: pair.guest_id.get(),
            time_now: self.adapter.now_secs(),
        }))
    }

    /// 3.2: the invited guest agrees (a placeholder pkid, both rooms on scene 0) or refuses.
    async fn confirm(
        &self,
        request: Request<proto::ConfirmRequest>,
    ) -> Answer<proto::ConfirmResponse> {
        let request = request.into_inner();
        let (pair, host_sid, guest_sid) =
            pair(request.host_id, request.host_sid, request.guest_id, request.guest_sid)?;
        let agree = match proto::ConfirmCode::try_from(request.code) {
            Ok(proto::ConfirmCode::Agree) => true,
            Ok(proto::ConfirmCode::Refuse) => false,
            _ => {
                return Err(ServiceError::from(InvalidArgument::new(
                    "code",
                    "must be 1 (agree) or 2 (refuse)",
                ))
                .into());
            }
        };
        let reply = self
            .adapter
            .confirm(pair.guest_id, pair.host_id, agree)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(proto::ConfirmResponse {
            pk_state: state(reply.pk_state),
            guest_id: pair.guest_id.get(),
            host_id: pair.host_id.get(),
            time_now: self.adapter.now_secs(),
            code: request.code,
            pkid: reply.pkid.map_or(0, PkId::get),
            pk: pk_list(reply.pk.as_ref(), host_sid, guest_sid),
        }))
    }

    /// 4.1: the host starts the scoring phase (the first start keeps the placeholder pkid).
    async fn start(&self, request: Request<proto::StartRequest>) -> Answer<proto::StartResponse> {
        let request = request.into_inner();
        let (pair, host_sid, guest_sid) =
            pair(request.host_id, request.host_sid, request.guest_id, request.guest_sid)?;
        let reply = self.adapter.start(pair).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::StartResponse {
            host_id: pair.host_id.get(),
            time_now: self.adapter.now_secs(),
            pk_state: state(reply.pk_state),
            pkid: reply.pkid.get(),
            pk: vec![pk_info(&reply.pk, host_sid, guest_sid)],
        }))
    }

    /// 4.2: an anchor turns its own room's view: pk -> host -> guest -> pk.
    async fn switch_scene(
        &self,
        request: Request<proto::SwitchSceneRequest>,
    ) -> Answer<proto::SwitchSceneResponse> {
        let request = request.into_inner();
        let (singer_id, _) = singer_in_room(request.singer_id, request.singer_sid)?;
        let reply = self.adapter.switch_scene(singer_id).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::SwitchSceneResponse {
            singer_id: singer_id.get(),
            time_now: self.adapter.now_secs(),
            pk_scene: u64::from(reply.pk_scene.number()),
            pkid: reply.pkid.get(),
        }))
    }

    /// 5.1: settle at the deadline (either anchor; the first wins, the second gets 024).
    async fn count(&self, request: Request<proto::CountRequest>) -> Answer<proto::CountResponse> {
        let request = request.into_inner();
        let (pair, host_sid, guest_sid) =
            pair(request.host_id, request.host_sid, request.guest_id, request.guest_sid)?;
        let reply = self.adapter.count(pair).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::CountResponse {
            time_now: self.adapter.now_secs(),
            pk_state: state(reply.pk_state),
            pkid: reply.pkid.get(),
            pk: vec![pk_info(&reply.pk, host_sid, guest_sid)],
        }))
    }

    /// 5.2: extend: a new pkid continues the scores and boards.
    async fn add_time(
        &self,
        request: Request<proto::AddTimeRequest>,
    ) -> Answer<proto::AddTimeResponse> {
        let request = request.into_inner();
        let (pair, host_sid, guest_sid) =
            pair(request.host_id, request.host_sid, request.guest_id, request.guest_sid)?;
        let reply = self.adapter.add_time(pair).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::AddTimeResponse {
            host_id: pair.host_id.get(),
            time_now: self.adapter.now_secs(),
            pk_state: state(reply.pk_state),
            pkid: reply.pkid.get(),
            pk: vec![pk_info(&reply.pk, host_sid, guest_sid)],
        }))
    }

    /// 5.3: end the link (settling early if scoring); pkid 0 and zeros with nothing to close.
    async fn close(&self, request: Request<proto::CloseRequest>) -> Answer<proto::CloseResponse> {
        let request = request.into_inner();
        let (pair, host_sid, guest_sid) =
            pair(request.host_id, request.host_sid, request.guest_id, request.guest_sid)?;
        let reply = self.adapter.close(pair).await.map_err(ServiceError::from)?;
        // Seed §5.3: with nothing to close, "pkid=0, and every field of the rs is 0".
        let Some(pkid) = reply.pkid else {
            return Ok(Response::new(proto::CloseResponse {
                time_now: self.adapter.now_secs(),
                pk_state: state(PkState::Offline),
                ..Default::default()
            }));
        };
        Ok(Response::new(proto::CloseResponse {
            host_id: pair.host_id.get(),
            time_now: self.adapter.now_secs(),
            pk_state: state(reply.pk_state),
            pkid: pkid.get(),
            pk: pk_list(reply.pk.as_ref(), host_sid, guest_sid),
        }))
    }

    /// 6: a viewer asks for the PK of a room.
    async fn user_seek_pk(
        &self,
        request: Request<proto::UserSeekPkRequest>,
    ) -> Answer<proto::UserSeekPkResponse> {
        let request = request.into_inner();
        let (singer_id, _) = singer_in_room(request.singer_id, request.singer_sid)?;
        let snapshot =
            self.adapter.load_with_battle(singer_id).await.map_err(ServiceError::from)?;
        let view = domain::user_seek_pk(
            snapshot.aggregate(singer_id),
            snapshot.battle(),
            snapshot.scores(),
        );
        let (host_sid, guest_sid) = rooms(snapshot.battle());
        Ok(Response::new(proto::UserSeekPkResponse {
            singer_id: singer_id.get(),
            time_now: self.adapter.now_secs(),
            pkid: view.pkid.map_or(0, PkId::get),
            pk: pk_list(view.pk.as_ref(), host_sid, guest_sid),
        }))
    }

    /// 7: a viewer asks for an anchor's top 5 gifters in the current PK.
    async fn user_seek_gift(
        &self,
        request: Request<proto::UserSeekGiftRequest>,
    ) -> Answer<proto::UserSeekGiftResponse> {
        let request = request.into_inner();
        let (singer_id, _) = singer_in_room(request.singer_id, request.singer_sid)?;
        let snapshot =
            self.adapter.load_with_battle(singer_id).await.map_err(ServiceError::from)?;
        let board = match snapshot.battle() {
            Some(battle) => self
                .adapter
                .board(battle, singer_id, domain::TOP_GIFTERS)
                .await
                .map_err(ServiceError::from)?,
            None => Vec::new(),
        };
        let view = domain::user_seek_gift(snapshot.aggregate(singer_id), snapshot.battle(), &board);
        let users = match snapshot.battle() {
            Some(battle) if view.pkid.is_some() => {
                self.gifters(battle.battle_id, &view.users).await?
            }
            _ => Vec::new(),
        };
        Ok(Response::new(proto::UserSeekGiftResponse {
            singer_id: singer_id.get(),
            time_now: self.adapter.now_secs(),
            pkid: view.pkid.map_or(0, PkId::get),
            users,
        }))
    }

    /// 8: an anchor pages through the anchors who applied to it.
    async fn seek_link_list(
        &self,
        request: Request<proto::SeekLinkListRequest>,
    ) -> Answer<proto::SeekLinkListResponse> {
        let request = request.into_inner();
        let (singer_id, _) = singer_in_room(request.singer_id, request.singer_sid)?;
        let adapter = &self.adapter;
        let config =
            livepk_engine::ModeBinding::config(&**adapter).await.map_err(ServiceError::from)?;
        let window = domain::link_list_window(request.page_num, &config);
        let ids = adapter.applicants_page(singer_id, window).await.map_err(ServiceError::from)?;
        let anchors = self.anchors_in_order(&ids).await?;
        let rows = domain::seek_link_list(&anchors, &config, adapter.now_ms());
        Ok(Response::new(proto::SeekLinkListResponse {
            singer_id: singer_id.get(),
            time_now: self.adapter.now_secs(),
            singers: self.listed(&rows).await?,
        }))
    }

    /// 9: a viewer enters a room: everything to draw the PK at once.
    async fn user_come_in_room(
        &self,
        request: Request<proto::UserComeInRoomRequest>,
    ) -> Answer<proto::UserComeInRoomResponse> {
        let request = request.into_inner();
        let (singer_id, _) = singer_in_room(request.singer_id, request.singer_sid)?;
        let adapter = &self.adapter;
        let snapshot = adapter.load_with_battle(singer_id).await.map_err(ServiceError::from)?;
        let (host_board, guest_board) = match snapshot.battle() {
            Some(battle) => (
                adapter
                    .board(battle, battle.host.singer_id, domain::TOP_GIFTERS)
                    .await
                    .map_err(ServiceError::from)?,
                adapter
                    .board(battle, battle.guest.singer_id, domain::TOP_GIFTERS)
                    .await
                    .map_err(ServiceError::from)?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        let view = domain::user_come_in_room(
            snapshot.aggregate(singer_id),
            snapshot.battle(),
            snapshot.scores(),
            &host_board,
            &guest_board,
        );
        let (host_sid, guest_sid) = rooms(snapshot.battle());
        let singers: Vec<SingerId> =
            view.host.iter().chain(&view.guest).map(|(id, _)| *id).collect();
        let profiles = self.profiles(&singers).await?;
        let (h_users, g_users) = match snapshot.battle() {
            Some(battle) if view.pkid.is_some() => (
                self.gifters(battle.battle_id, &view.host_users).await?,
                self.gifters(battle.battle_id, &view.guest_users).await?,
            ),
            _ => (Vec::new(), Vec::new()),
        };
        Ok(Response::new(proto::UserComeInRoomResponse {
            singer_id: singer_id.get(),
            time_now: self.adapter.now_secs(),
            pkid: view.pkid.map_or(0, PkId::get),
            pk: pk_list(view.pk.as_ref(), host_sid, guest_sid),
            h_singer: view
                .host
                .iter()
                .map(|(id, sid)| pk_singer(*id, sid.get(), &profiles))
                .collect(),
            g_singer: view
                .guest
                .iter()
                .map(|(id, sid)| pk_singer(*id, sid.get(), &profiles))
                .collect(),
            h_users,
            g_users,
        }))
    }

    /// 11: an anchor (re)enters its room: its function time, pending popup, and PK.
    async fn singer_come_in_room(
        &self,
        request: Request<proto::SingerComeInRoomRequest>,
    ) -> Answer<proto::SingerComeInRoomResponse> {
        let request = request.into_inner();
        let (singer_id, singer_sid) = singer_in_room(request.singer_id, request.singer_sid)?;
        let comein = domain::SingerComeInRoomRequest { singer_id, singer_sid };
        let (reply, [host_sid, guest_sid]) =
            self.adapter.singer_come_in_room(comein).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::SingerComeInRoomResponse {
            time_now: self.adapter.now_secs(),
            functiontime: u32::try_from(reply.functiontime_secs).unwrap_or(u32::MAX),
            singer_id: singer_id.get(),
            popup_time: reply.popup.map_or(0, |popup| popup.popped_at_secs),
            popup_id: reply.popup.map_or(0, |popup| popup.host.get()),
            popup_live: reply.popup.map_or(0, |popup| popup.live_secs),
            pkid: reply.pkid.map_or(0, PkId::get),
            pk: pk_list(reply.pk.as_ref(), host_sid, guest_sid),
        }))
    }

    /// 12: the leave event: close the PK, tell applicants `offline`, drop from every list.
    async fn singer_leave(
        &self,
        request: Request<proto::SingerLeaveRequest>,
    ) -> Answer<proto::SingerLeaveResponse> {
        let request = request.into_inner();
        let (singer_id, _) = singer_in_room(request.singer_id, request.singer_sid)?;
        let left = self.adapter.singer_leave(singer_id).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::SingerLeaveResponse {
            singer_id: singer_id.get(),
            time_now: self.adapter.now_secs(),
            pkid: left.as_ref().map_or(0, |(settled, _)| settled.pkid.get()),
            pk: left
                .map(|(settled, anchors)| proto::LinkcallpkPkInfo {
                    starttime: settled.start_ms / 1000,
                    pkalltime: settled.end_ms.saturating_sub(settled.start_ms) / 1000,
                    host_gift: settled.scores.first,
                    guest_gift: settled.scores.second,
                    host_id: anchors.first.get(),
                    guest_id: anchors.second.get(),
                    winner_id: settled.winner.map_or(0, |side| anchors[side].get()),
                    ..Default::default()
                })
                .into_iter()
                .collect(),
        }))
    }

    /// The external game / 电锯 busy flags behind 028 / 029.
    async fn set_singer_activity(
        &self,
        request: Request<proto::SetSingerActivityRequest>,
    ) -> Answer<proto::SetSingerActivityResponse> {
        let request = request.into_inner();
        let singer_id = singer("singer_id", request.singer_id)?;
        let activity = activity(request.activity)?;
        self.adapter.set_singer_activity(singer_id, activity).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::SetSingerActivityResponse {
            singer_id: singer_id.get(),
            time_now: self.adapter.now_secs(),
            activity: activity_to_proto(activity),
        }))
    }

    /// Seed §B.1: the anchor's profile, refreshed at login and kept 3 days.
    async fn refresh_singer_profile(
        &self,
        request: Request<proto::RefreshSingerProfileRequest>,
    ) -> Answer<proto::RefreshSingerProfileResponse> {
        let request = request.into_inner();
        let (singer_id, singer_sid) = singer_in_room(request.singer_id, request.singer_sid)?;
        text("singer_nick", &request.singer_nick)?;
        text("singer_icon", &request.singer_icon)?;
        let profile = SingerProfile {
            nick: request.singer_nick,
            icon: request.singer_icon,
            level: request.singer_level,
            star: request.singer_star,
            sid: singer_sid.get(),
        };
        self.adapter.refresh_profile(singer_id, &profile).await.map_err(ServiceError::from)?;
        let snapshot = self.adapter.load_anchors(&[singer_id]).await.map_err(ServiceError::from)?;
        let pk_state = snapshot.aggregate(singer_id).map_or(PkState::Offline, |anchor| {
            anchor.listed_state(self.adapter.now_ms(), PkState::Apply)
        });
        Ok(Response::new(proto::RefreshSingerProfileResponse {
            singer: Some(proto::LinkcallpkSingerInfo {
                pk_state: state(pk_state),
                singer_id: singer_id.get(),
                singer_nick: profile.nick,
                singer_sid: profile.sid,
                singer_icon: profile.icon,
                singer_level: profile.level,
                singer_star: profile.star,
            }),
            time_now: self.adapter.now_secs(),
        }))
    }
}
