//! `pk.show.v1.InteractiveShow`: one method per seed-003 request. Each validates its request into
//! domain values, calls the mode's adapter, and answers with the show. Errors travel as gRPC
//! status with their business code (see `crate::status`).

use std::sync::Arc;

use livepk_core::{GiftId, InvalidArgument, SingerId, UserId};
use livepk_show::adapter::{RateTarget, ShowAdapter};
use livepk_show::{
    CallId, Party, PaymentOutcome, PaymentRequest, RankingPeriod, Show, ShowError, ShowId,
    ShowRating, TxnId,
};
use tonic::{Request, Response};

use super::convert::{gift_to_proto, show_info, status};
use crate::pb::show as proto;
use crate::pb::show::interactive_show_server::{InteractiveShow, InteractiveShowServer};
use crate::services::Answer;
use crate::services::parse;
use crate::status::ServiceError;

/// Default anchors per page of the income ranking.
const DEFAULT_PAGE_SIZE: u32 = 20;
/// Most anchors per page of the income ranking.
const MAX_PAGE_SIZE: u32 = 100;

/// The service.
pub struct ShowService {
    adapter: Arc<ShowAdapter>,
}

/// The tonic server for `InteractiveShow`.
pub fn server(adapter: Arc<ShowAdapter>) -> InteractiveShowServer<ShowService> {
    InteractiveShowServer::new(ShowService { adapter })
}

fn show_id(raw: u64) -> Result<ShowId, ServiceError> {
    Ok(ShowId::parse("show_id", raw)?)
}

fn call_id(raw: u64) -> Result<CallId, ServiceError> {
    Ok(CallId::parse("call_id", raw)?)
}

fn anchor_id(raw: u64) -> Result<SingerId, ServiceError> {
    parse::singer("anchor_id", raw)
}

fn user_id(raw: u64) -> Result<UserId, ServiceError> {
    parse::user("user_id", raw)
}

fn uid(raw: u64) -> Result<u64, ServiceError> {
    // Any account: parsed as a user id only to refuse zero naming the field.
    Ok(parse::user("uid", raw)?.get())
}

fn flag(field: &str, raw: u32) -> Result<bool, ServiceError> {
    match raw {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(InvalidArgument::new(field, "must be 0 or 1").into()),
    }
}

fn outcome(raw: i32) -> Result<PaymentOutcome, ServiceError> {
    match proto::PaymentOutcome::try_from(raw) {
        Ok(proto::PaymentOutcome::Success) => Ok(PaymentOutcome::Success),
        Ok(proto::PaymentOutcome::InsufficientBalance) => Ok(PaymentOutcome::InsufficientBalance),
        _ => Err(InvalidArgument::new("outcome", "must be SUCCESS or INSUFFICIENT_BALANCE").into()),
    }
}

/// When a success was charged: required (non-zero) for a success, ignored otherwise (an
/// insufficient balance is judged at the report's arrival).
fn paid_at(outcome: PaymentOutcome, raw: u64) -> Result<Option<u64>, ServiceError> {
    match (outcome, raw) {
        (PaymentOutcome::InsufficientBalance, _) => Ok(None),
        (PaymentOutcome::Success, 0) => {
            Err(InvalidArgument::new("paid_at_ms", "is required for a SUCCESS").into())
        }
        (PaymentOutcome::Success, paid_at_ms) => Ok(Some(paid_at_ms)),
    }
}

fn period(raw: i32) -> Result<RankingPeriod, ServiceError> {
    match proto::RankingPeriod::try_from(raw) {
        Ok(proto::RankingPeriod::Day) => Ok(RankingPeriod::Day),
        Ok(proto::RankingPeriod::Week) => Ok(RankingPeriod::Week),
        Ok(proto::RankingPeriod::Month) => Ok(RankingPeriod::Month),
        _ => Err(InvalidArgument::new("period", "must be DAY, WEEK or MONTH").into()),
    }
}

