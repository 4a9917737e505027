//! The gate in front of every RPC: bearer tokens (gateway vs admin, health open) through a real
//! server, and load shedding on the layer itself around a service that blocks until told.

mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use livepk::gate::{GateLayer, GateOptions};
use livepk::pb::admin::GetConfigRequest;
use support::{TestServer, TestServerOptions, plain_gift};
use tokio::sync::Notify;
use tonic::Request;
use tower::{Layer, Service, ServiceExt};

fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[tokio::test]
async fn tokens_guard_gateway_and_admin_calls_but_not_health() {
    let server = TestServer::start_with(TestServerOptions {
        auth_token: Some("g".into()),
        admin_token: Some("a".into()),
        ..Default::default()
    })
    .await;
    let txn = format!("gate-{:016x}", rand::random::<u64>());
    let mut gifts = server.gifts();
    let status = gifts.record_gift(plain_gift(&txn)).await.expect_err("no token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let status =
        gifts.record_gift(with_token(plain_gift(&txn), "wrong")).await.expect_err("wrong token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let status = gifts
        .record_gift(with_token(plain_gift(&txn), "a"))
        .await
        .expect_err("the admin token is not the gateway's");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let answer = gifts
        .record_gift(with_token(plain_gift(&txn), "g"))
        .await
        .expect("the gateway token")
        .into_inner();
    assert!(!answer.duplicate, "refused calls must not have recorded the gift");

    let mut admin = server.admin();
    let status = admin.get_config(GetConfigRequest::default()).await.expect_err("no token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let status = admin
        .get_config(with_token(GetConfigRequest::default(), "g"))
        .await
        .expect_err("gateway token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    admin.get_config(with_token(GetConfigRequest::default(), "a")).await.expect("the admin token");

    // Probes and grpcurl carry no token.
    assert_eq!(server.health_status("").await, Some(support::serving()));
    assert_eq!(server.health_status("pk.gift.v1.Gifts").await, Some(support::serving()));
    server.shutdown().await;
}

fn grpc_request(path: &str) -> http::Request<tonic::body::Body> {
    http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .body(tonic::body::Body::default())
        .unwrap()
}

fn grpc_status(response: &http::Response<tonic::body::Body>) -> Option<String> {
    response.headers().get("grpc-status").map(|value| value.to_str().unwrap().to_owned())
}

/// Waits (yielding, bounded) until `counter` reaches `value`.
async fn wait_count(counter: &AtomicUsize, value: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while counter.load(Ordering::SeqCst) < value {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {counter:?} calls reached the service, wanted {value}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn the_gate_sheds_calls_beyond_its_limit_but_never_health_checks() {
    // Gateway calls block until released (one `notify_one` each); `/grpc.*` answer at once.
    let release = Arc::new(Notify::new());
    let entered = Arc::new(AtomicUsize::new(0));
    let inner = {
        let release = release.clone();
        let entered = entered.clone();
        tower::service_fn(move |request: http::Request<tonic::body::Body>| {
            let release = release.clone();
            let entered = entered.clone();
            async move {
                entered.fetch_add(1, Ordering::SeqCst);
                if !request.uri().path().starts_with("/grpc.") {
                    release.notified().await;
                }
                Ok::<_, Infallible>(http::Response::new(tonic::body::Body::default()))
            }
        })
    };
    let gate = GateLayer::new(GateOptions {
        auth_token: None,
        admin_token: None,
        max_concurrent_requests: 1,
    });
    let mut service = gate.layer(inner);

    // The first call takes the only permit and blocks inside the service.
    let first = tokio::spawn(
        service.ready().await.unwrap().call(grpc_request("/pk.gift.v1.Gifts/RecordGift")),
    );
    wait_count(&entered, 1).await;

    // The second is refused at once, without reaching the service.
    let second = tokio::time::timeout(
        Duration::from_secs(1),
        service.ready().await.unwrap().call(grpc_request("/pk.events.v1.Events/Fetch")),
    )
    .await
    .expect("an over-limit call must be refused at once, not queued")
    .unwrap();
    assert_eq!(grpc_status(&second).as_deref(), Some("8"), "RESOURCE_EXHAUSTED expected");
    assert_eq!(entered.load(Ordering::SeqCst), 1, "a shed call must not reach the service");

    // Health checks (and reflection, open like health) pass through even at the limit.
    for path in [
        "/grpc.health.v1.Health/Check",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    ] {
        let response = tokio::time::timeout(
            Duration::from_secs(1),
            service.ready().await.unwrap().call(grpc_request(path)),
        )
        .await
        .unwrap_or_else(|_| panic!("{path} must not wait for a permit"))
        .unwrap();
        assert_eq!(grpc_status(&response), None, "{path} must not be shed");
    }
    assert_eq!(entered.load(Ordering::SeqCst), 3);

    // Releasing the first call frees the permit for the next one.
    release.notify_one();
    let first = tokio::time::timeout(Duration::from_secs(1), first)
        .await
        .expect("first call")
        .unwrap()
        .unwrap();
    assert_eq!(grpc_status(&first), None);
    let third = tokio::spawn(
        service.ready().await.unwrap().call(grpc_request("/pk.gift.v1.Gifts/RecordGift")),
    );
    wait_count(&entered, 4).await;
    release.notify_one();
    let third = tokio::time::timeout(Duration::from_secs(1), third)
        .await
        .expect("third call")
        .unwrap()
        .unwrap();
    assert_eq!(grpc_status(&third), None, "a call after the permit was released must be served");
}
