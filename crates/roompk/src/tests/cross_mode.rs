//! One room, one battle, across modes (SPEC §5a), with the test kit's duels standing in for the
//! other modes: [`StageDuel`] takes its room's stage as AcrossPk does, [`SideDuel`] runs
//! alongside as GiftPk does. A team battle holds its room from Start until it is over; a room
//! held by another mode refuses a Start (025 naming the holder, from the engine); arranging seats
//! is never refused; a gift counts once in every battle it belongs to.

use livepk_battle::Sides;
use livepk_core::codes;
use livepk_engine::testkit::duel::{DuelAdapter, SideDuel, StageDuel};

use super::*;

struct Rooms {
    world: World,
    stage: Arc<DuelAdapter<StageDuel>>,
    side: Arc<DuelAdapter<SideDuel>>,
}

/// RoomPk and both duels on one engine; operator named, 21 on red 11, 22 on blue 15.
async fn rooms() -> Rooms {
    let (mut stage, mut side) = (None, None);
    let store = Arc::new(MemoryStore::new(StoreOptions::default()));
    let mut world = World::build(store, |engine| {
        let stage_duel = DuelAdapter::<StageDuel>::new(engine.clone());
        let side_duel = DuelAdapter::<SideDuel>::new(engine.clone());
        let parts = vec![stage_duel.parts(), side_duel.parts()];
        (stage, side) = (Some(stage_duel), Some(side_duel));
        parts
    })
    .await;
    world.set_operator(OPERATOR).await;
    world.take(21, 11).await.unwrap();
    world.take(22, 15).await.unwrap();
    Rooms { world, stage: stage.expect("built"), side: side.expect("built") }
}

fn gifts() -> Sides<GiftId> {
    Sides::new(GiftId::from_trusted(7), GiftId::from_trusted(8))
}

/// The 025 refusal's holder, from its metadata.
fn holder(error: &Refusal) -> (String, String) {
    assert_eq!(error.business_code(), codes::ANCHOR_IN_PK, "{:?}", error.0);
    let details: std::collections::BTreeMap<String, String> = error.details().into_iter().collect();
    assert_eq!(details["room_id"], ROOM.to_string());
    (details["holding_mode"].clone(), details["holding_pkid"].clone())
}

#[tokio::test]
async fn a_room_held_by_another_mode_refuses_start_but_not_seats() {
    let Rooms { mut world, stage, .. } = rooms().await;
    let duel = stage.start(room_id(ROOM), gifts(), 60, None).await.unwrap();
    let error = world.start(60).await.unwrap_err();
    assert_eq!(holder(&error), ("acrosspk".into(), duel.to_string()));
    assert!(world.last.is_empty());
    assert!(world.battle().await.is_none_or(|battle| battle.is_closed()));
    // Arranging seats takes nothing: allowed while another mode holds the room.
    world.take(23, 12).await.unwrap();
    world.hold_up(24, 16).await.unwrap();
    // Once the other battle is over, the room is free.
    stage.finish(room_id(ROOM)).await.unwrap();
    world.start(60).await.unwrap();
}

#[tokio::test]
async fn a_team_battle_holds_its_room_until_it_is_over() {
    let Rooms { mut world, stage, side } = rooms().await;
    let info = world.start(60).await.unwrap();
    let pkid = info.pkid.to_string();
    let refused = |error: EngineError| holder(&Refusal(error));
    let error = stage.start(room_id(ROOM), gifts(), 60, None).await.unwrap_err();
    assert_eq!(refused(error), ("roompk".into(), pkid.clone()));
    // A mode that runs alongside is not refused; another room is free.
    side.start(room_id(ROOM), gifts(), 600, None).await.unwrap();
    stage.start(room_id(OTHER_ROOM), gifts(), 60, None).await.unwrap();

    // The punishment still holds the room.
    world.gift(31, 21, 5).await;
    world.advance_secs(60);
    world.fire_due_timers().await;
    assert_eq!(world.battle_line().await, "punishment#1 r:5 b:0 won:red");
    let error = stage.start(room_id(ROOM), gifts(), 60, None).await.unwrap_err();
    assert_eq!(refused(error), ("roompk".into(), pkid));
    world.advance_secs(120);
    world.fire_due_timers().await;
    stage.start(room_id(ROOM), gifts(), 60, None).await.unwrap();
    // Now the team battle is the one refused.
    assert_eq!(holder(&world.start(60).await.unwrap_err()).0, "acrosspk");
}

#[tokio::test]
async fn a_gift_counts_once_in_each_battle_of_the_room() {
    let Rooms { mut world, side, .. } = rooms().await;
    world.start(60).await.unwrap();
    side.start(room_id(ROOM), gifts(), 60, None).await.unwrap();
    let first = world.gift_txn("both", 31, 21, 5).await;
    let modes: Vec<Mode> = first.changes.iter().map(|change| change.mode).collect();
    assert_eq!(modes, vec![Mode::RoomPk, Mode::GiftPk]);
    let again = world.gift_txn("both", 31, 21, 5).await;
    assert!(again.duplicate);
    assert_eq!(again.changes, first.changes);
    assert_eq!(world.state().await.battle.unwrap().scores.first, 5);
    assert_eq!(side.scores(room_id(ROOM)).await.unwrap().unwrap().1.first, 5);
    // To an unseated user: the side duel counts it (by room), the team battle does not.
    let unseated = world.gift_txn("side-only", 31, 23, 2).await;
    let modes: Vec<Mode> = unseated.changes.iter().map(|change| change.mode).collect();
    assert_eq!(modes, vec![Mode::GiftPk]);
}
