//! The delay queue end to end (store + poller + a version-guarded handler), on both stores,
//! driven by a manual clock: deadlines fire on time, once, survive a replica dying after it
//! claimed them, and two replicas sharing one Redis never fire one twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use livepk_core::{Clock, ManualClock};
use livepk_engine::testkit;
use livepk_engine::{EngineError, RunnerOptions, TimerHandler, TimerRunner, Timers};
use livepk_store::{CommitOutcome, Job, Op, Store, Transaction};

const TOPIC: &str = "test.deadline";
const TTR: Duration = Duration::from_secs(30);

/// Fires a deadline by moving an aggregate from the version the job was scheduled for to the
/// next one; a job for a version that has moved on does nothing. Counts real firings per job.
struct GuardedHandler {
    store: Arc<dyn Store>,
    fired: Mutex<HashMap<String, u32>>,
}

#[async_trait]
impl TimerHandler for GuardedHandler {
    async fn fire(&self, job: &Job) -> Result<(), EngineError> {
        let expected: u64 =
            String::from_utf8_lossy(&job.body).parse().expect("test body is a version");
        let outcome = self
            .store
            .commit(
                Transaction::new(format!("agg:{}", job.id))
                    .expect_version("state", expected)
                    .op(Op::Put { name: "state".into(), value: b"fired".to_vec(), ttl: None }),
            )
            .await?;
        if outcome == CommitOutcome::Committed {
            *self.fired.lock().unwrap().entry(job.id.clone()).or_default() += 1;
        }
        Ok(())
    }
}

fn runner(store: Arc<dyn Store>, clock: ManualClock, handler: Arc<GuardedHandler>) -> TimerRunner {
    let mut runner = TimerRunner::new(
        store,
        Arc::new(clock),
        RunnerOptions { poll_interval: Duration::from_millis(10), ttr: TTR, batch: 100 },
    );
    runner.register(TOPIC, handler);
    runner
}

fn handler(store: &Arc<dyn Store>) -> Arc<GuardedHandler> {
    Arc::new(GuardedHandler { store: store.clone(), fired: Mutex::new(HashMap::new()) })
}

/// Creates the aggregate a job guards (version 1) and schedules its deadline.
async fn arm(store: &Arc<dyn Store>, id: &str, due_ms: u64) {
    let created = store
        .commit(Transaction::new(format!("agg:{id}")).expect_version("state", 0).op(Op::Put {
            name: "state".into(),
            value: b"armed".to_vec(),
            ttl: None,
        }))
        .await
        .unwrap();
    assert_eq!(created, CommitOutcome::Committed);
    Timers::new(store.clone()).schedule(TOPIC, id, due_ms, b"1".to_vec()).await.unwrap();
}

#[tokio::test]
async fn a_deadline_fires_at_its_due_time_once() {
    for (name, store) in testkit::both_stores().await {
        let clock = ManualClock::new(1_000_000);
        let handler = handler(&store);
        let runner = runner(store.clone(), clock.clone(), handler.clone());
        arm(&store, "a", 1_005_000).await;

        clock.set_ms(1_004_999);
        assert_eq!(runner.poll_once().await.unwrap(), 0, "{name}: fired early");
        clock.set_ms(1_005_000);
        assert_eq!(runner.poll_once().await.unwrap(), 1, "{name}: not fired when due");
        assert_eq!(handler.fired.lock().unwrap().get("a"), Some(&1), "{name}");
        assert_eq!(store.job_count().await.unwrap(), 0, "{name}: finished job still queued");

        clock.advance_ms(TTR.as_millis() as u64 * 2);
        assert_eq!(runner.poll_once().await.unwrap(), 0, "{name}: finished job re-delivered");
    }
}

#[tokio::test]
async fn a_cancelled_or_moved_deadline_fires_at_the_new_time_only() {
    for (name, store) in testkit::both_stores().await {
        let clock = ManualClock::new(0);
        let handler = handler(&store);
        let runner = runner(store.clone(), clock.clone(), handler.clone());
        let timers = Timers::new(store.clone());
        arm(&store, "moved", 1_000).await;
        arm(&store, "cancelled", 1_000).await;
        timers.schedule(TOPIC, "moved", 5_000, b"1".to_vec()).await.unwrap();
        assert!(timers.cancel("cancelled").await.unwrap());

        clock.set_ms(4_999);
        assert_eq!(runner.poll_once().await.unwrap(), 0, "{name}");
        clock.set_ms(5_000);
        assert_eq!(runner.poll_once().await.unwrap(), 1, "{name}");
        let fired = handler.fired.lock().unwrap().clone();
        assert_eq!(fired.get("moved"), Some(&1), "{name}");
        assert_eq!(fired.get("cancelled"), None, "{name}");
    }
}

