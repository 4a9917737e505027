//! GiftPk races against a real Redis, through a server in this process on a manual clock: the
//! test moves the clock to the countdown's settle (its end + the settle grace) instead of
//! sleeping, and the server's delay-queue poller fires the due job on its own within its poll
//! interval, so a request sent then really races it. Each race must end in one consistent
//! outcome: Close racing the settle, a gift sent just before the end racing the settle, and a
//! burst of 16 concurrent identical retries.

mod support;

use futures::future::join_all;
use livepk::pb::admin::GetPkRecordRequest;
use livepk::pb::common::Mode;
use livepk::pb::events::EventFilter;
use livepk::pb::gift::{RecordGiftRequest, RecordGiftResponse};
use livepk::pb::giftpk::gift_pk_client::GiftPkClient;
use livepk::pb::giftpk::{
    CloseRequest, CreateRequest, GetLiveRequest, GetResultRequest, GiftpkGift, GiftpkGiftTotal,
};
use livepk_core::{Clock, ManualClock};
use support::*;
use tonic::Code;
use tonic::transport::Channel;

const ANCHOR: u64 = 7;
const ROSE: u64 = 11;
const ROCKET: u64 = 22;
/// The countdown of these tests (the smallest `giftpk.min_duration_seconds` allows).
const DURATION: u64 = 1;
/// The settle grace of these tests (`giftpk.settle_grace_ms`): the countdown's job is due this
/// long after the deadline.
const GRACE_MS: u64 = 500;

/// A server on its own manual clock, accepting 1 s countdowns, settling them 0.5 s after.
async fn server_on_manual_clock() -> (TestServer, ManualClock) {
    let clock = manual_clock();
    let server = TestServer::start_on(&clock).await;
    server.set_config("giftpk.min_duration_seconds", "1").await;
    server.set_config("giftpk.settle_grace_ms", &GRACE_MS.to_string()).await;
    (server, clock)
}

fn client(server: &Client) -> GiftPkClient<Channel> {
    GiftPkClient::new(server.channel.clone())
}

fn gift(id: u64) -> GiftpkGift {
    GiftpkGift { gift_id: id, gift_name: format!("gift {id}"), ..Default::default() }
}

/// Creates rose against rocket in `show`; its pkid and deadline.
async fn create(server: &Client, show: u64) -> (u64, u64) {
    let request = CreateRequest {
        show_id: show,
        singer_id: ANCHOR,
        gifts: vec![gift(ROSE), gift(ROCKET)],
        duration: DURATION,
    };
    let created = client(server).create(request).await.expect("Create").into_inner();
    (created.pkid, created.deadline_ms)
}

async fn send_at(
    server: &Client,
    txn: &str,
    show: u64,
    count: u32,
    sent_at_ms: u64,
) -> RecordGiftResponse {
    server
        .gifts()
        .record_gift(RecordGiftRequest {
            gift_txn_id: txn.into(),
            sender: Some(user(5)),
            receiver_id: ANCHOR,
            room_sid: show,
            gift_id: ROSE,
            gift_count: count,
            unit_value: 10,
            sent_at_ms,
            show_id: Some(show),
            call_id: None,
        })
        .await
        .unwrap_or_else(|status| panic!("RecordGift {txn}: {status:?}"))
        .into_inner()
}

/// The rose count of the show's latest PK once it is over.
async fn final_roses(server: &Client, show: u64) -> u64 {
    let mut giftpk = client(server);
    eventually(&format!("the pk of show {show} to be over"), SETTLE_SLACK, || {
        let mut giftpk = giftpk.clone();
        async move {
            let request = GetLiveRequest { show_id: show, need_extra_info: false };
            let live = giftpk.get_live(request).await.expect("GetLive").into_inner();
            live.finished.then(|| live.gifts[0].gift_count)
        }
    })
    .await;
    let request = GetLiveRequest { show_id: show, need_extra_info: false };
    giftpk.get_live(request).await.expect("GetLive").into_inner().gifts[0].gift_count
}

async fn record_of(server: &Client, pkid: u64) -> livepk::pb::admin::PkRecord {
    eventually(&format!("the record of {pkid}"), SETTLE_SLACK, || async move {
        let request = GetPkRecordRequest { mode: Mode::Giftpk as i32, pkid };
        match server.admin().get_pk_record(request).await {
            Ok(response) => response.into_inner().record,
            Err(status) if status.code() == Code::NotFound => None,
            Err(status) => panic!("GetPkRecord {pkid}: {status:?}"),
        }
    })
    .await
}

