//! The one set of helpers of the black-box tests: a server started in this process (on the real
//! clock or a manual one) or the real `livepk` binary as a child process, both reached through a
//! [`Client`]; event collection and payload reading; error assertions; the LinkCallPk steps every
//! battle needs; a private `redis-server` for outage tests and a private Redis Cluster for
//! failover tests.
//!
//! Every test runs under its own Redis key prefix and its own SQL database, so tests run in
//! parallel against one Redis.

#![allow(dead_code)]

mod acrosspk;
mod client;
mod cluster;
mod errors;
mod events;
mod keys;
mod linkcall;
mod processes;
mod roompk;
mod server;
mod show;
mod steps;

use std::future::Future;
use std::time::Duration;

// Each test binary uses a part of these; the rest would warn as unused in that binary.
#[allow(unused_imports)]
pub use acrosspk::*;
#[allow(unused_imports)]
pub use client::Client;
#[allow(unused_imports)]
pub use cluster::{NodeInfo, RedisCluster, command};
#[allow(unused_imports)]
pub use errors::*;
#[allow(unused_imports)]
pub use events::*;
#[allow(unused_imports)]
pub use keys::{keys_matching, remove_bench_keys};
#[allow(unused_imports)]
pub use linkcall::*;
#[allow(unused_imports)]
pub use livepk_engine::testkit::{
    both_stores, cluster_store, fresh_prefix, redis_cluster_url, redis_store, redis_url,
};
#[allow(unused_imports)]
pub use processes::{Deployment, RedisProcess, Spawned, run_binary};
#[allow(unused_imports)]
pub use roompk::*;
#[allow(unused_imports)]
pub use server::{Configure, TestServer, TestServerOptions, manual_clock};
#[allow(unused_imports)]
pub use show::*;
#[allow(unused_imports)]
pub use steps::{Pred, Steps, fetch_matching, pred};

/// A valid gift `txn` (viewer 7 to receiver 100 in room 200, worth 10) that scores nowhere
/// unless a test set a battle up there: for tests of the gRPC layer rather than of a mode.
pub fn plain_gift(txn: &str) -> livepk::pb::gift::RecordGiftRequest {
    livepk::pb::gift::RecordGiftRequest {
        gift_txn_id: txn.into(),
        sender: Some(livepk::pb::common::UserProfile {
            user_id: 7,
            user_nick: "v".into(),
            ..Default::default()
        }),
        receiver_id: 100,
        room_sid: 200,
        gift_id: 1,
        gift_count: 1,
        unit_value: 10,
        sent_at_ms: 1_700_000_000_000,
        show_id: None,
        call_id: None,
    }
}

/// How long a server may take to answer SERVING after it was started.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a server may take to drain and stop after shutdown was triggered.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a deadline-driven change may take to become visible after its due time (the delay
/// queue polls every 50 ms; this leaves room for a loaded CI machine).
pub const SETTLE_SLACK: Duration = Duration::from_secs(5);

/// Polls `probe` until it answers `Some`, at most `timeout`; panics naming `what` otherwise.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `SERVING` as the wire value.
pub fn serving() -> i32 {
    tonic_health::pb::health_check_response::ServingStatus::Serving as i32
}

/// `NOT_SERVING` as the wire value.
pub fn not_serving() -> i32 {
    tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
}
