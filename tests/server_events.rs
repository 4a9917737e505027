//! `pk.events.v1.Events` end to end. Events are appended straight to the stream (or relayed
//! from an outbox) through a second store on the server's key prefix, as a feature would.

mod support;

use std::sync::Arc;
use std::time::Duration;

use livepk::pb::common::{Mode, Target, TargetKind};
use livepk::pb::events::{Event, EventFilter, FetchRequest, SubscribeRequest, SubscribeResponse};
use livepk_store::{Op, Store, Transaction};
use prost::Message;
use support::{TestServer, assert_invalid_argument};
use tonic::Streaming;

/// How long one event may take to arrive on a Subscribe stream.
const ARRIVAL: Duration = Duration::from_secs(5);

struct Harness {
    server: TestServer,
    store: Arc<dyn Store>,
}

impl Harness {
    async fn start() -> Harness {
        let server = TestServer::start().await;
        let store = support::redis_store(&server.key_prefix).await;
        Harness { server, store }
    }

    /// Appends `events` to the stream; returns their ids.
    async fn append(&self, events: &[Event]) -> Vec<String> {
        let payloads: Vec<Vec<u8>> = events.iter().map(Message::encode_to_vec).collect();
        self.store.append_events(&payloads).await.expect("append_events")
    }

    async fn subscribe(
        &self,
        after: &str,
        filter: Option<EventFilter>,
    ) -> Streaming<SubscribeResponse> {
        self.server
            .events()
            .subscribe(SubscribeRequest { after_event_id: after.into(), filter })
            .await
            .expect("Subscribe")
            .into_inner()
    }

    async fn fetch(
        &self,
        after: &str,
        limit: u32,
        filter: Option<EventFilter>,
    ) -> livepk::pb::events::FetchResponse {
        self.server
            .events()
            .fetch(FetchRequest { after_event_id: after.into(), limit, filter })
            .await
            .expect("Fetch")
            .into_inner()
    }
}

/// An event whose `pkid` is its sequence number `n`, so order is easy to check.
fn event(n: u64, mode: Mode, kind: TargetKind, target_id: u64, kind_name: &str) -> Event {
    Event {
        time_now: 1_700_000_000u64.wrapping_add(n),
        mode: mode as i32,
        pkid: n,
        target: Some(Target { kind: kind as i32, id: target_id }),
        r#type: kind_name.into(),
        ..Default::default()
    }
}

fn plain(n: u64) -> Event {
    event(n, Mode::Linkcall, TargetKind::Room, 1, "linkcallpk_room_pk_info_nt")
}

/// The next event of `stream`, within [`ARRIVAL`].
async fn next(stream: &mut Streaming<SubscribeResponse>) -> Event {
    tokio::time::timeout(ARRIVAL, stream.message())
        .await
        .expect("no event arrived in time")
        .expect("the Subscribe stream failed")
        .expect("the Subscribe stream ended")
        .event
        .expect("a SubscribeResponse without event")
}

async fn take(stream: &mut Streaming<SubscribeResponse>, count: usize) -> Vec<Event> {
    let mut events = Vec::with_capacity(count);
    for _ in 0..count {
        events.push(next(stream).await);
    }
    events
}

fn pkids(events: &[Event]) -> Vec<u64> {
    events.iter().map(|event| event.pkid).collect()
}

/// Appends a sentinel (pkid `u64::MAX`) and reads up to it: returns what came before it. Proves
/// nothing else (no duplicate, no stray event) was queued on the stream.
async fn drain_until_sentinel(
    harness: &Harness,
    stream: &mut Streaming<SubscribeResponse>,
) -> Vec<Event> {
    harness.append(&[plain(u64::MAX)]).await;
    let mut before = Vec::new();
    loop {
        let event = next(stream).await;
        if event.pkid == u64::MAX {
            return before;
        }
        before.push(event);
    }
}

