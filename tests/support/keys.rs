//! A prefix's Redis keys: listing them on one node, and deleting them after a benchmark.

use redis::aio::MultiplexedConnection;

/// Every key matching `pattern` on the node behind `redis` (SCAN, 1,000 at a time).
pub async fn keys_matching(
    redis: &mut MultiplexedConnection,
    pattern: &str,
) -> redis::RedisResult<Vec<String>> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(redis)
            .await?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            return Ok(keys);
        }
    }
}

/// For the benchmarks: deletes every key under `prefix` at `url` (the deployments' cleanup,
/// `delete_prefix`) and says so; `BENCH_CLEANUP=0` keeps them for a look and prints how to
/// delete them. Some of a run's keys have no TTL (the delay queue, the event stream), so nothing
/// else would. An empty `url` (the in-process store) has nothing to delete.
pub fn remove_bench_keys(url: &str, prefix: &str) {
    if url.is_empty() {
        return;
    }
    if std::env::var("BENCH_CLEANUP").is_ok_and(|value| value.trim() == "0") {
        println!(
            "(Redis keys left under prefix {prefix}: redis-cli --scan --pattern '{prefix}:*' | xargs -r redis-cli unlink)"
        );
        return;
    }
    match super::processes::delete_prefix(url, prefix) {
        Ok(()) => println!("cleanup: deleted the keys under {prefix}"),
        Err(error) => println!("cleanup under {prefix} failed: {error}"),
    }
}
