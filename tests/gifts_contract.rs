//! What `pk.gift.v1.Gifts` promises in its proto, held to the code: a store outage fails a whole
//! `RecordGifts` stream or `RecordGiftBatch` with UNAVAILABLE (issue 12, item 11) instead of
//! answering OK with the outage hidden in per-gift results, which a gateway would take as
//! "delivered, some refused" and never retry.

mod support;

use std::time::Duration;

use livepk::pb::gift::{RecordGiftBatchRequest, RecordGiftsRequest};
use support::{RedisProcess, TestServer, TestServerOptions, plain_gift};

fn assert_outage(answer: Result<tonic::Status, tokio::time::error::Elapsed>, call: &str) {
    let status = answer.unwrap_or_else(|_| panic!("{call} hung while Redis was down"));
    assert_eq!(status.code(), tonic::Code::Unavailable, "{call}: {status:?}");
    assert_eq!(
        support::error_metadata(&status).get("code").map(String::as_str),
        Some("403400020"),
        "{call}: {status:?}"
    );
}

#[tokio::test]
async fn item11_an_outage_fails_a_whole_stream_or_batch_with_unavailable() {
    let mut redis = RedisProcess::start().await;
    let server = TestServer::start_with(TestServerOptions {
        redis_url: Some(redis.url()),
        ..Default::default()
    })
    .await;
    let batch =
        || RecordGiftBatchRequest { gifts: vec![plain_gift("batch-1"), plain_gift("batch-2")] };
    let stream = || {
        tokio_stream::iter(
            ["stream-1", "stream-2"].map(|txn| RecordGiftsRequest { gift: Some(plain_gift(txn)) }),
        )
    };
    redis.kill();
    let answer =
        tokio::time::timeout(Duration::from_secs(10), server.gifts().record_gift_batch(batch()))
            .await
            .map(|answer| answer.expect_err("a batch cannot be recorded without Redis"));
    assert_outage(answer, "RecordGiftBatch");
    let answer =
        tokio::time::timeout(Duration::from_secs(10), server.gifts().record_gifts(stream()))
            .await
            .map(|answer| answer.expect_err("a stream cannot be recorded without Redis"));
    assert_outage(answer, "RecordGifts");

    // The gateway's retry once Redis is back records them (none was applied before).
    redis.restart().await;
    let retried = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match server.gifts().record_gift_batch(batch()).await {
                Ok(answer) => return answer.into_inner(),
                Err(status) if status.code() == tonic::Code::Unavailable => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(status) => panic!("RecordGiftBatch after the outage: {status:?}"),
            }
        }
    })
    .await
    .expect("RecordGiftBatch after Redis came back");
    assert_eq!(retried.results.len(), 2);
    assert!(retried.results.iter().all(|result| result.error.is_none() && !result.duplicate));
    let streamed = server.gifts().record_gifts(stream()).await.expect("the stream again");
    let streamed = streamed.into_inner().results;
    assert_eq!(streamed.len(), 2);
    assert!(streamed.iter().all(|result| result.error.is_none() && !result.duplicate));
    server.shutdown().await;
    drop(redis);
}
