//! Event stream throughput: appends (single and batched), outbox relays (a transaction queuing
//! 10 events + its relay) and reads, on Redis and on the embedded store.
//!
//! Then delivery latency (issue 15): the real server in this process (the black-box tests'
//! `TestServer`), `BENCH_SUBSCRIBERS` (100) concurrent `Events.Subscribe` streams, and events
//! appended one per call to its Redis stream at `BENCH_EVENT_RATE` (2,000/s, open loop) for
//! `BENCH_DELIVERY_SECONDS` (10 s): latency = receipt by a subscriber minus the moment the
//! append was issued (carried in the event), p50/p99/max over every delivery, twice: every
//! subscriber unfiltered (each gets every event), and every subscriber filtered on one room of
//! 100 (each gets 1/100: the rest is read and filtered out by its stream). CPU per appended
//! event of the server's threads (with the appender), of the readers' own runtime, and of
//! redis-server (INFO cpu), with XREAD calls per event, give the cost of the fan-out and of the
//! filtering. Target: p99 < 20 ms.
//!
//! Run: `cargo bench --bench event_stream` (env BENCH_EVENTS, default 20000; concurrency 16;
//! BENCH_DELIVERY 0 skips the delivery part).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use livepk::pb::common::{Mode, Target, TargetKind};
use livepk::pb::events::{Event, EventFilter, SubscribeRequest};
use prost::Message;

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

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_micros() as u64
}

/// CPU time (user + system) so far of this process's threads, in microseconds: (the readers'
/// runtime, threads `sub-*`; every other thread: the server and the appender).
fn cpu_us() -> (u64, u64) {
    let (mut readers, mut rest) = (0, 0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return (0, 0) };
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let Some((head, tail)) = stat.rsplit_once(')') else { continue };
        let comm = head.split_once('(').map_or("", |(_, comm)| comm);
        // After "(comm)": utime and stime are the 12th and 13th fields.
        let fields: Vec<&str> = tail.split_whitespace().collect();
        let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
            + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
        // USER_HZ is 100 on Linux.
        if comm.starts_with("sub-") {
            readers += ticks * 10_000;
        } else {
            rest += ticks * 10_000;
        }
    }
    (readers, rest)
}

/// redis-server's CPU microseconds so far and its XREAD calls (INFO cpu, INFO commandstats).
async fn redis_cpu_and_xreads(url: &str) -> (u64, u64) {
    let Ok(client) = redis::Client::open(url) else { return (0, 0) };
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
        return (0, 0);
    };
    let info: String =
        redis::cmd("INFO").arg("all").query_async(&mut connection).await.unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let cpu = ((field("used_cpu_sys:") + field("used_cpu_user:")) * 1e6) as u64;
    let xreads = info
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_xread:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0);
    (cpu, xreads)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One delivery scenario: `subscribers` streams (filtered on one room each, or not), events
