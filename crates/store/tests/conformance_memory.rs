//! The conformance suite against the in-process [`MemoryStore`]: one fresh store per case.

#[macro_use]
mod conformance;

use std::sync::Arc;

use livepk_store::{MemoryStore, Store, StoreOptions};

async fn memory_store(options: StoreOptions) -> Arc<dyn Store> {
    Arc::new(MemoryStore::new(options))
}

conformance_tests!(memory_store);