#[tokio::test]
async fn subscribe_from_zero_delivers_retained_events_in_order_with_ids() {
    let harness = Harness::start().await;
    let ids = harness.append(&(1..=5).map(plain).collect::<Vec<_>>()).await;
    let mut stream = harness.subscribe("0", None).await;
    let events = take(&mut stream, 5).await;
    assert_eq!(pkids(&events), [1, 2, 3, 4, 5]);
    let got: Vec<&str> = events.iter().map(|event| event.event_id.as_str()).collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(events[0].r#type, "linkcallpk_room_pk_info_nt");
    assert_eq!(events[0].mode, Mode::Linkcall as i32);

    // New events follow live.
    harness.append(&[plain(6), plain(7)]).await;
    assert_eq!(pkids(&take(&mut stream, 2).await), [6, 7]);
    assert!(drain_until_sentinel(&harness, &mut stream).await.is_empty());
}

#[tokio::test]
async fn subscribe_resumes_after_a_disconnect_without_gaps_or_duplicates() {
    let harness = Harness::start().await;
    harness.append(&(1..=30).map(plain).collect::<Vec<_>>()).await;
    let mut stream = harness.subscribe("0", None).await;
    let seen = take(&mut stream, 10).await;
    assert_eq!(pkids(&seen), (1..=10).collect::<Vec<_>>());
    let last_seen = seen.last().unwrap().event_id.clone();
    drop(stream);

    harness.append(&(31..=60).map(plain).collect::<Vec<_>>()).await;
    let mut stream = harness.subscribe(&last_seen, None).await;
    let rest = take(&mut stream, 50).await;
    assert_eq!(pkids(&rest), (11..=60).collect::<Vec<_>>());
    let mut ids: Vec<&str> = rest.iter().map(|event| event.event_id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 50, "event ids repeat");
    assert!(
        drain_until_sentinel(&harness, &mut stream).await.is_empty(),
        "more than the remaining 50 arrived"
    );
}

#[tokio::test]
async fn subscribe_from_now_skips_older_events() {
    let harness = Harness::start().await;
    harness.append(&[plain(1), plain(2), plain(3)]).await;
    let mut stream = harness.subscribe("", None).await;
    harness.append(&[plain(4), plain(5)]).await;
    assert_eq!(pkids(&take(&mut stream, 2).await), [4, 5]);
    assert!(drain_until_sentinel(&harness, &mut stream).await.is_empty());
}

/// Five events of different modes, types and targets (pkid = position).
fn assorted() -> Vec<Event> {
    vec![
        event(1, Mode::Linkcall, TargetKind::Room, 1, "a"),
        event(2, Mode::Roompk, TargetKind::Room, 2, "b"),
        event(3, Mode::Linkcall, TargetKind::Singer, 5, "b"),
        event(4, Mode::Linkcall, TargetKind::User, 9, "a"),
        event(5, Mode::Giftpk, TargetKind::Room, 1, "a"),
    ]
}

fn target(kind: TargetKind, id: u64) -> Target {
    Target { kind: kind as i32, id }
}

#[tokio::test]
async fn filters_select_by_mode_type_and_target() {
    let harness = Harness::start().await;
    harness.append(&assorted()).await;
    let cases: Vec<(&str, EventFilter, Vec<u64>)> = vec![
        ("empty filter", EventFilter::default(), vec![1, 2, 3, 4, 5]),
        (
            "mode",
            EventFilter { modes: vec![Mode::Linkcall as i32], ..Default::default() },
            vec![1, 3, 4],
        ),
        (
            "two modes",
            EventFilter {
                modes: vec![Mode::Roompk as i32, Mode::Giftpk as i32],
                ..Default::default()
            },
            vec![2, 5],
        ),
        ("type", EventFilter { types: vec!["b".into()], ..Default::default() }, vec![2, 3]),
        (
            "one room",
            EventFilter { targets: vec![target(TargetKind::Room, 1)], ..Default::default() },
            vec![1, 5],
        ),
        (
            "every room",
            EventFilter { targets: vec![target(TargetKind::Room, 0)], ..Default::default() },
            vec![1, 2, 5],
        ),
        (
            "a singer or any user",
            EventFilter {
                targets: vec![target(TargetKind::Singer, 5), target(TargetKind::User, 0)],
                ..Default::default()
            },
            vec![3, 4],
        ),
        (
            "another singer",
            EventFilter { targets: vec![target(TargetKind::Singer, 6)], ..Default::default() },
            vec![],
        ),
        (
            "mode and type",
            EventFilter {
                modes: vec![Mode::Linkcall as i32],
                types: vec!["a".into()],
                ..Default::default()
            },
            vec![1, 4],
        ),
    ];
    for (name, filter, expected) in cases {
        let page = harness.fetch("0", 100, Some(filter)).await;
        assert_eq!(pkids(&page.events), expected, "Fetch with filter {name}");
    }

    // The same on a Subscribe stream: every room and type "a".
    let filter = EventFilter {
        targets: vec![target(TargetKind::Room, 0)],
        types: vec!["a".into()],
        ..Default::default()
    };
    let mut stream = harness.subscribe("0", Some(filter)).await;
    assert_eq!(pkids(&take(&mut stream, 2).await), [1, 5]);
    harness
        .append(&[
            event(6, Mode::Roompk, TargetKind::Room, 3, "a"),
            event(7, Mode::Roompk, TargetKind::User, 3, "a"),
        ])
        .await;
    assert_eq!(pkids(&take(&mut stream, 1).await), [6]);
    // The sentinel is a room event of another type: filtered out too, so use a matching one.
    harness.append(&[event(u64::MAX, Mode::Linkcall, TargetKind::Room, 1, "a")]).await;
    assert_eq!(
        next(&mut stream).await.pkid,
        u64::MAX,
        "event 7 (a user target) leaked through the filter"
    );
}

#[tokio::test]
async fn fetch_pages_and_advances_past_filtered_events() {
    let harness = Harness::start().await;
    let events: Vec<Event> = (1..=25)
        .map(|n| {
            event(n, Mode::Linkcall, TargetKind::Room, 1, if n % 2 == 0 { "even" } else { "odd" })
        })
        .collect();
    let ids = harness.append(&events).await;

    let mut cursor = "0".to_owned();
    let mut all = Vec::new();
    for expected_len in [10, 10, 5] {
        let page = harness.fetch(&cursor, 10, None).await;
        assert_eq!(page.events.len(), expected_len);
        assert!(!page.truncated);
        cursor = page.last_event_id.clone();
        assert_eq!(&cursor, page.events.last().map(|event| &event.event_id).unwrap());
        all.extend(page.events);
    }
    assert_eq!(pkids(&all), (1..=25).collect::<Vec<_>>());
    let empty = harness.fetch(&cursor, 10, None).await;
    assert!(empty.events.is_empty());
    assert_eq!(empty.last_event_id, cursor, "the cursor stays when nothing is newer");

    // Filtered: the page holds only the even ones, but the cursor moves past all ten examined.
    let filter = EventFilter { types: vec!["even".into()], ..Default::default() };
    let page = harness.fetch("0", 10, Some(filter.clone())).await;
    assert_eq!(pkids(&page.events), [2, 4, 6, 8, 10]);
    assert_eq!(page.last_event_id, ids[9]);
    let page = harness.fetch(&ids[9], 10, Some(filter.clone())).await;
    assert_eq!(pkids(&page.events), [12, 14, 16, 18, 20]);
    assert_eq!(page.last_event_id, ids[19]);
    let page = harness.fetch(&ids[19], 10, Some(filter.clone())).await;
    assert_eq!(pkids(&page.events), [22, 24]);
    assert_eq!(
        page.last_event_id, ids[24],
        "the cursor advances past a trailing filtered-out event"
    );
    let odd_only = harness.fetch(&ids[23], 10, Some(filter)).await;
    assert!(odd_only.events.is_empty());
    assert_eq!(
        odd_only.last_event_id, ids[24],
        "a page of only filtered-out events still advances"
    );

    // limit 0 means the default page (100): everything here.
    assert_eq!(harness.fetch("0", 0, None).await.events.len(), 25);
}

#[tokio::test]
async fn fetch_with_an_empty_position_reads_from_the_oldest_event() {
    let harness = Harness::start().await;
    harness.append(&[plain(1), plain(2)]).await;
    let page = harness.fetch("", 10, None).await;
    assert_eq!(
        pkids(&page.events),
        [1, 2],
        "events.proto: FetchRequest.after_event_id empty or \"0\" reads from the oldest retained event"
    );
}

#[tokio::test]
async fn bad_arguments_are_invalid_argument_naming_the_field() {
    let harness = Harness::start().await;
    let mut events = harness.server.events();
    let status = events
        .fetch(FetchRequest { after_event_id: "0".into(), limit: 5000, filter: None })
        .await
        .expect_err("limit 5000");
    assert_invalid_argument(&status, "limit");
    for bad in ["abc", "12-x", "-", "1-2-3"] {
        let status = events
            .fetch(FetchRequest { after_event_id: bad.into(), limit: 10, filter: None })
            .await
            .expect_err(bad);
        assert_invalid_argument(&status, "after_event_id");
        let status = events
            .subscribe(SubscribeRequest { after_event_id: bad.into(), filter: None })
            .await
            .expect_err(bad);
        assert_invalid_argument(&status, "after_event_id");
    }
}

#[tokio::test]
async fn events_relayed_from_an_outbox_reach_subscribers_once() {
    let harness = Harness::start().await;
    let mut stream = harness.subscribe("", None).await;
    let tag = "lc:4242";
    let outcome =
        harness
            .store
            .commit(Transaction::new(tag).op(Op::Outbox {
                events: vec![plain(1).encode_to_vec(), plain(2).encode_to_vec()],
            }))
            .await
            .expect("commit");
    assert_eq!(outcome, livepk_store::CommitOutcome::Committed);
    // The server's sweeper may relay it first; either way each event reaches the stream once.
    let relayed = harness.store.relay_outbox(tag).await.expect("relay_outbox");
    assert!(relayed == 2 || relayed == 0, "relayed {relayed}");
    assert_eq!(harness.store.relay_outbox(tag).await.expect("relay_outbox again"), 0);
    let events = drain_until_sentinel(&harness, &mut stream).await;
    assert_eq!(pkids(&events), [1, 2]);
    assert!(events.iter().all(|event| !event.event_id.is_empty()));
}

/// Opens a Subscribe stream, triggers shutdown and returns how the stream ended (bounded).
async fn end_of_stream_on_drain() -> Result<Option<SubscribeResponse>, tonic::Status> {
    let mut harness = Harness::start().await;
    let mut stream = harness.subscribe("0", None).await;
    harness.append(&[plain(1)]).await;
    assert_eq!(next(&mut stream).await.pkid, 1);
    harness.server.trigger_shutdown();
    let end = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("the Subscribe stream stayed open while the server drained");
    drop(stream);
    harness.server.join().await.expect("the server ended with an error");
    end
}

#[tokio::test]
async fn a_subscribe_stream_ends_when_the_server_drains() {
    let end = end_of_stream_on_drain().await;
    assert!(!matches!(end, Ok(Some(_))), "unexpected message while draining: {end:?}");
}

#[tokio::test]
async fn a_subscribe_stream_ends_with_unavailable_when_the_server_drains() {
    match end_of_stream_on_drain().await {
        Err(status) => assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}"),
        Ok(None) => panic!(
            "events.proto: a draining server ends Subscribe with UNAVAILABLE; it ended with OK"
        ),
        Ok(Some(message)) => panic!("unexpected message while draining: {message:?}"),
    }
}

