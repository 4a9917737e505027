//! GiftPk beside a room-taking mode (SPEC §5a), with the test kit's [`StageDuel`] standing in
//! for it (it poses as AcrossPk and claims gifts by room): a gift PK takes no stage, so it starts
//! while the other battle holds the room and the other way round; one gift sent in the show
//! counts once in each (one ledger record, one txn entry in each battle's script), and a retry is
//! a duplicate for both.

use livepk_core::Mode;
use livepk_engine::testkit::duel::{DuelAdapter, StageDuel};

use super::*;

/// GiftPk and the stage duel on one engine.
async fn side_by_side() -> (World, Arc<DuelAdapter<StageDuel>>) {
    let (mut giftpk, mut duel) = (None, None);
    let kit = TestKit::new(&CONFIG_KEYS, |engine| {
        let adapter = GiftPkAdapter::new(engine.clone(), Arc::new(JsonEncoder));
        let stage = DuelAdapter::<StageDuel>::new(engine.clone());
        let parts = vec![adapter.parts(), stage.parts()];
        (giftpk, duel) = (Some(adapter), Some(stage));
        parts
    })
    .await;
    (World::of(kit, giftpk.expect("built")), duel.expect("built"))
}

fn room() -> RoomSid {
    RoomSid::from_trusted(SHOW)
}

/// The (mode, side, side total) of each change, sorted.
fn changes(outcome: &GiftOutcome) -> Vec<(&'static str, String, i64)> {
    let mut changes: Vec<_> = outcome
        .changes
        .iter()
        .map(|change| (change.mode.as_str(), change.side.clone(), change.side_total))
        .collect();
    changes.sort();
    changes
}

#[tokio::test]
async fn a_gift_pk_runs_beside_a_battle_that_holds_the_room() {
    let (mut world, duel) = side_by_side().await;
    // The other battle takes the room first: the gift PK still starts.
    let duel_pkid =
        duel.start(room(), Sides::new(gift_id(ROSE), gift_id(ROCKET)), 120, None).await.unwrap();
    let created = world.create_default().await;
    // And the other way round in another room: a running gift PK does not hold the stage.
    world.create(create_request(OTHER_SHOW, ANCHOR, ROSE, ROCKET, DURATION)).await.unwrap();
    duel.start(
        RoomSid::from_trusted(OTHER_SHOW),
        Sides::new(gift_id(ROSE), gift_id(THIRD)),
        120,
        None,
    )
    .await
    .unwrap();
    // Closing the gift PK leaves the other battle on stage.
    world.close(SHOW, created.pkid.get(), ANCHOR).await.unwrap();
    assert_eq!(duel.scores(room()).await.unwrap().unwrap().0, duel_pkid);
    let refused = duel.start(room(), Sides::new(gift_id(1), gift_id(2)), 60, None).await;
    assert!(refused.is_err(), "the duel still holds its room");
}

#[tokio::test]
async fn one_gift_counts_once_in_the_gift_pk_and_once_in_the_rooms_battle() {
    let (mut world, duel) = side_by_side().await;
    duel.start(room(), Sides::new(gift_id(ROSE), gift_id(ROCKET)), 120, None).await.unwrap();
    world.create_default().await;
    world.advance_secs(1);

    // Three roses (10 coins each) in the show: the duel (by room) counts 30 points for its rose
    // side, the gift PK (by show and gift) 3 roses.
    let roses = show_gift("both-1", 5, Some(SHOW), ROSE, 3, world.now());
    let first = world.record(&roses).await;
    assert!(!first.duplicate);
    assert_eq!(changes(&first), vec![("acrosspk", "first".into(), 30), ("giftpk", "11".into(), 3)]);

    // The retry is a duplicate for both, with the same answer, and moves nothing.
    let again = world.record(&roses).await;
    assert!(again.duplicate);
    assert_eq!(again.changes, first.changes);
    assert!(world.last.notifications.is_empty(), "a duplicate notifies nothing");

    // A gift sent in the room outside the show counts only in the room's battle; a gift of the
    // show's third gift id only there too.
    let outside_show = show_gift("both-2", 6, None, ROCKET, 1, world.now());
    assert_eq!(
        changes(&world.record(&outside_show).await),
        vec![("acrosspk", "second".into(), 10)]
    );
    let third = show_gift("both-3", 6, Some(SHOW), THIRD, 1, world.now());
    assert_eq!(changes(&world.record(&third).await), vec![]);
    let rocket = show_gift("both-4", 6, Some(SHOW), ROCKET, 2, world.now());
    assert_eq!(
        changes(&world.record(&rocket).await),
        vec![("acrosspk", "second".into(), 30), ("giftpk", "22".into(), 2)]
    );

    let (_, duel_scores) = duel.scores(room()).await.unwrap().unwrap();
    assert_eq!(duel_scores, Scores::new(30, 30));
    let (_, gift_counts) = world.latest_battle().await.unwrap();
    assert_eq!(gift_counts, Scores::new(3, 2));

    // Each battle ends on its own (the gift PK's settle after its grace); the records are each
    // mode's.
    world.advance_ms(DURATION * 1000 + GRACE_MS);
    world.fire_due_timers().await;
    let records = world.kit.records().await;
    let modes: Vec<Mode> = records.iter().map(|record| record.mode).collect();
    assert_eq!(modes, vec![Mode::GiftPk]);
    assert!(duel.scores(room()).await.unwrap().is_some(), "the duel runs on (120 s)");
}
