//! `pk.events.v1.Events`: the notification stream (SPEC §4, an improvement over lossy IM push).
//!
//! Positions are stream ids (`<ms>-<seq>`). `after_event_id` "" means "from now on", "0" means
//! "from the oldest event still retained", anything else "strictly after this id". A reader
//! that reconnects with the last id it saw gets every later event, none twice, in order, as
//! long as it is within the retention window; `truncated` tells it when it was not.
//!
//! Streams are bounded (issue 12 item 5): at most `limits.max_subscribers` at once per replica
//! (the next is refused with RESOURCE_EXHAUSTED); one reader per replica waits on the store for
//! new events (one blocking connection, whatever the number of streams), decodes them once and
//! hands them to every stream, which filters them (issue 15: one read per batch of events, not
//! one per stream; delivery p99 in `benches/event_stream.rs`); a stream reads the store itself
//! only to catch up (when it opens, when it fell behind the reader's buffer of TAIL_BUFFER
//! batches, after 2 s without a batch); a stream whose reader does not take the next event
//! within `limits.subscribe_send_timeout_ms` is ended, freeing its slot.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::Stream;
use livepk_core::InvalidArgument;
use livepk_store::StoredEvent;
use prost::Message;
use tokio::sync::{Semaphore, broadcast, mpsc, watch};
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
/// How long one blocking read of the stream's tail waits before checking for shutdown again;
/// also how long a stream waits for a wake-up before it reads again anyway.
const SUBSCRIBE_BLOCK: Duration = Duration::from_secs(2);
/// Events a stream reads (and buffers for its reader) at once.
const SUBSCRIBE_BATCH: usize = 256;
/// Batches of the tail reader kept for the streams (each up to SUBSCRIBE_BATCH events); a
/// stream further behind than this reads the store instead.
const TAIL_BUFFER: usize = 128;

/// Limits of `Subscribe` streams.
#[derive(Debug, Clone)]
pub struct SubscribeLimits {
    /// Streams open at once on this replica.
    pub max_subscribers: usize,
    /// Longest wait for a reader to take the next event.
    pub send_timeout: Duration,
}

impl Default for SubscribeLimits {
    fn default() -> Self {
        Self { max_subscribers: 256, send_timeout: Duration::from_secs(10) }
    }
}

/// The service.
pub struct EventsService {
    app: App,
    limits: SubscribeLimits,
    slots: Arc<Semaphore>,
    /// The tail reader's batches, started with the first stream.
    tail: OnceLock<broadcast::Sender<Arc<TailBatch>>>,
}

/// The tonic server for `Events` with the default limits.
pub fn server(app: App) -> EventsServer<EventsService> {
    server_with(app, SubscribeLimits::default())
}

