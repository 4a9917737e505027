//! `Store::server_time` (issue 12 item 6): the reference every replica measures its clock
//! against. Redis answers its own clock (`TIME`), which on the test host is the host's; the
//! in-process store has no clock of its own (`None`: the process's clock is the reference).

use std::time::{SystemTime, UNIX_EPOCH};

use livepk_store::{MemoryStore, RedisStore, Store, StoreOptions};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis() as u64
}

#[tokio::test]
async fn item6_redis_answers_its_own_clock_in_milliseconds() {
    let url = std::env::var("LIVEPK_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    let prefix = format!("t{:016x}", rand::random::<u64>());
    let store = RedisStore::connect(&url, &prefix, StoreOptions::default())
        .await
        .unwrap_or_else(|error| panic!("cannot connect to Redis at {url}: {error}"));
    let before = now_ms();
    let time = store.server_time().await.expect("TIME").expect("Redis has a clock");
    let after = now_ms();
    // Same host, same clock: within the round trip plus a second of slack (not a timing
    // target: a wrong unit would be off by a factor of 1,000).
    assert!(
        time + 1_000 >= before && time <= after + 1_000,
        "Redis TIME {time} ms is not the host's clock ({before}..{after})"
    );
    let later = store.server_time().await.expect("TIME").expect("Redis has a clock");
    assert!(later >= time, "Redis's clock went back: {time} then {later}");
}

#[tokio::test]
async fn item6_the_in_process_store_has_no_clock_of_its_own() {
    let store = MemoryStore::new(StoreOptions::default());
    assert_eq!(store.server_time().await.expect("in-process"), None);
}