/// Issue 12, item 11: a filter holds to what the proto says. Only MODE_UNSPECIFIED means every
/// mode (it used to match nothing); a mode or target kind the contract does not define, and a
/// target without a kind, are refused naming the field (they used to match nothing, silently).
#[tokio::test]
async fn item11_filters_hold_to_the_proto_undefined_enums_are_refused() {
    let harness = Harness::start().await;
    harness
        .append(&[plain(1), event(2, Mode::Roompk, TargetKind::User, 9, "roompk_start_nt")])
        .await;
    let only_unspecified =
        EventFilter { modes: vec![Mode::Unspecified as i32], ..Default::default() };
    let fetched = harness.fetch("0", 10, Some(only_unspecified)).await;
    assert_eq!(pkids(&fetched.events), vec![1, 2], "only MODE_UNSPECIFIED is every mode");

    let refused = [
        ("filter.modes", EventFilter { modes: vec![99], ..Default::default() }),
        (
            "filter.modes",
            EventFilter { modes: vec![Mode::Roompk as i32, -3], ..Default::default() },
        ),
        (
            "filter.targets.kind",
            EventFilter { targets: vec![Target { kind: 0, id: 1 }], ..Default::default() },
        ),
        (
            "filter.targets.kind",
            EventFilter { targets: vec![Target { kind: 42, id: 0 }], ..Default::default() },
        ),
        ("filter.types", EventFilter { types: vec![String::new()], ..Default::default() }),
        ("filter.types", EventFilter { types: vec!["t".into(); 101], ..Default::default() }),
    ];
    for (field, filter) in refused {
        let status = harness
            .server
            .events()
            .fetch(FetchRequest {
                after_event_id: "0".into(),
                limit: 10,
                filter: Some(filter.clone()),
            })
            .await
            .expect_err("Fetch with an undefined filter");
        assert_invalid_argument(&status, field);
        let status = harness
            .server
            .events()
            .subscribe(SubscribeRequest { after_event_id: "0".into(), filter: Some(filter) })
            .await
            .expect_err("Subscribe with an undefined filter");
        assert_invalid_argument(&status, field);
    }
    harness.server.shutdown().await;
}
