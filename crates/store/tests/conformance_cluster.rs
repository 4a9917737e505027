//! The conformance suite against a real Redis Cluster, one fresh random key prefix per case:
//! once as it comes (`plain`), once with every write acknowledged by a replica before it is
//! answered (`replicated`: `StoreOptions::min_replicas` = 1, WAIT in the same round trip).
//!
//! The cluster is taken from `LIVEPK_TEST_REDIS_CLUSTER_URL` (default: the local 3 primaries + 3
//! replicas that `scripts/test.sh` starts, `redis+cluster://127.0.0.1:7101,...,127.0.0.1:7106`).
//! These tests fail, rather than skip, when the cluster is unreachable: CI starts one.

#[macro_use]
mod conformance;

use std::sync::Arc;

use livepk_store::{RedisStore, Store, StoreOptions};

const LOCAL_CLUSTER: &str = "redis+cluster://127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103,\
                             127.0.0.1:7104,127.0.0.1:7105,127.0.0.1:7106";

async fn cluster_store(options: StoreOptions) -> Arc<dyn Store> {
    let url =
        std::env::var("LIVEPK_TEST_REDIS_CLUSTER_URL").unwrap_or_else(|_| LOCAL_CLUSTER.into());
    let prefix = format!("t{:016x}", rand::random::<u64>());
    let store = RedisStore::connect(&url, &prefix, options).await.unwrap_or_else(|error| {
        panic!(
            "cannot connect to the Redis Cluster at {url} (start it with scripts/test.sh or set \
             LIVEPK_TEST_REDIS_CLUSTER_URL): {error}"
        )
    });
    assert!(store.is_cluster(), "{url} must be a cluster URL");
    Arc::new(store)
}

mod plain {
    conformance_tests!(super::cluster_store);
}

mod replicated {
    async fn replicated_store(
        options: livepk_store::StoreOptions,
    ) -> std::sync::Arc<dyn livepk_store::Store> {
        super::cluster_store(livepk_store::StoreOptions { min_replicas: 1, ..options }).await
    }

    conformance_tests!(replicated_store);
}
