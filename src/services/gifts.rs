//! `pk.gift.v1.Gifts`: the one gift-ingestion entry for every mode.

use livepk_core::{Gift, GiftId, ReceiverId, RoomSid, SenderProfile, UserId};
use livepk_engine::GiftOutcome;
use tonic::{Request, Response, Status, Streaming};

use crate::App;
use crate::pb::gift::gifts_server::{Gifts, GiftsServer};
use crate::pb::gift::{
    GiftError, GiftResult, RecordGiftBatchRequest, RecordGiftBatchResponse, RecordGiftRequest,
    RecordGiftResponse, RecordGiftsRequest, RecordGiftsResponse, ScoreChange,
};
use crate::pb::mode_to_proto;
use crate::status::ServiceError;

/// Most gifts accepted in one batch or stream, so one call cannot hold a replica for long.
pub const MAX_BATCH: usize = 1_000;

/// The service.
pub struct GiftsService {
    app: App,
}

/// The tonic server for `Gifts`.
pub fn server(app: App) -> GiftsServer<GiftsService> {
    GiftsServer::new(GiftsService { app })
}

/// Parses a request into a validated [`Gift`].
pub fn parse_gift(request: RecordGiftRequest) -> Result<Gift, ServiceError> {
    let sender =
        request.sender.ok_or_else(|| livepk_core::InvalidArgument::new("sender", "is required"))?;
    let gift = Gift {
        gift_txn_id: request.gift_txn_id,
        sender: SenderProfile {
            user_id: UserId::parse("sender.user_id", sender.user_id)?,
            user_nick: sender.user_nick,
            user_icon: sender.user_icon,
            user_level: sender.user_level,
            user_wealth: sender.user_wealth,
        },
        receiver_id: ReceiverId::parse("receiver_id", request.receiver_id)?,
        room_sid: RoomSid::parse("room_sid", request.room_sid)?,
        gift_id: GiftId::parse("gift_id", request.gift_id)?,
        gift_count: request.gift_count,
        unit_value: request.unit_value,
        sent_at_ms: request.sent_at_ms,
        show_id: request.show_id,
        call_id: request.call_id,
    };
    gift.validate()?;
    Ok(gift)
}

fn changes_to_proto(outcome: &GiftOutcome) -> Vec<ScoreChange> {
    outcome
        .changes
        .iter()
        .map(|change| ScoreChange {
            mode: mode_to_proto(change.mode) as i32,
            pkid: change.pkid,
            receiver_id: change.receiver_id,
            side_total: change.side_total,
            sender_total: change.sender_total,
            side: change.side.clone(),
        })
        .collect()
}

impl GiftsService {
    async fn record_one(&self, request: RecordGiftRequest) -> Result<GiftOutcome, ServiceError> {
        let gift = parse_gift(request)?;
        Ok(self.app.runtime.ledger.record(&gift).await?)
    }

    /// One gift's result inside a batch: a refused gift is reported in place, so one bad gift
    /// does not lose the others. A store outage (UNAVAILABLE) is not a gift's fault and fails the
    /// whole call, as the contract says: the gateway retries the call, and the gifts applied
    /// before the outage answer `duplicate` then.
    async fn record_in_batch(&self, request: RecordGiftRequest) -> Result<GiftResult, Status> {
        let gift_txn_id = request.gift_txn_id.clone();
        Ok(match self.record_one(request).await {
            Ok(outcome) => GiftResult {
                gift_txn_id,
                duplicate: outcome.duplicate,
                changes: changes_to_proto(&outcome),
                error: None,
            },
            Err(error) => {
                let code = error.public_code();
                let status = Status::from(error);
                if status.code() == tonic::Code::Unavailable {
                    return Err(status);
                }
                GiftResult {
                    gift_txn_id,
                    duplicate: false,
                    changes: Vec::new(),
                    error: Some(GiftError {
                        status_code: status.code() as i32,
                        code,
                        message: status.message().to_owned(),
                    }),
                }
            }
        })
    }
}

#[tonic::async_trait]
impl Gifts for GiftsService {
    async fn record_gift(
        &self,
        request: Request<RecordGiftRequest>,
    ) -> Result<Response<RecordGiftResponse>, Status> {
        let outcome = self.record_one(request.into_inner()).await?;
        Ok(Response::new(RecordGiftResponse {
            duplicate: outcome.duplicate,
            changes: changes_to_proto(&outcome),
        }))
    }

    async fn record_gifts(
        &self,
        request: Request<Streaming<RecordGiftsRequest>>,
    ) -> Result<Response<RecordGiftsResponse>, Status> {
        let mut stream = request.into_inner();
        let mut results = Vec::new();
        while let Some(message) = stream.message().await? {
            if results.len() >= MAX_BATCH {
                return Err(ServiceError::from(livepk_core::InvalidArgument::new(
                    "gift",
                    format!("at most {MAX_BATCH} gifts per stream"),
                ))
                .into());
            }
            let gift = message.gift.ok_or_else(|| {
                ServiceError::from(livepk_core::InvalidArgument::new("gift", "is required"))
            })?;
            results.push(self.record_in_batch(gift).await?);
        }
        Ok(Response::new(RecordGiftsResponse { results }))
    }

    async fn record_gift_batch(
        &self,
        request: Request<RecordGiftBatchRequest>,
    ) -> Result<Response<RecordGiftBatchResponse>, Status> {
        let gifts = request.into_inner().gifts;
        if gifts.len() > MAX_BATCH {
            return Err(ServiceError::from(livepk_core::InvalidArgument::new(
                "gifts",
                format!("at most {MAX_BATCH} gifts per batch"),
            ))
            .into());
        }
        // Gifts of one batch are independent; run them concurrently (bounded by the batch). The
        // results stay in request order; an outage fails the call once every gift has finished.
        let results =
            futures::future::join_all(gifts.into_iter().map(|gift| self.record_in_batch(gift)))
                .await
                .into_iter()
                .collect::<Result<Vec<_>, Status>>()?;
        Ok(Response::new(RecordGiftBatchResponse { results }))
    }
}
