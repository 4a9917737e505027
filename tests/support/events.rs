//! Reading the event stream: a Subscribe collected in the background, and the payloads of the
//! events (each a `google.protobuf.Any` holding a message of the emitting mode's package).

use std::sync::{Arc, Mutex};

use livepk::pb::common::{Mode, TargetKind};
use livepk::pb::events::{Event, EventFilter, SubscribeRequest};

use super::{Client, SETTLE_SLACK, eventually};

/// The payload of `event` as an `M`, when it holds one.
pub fn payload<M: prost::Message + prost::Name + Default>(event: &Event) -> Option<M> {
    let any = event.payload.as_ref()?;
    if any.type_url != M::type_url() {
        return None;
    }
    Some(any.to_msg().expect("a payload that says what it is decodes as that"))
}

/// Only LinkCall events.
pub fn linkcall_filter() -> EventFilter {
    EventFilter { modes: vec![Mode::Linkcall as i32], ..Default::default() }
}

/// A Subscribe stream (from the oldest event, LinkCall only) collected by a background task.
pub struct EventLog {
    events: Arc<Mutex<Vec<Event>>>,
    task: tokio::task::JoinHandle<()>,
}

impl EventLog {
    /// Subscribes to `server` from event "0".
    pub async fn subscribe(server: &Client) -> EventLog {
        Self::subscribe_with(server, linkcall_filter()).await
    }

    /// Subscribes to `server` from event "0" for the events `filter` selects (another mode's).
    pub async fn subscribe_with(server: &Client, filter: EventFilter) -> EventLog {
        let mut stream = server
            .events()
            .subscribe(SubscribeRequest { after_event_id: "0".into(), filter: Some(filter) })
            .await
            .expect("Subscribe")
            .into_inner();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let task = tokio::spawn(async move {
            while let Ok(Some(message)) = stream.message().await {
                assert!(!message.truncated, "the subscription was truncated");
                if let Some(event) = message.event {
                    sink.lock().unwrap().push(event);
                }
            }
        });
        EventLog { events, task }
    }

    /// What arrived so far.
    pub fn snapshot(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// Waits until an event matching `matches` arrived; returns it.
    pub async fn wait_for(&self, what: &str, matches: impl Fn(&Event) -> bool) -> Event {
        eventually(what, SETTLE_SLACK, || {
            let found = self.events.lock().unwrap().iter().find(|event| matches(event)).cloned();
            async move { found }
        })
        .await
    }

    /// Waits until at least `count` events match `matches`.
    pub async fn wait_count(&self, what: &str, count: usize, matches: impl Fn(&Event) -> bool) {
        eventually(what, SETTLE_SLACK, || {
            let n = self.events.lock().unwrap().iter().filter(|event| matches(event)).count();
            async move { (n >= count).then_some(()) }
        })
        .await
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The event's target as (kind, id).
pub fn target_of(event: &Event) -> (TargetKind, u64) {
    let target = event.target.expect("every event has a target");
    (TargetKind::try_from(target.kind).expect("known target kind"), target.id)
}

/// True when `event` is of type `kind` addressed to (`target_kind`, `id`).
pub fn is(event: &Event, kind: &str, target_kind: TargetKind, id: u64) -> bool {
    event.r#type == kind && target_of(event) == (target_kind, id)
}

/// The `linkcallpk_singer_state_nt` payload, if that is what `event` carries.
pub fn state_nt(event: &Event) -> Option<livepk::pb::linkcall::LinkcallpkSingerStateNt> {
    payload(event)
}

/// The `linkcallpk_singer_pklist_nt` payload, if that is what `event` carries.
pub fn pklist_nt(event: &Event) -> Option<livepk::pb::linkcall::LinkcallpkSingerPklistNt> {
    payload(event)
}

/// The `linkcallpk_room_pk_info_nt` payload, if that is what `event` carries.
pub fn info_nt(event: &Event) -> Option<livepk::pb::linkcall::LinkcallpkRoomPkInfoNt> {
    payload(event)
}

/// The `linkcallpk_room_pk_scene_nt` payload, if that is what `event` carries.
pub fn scene_nt(event: &Event) -> Option<livepk::pb::linkcall::LinkcallpkRoomPkSceneNt> {
    payload(event)
}

/// The `linkcallpk_room_pk_singer_info_nt` payload, if that is what `event` carries.
pub fn singer_info_nt(event: &Event) -> Option<livepk::pb::linkcall::LinkcallpkRoomPkSingerInfoNt> {
    payload(event)
}

/// A state nt of `pk_state` to anchor `to`.
pub fn is_state(event: &Event, to: u64, pk_state: livepk::pb::linkcall::PkState) -> bool {
    is(event, "linkcallpk_singer_state_nt", TargetKind::Singer, to)
        && state_nt(event).is_some_and(|nt| nt.pk_state == pk_state as i32)
}

/// A pklist nt of `pk_state` for `pkid` to anchor `to`.
pub fn is_pklist(
    event: &Event,
    to: u64,
    pk_state: livepk::pb::linkcall::PkState,
    pkid: u64,
) -> bool {
    is(event, "linkcallpk_singer_pklist_nt", TargetKind::Singer, to)
        && pklist_nt(event).is_some_and(|nt| nt.pk_state == pk_state as i32 && nt.pkid == pkid)
}

/// How many COUNT pklist nts `events` holds for (`pkid`, anchor `to`).
pub fn count_pklists(events: &[Event], to: u64, pkid: u64) -> usize {
    events
        .iter()
        .filter(|event| is_pklist(event, to, livepk::pb::linkcall::PkState::Count, pkid))
        .count()
}
