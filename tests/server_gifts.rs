//! `pk.gift.v1.Gifts` end to end: idempotency by `gift_txn_id` (also under concurrency), batch
//! and client-streaming ingestion with per-gift results, and INVALID_ARGUMENT naming the field.
//! The idempotency tests run a real LinkCallPk battle, so that a gift has something to change:
//! a duplicate must answer the first call's (non-empty) `changes` and move no score.

mod support;

use livepk::pb::common::{Mode, UserProfile};
use livepk::pb::gift::{
    GiftResult, RecordGiftBatchRequest, RecordGiftRequest, RecordGiftsRequest, ScoreChange,
};
use support::{Anchor, Client, TestServer, assert_invalid_argument, battle};

/// What one gift of [`gift_to`] is worth (3 x 10 coin units, 1 point each).
const GIFT_POINTS: i64 = 30;

/// The viewer who sends every gift here.
const SENDER: u64 = 7;

fn txn(label: &str) -> String {
    format!("{label}-{:016x}", rand::random::<u64>())
}

/// A gift of [`GIFT_POINTS`] from [`SENDER`] to `to` in its room, sent now (server clock).
fn gift_to(server: &Client, txn_id: &str, to: &Anchor) -> RecordGiftRequest {
    RecordGiftRequest {
        gift_txn_id: txn_id.into(),
        sender: Some(UserProfile {
            user_id: SENDER,
            user_nick: "viewer".into(),
            user_icon: "https://example.com/7.png".into(),
            user_level: 3,
            user_wealth: 2,
        }),
        receiver_id: to.id,
        room_sid: to.sid,
        gift_id: 1,
        gift_count: 3,
        unit_value: 10,
        sent_at_ms: server.now_ms(),
        show_id: None,
        call_id: None,
    }
}

/// A server with a LinkCallPk battle scoring (the default 360 s): returns the host (who
/// receives the gifts) and the pkid.
async fn battle_running() -> (TestServer, Anchor, u64) {
    let server = TestServer::start().await;
    let host = Anchor::new(801, 901);
    let guest = Anchor::new(802, 902);
    host.online(&server).await;
    guest.online(&server).await;
    let started = battle(&server, &host, &guest).await;
    (server, host, started.pkid)
}

/// The one change a counted gift to `host` makes: its side of battle `pkid` now totals
/// `side_total`, of which the sender gave `sender_total`.
fn host_change(host: &Anchor, pkid: u64, side_total: i64, sender_total: i64) -> Vec<ScoreChange> {
    vec![ScoreChange {
        mode: Mode::Linkcall as i32,
        pkid,
        receiver_id: host.id,
        side_total,
        sender_total,
        side: "host".into(),
    }]
}

/// The host's score in the battle, as `UserSeekPk` shows it.
async fn host_score(server: &TestServer, host: &Anchor) -> u64 {
    let (_, pk) = server.seek_pk(host).await;
    pk.expect("the battle is running").host_gift
}

#[tokio::test]
async fn a_repeated_txn_id_is_a_duplicate_with_the_same_changes() {
    let (server, host, pkid) = battle_running().await;
    let mut gifts = server.gifts();
    let id = txn("twice");
    // A retry is the same gift: same payload, send time included.
    let request = gift_to(&server, &id, &host);
    let first = gifts.record_gift(request.clone()).await.unwrap().into_inner();
    assert!(!first.duplicate);
    assert_eq!(first.changes, host_change(&host, pkid, GIFT_POINTS, GIFT_POINTS), "{first:?}");
    let second = gifts.record_gift(request).await.unwrap().into_inner();
    assert!(second.duplicate, "the second call with one txn id must answer duplicate");
    assert_eq!(second.changes, first.changes, "a duplicate answers the first call's outcome");
    assert_eq!(
        host_score(&server, &host).await,
        GIFT_POINTS as u64,
        "the duplicate moved the score"
    );
    // The next gift counts on top of the first one only.
    let next = gifts.record_gift(gift_to(&server, &txn("next"), &host)).await.unwrap().into_inner();
    assert!(!next.duplicate);
    assert_eq!(next.changes, host_change(&host, pkid, 2 * GIFT_POINTS, 2 * GIFT_POINTS));
    server.shutdown().await;
}

#[tokio::test]
async fn concurrent_calls_with_one_txn_id_are_applied_once() {
    let (server, host, pkid) = battle_running().await;
    let id = txn("storm");
    let storm = gift_to(&server, &id, &host);
    let calls = (0..20).map(|_| {
        let mut gifts = server.gifts();
        let request = storm.clone();
        tokio::spawn(async move { gifts.record_gift(request).await })
    });
    let answers: Vec<_> = futures::future::join_all(calls).await;
    let mut firsts = 0;
    for answer in answers {
        let answer = answer.expect("task").expect("every concurrent call succeeds").into_inner();
        if !answer.duplicate {
            firsts += 1;
        }
        // Duplicates, also those that came while the first call was still applying the gift,
        // answer the one outcome.
        assert_eq!(
            answer.changes,
            host_change(&host, pkid, GIFT_POINTS, GIFT_POINTS),
            "{answer:?}"
        );
    }
    assert_eq!(firsts, 1, "exactly one of 20 concurrent calls may apply the gift");
    assert_eq!(host_score(&server, &host).await, GIFT_POINTS as u64, "the gift counted once");
    server.shutdown().await;
}

