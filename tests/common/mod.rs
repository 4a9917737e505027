//! Helpers shared by the integration tests: stores under a fresh key prefix, a real Redis URL.

#![allow(dead_code)]

use std::sync::Arc;

use livepk_store::{MemoryStore, RedisStore, Store, StoreOptions};

/// The Redis the tests use (CI starts one on the default port).
pub fn redis_url() -> String {
    std::env::var("LIVEPK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test uses.
pub fn fresh_prefix() -> String {
    format!("t{:016x}", rand::random::<u64>())
}

/// A Redis store under its own prefix. Panics when Redis is unreachable: these tests must fail,
/// not skip, without it.
pub async fn redis_store(prefix: &str) -> Arc<dyn Store> {
    Arc::new(
        RedisStore::connect(&redis_url(), prefix, StoreOptions::default())
            .await
            .expect("Redis must be running for the tests (scripts/test.sh starts it)"),
    )
}

/// Both stores, each fresh: the embedded one and Redis.
pub async fn both_stores() -> Vec<(&'static str, Arc<dyn Store>)> {
    vec![
        ("memory", Arc::new(MemoryStore::new(StoreOptions::default())) as Arc<dyn Store>),
        ("redis", redis_store(&fresh_prefix()).await),
    ]
}
