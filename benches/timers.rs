//! Deadline firing lag: 1,000 deadlines due over the next few seconds (with another 1,000
//! pending far in the future), fired by two pollers sharing one Redis (two "replicas") and, for
//! comparison, by one poller on the embedded store. Prints lag percentiles and how many fired
//! exactly once.
//!
//! Run: `cargo bench --bench timers` (env BENCH_TIMER_JOBS, default 1000; Redis from
//! LIVEPK_TEST_REDIS_URL or redis://127.0.0.1:6379).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
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
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure(backend: &'static str, stores: Vec<Arc<dyn Store>>, jobs: usize) -> Row {
    let timers = Timers::new(stores[0].clone());
    let now = SystemClock.now_ms();
    // Pending far in the future: the queue is not empty while measuring.
    for index in 0..jobs {
        timers
            .schedule("bench", &format!("far{index}"), now + 3_600_000, Vec::new())
            .await
            .unwrap();
    }
    let spread_ms = 3_000;
    for index in 0..jobs {
        let due = now + 1_000 + (index as u64 * spread_ms) / jobs as u64;
        timers.schedule("bench", &format!("job{index}"), due, Vec::new()).await.unwrap();
    }
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
    for index in 0..jobs {
        let _ = timers.cancel(&format!("far{index}")).await;
    }
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
    }
}

#[tokio::main]
async fn main() {
    let jobs: usize =
        std::env::var("BENCH_TIMER_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000);
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
        measure("redis", two_replicas, jobs).await,
        measure(
            "memory",
            vec![Arc::new(MemoryStore::new(StoreOptions::default())) as Arc<dyn Store>],
            jobs,
        )
        .await,
    ];
    println!(
        "deadline firing lag ({jobs} due over 3 s, {jobs} more pending; poll interval 50 ms; 2 cores shared with Redis)"
    );
    println!(
        "{:<8} {:>7} {:>6} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "store",
        "pollers",
        "jobs",
        "fired x1",
        "twice",
        "missing",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms"
    );
    for row in rows {
        println!(
            "{:<8} {:>7} {:>6} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
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
        );
    }
    println!(
        "(Redis keys left under prefix {prefix}: redis-cli --scan --pattern '{prefix}:*' | xargs -r redis-cli unlink)"
    );
}
