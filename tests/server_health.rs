//! Health: SERVING for "" and every service while up; NOT_SERVING once shutdown starts or while
//! the store is unreachable, SERVING again when it recovers.

mod support;

use std::time::Duration;

use support::{RedisProcess, TestServer, TestServerOptions, not_serving, plain_gift, serving};
use tonic_health::pb::HealthCheckRequest;

const SERVICES: &[&str] = &[
    "",
    "pk.gift.v1.Gifts",
    "pk.events.v1.Events",
    "pk.admin.v1.Admin",
    "pk.linkcall.v1.LinkCallPk",
    "pk.giftpk.v1.GiftPk",
    "pk.roompk.v1.RoomPk",
    "pk.acrosspk.v1.AcrossPk",
];

#[tokio::test]
async fn health_is_serving_for_every_service_then_not_serving_on_shutdown() {
    let mut server = TestServer::start().await;
    let mut health = server.health();
    for service in SERVICES {
        let status = health
            .check(HealthCheckRequest { service: (*service).into() })
            .await
            .unwrap_or_else(|status| panic!("Check({service:?}) failed: {status:?}"))
            .into_inner()
            .status;
        assert_eq!(status, serving(), "Check({service:?})");
    }
    assert_eq!(server.health_status(livepk::LIVENESS_SERVICE).await, Some(serving()));

    let mut watch =
        health.watch(HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
    let first = watch.message().await.unwrap().expect("Watch sends the current status first");
    assert_eq!(first.status, serving());

    server.trigger_shutdown();
    let next = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let message = watch.message().await.expect("Watch failed").expect("Watch ended early");
            if message.status != serving() {
                return message.status;
            }
        }
    })
    .await
    .expect("health did not leave SERVING within 5 s of shutdown");
    assert_eq!(next, not_serving());
    drop(watch);
    drop(health);

    server.join().await.expect("the server ended with an error");
}

/// Polls health "" every 100 ms until it equals `wanted`; panics after `within`.
async fn wait_health(server: &TestServer, wanted: i32, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let status = server.health_status("").await;
        if status == Some(wanted) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "health did not become {wanted} within {within:?} (last: {status:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn store_outage_flips_health_and_answers_unavailable_then_recovers() {
    let mut redis = RedisProcess::start().await;
    let server = TestServer::start_with(TestServerOptions {
        redis_url: Some(redis.url()),
        ..Default::default()
    })
    .await;
    assert_eq!(server.health_status("").await, Some(serving()));
    server
        .gifts()
        .record_gift(plain_gift("before-outage"))
        .await
        .expect("a gift while Redis is up");

    redis.kill();
    wait_health(&server, not_serving(), Duration::from_secs(5)).await;
    for service in SERVICES {
        assert_eq!(server.health_status(service).await, Some(not_serving()), "{service:?}");
    }
    // Liveness stays SERVING: an unreachable Redis makes the replica unready, not dead.
    assert_eq!(server.health_status(livepk::LIVENESS_SERVICE).await, Some(serving()));

    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        server.gifts().record_gift(plain_gift("during-outage")),
    )
    .await
    .expect("RecordGift hung while Redis was down");
    let status = answer.expect_err("RecordGift cannot succeed without Redis");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(support::error_metadata(&status).get("code").map(String::as_str), Some("403400020"));

    // Back on the same socket: the server reconnects to the URL it was given.
    redis.restart().await;
    wait_health(&server, serving(), Duration::from_secs(5)).await;
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        server.gifts().record_gift(plain_gift("after-outage")),
    )
    .await
    .expect("RecordGift hung after Redis came back");
    assert!(!answer.expect("a gift after Redis came back").into_inner().duplicate);
    server.shutdown().await;
    drop(redis);
}