/// A replica claims a deadline and dies before finishing it (kill -9): nobody else sees the
/// job until its TTR has run out, then another replica fires it, exactly once.
#[tokio::test]
async fn a_deadline_claimed_by_a_dead_replica_fires_once_after_its_ttr() {
    for (name, store) in testkit::both_stores().await {
        let clock = ManualClock::new(10_000);
        arm(&store, "orphan", 10_000).await;
        // The dying replica: it claimed the job and never came back.
        let claimed = store.claim_due_jobs(clock.now_ms(), 10, TTR).await.unwrap();
        assert_eq!(claimed.len(), 1, "{name}");

        let handler = handler(&store);
        let survivor = runner(store.clone(), clock.clone(), handler.clone());
        clock.advance_ms(TTR.as_millis() as u64 - 1);
        assert_eq!(survivor.poll_once().await.unwrap(), 0, "{name}: re-delivered before the ttr");
        clock.advance_ms(1);
        assert_eq!(
            survivor.poll_once().await.unwrap(),
            1,
            "{name}: not re-delivered after the ttr"
        );
        assert_eq!(handler.fired.lock().unwrap().get("orphan"), Some(&1), "{name}");

        // The dead replica's late finish (had it come back) must not remove anything now.
        assert!(!store.finish_job("orphan", claimed[0].lease).await.unwrap(), "{name}");
    }
}

/// A job delivered twice (the first handler finished the state change but died before
/// finishing the job) is a no-op the second time thanks to the version guard.
#[tokio::test]
async fn a_redelivered_deadline_changes_nothing_the_second_time() {
    for (name, store) in testkit::both_stores().await {
        let clock = ManualClock::new(0);
        arm(&store, "twice", 0).await;
        let handler = handler(&store);
        let first = store.claim_due_jobs(0, 10, TTR).await.unwrap();
        handler.fire(&first[0].job).await.unwrap(); // ...and the replica dies here.

        let survivor = runner(store.clone(), clock.clone(), handler.clone());
        clock.set_ms(TTR.as_millis() as u64);
        assert_eq!(survivor.poll_once().await.unwrap(), 1, "{name}");
        assert_eq!(handler.fired.lock().unwrap().get("twice"), Some(&1), "{name}: fired twice");
        assert_eq!(store.job_count().await.unwrap(), 0, "{name}");
    }
}

/// Two replicas (two connections to one Redis) poll the same queue concurrently: every one
/// of 300 deadlines fires exactly once.
#[tokio::test]
async fn two_replicas_sharing_redis_fire_each_deadline_exactly_once() {
    let prefix = testkit::fresh_prefix();
    two_replicas_fire_each_deadline_exactly_once(
        testkit::redis_store(&prefix).await,
        testkit::redis_store(&prefix).await,
    )
    .await;
}

/// The same on a Redis Cluster (the queue's buckets on different primaries).
#[tokio::test]
async fn two_replicas_sharing_a_redis_cluster_fire_each_deadline_exactly_once() {
    let prefix = testkit::fresh_prefix();
    two_replicas_fire_each_deadline_exactly_once(
        testkit::cluster_store(&prefix).await,
        testkit::cluster_store(&prefix).await,
    )
    .await;
}

