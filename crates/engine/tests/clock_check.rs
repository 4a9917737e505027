//! The clock check (issue 12 item 6) on a manual clock against real Redis `TIME`: a replica
//! whose clock is off the store's by more than the bound claims no deadline, and claims again
//! once back within it; the in-process store's reference is the process's clock (offset 0).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use livepk_core::{Clock, ManualClock, SystemClock};
use livepk_engine::clock_check::{ClockCheck, ClockCheckOptions};
use livepk_engine::metrics::METRICS;
use livepk_engine::testkit;
use livepk_engine::{EngineError, RunnerOptions, TimerHandler, TimerRunner};
use livepk_store::{Job, MemoryStore, Store, StoreOptions};

struct Nothing;

#[async_trait]
impl TimerHandler for Nothing {
    async fn fire(&self, _job: &Job) -> Result<(), EngineError> {
        Ok(())
    }
}

fn options() -> ClockCheckOptions {
    ClockCheckOptions {
        max_skew: Some(Duration::from_millis(500)),
        interval: Duration::from_millis(50),
    }
}

#[tokio::test]
async fn item6_a_replica_off_the_store_clock_claims_no_deadline_until_it_is_back() {
    let store = testkit::redis_store(&testkit::fresh_prefix()).await;
    let clock = ManualClock::new(SystemClock.now_ms());
    let check = Arc::new(ClockCheck::new(store.clone(), Arc::new(clock.clone()), options()));
    let mut runner = TimerRunner::new(
        store.clone(),
        Arc::new(clock.clone()),
        RunnerOptions {
            poll_interval: Duration::from_millis(50),
            ttr: Duration::from_secs(30),
            batch: 10,
        },
    );
    runner.register("item6.probe", Arc::new(Nothing));
    let gate = check.clone();
    runner.claim_only_while(Arc::new(move || gate.within_bound()));

    // In step with Redis: within the bound.
    clock.set_ms(SystemClock.now_ms());
    let state = check.measure().await.expect("Redis TIME");
    assert!(state.within_bound, "{state:?}");
    assert!(state.offset_ms.expect("measured").abs() < 500, "{state:?}");

    // Two seconds fast: out of bound, and a due deadline is left alone.
    clock.set_ms(SystemClock.now_ms() + 2_000);
    let state = check.measure().await.expect("Redis TIME");
    assert!(!state.within_bound, "{state:?}");
    let offset = state.offset_ms.expect("measured");
    assert!((1_500..2_500).contains(&offset), "offset {offset} ms, the clock is 2 s fast");
    assert!(METRICS.render().contains("livepk_clock_skew_exceeded 1"), "{}", METRICS.render());
    let due = clock.now_ms() - 10;
    store
        .schedule_job(&Job {
            id: "probe".into(),
            topic: "item6.probe".into(),
            due_ms: due,
            body: vec![],
        })
        .await
        .unwrap();
    assert_eq!(runner.poll_once().await.unwrap(), 0, "a skewed replica claims nothing");
    assert_eq!(store.next_job_due().await.unwrap(), Some(due), "the deadline is still due");

    // Minutes slow is out of bound too.
    clock.set_ms(SystemClock.now_ms() - 180_000);
    assert!(!check.measure().await.unwrap().within_bound);

    // Back in step: claims again.
    clock.set_ms(SystemClock.now_ms());
    let state = check.measure().await.expect("Redis TIME");
    assert!(state.within_bound, "{state:?}");
    assert!(METRICS.render().contains("livepk_clock_skew_exceeded 0"));
    clock.set_ms(due + 10);
    assert_eq!(runner.poll_once().await.unwrap(), 1, "back within the bound, it claims");
}

#[tokio::test]
async fn item6_the_in_process_store_is_its_own_reference() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreOptions::default()));
    // A manual clock far from the wall clock: the embedded store has no other clock to
    // disagree with.
    let clock = ManualClock::new(1_000);
    let check = ClockCheck::new(store, Arc::new(clock), options());
    let state = check.measure().await.unwrap();
    assert_eq!(state.offset_ms, Some(0));
    assert!(state.within_bound);
}