/// The tonic server for `Events` with `limits`.
pub fn server_with(app: App, limits: SubscribeLimits) -> EventsServer<EventsService> {
    let slots = Arc::new(Semaphore::new(limits.max_subscribers.max(1)));
    EventsServer::new(EventsService { app, limits, slots, tail: OnceLock::new() })
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

/// Most entries of each list of a filter, and the longest type name: a filter is checked against
/// every event a reader passes, so its size is bounded like any other input.
const MAX_FILTER_ENTRIES: usize = 100;
const MAX_TYPE_LEN: usize = 128;

/// Checks a request's filter as the proto describes it: MODE_UNSPECIFIED entries mean nothing
/// (only them = every mode), a mode or target kind the contract does not define is refused (it
/// would silently match nothing), a target must name its kind.
fn parse_filter(filter: Option<EventFilter>) -> Result<EventFilter, InvalidArgument> {
    let mut filter = filter.unwrap_or_default();
    let too_many = |field: &str, len: usize| {
        (len > MAX_FILTER_ENTRIES)
            .then(|| InvalidArgument::new(field, format!("at most {MAX_FILTER_ENTRIES} entries")))
    };
    for (field, len) in [
        ("filter.modes", filter.modes.len()),
        ("filter.targets", filter.targets.len()),
        ("filter.types", filter.types.len()),
    ] {
        if let Some(error) = too_many(field, len) {
            return Err(error);
        }
    }
    if filter.modes.iter().any(|&mode| mode != 0 && crate::pb::mode_from_proto(mode).is_none()) {
        return Err(InvalidArgument::new("filter.modes", "must name modes of pk.common.v1.Mode"));
    }
    filter.modes.retain(|&mode| mode != 0);
    let defined_kind = |kind: i32| {
        crate::pb::common::TargetKind::try_from(kind)
            .is_ok_and(|kind| kind != crate::pb::common::TargetKind::Unspecified)
    };
    if filter.targets.iter().any(|target| !defined_kind(target.kind)) {
        return Err(InvalidArgument::new(
            "filter.targets.kind",
            "must name a target kind (room, singer or user)",
        ));
    }
    if filter.types.iter().any(|name| name.is_empty() || name.len() > MAX_TYPE_LEN) {
        return Err(InvalidArgument::new(
            "filter.types",
            format!("each must be 1 to {MAX_TYPE_LEN} bytes"),
        ));
    }
    Ok(filter)
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
    /// The new events, as they are appended: one task per replica blocks on the store (the
    /// only blocking read, so one pooled connection), decodes what it reads once and hands it
    /// to every stream; a stream reads the store itself only to catch up.
    fn tail(&self) -> broadcast::Receiver<Arc<TailBatch>> {
        self.tail
            .get_or_init(|| {
                let (sender, _) = broadcast::channel(TAIL_BUFFER);
                tokio::spawn(follow_tail(
                    self.app.store.clone(),
                    sender.clone(),
                    self.app.stop.clone(),
                ));
                sender
            })
            .subscribe()
    }

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
        let filter = parse_filter(request.filter).map_err(ServiceError::from)?;
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| {
            tracing::warn!(
                max_subscribers = self.limits.max_subscribers,
                "Subscribe refused: limits.max_subscribers streams are open"
            );
            Status::from(ServiceError::SubscribersFull { max: self.limits.max_subscribers })
        })?;
        let position = self.start_position(&request.after_event_id, true).await?;
        let first = self.app.store.first_event_id().await.map_err(ServiceError::from)?;
        let truncated = is_truncated(position, first.as_deref());

        let (sender, receiver) = mpsc::channel(SUBSCRIBE_BATCH);
        let stream = Subscription {
            store: self.app.store.clone(),
            stop: self.app.stop.clone(),
            tail: self.tail(),
            filter,
            position,
            truncated,
            send_timeout: self.limits.send_timeout,
        };
        tokio::spawn(async move {
            METRICS.event_subscribers.inc();
            stream.run(sender).await;
            METRICS.event_subscribers.dec();
            drop(slot);
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
        let filter = parse_filter(request.filter).map_err(ServiceError::from)?;
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

/// Events the tail reader read in one go: every event of the stream after `after`, up to the
/// last of `events`, in order (undecodable ones left out, but still within the span).
#[derive(Debug)]
struct TailBatch {
    after: (u64, u64),
    /// The last event read (the batch spans `after` exclusive to `until` inclusive).
    until: (u64, u64),
    events: Vec<((u64, u64), Event)>,
}

/// Follows the end of the stream with blocking reads and hands every stream of this replica
/// what it read, decoded once, until `stop`. It never skips: after a failed read it reads again
/// from the same place, so the batches it sends are contiguous.
async fn follow_tail(
    store: Arc<dyn livepk_store::Store>,
    batches: broadcast::Sender<Arc<TailBatch>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut position: Option<(u64, u64)> = None;
    loop {
        let Some(after) = position else {
            match store.last_event_id().await {
                Ok(last) => position = parse_position(&last).ok().flatten().or(Some((0, 0))),
                Err(error) => {
                    tracing::warn!(%error, "events tail: cannot read the stream's end");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = livepk_engine::stopped(&mut stop) => return,
                    }
                }
            }
            continue;
        };
        let from = format_position(after);
        let read = tokio::select! {
            read = store.read_events(&from, SUBSCRIBE_BATCH, Some(SUBSCRIBE_BLOCK)) => read,
            _ = livepk_engine::stopped(&mut stop) => return,
        };
        match read {
            Ok(stored) if stored.is_empty() => {}
            Ok(stored) => {
                let mut events = Vec::with_capacity(stored.len());
                let mut last = after;
                for stored in stored {
                    let Ok(Some(at)) = parse_position(&stored.id) else {
                        tracing::error!(id = %stored.id, "events tail: an event id that is not a position");
                        continue;
                    };
                    last = at;
                    match decode(stored) {
                        Ok(event) => events.push((at, event)),
                        Err(error) => tracing::error!(%error, "skipping an undecodable event"),
                    }
                }
                position = Some(last);
                if events.is_empty() {
                    continue;
                }
                // No stream open: nobody to hand it to (the next one reads the store first).
                let _ = batches.send(Arc::new(TailBatch { after, until: last, events }));
            }
            Err(error) => {
                tracing::warn!(%error, "events tail: read failed");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = livepk_engine::stopped(&mut stop) => return,
                }
            }
        }
    }
}

/// One `Subscribe` stream: catches up from the store, then takes the tail reader's batches
/// (reading the store again whenever it finds a gap: it fell behind the tail reader's buffer, or
/// opened after a batch it needed), filters, and hands its reader each matching event.
struct Subscription {
    store: Arc<dyn livepk_store::Store>,
    stop: watch::Receiver<bool>,
    tail: broadcast::Receiver<Arc<TailBatch>>,
    filter: EventFilter,
    position: (u64, u64),
    truncated: bool,
    send_timeout: Duration,
}

/// Why a stream stopped handing events over.
enum Sent {
    Delivered,
    /// The reader went away, or did not take an event in time.
    Gone,
}

impl Subscription {
    async fn run(mut self, sender: mpsc::Sender<Result<SubscribeResponse, Status>>) {
        loop {
            // Catch up from the store: everything after the position, up to its end now.
            loop {
                let after = format_position(self.position);
                let read = tokio::select! {
                    read = self.store.read_events(&after, SUBSCRIBE_BATCH, None) => read,
                    _ = livepk_engine::stopped(&mut self.stop) => return self.drain(&sender).await,
                };
                let batch = match read {
                    Ok(batch) => batch,
                    Err(error) => {
                        let status = Status::from(ServiceError::from(error));
                        let _ =
                            tokio::time::timeout(self.send_timeout, sender.send(Err(status))).await;
                        return;
                    }
                };
                let read_all = batch.len() < SUBSCRIBE_BATCH;
                for stored in batch {
                    let Ok(Some(at)) = parse_position(&stored.id) else { continue };
                    self.position = at;
                    let event = match decode(stored) {
                        Ok(event) => event,
                        Err(error) => {
                            tracing::error!(%error, "skipping an undecodable event");
                            continue;
                        }
                    };
                    if let Sent::Gone = self.deliver(&sender, &event).await {
                        return;
                    }
                }
                if read_all {
                    break;
                }
            }
            // Follow the tail reader's batches while they continue where this stream is.
            // No progress for a while (nothing new, or a tail reader stalled or behind this
            // stream, whose batches are all skipped): read the store anyway, so the tail
            // reader cannot hold a stream up for longer than this.
            let idle = tokio::time::sleep(SUBSCRIBE_BLOCK);
            tokio::pin!(idle);
            loop {
                let batch = tokio::select! {
                    batch = self.tail.recv() => batch,
                    () = &mut idle => break,
                    _ = livepk_engine::stopped(&mut self.stop) => return self.drain(&sender).await,
                    _ = sender.closed() => return,
                };
                let batch = match batch {
                    Ok(batch) => batch,
                    // Fell behind the tail reader's buffer: the store has what it missed.
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => {
                        return self.drain(&sender).await;
                    }
                };
                if batch.until <= self.position {
                    continue;
                }
                if batch.after > self.position {
                    // Events between this stream's position and the batch: from the store.
                    break;
                }
                for (at, event) in &batch.events {
                    if *at <= self.position {
                        continue;
                    }
                    if let Sent::Gone = self.deliver(&sender, event).await {
                        return;
                    }
                }
                self.position = batch.until;
                idle.as_mut().reset(tokio::time::Instant::now() + SUBSCRIBE_BLOCK);
            }
        }
    }

    /// Hands `event` (at the stream's position) to the reader when it passes the filter.
    async fn deliver(
        &mut self,
        sender: &mpsc::Sender<Result<SubscribeResponse, Status>>,
        event: &Event,
    ) -> Sent {
        if !matches(&self.filter, event) {
            return Sent::Delivered;
        }
        let message = SubscribeResponse { event: Some(event.clone()), truncated: self.truncated };
        self.truncated = false;
        self.send(sender, Ok(message)).await
    }

    async fn send(
        &mut self,
        sender: &mpsc::Sender<Result<SubscribeResponse, Status>>,
        message: Result<SubscribeResponse, Status>,
    ) -> Sent {
        tokio::select! {
            sent = tokio::time::timeout(self.send_timeout, sender.send(message)) => match sent {
                Ok(Ok(())) => Sent::Delivered,
                Ok(Err(_)) => Sent::Gone,
                Err(_) => {
                    tracing::info!(
                        timeout_ms = self.send_timeout.as_millis() as u64,
                        "a Subscribe reader took no event within limits.subscribe_send_timeout_ms: \
                         ending its stream"
                    );
                    Sent::Gone
                }
            },
            _ = livepk_engine::stopped(&mut self.stop) => {
                self.drain(sender).await;
                Sent::Gone
            }
        }
    }

    /// Tells the reader to reconnect elsewhere with its last id (when it still reads).
    async fn drain(&self, sender: &mpsc::Sender<Result<SubscribeResponse, Status>>) {
        let _ = sender.try_send(Err(ServiceError::Draining.into()));
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

    /// The events of the stream as a reader of `receiver` gets them (their pkids), until `count`.
    async fn received_pkids(
        receiver: &mut mpsc::Receiver<Result<SubscribeResponse, Status>>,
        count: usize,
        slow: bool,
    ) -> Vec<u64> {
        let mut pkids = Vec::new();
        while pkids.len() < count {
            let message = tokio::time::timeout(Duration::from_secs(20), receiver.recv())
                .await
                .expect("the stream went quiet before every event came")
                .expect("the stream ended")
                .expect("an error on the stream");
            pkids.push(message.event.expect("an event").pkid);
            if slow && pkids.len() % 64 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        pkids
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streams_get_every_event_once_in_order_also_when_they_fall_behind_the_tail_reader() {
        use livepk_store::{MemoryStore, Store, StoreOptions};
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreOptions::default()));
        let (_stop_sender, stop) = watch::channel(false);
        // A buffer of two batches: a stream that is slow to hand events over falls behind it.
        let (batches, _) = broadcast::channel(2);
        tokio::spawn(follow_tail(store.clone(), batches.clone(), stop.clone()));
        let open = |filter: EventFilter, buffer: usize| {
            let (sender, receiver) = mpsc::channel(buffer);
            let subscription = Subscription {
                store: store.clone(),
                stop: stop.clone(),
                tail: batches.subscribe(),
                filter,
                position: (0, 0),
                truncated: false,
                send_timeout: Duration::from_secs(30),
            };
            tokio::spawn(subscription.run(sender));
            receiver
        };
        let mut prompt = open(EventFilter::default(), 1024);
        let mut slow = open(EventFilter::default(), 4);
        let room_two = EventFilter {
            targets: vec![crate::pb::common::Target {
                kind: crate::pb::common::TargetKind::Room as i32,
                id: 2,
            }],
            ..EventFilter::default()
        };
        let mut filtered = open(room_two, 4);

        const EVENTS: u64 = 3_000;
        let appender = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut next = 0;
                while next < EVENTS {
                    // Batches of 1 to 7 events, sometimes with a pause between.
                    let size = (next % 7 + 1).min(EVENTS - next);
                    let batch: Vec<Vec<u8>> = (next..next + size)
                        .map(|pkid| {
                            Event {
                                pkid,
                                target: Some(crate::pb::common::Target {
                                    kind: crate::pb::common::TargetKind::Room as i32,
                                    id: 1 + pkid % 2,
                                }),
                                r#type: "test_nt".into(),
                                ..Event::default()
                            }
                            .encode_to_vec()
                        })
                        .collect();
                    store.append_events(&batch).await.unwrap();
                    next += size;
                    if next % 100 < 7 {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
            })
        };
        let all: Vec<u64> = (0..EVENTS).collect();
        assert_eq!(received_pkids(&mut prompt, EVENTS as usize, false).await, all);
        assert_eq!(received_pkids(&mut slow, EVENTS as usize, true).await, all);
        let odd: Vec<u64> = (0..EVENTS).filter(|pkid| pkid % 2 == 1).collect();
        assert_eq!(received_pkids(&mut filtered, odd.len(), true).await, odd);
        appender.await.unwrap();
        // Nothing more: none twice.
        for receiver in [&mut prompt, &mut slow, &mut filtered] {
            let more = tokio::time::timeout(Duration::from_millis(300), receiver.recv()).await;
            assert!(more.is_err(), "an event came twice: {more:?}");
        }
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
