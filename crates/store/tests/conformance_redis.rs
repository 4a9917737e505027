//! The conformance suite against a real Redis: one fresh random key prefix per case.
//!
//! Redis is taken from `LIVEPK_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`). These tests
//! fail, rather than skip, when Redis is unreachable: CI starts one.

#[macro_use]
mod conformance;

use std::sync::Arc;

use livepk_store::{RedisStore, Store, StoreOptions};

async fn redis_store(options: StoreOptions) -> Arc<dyn Store> {
    let url = std::env::var("LIVEPK_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    let prefix = format!("t{:016x}", rand::random::<u64>());
    let store = RedisStore::connect(&url, &prefix, options).await.unwrap_or_else(|error| {
        panic!("cannot connect to Redis at {url} (set LIVEPK_TEST_REDIS_URL): {error}")
    });
    if let Err(error) = store.ping().await {
        panic!("Redis at {url} does not answer PING (set LIVEPK_TEST_REDIS_URL): {error}");
    }
    Arc::new(store)
}

conformance_tests!(redis_store);