/// Two valid gifts to `host` around one with `gift_count` 0, and a duplicate of the first.
fn mixed(server: &Client, host: &Anchor, prefix: &str) -> (Vec<RecordGiftRequest>, Vec<String>) {
    let ids: Vec<String> = (0..3).map(|i| txn(&format!("{prefix}{i}"))).collect();
    let mut bad = gift_to(server, &ids[1], host);
    bad.gift_count = 0;
    // The repeat is the same gift (send time included), as a gateway's retry is.
    let first = gift_to(server, &ids[0], host);
    let requests = vec![first.clone(), bad, gift_to(server, &ids[2], host), first];
    (requests, ids)
}

fn check_mixed_results(results: &[GiftResult], ids: &[String]) {
    assert_eq!(results.len(), 4, "{results:?}");
    let order: Vec<&str> = results.iter().map(|result| result.gift_txn_id.as_str()).collect();
    assert_eq!(order, [ids[0].as_str(), ids[1].as_str(), ids[2].as_str(), ids[0].as_str()]);
    assert!(results[0].error.is_none(), "{:?}", results[0]);
    let error = results[1].error.as_ref().expect("the invalid gift carries an error");
    assert_eq!(error.code, 403_400_021, "{error:?}");
    assert_eq!(error.status_code, tonic::Code::InvalidArgument as i32, "{error:?}");
    assert!(error.message.contains("gift_count"), "{error:?}");
    assert!(!results[1].duplicate && results[1].changes.is_empty(), "{:?}", results[1]);
    assert!(results[2].error.is_none(), "{:?}", results[2]);
    assert!(!results[2].duplicate);
    // The repeat of the first gift inside the same call is recognised either way round, and
    // answers the same changes.
    assert!(results[3].error.is_none(), "{:?}", results[3]);
    assert!(
        results[0].duplicate != results[3].duplicate,
        "one of two equal txn ids is a duplicate: {results:?}"
    );
    assert!(!results[0].changes.is_empty(), "the gift counted in the battle: {results:?}");
    assert_eq!(results[3].changes, results[0].changes, "{results:?}");
}

