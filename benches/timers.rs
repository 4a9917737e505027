//! Deadline firing lag at scale (issue 15): 1,000 deadlines due over 3 s while 100,000 more
//! are pending far in the future (a day of popups, challenges and phase ends), fired by two
//! pollers sharing one Redis (two "replicas") and, for comparison, by one poller on the
//! embedded store. Prints lag percentiles (fire time minus due time, wall clock), how many fired
//! exactly once, and the Redis bytes per pending deadline (MEMORY USAGE of the queue's keys).
//! Target: p99 < 50 ms.
//!
//! Run: `cargo bench --bench timers` (env BENCH_TIMER_JOBS: due deadlines, default 1000;
//! BENCH_TIMER_PENDING: pending far ones, default 100000; Redis from LIVEPK_TEST_REDIS_URL or
//! redis://127.0.0.1:6379).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use livepk_core::{Clock, SystemClock};
use livepk_engine::{EngineError, RunnerOptions, TimerHandler, TimerRunner, Timers};
use livepk_store::{Job, MemoryStore, RedisStore, Store, StoreOptions};
use tokio::sync::watch;

/// Records, per job, how late it fired and how often.
#[derive(Default)]
struct Recorder {
    fired: Mutex<HashMap<String, (u32, u64)>>,
}

#[async_trait]
impl TimerHandler for Recorder {
    async fn fire(&self, job: &Job) -> Result<(), EngineError> {
        let lag = SystemClock.now_ms().saturating_sub(job.due_ms);
        let mut fired = self.fired.lock().unwrap();
        let entry = fired.entry(job.id.clone()).or_insert((0, lag));
        entry.0 += 1;
        Ok(())
    }
}

struct Row {
    backend: &'static str,
    runners: usize,
    jobs: usize,
    once: usize,
    twice: usize,
    missing: usize,
    lags: Vec<u64>,
    /// Seconds to schedule the pending deadlines (64 at a time).
    fill_seconds: f64,
    /// Redis bytes of the delay queue's keys while everything is pending, per deadline.
    bytes_per_job: Option<f64>,
}

/// Sum of MEMORY USAGE of the delay-queue keys under `prefix`.
async fn queue_bytes(url: &str, prefix: &str) -> u64 {
    let mut redis = redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys = support::keys_matching(&mut redis, &format!("{prefix}:{{dq:*")).await.expect("SCAN");
    let mut total = 0;
    for key in keys {
        let bytes: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&key)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut redis)
            .await
            .expect("MEMORY USAGE");
        total += bytes.unwrap_or(0);
    }
    total
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Schedules `ids` (with their due times) 64 at a time.
async fn schedule_all(timers: &Timers, jobs: Vec<(String, u64)>) {
    futures::stream::iter(jobs)
        .for_each_concurrent(64, |(id, due)| async move {
            timers.schedule("bench", &id, due, Vec::new()).await.unwrap();
        })
        .await;
}

