//! Event stream throughput: appends (single and batched), outbox relays (a transaction queuing
//! 10 events + its relay) and reads, on Redis and on the embedded store.
//!
//! Run: `cargo bench --bench event_stream` (env BENCH_EVENTS, default 20000; concurrency 16).

use std::sync::Arc;
use std::time::Instant;

use livepk_store::{MemoryStore, Op, RedisStore, Store, StoreOptions, Transaction};

const CONCURRENCY: usize = 16;

fn payload() -> Vec<u8> {
    vec![b'x'; 200]
}

/// Runs `total` operations over CONCURRENCY tasks; returns operations per second.
async fn rate<F, Fut>(total: usize, operation: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let operation = Arc::new(operation);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let operation = operation.clone();
        tasks.push(tokio::spawn(async move {
            let mut index = worker;
            while index < total {
                operation(index).await;
                index += CONCURRENCY;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

async fn bench(name: &'static str, store: Arc<dyn Store>, events: usize) {
    let single = {
        let store = store.clone();
        rate(events, move |_| {
            let store = store.clone();
            async move {
                store.append_events(&[payload()]).await.unwrap();
            }
        })
        .await
    };
    let batches = events / 100;
    let batched = {
        let store = store.clone();
        rate(batches, move |_| {
            let store = store.clone();
            async move {
                let batch: Vec<Vec<u8>> = (0..100).map(|_| payload()).collect();
                store.append_events(&batch).await.unwrap();
            }
        })
        .await
    };
    let relays = events / 10;
    let relayed = {
        let store = store.clone();
        rate(relays, move |index| {
            let store = store.clone();
            async move {
                let tag = format!("bench:{index}");
                let events = (0..10).map(|_| payload()).collect();
                store
                    .commit(Transaction::new(tag.clone()).op(Op::Outbox { events }))
                    .await
                    .unwrap();
                store.relay_outbox(&tag).await.unwrap();
            }
        })
        .await
    };
    let started = Instant::now();
    let mut after = "0".to_owned();
    let mut read = 0usize;
    loop {
        let page = store.read_events(&after, 1_000, None).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        read += page.len();
    }
    let read_rate = read as f64 / started.elapsed().as_secs_f64();
    println!(
        "{:<8} {:>16.0} {:>18.0} {:>20.0} {:>18.0}",
        name,
        single,
        batched * 100.0,
        relayed * 10.0,
        read_rate
    );
}

#[tokio::main]
async fn main() {
    let events: usize =
        std::env::var("BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let url =
        std::env::var("LIVEPK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("bench{:08x}", rand::random::<u32>());
    // Retention above what the run appends, so the read pass sees everything.
    let options = StoreOptions { event_retention: events * 4, ..StoreOptions::default() };
    println!(
        "event stream throughput (events/s; {events} events per scenario, 200-byte payloads, {CONCURRENCY} concurrent tasks, 2 cores shared with Redis)"
    );
    println!(
        "{:<8} {:>16} {:>18} {:>20} {:>18}",
        "store", "append 1/call", "append 100/call", "outbox 10 + relay", "read 1000/page"
    );
    let redis = RedisStore::connect(&url, &prefix, options.clone()).await.expect("redis");
    bench("redis", Arc::new(redis), events).await;
    bench("memory", Arc::new(MemoryStore::new(options)), events).await;
    println!(
        "(Redis keys left under prefix {prefix}: redis-cli --scan --pattern '{prefix}:*' | xargs -r redis-cli unlink)"
    );
}
