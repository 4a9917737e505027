//! `pk.gift.v1.Gifts` end to end: idempotency by `gift_txn_id` (also under concurrency), batch
//! and client-streaming ingestion with per-gift results, and INVALID_ARGUMENT naming the field.
//! No PK runs here, so `changes` is always empty.

mod common;

use common::{TestServer, assert_invalid_argument};
use livepk::pb::common::UserProfile;
use livepk::pb::gift::{RecordGiftBatchRequest, RecordGiftRequest, RecordGiftsRequest};

fn txn(label: &str) -> String {
    format!("{label}-{:016x}", rand::random::<u64>())
}

fn gift(txn_id: &str) -> RecordGiftRequest {
    RecordGiftRequest {
        gift_txn_id: txn_id.into(),
        sender: Some(UserProfile {
            user_id: 7,
            user_nick: "viewer".into(),
            user_icon: "https://example.com/7.png".into(),
            user_level: 3,
            user_wealth: 2,
        }),
        receiver_id: 100,
        room_sid: 200,
        gift_id: 1,
        gift_count: 3,
        unit_value: 10,
        sent_at_ms: 1_700_000_000_000,
        show_id: None,
    }
}

#[tokio::test]
async fn a_repeated_txn_id_is_a_duplicate_with_the_same_changes() {
    let server = TestServer::start().await;
    let mut gifts = server.gifts();
    let id = txn("twice");
    let first = gifts.record_gift(gift(&id)).await.unwrap().into_inner();
    assert!(!first.duplicate);
    let second = gifts.record_gift(gift(&id)).await.unwrap().into_inner();
    assert!(second.duplicate, "the second call with one txn id must answer duplicate");
    assert_eq!(second.changes, first.changes);
    server.shutdown().await;
}

#[tokio::test]
async fn concurrent_calls_with_one_txn_id_are_applied_once() {
    let server = TestServer::start().await;
    let id = txn("storm");
    let calls = (0..20).map(|_| {
        let mut gifts = server.gifts();
        let request = gift(&id);
        tokio::spawn(async move { gifts.record_gift(request).await })
    });
    let answers: Vec<_> = futures::future::join_all(calls).await;
    let mut firsts = 0;
    for answer in answers {
        let answer = answer.expect("task").expect("every concurrent call succeeds").into_inner();
        if !answer.duplicate {
            firsts += 1;
        }
        assert!(answer.changes.is_empty());
    }
    assert_eq!(firsts, 1, "exactly one of 20 concurrent calls may apply the gift");
    server.shutdown().await;
}

/// Two valid gifts around one with `gift_count` 0, and a duplicate of the first.
fn mixed(prefix: &str) -> (Vec<RecordGiftRequest>, Vec<String>) {
    let ids: Vec<String> = (0..3).map(|i| txn(&format!("{prefix}{i}"))).collect();
    let mut bad = gift(&ids[1]);
    bad.gift_count = 0;
    let requests = vec![gift(&ids[0]), bad, gift(&ids[2]), gift(&ids[0])];
    (requests, ids)
}

fn check_mixed_results(results: &[livepk::pb::gift::GiftResult], ids: &[String]) {
    assert_eq!(results.len(), 4, "{results:?}");
    let order: Vec<&str> = results.iter().map(|result| result.gift_txn_id.as_str()).collect();
    assert_eq!(order, [ids[0].as_str(), ids[1].as_str(), ids[2].as_str(), ids[0].as_str()]);
    assert!(results[0].error.is_none(), "{:?}", results[0]);
    let error = results[1].error.as_ref().expect("the invalid gift carries an error");
    assert_eq!(error.code, 403_400_021, "{error:?}");
    assert_eq!(error.status_code, tonic::Code::InvalidArgument as i32, "{error:?}");
    assert!(error.message.contains("gift_count"), "{error:?}");
    assert!(results[2].error.is_none(), "{:?}", results[2]);
    assert!(!results[2].duplicate);
    // The repeat of the first gift inside the same call is recognised either way round.
    assert!(results[3].error.is_none(), "{:?}", results[3]);
    assert!(
        results[0].duplicate != results[3].duplicate,
        "one of two equal txn ids is a duplicate: {results:?}"
    );
}

#[tokio::test]
async fn a_batch_reports_each_gift_in_order() {
    let server = TestServer::start().await;
    let (requests, ids) = mixed("batch");
    let results = server
        .gifts()
        .record_gift_batch(RecordGiftBatchRequest { gifts: requests })
        .await
        .unwrap()
        .into_inner()
        .results;
    check_mixed_results(&results, &ids);
    // The valid ones were really recorded.
    let again = server.gifts().record_gift(gift(&ids[2])).await.unwrap().into_inner();
    assert!(again.duplicate);
    let again = server.gifts().record_gift(gift(&ids[1])).await.unwrap().into_inner();
    assert!(!again.duplicate, "an invalid gift must not have been recorded");
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_stream_reports_each_gift_in_order() {
    let server = TestServer::start().await;
    let (requests, ids) = mixed("stream");
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
    let again = server.gifts().record_gift(gift(&ids[2])).await.unwrap().into_inner();
    assert!(again.duplicate);
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_gifts_are_invalid_argument_naming_the_field() {
    let server = TestServer::start().await;
    let mut gifts = server.gifts();
    let cases: Vec<(&str, RecordGiftRequest)> = vec![
        ("receiver_id", RecordGiftRequest { receiver_id: 0, ..gift(&txn("a")) }),
        ("gift_txn_id", RecordGiftRequest { gift_txn_id: String::new(), ..gift("x") }),
        ("gift_txn_id", RecordGiftRequest { gift_txn_id: "bad{tag}".into(), ..gift("x") }),
        ("gift_count", RecordGiftRequest { gift_count: 0, ..gift(&txn("c")) }),
        ("sender", RecordGiftRequest { sender: None, ..gift(&txn("d")) }),
    ];
    for (field, request) in cases {
        let status = gifts.record_gift(request).await.expect_err(field);
        assert_invalid_argument(&status, field);
    }
    server.shutdown().await;
}