#[tokio::test]
async fn a_batch_reports_each_gift_in_order() {
    let (server, host, pkid) = battle_running().await;
    let (requests, ids) = mixed(&server, &host, "batch");
    let retry = requests[2].clone();
    let results = server
        .gifts()
        .record_gift_batch(RecordGiftBatchRequest { gifts: requests })
        .await
        .unwrap()
        .into_inner()
        .results;
    check_mixed_results(&results, &ids);
    // The two distinct valid gifts counted once each (in some order: the service applies a
    // batch's gifts concurrently), the repeat and the invalid one not at all.
    let mut totals: Vec<(i64, i64)> = [&results[0], &results[2]]
        .iter()
        .map(|result| {
            let [change] = result.changes.as_slice() else { panic!("one change: {result:?}") };
            assert_eq!((change.pkid, change.receiver_id), (pkid, host.id), "{change:?}");
            (change.side_total, change.sender_total)
        })
        .collect();
    totals.sort();
    assert_eq!(totals, [(GIFT_POINTS, GIFT_POINTS), (2 * GIFT_POINTS, 2 * GIFT_POINTS)]);
    assert_eq!(host_score(&server, &host).await, 2 * GIFT_POINTS as u64);
    // The valid ones were really recorded.
    let again = server.gifts().record_gift(retry).await.unwrap().into_inner();
    assert!(again.duplicate);
    assert_eq!(again.changes, results[2].changes);
    let again =
        server.gifts().record_gift(gift_to(&server, &ids[1], &host)).await.unwrap().into_inner();
    assert!(!again.duplicate, "an invalid gift must not have been recorded");
    assert_eq!(again.changes, host_change(&host, pkid, 3 * GIFT_POINTS, 3 * GIFT_POINTS));
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_stream_reports_each_gift_in_order() {
    let (server, host, pkid) = battle_running().await;
    let (requests, ids) = mixed(&server, &host, "stream");
    let retry = requests[2].clone();
    let messages: Vec<RecordGiftsRequest> =
        requests.into_iter().map(|gift| RecordGiftsRequest { gift: Some(gift) }).collect();
    let results = server
        .gifts()
        .record_gifts(tokio_stream::iter(messages))
        .await
        .unwrap()
        .into_inner()
        .results;
    check_mixed_results(&results, &ids);
    // In a stream the gifts are applied in order: the repeat is the duplicate.
    assert!(!results[0].duplicate && results[3].duplicate);
    assert_eq!(results[0].changes, host_change(&host, pkid, GIFT_POINTS, GIFT_POINTS));
    assert_eq!(results[2].changes, host_change(&host, pkid, 2 * GIFT_POINTS, 2 * GIFT_POINTS));
    assert_eq!(host_score(&server, &host).await, 2 * GIFT_POINTS as u64);
    let again = server.gifts().record_gift(retry).await.unwrap().into_inner();
    assert!(again.duplicate);
    assert_eq!(again.changes, results[2].changes);
    server.shutdown().await;
}

/// A txn id of exactly `len` characters of the allowed alphabet (unique: it starts random).
fn txn_of_len(len: usize) -> String {
    let mut id = txn("len");
    while id.len() < len {
        id.push_str("._:-AZaz09");
    }
    id.truncate(len);
    id
}

#[tokio::test]
async fn invalid_gifts_are_invalid_argument_naming_the_field() {
    let server = TestServer::start().await;
    let mut gifts = server.gifts();
    // No battle runs: these only test the validation (nothing counts anywhere).
    let nobody = Anchor::new(100, 200);
    let gift = |txn_id: &str| gift_to(&server, txn_id, &nobody);
    let cases: Vec<(&str, RecordGiftRequest)> = vec![
        ("receiver_id", RecordGiftRequest { receiver_id: 0, ..gift(&txn("a")) }),
        ("gift_txn_id", RecordGiftRequest { gift_txn_id: String::new(), ..gift("x") }),
        ("gift_txn_id", RecordGiftRequest { gift_txn_id: "bad{tag}".into(), ..gift("x") }),
        ("gift_txn_id", RecordGiftRequest { gift_txn_id: "späti-1".into(), ..gift("x") }),
        // 1 to 128 characters: one more is refused.
        ("gift_txn_id", gift(&txn_of_len(129))),
        ("gift_count", RecordGiftRequest { gift_count: 0, ..gift(&txn("c")) }),
        ("sender", RecordGiftRequest { sender: None, ..gift(&txn("d")) }),
    ];
    for (field, request) in cases {
        let status = gifts.record_gift(request).await.expect_err(field);
        assert_invalid_argument(&status, field);
    }
    // The longest and the shortest ids, and every character of the alphabet, are accepted.
    for id in [txn_of_len(128), "Z".to_owned(), format!("A-Z_a-z.0:9-{}", txn("all"))] {
        assert!(id.len() <= 128);
        let answer = gifts.record_gift(gift(&id)).await.unwrap_or_else(|status| {
            panic!("a txn id of {} characters ({id:?}) is valid: {status:?}", id.len())
        });
        assert!(!answer.into_inner().duplicate);
    }
    server.shutdown().await;
}

/// Issue 12 item 1, through gRPC: a gift worth more than the documented maximum is 021 naming
/// `unit_value` and changes nothing; one at the maximum counts exactly.
#[tokio::test]
async fn item1_a_gift_above_the_maximum_value_is_refused_and_changes_nothing() {
    let (server, host, _pkid) = battle_running().await;
    let mut gifts = server.gifts();
    let mut huge = gift_to(&server, &txn("huge"), &host);
    huge.gift_count = 1;
    huge.unit_value = livepk_core::gift::MAX_GIFT_VALUE + 1;
    let status = gifts.record_gift(huge.clone()).await.expect_err("above the maximum");
    assert_invalid_argument(&status, "unit_value");
    huge.gift_count = 2;
    huge.unit_value = u64::MAX;
    let status = gifts.record_gift(huge).await.expect_err("count x value overflows");
    assert_invalid_argument(&status, "unit_value");
    assert_eq!(host_score(&server, &host).await, 0, "a refused gift moved the score");
    let mut largest = gift_to(&server, &txn("largest"), &host);
    largest.gift_count = 1;
    largest.unit_value = livepk_core::gift::MAX_GIFT_VALUE;
    let counted = gifts.record_gift(largest).await.unwrap().into_inner();
    assert_eq!(counted.changes[0].side_total, livepk_core::gift::MAX_GIFT_VALUE as i64);
    assert_eq!(host_score(&server, &host).await, livepk_core::gift::MAX_GIFT_VALUE);
    server.shutdown().await;
}

/// Issue 12 item 2, through gRPC: a `gift_txn_id` reused for another gift is refused with its
/// own code (INVALID_ARGUMENT, 403400032, naming `gift_txn_id`) instead of answering duplicate;
/// the first gift stands, and its own retries still answer duplicate.
#[tokio::test]
async fn item2_a_txn_id_reused_for_another_gift_is_refused() {
    let (server, host, _pkid) = battle_running().await;
    let mut gifts = server.gifts();
    let id = txn("reused");
    let first = gift_to(&server, &id, &host);
    assert!(!gifts.record_gift(first.clone()).await.unwrap().into_inner().duplicate);
    let mut other = first.clone();
    other.gift_count += 1;
    let status = gifts.record_gift(other).await.expect_err("another gift under the same id");
    let metadata = support::assert_business(&status, tonic::Code::InvalidArgument, "403400032");
    assert_eq!(metadata.get("field").map(String::as_str), Some("gift_txn_id"), "{status:?}");
    assert!(gifts.record_gift(first).await.unwrap().into_inner().duplicate);
    assert_eq!(host_score(&server, &host).await, GIFT_POINTS as u64);
    server.shutdown().await;
}
