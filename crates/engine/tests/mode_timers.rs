//! A mode's own delay-queue topics ([`ModeParts::with_timer`]): their jobs reach the mode's
//! handler through the same queue as the engine's deadlines, a failing handler gets its job again
//! after the TTR, and a topic that is not the mode's own is refused at start-up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use livepk_engine::testkit::TestKit;
use livepk_engine::testkit::duel::{DuelAdapter, StageDuel};
use livepk_engine::{EngineError, TimerHandler};
use livepk_store::Job;

/// Remembers the bodies it ran; fails the first `failures` jobs.
#[derive(Default)]
struct Recorder {
    bodies: Mutex<Vec<Vec<u8>>>,
    failures: AtomicUsize,
}

#[async_trait]
impl TimerHandler for Recorder {
    async fn fire(&self, job: &Job) -> Result<(), EngineError> {
        if self.failures.load(Ordering::SeqCst) > 0 {
            self.failures.fetch_sub(1, Ordering::SeqCst);
            return Err(EngineError::unavailable("not now"));
        }
        self.bodies.lock().unwrap().push(job.body.clone());
        Ok(())
    }
}

async fn kit(recorder: Arc<Recorder>) -> TestKit {
    TestKit::new(&[], |engine| {
        // The stage duel poses as AcrossPk: its own topics are `acrosspk.<name>`.
        vec![
            DuelAdapter::<StageDuel>::new(engine.clone())
                .parts()
                .with_timer("acrosspk.sync", recorder),
        ]
    })
    .await
}

#[tokio::test]
async fn a_mode_topic_runs_its_handler_when_due_and_again_after_a_failure() {
    let recorder = Arc::new(Recorder { failures: AtomicUsize::new(1), ..Recorder::default() });
    let kit = kit(recorder.clone()).await;
    let due = kit.now_ms() + 2_000;
    kit.engine()
        .timers
        .schedule("acrosspk.sync", "acrosspk.sync:1", due, b"one".to_vec())
        .await
        .unwrap();
    assert_eq!(kit.fire_due_timers().await, 0, "not due yet");
    kit.advance_ms(2_000);
    assert_eq!(kit.fire_due_timers().await, 1);
    assert!(recorder.bodies.lock().unwrap().is_empty(), "the first run failed");
    // Delivered again after the TTR (30 s by default), then finished.
    kit.advance_ms(30_000);
    assert_eq!(kit.fire_due_timers().await, 1);
    assert_eq!(*recorder.bodies.lock().unwrap(), vec![b"one".to_vec()]);
    kit.advance_ms(60_000);
    assert_eq!(kit.fire_due_timers().await, 0, "a finished job is gone");
}

#[tokio::test]
#[should_panic(expected = "must be acrosspk.<name>")]
async fn a_topic_of_another_mode_is_refused() {
    let _ = TestKit::new(&[], |engine| {
        vec![
            DuelAdapter::<StageDuel>::new(engine.clone())
                .parts()
                .with_timer("giftpk.sync", Arc::new(Recorder::default())),
        ]
    })
    .await;
}

#[tokio::test]
#[should_panic(expected = "registered twice")]
async fn an_engine_topic_cannot_be_taken_over() {
    let _ = TestKit::new(&[], |engine| {
        vec![
            DuelAdapter::<StageDuel>::new(engine.clone())
                .parts()
                .with_timer("acrosspk.phase", Arc::new(Recorder::default())),
        ]
    })
    .await;
}
