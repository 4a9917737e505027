//! `pk.events.v1.Events`: the notification stream (SPEC §4, an improvement over lossy IM push).
//!
//! Positions are stream ids (`<ms>-<seq>`). `after_event_id` "" means "from now on", "0" means
//! "from the oldest event still retained", anything else "strictly after this id". A reader
//! that reconnects with the last id it saw gets every later event, none twice, in order, as
//! long as it is within the retention window; `truncated` tells it when it was not.

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use livepk_core::InvalidArgument;
use livepk_store::StoredEvent;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::App;
use crate::metrics::METRICS;
use crate::pb::events::events_server::{Events, EventsServer};
use crate::pb::events::{
    Event, EventFilter, FetchRequest, FetchResponse, SubscribeRequest, SubscribeResponse,
};
use crate::status::ServiceError;

/// Default and largest page of `Fetch`.
pub const DEFAULT_FETCH_LIMIT: u32 = 100;
/// Largest page of `Fetch`.
pub const MAX_FETCH_LIMIT: u32 = 1_000;
/// How long one blocking read of `Subscribe` waits before checking for shutdown again.
const SUBSCRIBE_BLOCK: Duration = Duration::from_secs(2);

/// The service.
pub struct EventsService {
    app: App,
}

/// The tonic server for `Events`.
pub fn server(app: App) -> EventsServer<EventsService> {
    EventsServer::new(EventsService { app })
}

/// A parsed position in the stream.
fn parse_position(raw: &str) -> Result<Option<(u64, u64)>, InvalidArgument> {
    if raw.is_empty() {
        return Ok(None);
    }
    let bad = || {
        InvalidArgument::new(
            "after_event_id",
            "must be \"\", \"0\" or an event id like 1700000000000-0",
        )
    };
    let (ms, seq) = raw.split_once('-').unwrap_or((raw, "0"));
    Ok(Some((ms.parse().map_err(|_| bad())?, seq.parse().map_err(|_| bad())?)))
}

fn format_position((ms, seq): (u64, u64)) -> String {
    format!("{ms}-{seq}")
}

/// Whether a reader positioned at `after` may have missed events trimmed from the stream.
fn is_truncated(after: (u64, u64), first_retained: Option<&str>) -> bool {
    match first_retained.and_then(|id| parse_position(id).ok().flatten()) {
        Some(first) => {
            after != (0, 0) && after < first && (first.0, first.1) > (after.0, after.1 + 1)
        }
        None => false,
    }
}