fn end_nts(events: &[livepk::pb::events::Event], pkid: u64) -> usize {
    events.iter().filter(|event| event.r#type == "giftpk_end_nt" && event.pkid == pkid).count()
}

#[tokio::test]
async fn close_racing_the_countdown_ends_the_pk_once() {
    let (server, clock) = server_on_manual_clock().await;
    let mut outcomes = (0, 0);
    for round in 0..8u64 {
        let show = 100 + round;
        let (pkid, deadline_ms) = create(&server, show).await;
        assert!(
            send_at(&server, &format!("c-{round}"), show, 2, clock.now_ms()).await.changes.len()
                == 1
        );
        // Half the rounds close as the clock reaches the settle (usually before the poller's next
        // poll), half once the countdown's job was claimed (racing its handler).
        clock.set_ms(deadline_ms + GRACE_MS);
        if round % 2 == 1 {
            server.wait_due_timers_claimed().await;
        }
        let request = CloseRequest { show_id: show, pkid, singer_id: ANCHOR };
        let closed = client(&server).close(request).await;
        let record = record_of(&server, pkid).await;
        assert_eq!(record.participants[0].score, 2, "round {round}");
        // The countdown had ended either way: a Close after it ends the PK by the deadline.
        assert_eq!(record.ended_by, "deadline", "round {round}");
        match closed {
            Ok(_) => outcomes.0 += 1,
            Err(status) => {
                outcomes.1 += 1;
                assert_business(&status, Code::FailedPrecondition, "403400026");
            }
        }
        assert_eq!(record.endtime_ms, deadline_ms, "round {round}: scoring ended at the deadline");
        assert_eq!(final_roses(&server, show).await, 2, "round {round}");
    }
    eprintln!("close won {} rounds, the countdown {}", outcomes.0, outcomes.1);
    // Past every deadline and the records' safety-net jobs (2 s after each settle): every job
    // fires and finishes, and none pushes anything more.
    clock.advance_ms(3_000);
    server.wait_timers_done().await;
    let filter = EventFilter { modes: vec![Mode::Giftpk as i32], ..Default::default() };
    let events = fetch_matching(&server, &filter).await;
    for pkid in 1..=8 {
        assert_eq!(end_nts(&events, pkid), 1, "one end push for pk {pkid}");
    }
}

#[tokio::test]
async fn a_gift_sent_before_the_end_racing_the_settle_counts_exactly_when_its_answer_says_so() {
    let (server, clock) = server_on_manual_clock().await;
    let mut counted_rounds = 0;
    for round in 0..8u64 {
        let show = 200 + round;
        let (pkid, deadline_ms) = create(&server, show).await;
        send_at(&server, &format!("early-{round}"), show, 1, clock.now_ms()).await;
        clock.set_ms(deadline_ms + GRACE_MS + 10);
        if round % 2 == 1 {
            server.wait_due_timers_claimed().await;
        }
        // Sent 1 ms before the end, recorded as the settle runs (the grace is over).
        let late = send_at(&server, &format!("late-{round}"), show, 3, deadline_ms - 1).await;
        let counted = !late.changes.is_empty();
        counted_rounds += usize::from(counted);
        let expected = if counted { 4 } else { 1 };
        assert_eq!(final_roses(&server, show).await, expected, "round {round}: {late:?}");
        assert_eq!(record_of(&server, pkid).await.participants[0].score, expected as i64);
        // Its retry answers the same, whatever happened.
        let again = send_at(&server, &format!("late-{round}"), show, 3, deadline_ms - 1).await;
        assert!(again.duplicate);
        assert_eq!(again.changes, late.changes);
    }
    eprintln!("the late gift counted in {counted_rounds} of 8 rounds");
}

#[tokio::test]
async fn sixteen_concurrent_identical_retries_count_once() {
    let (server, clock) = server_on_manual_clock().await;
    server.set_config("giftpk.max_duration_seconds", "60").await;
    let request = CreateRequest {
        show_id: 300,
        singer_id: ANCHOR,
        gifts: vec![gift(ROSE), gift(ROCKET)],
        duration: 60,
    };
    let pkid = client(&server).create(request).await.expect("Create").into_inner().pkid;
    let now = clock.now_ms();
    let calls = (0..16).map(|_| send_at(&server, "burst", 300, 3, now));
    let answers = join_all(calls).await;
    assert_eq!(answers.iter().filter(|answer| !answer.duplicate).count(), 1, "{answers:?}");
    for answer in &answers {
        assert_eq!(answer.changes, answers[0].changes);
        assert_eq!(answer.changes.len(), 1);
        assert_eq!((answer.changes[0].pkid, answer.changes[0].side_total), (pkid, 3));
    }
    let result = client(&server)
        .get_result(GetResultRequest { pkid, user_id: 5 })
        .await
        .expect("GetResult")
        .into_inner();
    assert_eq!(result.gifts[0], GiftpkGiftTotal { gift_id: ROSE, gift_count: 3, gift_value: 30 });
    assert_eq!(result.user_gifts[0].gift_count, 3);
    assert_eq!(result.top.len(), 1);
}