/// Page arguments -> (offset, limit).
fn page(page_num: u32, page_size: u32) -> Result<(u64, u32), ServiceError> {
    Ok(parse::page(page_num, page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?)
}

/// Which show a Rate names: exactly one of `show_id` and `call_id`.
fn rate_target(show: u64, call: u64) -> Result<RateTarget, ServiceError> {
    match (show, call) {
        (0, 0) | (1.., 1..) => {
            Err(InvalidArgument::new("show_id", "give exactly one of show_id and call_id").into())
        }
        (show, 0) => Ok(RateTarget::Show(show_id(show)?)),
        (_, call) => Ok(RateTarget::Call(call_id(call)?)),
    }
}

fn engine<T>(result: livepk_engine::EngineResult<T>) -> Result<T, ServiceError> {
    result.map_err(ServiceError::from)
}

impl ShowService {
    async fn invite(
        &self,
        inviter: Party,
        call: u64,
        anchor: u64,
        user: u64,
        gid: u64,
    ) -> Result<Show, ServiceError> {
        let (call, anchor, user) = (call_id(call)?, anchor_id(anchor)?, user_id(user)?);
        let gid = GiftId::parse("gid", gid)?;
        engine(self.adapter.invite(inviter, call, anchor, user, gid).await)
    }
}

#[tonic::async_trait]
impl InteractiveShow for ShowService {
    /// 主播邀请: a new show, 51 to the user.
    async fn anchor_invite(
        &self,
        request: Request<proto::AnchorInviteRequest>,
    ) -> Answer<proto::AnchorInviteResponse> {
        let request = request.into_inner();
        let show = self
            .invite(Party::Anchor, request.call_id, request.anchor_id, request.user_id, request.gid)
            .await?;
        Ok(Response::new(proto::AnchorInviteResponse { show: Some(show_info(&show)) }))
    }

    /// 用户邀请: a new show, 52 to the anchor.
    async fn user_invite(
        &self,
        request: Request<proto::UserInviteRequest>,
    ) -> Answer<proto::UserInviteResponse> {
        let request = request.into_inner();
        let show = self
            .invite(Party::User, request.call_id, request.anchor_id, request.user_id, request.gid)
            .await?;
        Ok(Response::new(proto::UserInviteResponse { show: Some(show_info(&show)) }))
    }

    /// 主播接受: 53 to the user, who is asked to pay.
    async fn anchor_accept(
        &self,
        request: Request<proto::AnchorAcceptRequest>,
    ) -> Answer<proto::AnchorAcceptResponse> {
        let request = request.into_inner();
        let (show, anchor) = (show_id(request.show_id)?, anchor_id(request.anchor_id)?);
        let show = engine(self.adapter.anchor_accept(show, anchor).await)?;
        Ok(Response::new(proto::AnchorAcceptResponse { show: Some(show_info(&show)) }))
    }

    /// 主播拒绝: 55 to the user.
    async fn anchor_reject(
        &self,
        request: Request<proto::AnchorRejectRequest>,
    ) -> Answer<proto::AnchorRejectResponse> {
        let request = request.into_inner();
        let (show, anchor) = (show_id(request.show_id)?, anchor_id(request.anchor_id)?);
        let show = engine(self.adapter.anchor_reject(show, anchor).await)?;
        Ok(Response::new(proto::AnchorRejectResponse { show: Some(show_info(&show)) }))
    }

    /// 用户拒绝: 56 to the anchor.
    async fn user_reject(
        &self,
        request: Request<proto::UserRejectRequest>,
    ) -> Answer<proto::UserRejectResponse> {
        let request = request.into_inner();
        let (show, user) = (show_id(request.show_id)?, user_id(request.user_id)?);
        let show = engine(self.adapter.user_reject(show, user).await)?;
        Ok(Response::new(proto::UserRejectResponse { show: Some(show_info(&show)) }))
    }

    /// The payment's outcome: 54 / 58 / 57 to the anchor, once per transaction id; a success
    /// judged by when it was charged.
    async fn report_payment(
        &self,
        request: Request<proto::ReportPaymentRequest>,
    ) -> Answer<proto::ReportPaymentResponse> {
        let request = request.into_inner();
        let outcome = outcome(request.outcome)?;
        let report = PaymentRequest {
            show_id: show_id(request.show_id)?,
            user_id: user_id(request.user_id)?,
            txn_id: TxnId::parse("txn_id", &request.txn_id).map_err(ServiceError::from)?,
            outcome,
            paid_at_ms: paid_at(outcome, request.paid_at_ms)?,
        };
        let show = report.show_id;
        let answer = engine(self.adapter.report_payment(report).await)?;
        Ok(Response::new(proto::ReportPaymentResponse {
            show_id: show.get(),
            chat_type: answer.chat_type.number(),
            status: status(answer.status) as i32,
        }))
    }

    /// The show was performed (`finish_time`).
    async fn finish(
        &self,
        request: Request<proto::FinishRequest>,
    ) -> Answer<proto::FinishResponse> {
        let request = request.into_inner();
        let (show, anchor) = (show_id(request.show_id)?, anchor_id(request.anchor_id)?);
        let show = engine(self.adapter.finish(show, anchor).await)?;
        Ok(Response::new(proto::FinishResponse { show: Some(show_info(&show)) }))
    }

    /// The call evaluation's `show_rating`.
    async fn rate(&self, request: Request<proto::RateRequest>) -> Answer<proto::RateResponse> {
        let request = request.into_inner();
        let target = rate_target(request.show_id, request.call_id)?;
        let user = user_id(request.user_id)?;
        let rating =
            ShowRating::parse("show_rating", request.show_rating).map_err(ServiceError::from)?;
        let show = engine(self.adapter.rate(target, user, rating).await)?;
        Ok(Response::new(proto::RateResponse { show: Some(show_info(&show)) }))
    }

    /// The show as it is now.
    async fn get_show(
        &self,
        request: Request<proto::GetShowRequest>,
    ) -> Answer<proto::GetShowResponse> {
        let show = show_id(request.into_inner().show_id)?;
        let found = engine(self.adapter.show(show).await)?
            .ok_or_else(|| ServiceError::business(ShowError::UnknownShow(show)))?;
        Ok(Response::new(proto::GetShowResponse { show: Some(show_info(&found)) }))
    }

    /// The `showEnable` flag of one account (logged for the call when one is named).
    async fn get_show_enable(
        &self,
        request: Request<proto::GetShowEnableRequest>,
    ) -> Answer<proto::GetShowEnableResponse> {
        let request = request.into_inner();
        let account = uid(request.uid)?;
        let call = match request.call_id {
            0 => None,
            raw => Some(call_id(raw)?),
        };
        let enabled = engine(self.adapter.show_enable(account, call).await)?;
        Ok(Response::new(proto::GetShowEnableResponse { show_enable: u32::from(enabled) }))
    }

    /// One account's own switch.
    async fn set_show_enable(
        &self,
        request: Request<proto::SetShowEnableRequest>,
    ) -> Answer<proto::SetShowEnableResponse> {
        let request = request.into_inner();
        let (account, enabled) = (uid(request.uid)?, flag("show_enable", request.show_enable)?);
        engine(self.adapter.set_show_enable(account, enabled).await)?;
        Ok(Response::new(proto::SetShowEnableResponse { show_enable: u32::from(enabled) }))
    }

    /// The gifts offered.
    async fn list_show_gifts(
        &self,
        _request: Request<proto::ListShowGiftsRequest>,
    ) -> Answer<proto::ListShowGiftsResponse> {
        let gifts = engine(self.adapter.gifts(false).await)?;
        Ok(Response::new(proto::ListShowGiftsResponse {
            gifts: gifts.iter().map(gift_to_proto).collect(),
        }))
    }

    /// A page of the show-income ranking.
    async fn get_income_ranking(
        &self,
        request: Request<proto::GetIncomeRankingRequest>,
    ) -> Answer<proto::GetIncomeRankingResponse> {
        let request = request.into_inner();
        let period = period(request.period)?;
        let (offset, limit) = page(request.page_num, request.page_size)?;
        let ranking = engine(self.adapter.income_ranking(period, offset, limit).await)?;
        let rows = ranking
            .rows
            .iter()
            .zip(offset + 1..)
            .map(|(row, rank)| proto::IncomeRankingRow {
                rank: u32::try_from(rank).unwrap_or(u32::MAX),
                anchor_id: row.anchor_id,
                income: row.income,
                shows: row.shows,
            })
            .collect();
        Ok(Response::new(proto::GetIncomeRankingResponse {
            rows,
            total: ranking.total,
            from_time: ranking.from_time,
            to_time: ranking.to_time,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_names_exactly_one_show() {
        let field = |result: Result<RateTarget, ServiceError>| match result {
            Err(ServiceError::Business(error)) => error.field().map(str::to_owned),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(rate_target(0, 0)).as_deref(), Some("show_id"));
        assert_eq!(field(rate_target(1, 2)).as_deref(), Some("show_id"));
        assert!(matches!(rate_target(3, 0), Ok(RateTarget::Show(show)) if show.get() == 3));
        assert!(matches!(rate_target(0, 4), Ok(RateTarget::Call(call)) if call.get() == 4));
    }

    #[test]
    fn pages_are_bounded() {
        assert_eq!(page(0, 0).unwrap(), (0, DEFAULT_PAGE_SIZE));
        assert_eq!(page(2, 10).unwrap(), (20, 10));
        assert!(page(0, MAX_PAGE_SIZE + 1).is_err());
    }
}
