//! Deadlines through the engine's real delay queue on the kit's manual clock: challenges that
//! lapse by themselves (and jobs that find them answered, withdrawn or sent again), the
//! countdown of the request bounded by config, the punishment, and jobs that arrive after the
//! PK moved on.

use super::*;

#[tokio::test]
async fn a_challenge_sent_again_after_a_lapse_keeps_its_own_expiry() {
    let mut world = World::new().await;
    world.challenge(RED, BLUE).await.unwrap();
    world.advance_secs(60);
    // Lapsed, its job not run yet: the pair may challenge again.
    world.challenge(RED, BLUE).await.unwrap();
    assert_eq!(world.challenges(BLUE).await, vec!["101>102"]);
    // The old job tells both rooms about the old challenge only.
    assert_eq!(world.fire_due_timers().await, 1);
    let rendered: Vec<String> = world.last.notifications.iter().map(render).collect();
    assert_eq!(rendered, vec!["lapse(101>102)>r102", "lapse(101>102)>r101"]);
    let lapsed = match &world.last.notifications[0].kind {
        NotificationKind::Lapsed { challenge } => challenge.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(lapsed.created_at_ms, START_MS);
    assert_eq!(world.challenges(BLUE).await, vec!["101>102"], "the new one still pends");
    assert_eq!(world.room(RED).await.unwrap().sent.len(), 1);
    // The new one lapses 60 s after it was sent.
    world.advance_secs(59);
    assert_eq!(world.fire_due_timers().await, 0);
    world.advance_secs(1);
    assert_eq!(world.fire_due_timers().await, 1);
    assert_eq!(world.last.notifications.len(), 2);
    assert!(world.challenges(BLUE).await.is_empty());
    assert_eq!(world.room(RED).await.unwrap().sent, vec![]);
    assert_eq!(world.room(BLUE).await.unwrap().received, vec![]);
}

#[tokio::test]
async fn a_rejected_or_accepted_challenges_job_does_nothing() {
    let mut world = World::new().await;
    world.challenge(RED, BLUE).await.unwrap();
    world.reject(BLUE, RED).await.unwrap();
    world.challenge(THIRD, FOURTH).await.unwrap();
    world.advance_secs(59);
    world.accept_challenge(FOURTH, THIRD).await.unwrap();
    world.advance_secs(1);
    let before = world.state().await;
    assert_eq!(world.fire_due_timers().await, 2, "both challenges' jobs ran");
    assert!(world.last.is_empty(), "no lapse after a reject or a start: {:?}", world.last);
    assert_eq!(world.state().await, before);
}

#[tokio::test]
async fn a_withdrawn_challenges_leftover_half_is_cleaned_silently() {
    let mut world = World::new().await;
    world.challenge(RED, BLUE).await.unwrap();
    world.create(THIRD).await.unwrap();
    // 102 enters a PK: 101's challenge to it is withdrawn (101 is told), 101 keeps its half.
    world.accept_created(BLUE, THIRD).await.unwrap();
    let rendered: Vec<String> = world.last.notifications.iter().map(render).collect();
    assert_eq!(rendered, vec!["start#1>r103", "start#1>r102", "cancel(101>102)>r101"]);
    assert_eq!(world.room(RED).await.unwrap().sent.len(), 1);
    assert!(
        pending_challenge(
            world.room(RED).await.as_ref(),
            world.room(BLUE).await.as_ref(),
            world.now()
        )
        .is_none()
    );
    world.advance_secs(60);
    world.fire_due_timers().await;
    assert!(world.last.notifications.is_empty(), "{:?}", world.last);
    assert_eq!(world.room(RED).await.unwrap().sent, vec![]);
}

#[tokio::test]
async fn the_challenge_lifetime_comes_from_config() {
    let mut world = World::new().await;
    world.set_config("acrosspk.challenge_seconds", 10).await;
    let offer = world.challenge(RED, BLUE).await.unwrap();
    assert_eq!(offer.expires_at_ms, Some(START_MS + 10_000));
    world.advance_secs(9);
    world.fire_due_timers().await;
    assert_eq!(world.challenges(BLUE).await, vec!["101>102"]);
    world.advance_secs(1);
    world.fire_due_timers().await;
    assert!(world.challenges(BLUE).await.is_empty());
    assert_eq!(world.last.notifications.len(), 2);
}

#[tokio::test]
async fn the_countdown_is_the_requests_bounded_by_config() {
    let mut world = World::new().await;
    world.set_config("acrosspk.max_countdown_seconds", 60).await;
    let error = world.create_with(RED, terms(61)).await.unwrap_err();
    assert_eq!(short_code(&error), "021");
    assert_eq!(error.0.as_business().unwrap().field(), Some("countdown"));
    world.create_with(RED, terms(30)).await.unwrap();
    let pk = world.accept_created(BLUE, RED).await.unwrap();
    assert_eq!(pk.phase_deadline_ms, START_MS + 30_000);
    assert!(world.gift(BLUE, 8, 80, 3).await);
    world.advance_secs(29);
    assert_eq!(world.fire_due_timers().await, 0);
    world.advance_secs(1);
    world.fire_due_timers().await;
    assert_eq!(world.battle_summary().await, "punishment#1");
    let records = world.records().await;
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].red, records[0].blue, records[0].winner), (0, 3, BLUE));
    assert_eq!((records[0].start_ms, records[0].end_ms), (START_MS, START_MS + 30_000));
}

