//! Redis key helpers shared by the benchmarks that include them (`mod redis_keys;`).

use redis::aio::MultiplexedConnection;

/// Every key matching `pattern` (SCAN, 1,000 at a time).
pub async fn matching(
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

/// Deletes every key under `prefix` on the Redis at `url` (UNLINK, 1,000 at a time) and prints
/// what it did; `BENCH_CLEANUP=0` keeps them for a look and prints how to delete them. Some of a
/// run's keys have no TTL (the delay queue, the event stream), so nothing else would.
pub async fn remove_prefix(url: &str, prefix: &str) {
    if url.is_empty() {
        return; // the run used the in-process store
    }
    if std::env::var("BENCH_CLEANUP").is_ok_and(|value| value.trim() == "0") {
        println!(
            "(Redis keys left under prefix {prefix}: redis-cli --scan --pattern '{prefix}:*' | xargs -r redis-cli unlink)"
        );
        return;
    }
    match delete(url, prefix).await {
        Ok(count) => println!("cleanup: deleted {count} keys under {prefix}"),
        Err(error) => println!("cleanup under {prefix} failed: {error}"),
    }
}

async fn delete(url: &str, prefix: &str) -> redis::RedisResult<usize> {
    let mut redis = redis::Client::open(url)?.get_multiplexed_async_connection().await?;
    let keys = matching(&mut redis, &format!("{prefix}:*")).await?;
    for chunk in keys.chunks(1000) {
        let () = redis::cmd("UNLINK").arg(chunk).query_async(&mut redis).await?;
    }
    Ok(keys.len())
}