fn matches(filter: &EventFilter, event: &Event) -> bool {
    (filter.modes.is_empty() || filter.modes.contains(&event.mode))
        && (filter.types.is_empty() || filter.types.contains(&event.r#type))
        && (filter.targets.is_empty()
            || event.target.as_ref().is_some_and(|target| {
                // A wanted target with id 0 matches every target of its kind.
                filter.targets.iter().any(|wanted| {
                    wanted.kind == target.kind && (wanted.id == 0 || wanted.id == target.id)
                })
            }))
}

fn decode(stored: StoredEvent) -> Result<Event, ServiceError> {
    let mut event = Event::decode(stored.payload.as_slice()).map_err(|error| {
        livepk_store::StoreError::Corrupt(format!("event {}: {error}", stored.id))
    })?;
    event.event_id = stored.id;
    Ok(event)
}

impl EventsService {
    /// Resolves a position; "" means the current end of the stream for `Subscribe` ("from now
    /// on") and the oldest retained event for `Fetch` (a pull has no "now").
    async fn start_position(
        &self,
        raw: &str,
        empty_is_now: bool,
    ) -> Result<(u64, u64), ServiceError> {
        match parse_position(raw)? {
            Some(position) => Ok(position),
            None if !empty_is_now => Ok((0, 0)),
            None => {
                let last = self.app.store.last_event_id().await?;
                Ok(parse_position(&last)?.unwrap_or((0, 0)))
            }
        }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<SubscribeResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Events for EventsService {
    type SubscribeStream = EventStream;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let request = request.into_inner();
        let filter = request.filter.unwrap_or_default();
        let mut position = self.start_position(&request.after_event_id, true).await?;
        let first = self.app.store.first_event_id().await.map_err(ServiceError::from)?;
        let mut truncated = is_truncated(position, first.as_deref());

        let store = self.app.store.clone();
        let mut stop = self.app.stop.clone();
        let (sender, receiver) = mpsc::channel(256);
        tokio::spawn(async move {
            METRICS.event_subscribers.inc();
            loop {
                let after = format_position(position);
                let read = tokio::select! {
                    read = store.read_events(&after, 256, Some(SUBSCRIBE_BLOCK)) => read,
                    _ = livepk_engine::stopped(&mut stop) => {
                        // Tell the gateway to reconnect elsewhere with its last id.
                        let _ = sender.send(Err(ServiceError::Draining.into())).await;
                        break;
                    }
                    _ = sender.closed() => break,
                };
                let batch = match read {
                    Ok(batch) => batch,
                    Err(error) => {
                        let _ = sender.send(Err(Status::from(ServiceError::from(error)))).await;
                        break;
                    }
                };
                let mut delivered = true;
                for stored in batch {
                    if let Ok(Some(next)) = parse_position(&stored.id) {
                        position = next;
                    }
                    let event = match decode(stored) {
                        Ok(event) => event,
                        Err(error) => {
                            tracing::error!(%error, "skipping an undecodable event");
                            continue;
                        }
                    };
                    if !matches(&filter, &event) {
                        continue;
                    }
                    let message = SubscribeResponse { event: Some(event), truncated };
                    truncated = false;
                    if sender.send(Ok(message)).await.is_err() {
                        delivered = false;
                        break;
                    }
                }
                if !delivered {
                    break;
                }
            }
            METRICS.event_subscribers.dec();
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn fetch(
        &self,
        request: Request<FetchRequest>,
    ) -> Result<Response<FetchResponse>, Status> {
        let request = request.into_inner();
        let limit = match request.limit {
            0 => DEFAULT_FETCH_LIMIT,
            limit if limit > MAX_FETCH_LIMIT => {
                return Err(ServiceError::from(InvalidArgument::new(
                    "limit",
                    format!("must be at most {MAX_FETCH_LIMIT}"),
                ))
                .into());
            }
            limit => limit,
        };
        let filter = request.filter.unwrap_or_default();
        let position = self.start_position(&request.after_event_id, false).await?;
        let first = self.app.store.first_event_id().await.map_err(ServiceError::from)?;
        let truncated = is_truncated(position, first.as_deref());
        let stored = self
            .app
            .store
            .read_events(&format_position(position), limit as usize, None)
            .await
            .map_err(ServiceError::from)?;
        // The cursor advances past filtered-out events too, so a filtered reader never rereads.
        let last_event_id = stored
            .last()
            .map(|event| event.id.clone())
            .unwrap_or_else(|| format_position(position));
        let mut events = Vec::with_capacity(stored.len());
        for event in stored {
            let event = decode(event)?;
            if matches(&filter, &event) {
                events.push(event);
            }
        }
        Ok(Response::new(FetchResponse { events, last_event_id, truncated }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse_and_reject_garbage() {
        assert_eq!(parse_position("").unwrap(), None);
        assert_eq!(parse_position("0").unwrap(), Some((0, 0)));
        assert_eq!(parse_position("17-3").unwrap(), Some((17, 3)));
        assert_eq!(parse_position("x-1").unwrap_err().field, "after_event_id");
    }

    #[test]
    fn truncation_is_detected_only_behind_the_oldest_event() {
        assert!(is_truncated((5, 0), Some("9-0")));
        assert!(!is_truncated((9, 0), Some("9-0")));
        assert!(!is_truncated((8, 0), Some("8-1")), "the very next id is not a gap");
        assert!(!is_truncated((0, 0), Some("9-0")), "\"0\" asks for whatever is retained");
        assert!(!is_truncated((5, 0), None));
    }
}