#[tokio::test]
async fn without_punishment_a_win_is_over_at_once() {
    let mut world = World::new().await;
    world.set_config("acrosspk.punish_seconds", 0).await;
    world.create(RED).await.unwrap();
    world.accept_created(BLUE, RED).await.unwrap();
    assert!(world.gift(RED, 7, 70, 2).await);
    world.advance_secs(300);
    world.fire_due_timers().await;
    assert_eq!(
        world.summary().await,
        "over#1 | 101:- 102:- 103:- | result#1(red)>r101 result#1(red)>r102 over#1(deadline)>r101 over#1(deadline)>r102 | settled(deadline) 2:0"
    );
    // Only the settled record's safety-net job is left; it finds the record written.
    assert_eq!(world.pending_jobs().await, 1);
    world.advance_secs(2);
    assert_eq!(world.fire_due_timers().await, 1);
    assert!(world.last.is_empty());
    assert_eq!(world.pending_jobs().await, 0);
    assert_eq!(world.records().await.len(), 1);
}

#[tokio::test]
async fn deadline_jobs_after_a_finish_find_it_over() {
    let mut world = World::new().await;
    world.create(RED).await.unwrap();
    let pk = world.accept_created(BLUE, RED).await.unwrap();
    world.advance_secs(10);
    world.finish(BLUE, pk.pkid).await.unwrap();
    world.advance_secs(300);
    let before = world.state().await;
    // The scoring deadline's job, and the settled record's safety-net job (it finds the record).
    assert_eq!(world.fire_due_timers().await, 2);
    assert!(world.last.is_empty());
    assert_eq!(world.state().await, before);
    assert_eq!(world.records().await.len(), 1);
}

#[tokio::test]
async fn an_operator_closes_a_pk_once() {
    let mut world = World::new().await;
    world.create(RED).await.unwrap();
    let pk = world.accept_created(BLUE, RED).await.unwrap();
    world.advance_secs(5);
    assert!(world.gift(BLUE, 8, 80, 4).await);
    let record = world.admin_close(pk.pkid).await.unwrap().expect("the close settled the pk");
    assert_eq!(record.ended_by, "admin");
    assert_eq!(record.winner_id, BLUE);
    assert_eq!(
        world.summary().await,
        "over#1 | 101:- 102:- 103:- | result#1(blue)>r101 result#1(blue)>r102 over#1(admin)>r101 over#1(admin)>r102 | settled(admin) 0:4"
    );
    assert_eq!(world.admin_close(pk.pkid).await.unwrap(), None, "nothing left to close");
    assert!(world.last.is_empty());
    // Its rooms are free again.
    world.challenge(RED, BLUE).await.unwrap();
}