/// to 100 rooms in turn at `rate`/s for `seconds`.
async fn delivery(
    server: &support::TestServer,
    readers: &tokio::runtime::Handle,
    subscribers: usize,
    filtered: bool,
    rate: u64,
    seconds: f64,
) {
    let store = server.store().await;
    let store: Arc<dyn Store> = Arc::new(store);
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let received = Arc::new(AtomicU64::new(0));
    let mut streams = Vec::new();
    for index in 0..subscribers {
        let filter = if filtered {
            EventFilter {
                targets: vec![Target { kind: TargetKind::Room as i32, id: 1 + index as u64 % 100 }],
                ..EventFilter::default()
            }
        } else {
            EventFilter::default()
        };
        let latencies = latencies.clone();
        let received = received.clone();
        let addr = server.addr;
        // The readers run on their own runtime (threads `sub-*`), connection included, so their
        // CPU is told apart from the server's.
        streams.push(readers.spawn(async move {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .expect("endpoint")
                .connect_lazy();
            let mut stream = livepk::pb::events::events_client::EventsClient::new(channel)
                .subscribe(SubscribeRequest { after_event_id: String::new(), filter: Some(filter) })
                .await
                .expect("Subscribe")
                .into_inner();
            let mut mine = Vec::new();
            while let Ok(Some(message)) = stream.message().await {
                let Some(event) = message.event else { continue };
                if event.r#type != "bench_nt" {
                    continue;
                }
                if event.pkid == u64::MAX {
                    break;
                }
                mine.push(now_us().saturating_sub(event.time_now));
                received.fetch_add(1, Ordering::Relaxed);
            }
            latencies.lock().unwrap().extend(mine);
        }));
    }
    // Let every stream reach the tail before the first event.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let total = (rate as f64 * seconds) as u64;
    let event = |seq: u64, room: u64| {
        Event {
            event_id: String::new(),
            time_now: now_us(),
            mode: Mode::Linkcall as i32,
            pkid: seq,
            target: Some(Target { kind: TargetKind::Room as i32, id: room }),
            r#type: "bench_nt".into(),
            payload: None,
        }
        .encode_to_vec()
    };
    let url = server.config.redis_url.clone().unwrap_or_default();
    let redis_before = redis_cpu_and_xreads(&url).await;
    let cpu_before = cpu_us();
    let started = Instant::now();
    let mut appends = Vec::new();
    for seq in 0..total {
        let due = started + Duration::from_secs_f64(seq as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let store = store.clone();
        let payload = event(seq, 1 + seq % 100);
        appends.push(tokio::spawn(async move { store.append_events(&[payload]).await.unwrap() }));
    }
    for append in appends {
        append.await.unwrap();
    }
    let expected =
        if filtered { total * subscribers as u64 / 100 } else { total * subscribers as u64 };
    let wait = Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < expected && Instant::now() < wait {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu_after = cpu_us();
    let (reader_cpu, server_cpu) = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
    let redis_after = redis_cpu_and_xreads(&url).await;
    let redis_cpu = redis_after.0.saturating_sub(redis_before.0);
    let xreads = redis_after.1.saturating_sub(redis_before.1);
    let wall = started.elapsed().as_secs_f64();
    // One closing event to every room ends each stream.
    let closing: Vec<Vec<u8>> = (1..=100).map(|room| event(u64::MAX, room)).collect();
    store.append_events(&closing).await.unwrap();
    for stream in streams {
        let _ = tokio::time::timeout(Duration::from_secs(5), stream).await;
    }
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
    latencies.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;
    let p99 = percentile(&latencies, 0.99);
    println!(
        "{:<22} {:>5} {:>8} {:>15} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>12.1} {:>12.2} {:>12.1} {:>10.2} {:>9.2}x",
        if filtered { "1 room of 100 each" } else { "unfiltered" },
        subscribers,
        total,
        format!("{}/{expected}", latencies.len()),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(p99),
        ms(latencies.last().copied().unwrap_or(0)),
        server_cpu as f64 / total as f64,
        reader_cpu as f64 / total as f64,
        redis_cpu as f64 / total as f64,
        xreads as f64 / total as f64,
        ms(p99) / 20.0,
    );
    let _ = wall;
}

async fn delivery_table() {
    let subscribers: usize =
        std::env::var("BENCH_SUBSCRIBERS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let rate: u64 =
        std::env::var("BENCH_EVENT_RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let seconds: f64 =
        std::env::var("BENCH_DELIVERY_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10.0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let server = support::TestServer::start().await;
    println!();
    println!(
        "event delivery: append issued -> Subscribe reader has it ({subscribers} streams on one in-process server, {rate} events/s one per append for {seconds} s, open loop; {} cores shared by server, readers, appender and Redis; load average before: {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!(
        "{:<22} {:>5} {:>8} {:>15} {:>8} {:>8} {:>8} {:>8} {:>12} {:>12} {:>12} {:>10} {:>10}",
        "subscribers",
        "subs",
        "events",
        "delivered",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "srv us/ev",
        "readers us/ev",
        "redis us/ev",
        "XREAD/ev",
        "p99/20ms"
    );
    let readers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sub-reader")
        .enable_all()
        .build()
        .expect("readers' runtime");
    delivery(&server, readers.handle(), subscribers, false, rate, seconds).await;
    delivery(&server, readers.handle(), subscribers, true, rate, seconds).await;
    readers.shutdown_background();
    let prefix = server.key_prefix.clone();
    let url = server.config.redis_url.clone().unwrap_or_default();
    drop(server);
    println!(
        "(srv = CPU of the server's and the appender's threads, readers = the {subscribers} Subscribe clients' runtime (1 thread), per appended event; redis = redis-server (INFO cpu); XREAD/ev = XREAD calls per appended event (the tail reader's and every stream's).)"
    );
    support::remove_bench_keys(&url, &prefix);
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
    if std::env::var("BENCH_DELIVERY").map_or(true, |value| value.trim() != "0") {
        delivery_table().await;
    }
    support::remove_bench_keys(&url, &prefix);
}