async fn two_replicas_fire_each_deadline_exactly_once(
    first_store: Arc<dyn Store>,
    second_store: Arc<dyn Store>,
) {
    let clock = ManualClock::new(50_000);
    for index in 0..300 {
        arm(&first_store, &format!("job{index}"), 50_000 - index).await;
    }
    let first_handler = handler(&first_store);
    let second_handler = handler(&second_store);
    let first = Arc::new(runner(first_store.clone(), clock.clone(), first_handler.clone()));
    let second = Arc::new(runner(second_store.clone(), clock.clone(), second_handler.clone()));
    let drain = |runner: Arc<TimerRunner>| async move {
        let mut total = 0;
        loop {
            let claimed = runner.poll_once().await.unwrap();
            total += claimed;
            if claimed == 0 {
                return total;
            }
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(drain(first)), tokio::spawn(drain(second)));
    assert_eq!(a.unwrap() + b.unwrap(), 300, "claims must add up to the jobs");
    let mut fired: HashMap<String, u32> = first_handler.fired.lock().unwrap().clone();
    for (job, count) in second_handler.fired.lock().unwrap().iter() {
        *fired.entry(job.clone()).or_default() += count;
    }
    assert_eq!(fired.len(), 300);
    assert!(fired.values().all(|count| *count == 1), "a deadline fired twice: {fired:?}");
    assert_eq!(first_store.job_count().await.unwrap(), 0);
}

/// Fails every job: for good (a body it cannot decode), or for now (a dependency down).
struct FailingHandler {
    for_good: bool,
}

#[async_trait]
impl TimerHandler for FailingHandler {
    async fn fire(&self, _job: &Job) -> Result<(), EngineError> {
        if self.for_good {
            Err(EngineError::corrupt("undecodable job body"))
        } else {
            Err(EngineError::unavailable("sql down"))
        }
    }
}

/// Issue 12 item 9: jobs that can never succeed — no handler for their topic, a body the handler
/// cannot decode — are given up to the dead letters after `MAX_JOB_ATTEMPTS` deliveries (listed
/// with their reason, counted in the metrics), instead of being delivered forever; a job failing
/// on an outage is retried on.
#[tokio::test]
async fn item9_jobs_that_can_never_succeed_are_dead_lettered() {
    use livepk_engine::metrics::METRICS;
    use livepk_engine::timers::MAX_JOB_ATTEMPTS;
    for (name, store) in testkit::both_stores().await {
        let clock = ManualClock::new(1_000_000);
        let mut runner = TimerRunner::new(
            store.clone(),
            Arc::new(clock.clone()),
            RunnerOptions { poll_interval: Duration::from_millis(10), ttr: TTR, batch: 100 },
        );
        runner.register("test.broken", Arc::new(FailingHandler { for_good: true }));
        runner.register("test.outage", Arc::new(FailingHandler { for_good: false }));
        let timers = Timers::new(store.clone());
        let due = 1_000_000;
        timers.schedule("test.unknown", "unknown", due, b"x".to_vec()).await.unwrap();
        timers.schedule("test.broken", "broken", due, b"\xff".to_vec()).await.unwrap();
        timers.schedule("test.outage", "outage", due, b"y".to_vec()).await.unwrap();
        let dead_before =
            METRICS.timer_jobs.with_label_values(&["test.broken", "dead_lettered"]).get();

        for attempt in 1..=MAX_JOB_ATTEMPTS {
            assert_eq!(store.dead_job_count().await.unwrap(), 0, "{name}: before {attempt}");
            assert_eq!(runner.poll_once().await.unwrap(), 3, "{name}: delivery {attempt}");
            clock.advance_ms(TTR.as_millis() as u64);
        }
        let dead = store.dead_jobs(10).await.unwrap();
        let mut listed: Vec<(&str, u32, &str)> =
            dead.iter().map(|d| (d.job.id.as_str(), d.attempts, d.reason.as_str())).collect();
        listed.sort();
        assert_eq!(
            listed,
            vec![
                ("broken", MAX_JOB_ATTEMPTS, "corrupt data in store: undecodable job body"),
                ("unknown", MAX_JOB_ATTEMPTS, "no handler for topic \"test.unknown\""),
            ],
            "{name}"
        );
        assert_eq!(store.job_count().await.unwrap(), 1, "{name}: the outage job stays queued");
        assert_eq!(runner.poll_once().await.unwrap(), 1, "{name}: and is delivered again");
        let dead_after =
            METRICS.timer_jobs.with_label_values(&["test.broken", "dead_lettered"]).get();
        assert_eq!(dead_after, dead_before + 1, "{name}: counted in the metrics");
        assert!(METRICS.render().contains("livepk_timer_dead_jobs"), "{name}");
    }
}
