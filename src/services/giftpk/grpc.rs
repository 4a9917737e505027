//! `pk.giftpk.v1.GiftPk`: one method per seed 001 call. Each validates its request into domain
//! values, calls the mode's adapter, and answers with the seed's fields. Errors travel as gRPC
//! status with their business code (see `crate::status`).

use std::sync::Arc;

use livepk_battle::Sides;
use livepk_core::{GiftId, InvalidArgument, PkId, SingerId, UserId};
use livepk_giftpk::adapter::GiftPkAdapter;
use livepk_giftpk::{self as domain, CloseRequest, CreateRequest, PkGift, ShowId};
use tonic::{Request, Response};

use super::convert::{pk_info, sender, totals};
use crate::pb::giftpk as proto;
use crate::pb::giftpk::gift_pk_server::{GiftPk, GiftPkServer};
use crate::services::Answer;
use crate::status::ServiceError;

/// The service.
pub struct GiftPkService {
    adapter: Arc<GiftPkAdapter>,
}

/// The tonic server for `GiftPk`.
pub fn server(adapter: Arc<GiftPkAdapter>) -> GiftPkServer<GiftPkService> {
    GiftPkServer::new(GiftPkService { adapter })
}

fn show(raw: u64) -> Result<ShowId, ServiceError> {
    Ok(ShowId::parse("show_id", raw)?)
}

fn pkid(raw: u64) -> Result<PkId, ServiceError> {
    Ok(PkId::parse("pkid", raw)?)
}

/// Parses Create's `gifts`: exactly two, each a valid [`PkGift`].
fn two_gifts(gifts: Vec<proto::GiftpkGift>) -> Result<Sides<PkGift>, ServiceError> {
    let [first, second]: [proto::GiftpkGift; 2] = gifts
        .try_into()
        .map_err(|_| InvalidArgument::new("gifts", "must hold exactly two gifts"))?;
    let parse = |index: usize, gift: proto::GiftpkGift| {
        PkGift::parse(index, gift.gift_id, gift.gift_name, gift.gift_logo, gift.gift_desc)
    };
    Ok(Sides::new(parse(0, first)?, parse(1, second)?))
}

#[tonic::async_trait]
impl GiftPk for GiftPkService {
    /// 2.1.a: the anchor starts a gift PK.
    async fn create(
        &self,
        request: Request<proto::CreateRequest>,
    ) -> Answer<proto::CreateResponse> {
        let request = request.into_inner();
        let create = CreateRequest {
            show_id: show(request.show_id)?,
            singer_id: SingerId::parse("singer_id", request.singer_id)
                .map_err(ServiceError::from)?,
            gifts: two_gifts(request.gifts)?,
            duration_secs: request.duration,
        };
        let reply = self.adapter.create(create).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::CreateResponse {
            pkid: reply.pkid.get(),
            interval: reply.interval_ms,
            deadline_ms: reply.deadline_ms,
        }))
    }

    /// 2.1.b: the anchor ends it early.
    async fn close(&self, request: Request<proto::CloseRequest>) -> Answer<proto::CloseResponse> {
        let request = request.into_inner();
        let close = CloseRequest {
            show_id: show(request.show_id)?,
            pkid: pkid(request.pkid)?,
            singer_id: SingerId::parse("singer_id", request.singer_id)
                .map_err(ServiceError::from)?,
        };
        self.adapter.close(close).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::CloseResponse {}))
    }

    /// 2.1.c: the live numbers of the show's latest PK.
    async fn get_live(
        &self,
        request: Request<proto::GetLiveRequest>,
    ) -> Answer<proto::GetLiveResponse> {
        let request = request.into_inner();
        let show = show(request.show_id)?;
        let live =
            self.adapter.live(show, request.need_extra_info).await.map_err(ServiceError::from)?;
        let Some(live) = live else {
            return Ok(Response::new(proto::GetLiveResponse::default()));
        };
        Ok(Response::new(proto::GetLiveResponse {
            pkid: live.pkid.get(),
            gifts: totals(&live.totals),
            time_left: live.time_left_secs,
            finished: live.finished,
            info: live.info.as_ref().map(pk_info),
        }))
    }

    /// 2.1.d: the result for a viewer.
    async fn get_result(
        &self,
        request: Request<proto::GetResultRequest>,
    ) -> Answer<proto::GetResultResponse> {
        let request = request.into_inner();
        let pkid = pkid(request.pkid)?;
        let user = UserId::parse("user_id", request.user_id).map_err(ServiceError::from)?;
        let (view, profiles) = self.adapter.result(pkid, user).await.map_err(ServiceError::from)?;
        let user_gifts = [
            (view.totals.first.gift_id, view.user_totals.first),
            (view.totals.second.gift_id, view.user_totals.second),
        ]
        .into_iter()
        .map(|(gift_id, count)| proto::GiftpkGiftCount {
            gift_id: gift_id.get(),
            gift_count: count,
        })
        .collect();
        Ok(Response::new(proto::GetResultResponse {
            pkid: view.pkid.get(),
            gifts: totals(&view.totals),
            duration: view.duration_secs,
            user_gifts,
            winner_gift_id: view.winner.map_or(0, GiftId::get),
            top: view
                .top
                .iter()
                .enumerate()
                .map(|(position, row)| sender(position as u64 + 1, row, &profiles))
                .collect(),
            finished: view.finished,
        }))
    }

    /// 2.1.e: a page of one gift's senders.
    async fn get_ranking(
        &self,
        request: Request<proto::GetRankingRequest>,
    ) -> Answer<proto::GetRankingResponse> {
        let request = request.into_inner();
        let pkid = pkid(request.pkid)?;
        let gift = GiftId::parse("gift_id", request.gift_id).map_err(ServiceError::from)?;
        let (page, profiles) =
            self.adapter.ranking(pkid, gift, request.index).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::GetRankingResponse {
            pkid: page.pkid.get(),
            gift_id: page.gift_id.get(),
            users: page
                .rows
                .iter()
                .map(|row| {
                    let listed = domain::SenderRow { user_id: row.user_id, total: row.total };
                    sender(row.rank, &listed, &profiles)
                })
                .collect(),
            has_more: page.has_more,
        }))
    }

    /// 2.2.a: the show's latest PK.
    async fn get_show_pk(
        &self,
        request: Request<proto::GetShowPkRequest>,
    ) -> Answer<proto::GetShowPkResponse> {
        let show = show(request.into_inner().show_id)?;
        let latest = self.adapter.show_pk(show).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::GetShowPkResponse { pk: latest.as_ref().map(pk_info) }))
    }

    /// The show's PKs, newest first.
    async fn list_show_pks(
        &self,
        request: Request<proto::ListShowPksRequest>,
    ) -> Answer<proto::ListShowPksResponse> {
        let show = show(request.into_inner().show_id)?;
        let pks = self.adapter.show_pks(show).await.map_err(ServiceError::from)?;
        Ok(Response::new(proto::ListShowPksResponse { pks: pks.iter().map(pk_info).collect() }))
    }
}