async fn measure(
    backend: &'static str,
    stores: Vec<Arc<dyn Store>>,
    jobs: usize,
    pending: usize,
    redis: Option<(&str, &str)>,
) -> Row {
    let timers = Timers::new(stores[0].clone());
    let fill = Instant::now();
    // Pending far in the future (up to a day ahead): the queue is big while measuring.
    let far_base = SystemClock.now_ms() + 3_600_000;
    let far = (0..pending)
        .map(|index| {
            (format!("far{index}"), far_base + (index as u64 * 86_400_000) / pending as u64)
        })
        .collect();
    schedule_all(&timers, far).await;
    let fill_seconds = fill.elapsed().as_secs_f64();
    // Due from 1.5 s after the queue is filled, spread over 3 s.
    let now = SystemClock.now_ms();
    let spread_ms = 3_000;
    let due = (0..jobs)
        .map(|index| {
            (format!("job{index}"), now + 1_500 + (index as u64 * spread_ms) / jobs as u64)
        })
        .collect();
    schedule_all(&timers, due).await;
    let bytes_per_job = match redis {
        Some((url, prefix)) => {
            Some(queue_bytes(url, prefix).await as f64 / (pending + jobs).max(1) as f64)
        }
        None => None,
    };
    let recorder = Arc::new(Recorder::default());
    let (stop_sender, stop) = watch::channel(false);
    let mut tasks = Vec::new();
    for store in &stores {
        let mut runner = TimerRunner::new(
            store.clone(),
            Arc::new(SystemClock),
            RunnerOptions {
                poll_interval: Duration::from_millis(50),
                ttr: Duration::from_secs(30),
                batch: 100,
            },
        );
        runner.register("bench", recorder.clone());
        tasks.push(tokio::spawn(Arc::new(runner).run(stop.clone())));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let fired = recorder.fired.lock().unwrap().len();
        if fired >= jobs {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate the chance to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop_sender.send(true);
    for task in tasks {
        let _ = task.await;
    }
    let far: Vec<String> = (0..pending).map(|index| format!("far{index}")).collect();
    futures::stream::iter(far)
        .for_each_concurrent(64, |id| {
            let timers = &timers;
            async move {
                let _ = timers.cancel(&id).await;
            }
        })
        .await;
    let fired = recorder.fired.lock().unwrap();
    let mut lags: Vec<u64> = fired.values().map(|(_, lag)| *lag).collect();
    lags.sort_unstable();
    Row {
        backend,
        runners: stores.len(),
        jobs,
        once: fired.values().filter(|(count, _)| *count == 1).count(),
        twice: fired.values().filter(|(count, _)| *count > 1).count(),
        missing: jobs.saturating_sub(fired.len()),
        lags,
        fill_seconds,
        bytes_per_job,
    }
}

#[tokio::main]
async fn main() {
    let jobs: usize =
        std::env::var("BENCH_TIMER_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000);
    let pending: usize =
        std::env::var("BENCH_TIMER_PENDING").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let url =
        std::env::var("LIVEPK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("bench{:08x}", rand::random::<u32>());
    let redis = |prefix: String| {
        let url = url.clone();
        async move {
            Arc::new(
                RedisStore::connect(&url, &prefix, StoreOptions::default()).await.expect("redis"),
            ) as Arc<dyn Store>
        }
    };
    let two_replicas = vec![redis(prefix.clone()).await, redis(prefix.clone()).await];
    let rows = vec![
        measure("redis", two_replicas, jobs, pending, Some((&url, &prefix))).await,
        measure(
            "memory",
            vec![Arc::new(MemoryStore::new(StoreOptions::default())) as Arc<dyn Store>],
            jobs,
            pending,
            None,
        )
        .await,
    ];
    println!(
        "deadline firing lag ({jobs} due over 3 s, {pending} more pending up to a day ahead; poll interval 50 ms, batch 100; {} cores shared with Redis; load average before: {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!(
        "{:<8} {:>7} {:>6} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>10}",
        "store",
        "pollers",
        "jobs",
        "fired x1",
        "twice",
        "missing",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "fill s",
        "B/deadline"
    );
    for row in rows {
        println!(
            "{:<8} {:>7} {:>6} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>10}",
            row.backend,
            row.runners,
            row.jobs,
            row.once,
            row.twice,
            row.missing,
            percentile(&row.lags, 0.50),
            percentile(&row.lags, 0.90),
            percentile(&row.lags, 0.99),
            row.lags.last().copied().unwrap_or(0),
            format!("{:.1}", row.fill_seconds),
            row.bytes_per_job.map_or("-".into(), |bytes| format!("{bytes:.0}")),
        );
        println!(
            "         p99 vs target 50 ms: {:.2}x; exactly once: {}",
            percentile(&row.lags, 0.99) as f64 / 50.0,
            if row.once == row.jobs && row.twice == 0 { "yes" } else { "NO" }
        );
    }
    support::remove_bench_keys(&url, &prefix);
}
