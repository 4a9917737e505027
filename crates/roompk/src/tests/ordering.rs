//! Orders that real interleavings hit only now and then, played exactly through the
//! [`HookedStore`]'s hooks: a seat change between a gift's locate and its count (the gift counts
//! for the team held when it is recorded), a seat change between a Start's load and its commit
//! (the Start is retried, not half written); and what each command writes: a Start renews the
//! life of the room's seats and operator for the battle, a SetOperator renews it even when it
//! names the same operator, a Start forgets the last battle's gift records.

use std::time::Duration;

use livepk_battle::Scores;
use livepk_engine::STATE_TTL;
use livepk_store::MemoryStore;

use super::*;
use crate::adapter::room_tag;
use livepk_engine::testkit::hooked::{HookedStore, Step};

/// A world on a hooked in-process store: operator named, 21 on red 11, 22 on blue 15.
async fn hooked_world() -> (World, Arc<HookedStore>) {
    let store = HookedStore::new(Arc::new(MemoryStore::new(StoreOptions::default())));
    let mut world = World::on_store(store.clone()).await;
    world.set_operator(OPERATOR).await;
    world.take(21, 11).await.unwrap();
    world.take(22, 15).await.unwrap();
    (world, store)
}

/// `user` leaves `from` and takes `to`, as a step for a hook.
fn move_seat(adapter: &Arc<RoomPkAdapter>, user_id: u64, from: u32, to: Option<u32>) -> Step {
    let adapter = adapter.clone();
    Box::pin(async move {
        let leave = SeatRequest {
            room_id: room_id(ROOM),
            location: location(from),
            command: SeatCommand::Leave { user: user(user_id) },
        };
        adapter.operate_seat(leave).await.expect("leave");
        if let Some(to) = to {
            let take = SeatRequest {
                room_id: room_id(ROOM),
                location: location(to),
                command: SeatCommand::Take { user: user(user_id) },
            };
            adapter.operate_seat(take).await.expect("take");
        }
    })
}

#[tokio::test]
async fn a_gift_counts_for_the_team_its_receiver_holds_when_it_is_recorded() {
    let (mut world, store) = hooked_world().await;
    world.start(60).await.unwrap();
    // Located while 21 sits on red 11; 21 moves to blue 16 before the gift is counted.
    store.before_guarded_score(move_seat(&world.adapter, 21, 11, Some(16)));
    let outcome = world.gift_txn("moved", 31, 21, 5).await;
    assert!(!outcome.duplicate);
    assert_eq!(team_of(&outcome).as_deref(), Some("blue"), "{outcome:?}");
    assert_eq!(world.seats().await, "15:22 16:21");
    assert_eq!(world.state().await.battle.unwrap().scores, Scores::new(0, 5));
    let replay = world.gift_txn("moved", 31, 21, 5).await;
    assert!(replay.duplicate);
    assert_eq!(replay.changes, outcome.changes);
    let state = world.state().await;
    assert_eq!(state.battle.unwrap().scores, Scores::new(0, 5), "counted once");
    assert!(state.boards.pk_value.first.is_empty(), "nothing on red");
    assert_eq!(world.user_totals(21).await.total_pk_value, 5);

    // Located while 21 sits on blue 16; 21 leaves the PK seats before it is counted: no team.
    store.before_guarded_score(move_seat(&world.adapter, 21, 16, None));
    let outcome = world.gift_txn("left", 31, 21, 7).await;
    assert_eq!(team_of(&outcome), None, "{outcome:?}");
    assert_eq!(world.state().await.battle.unwrap().scores, Scores::new(0, 5));
    assert_eq!(world.user_totals(21).await.total_pk_value, 5);
}

#[tokio::test]
async fn a_start_racing_a_seat_change_is_retried_whole() {
    let (mut world, store) = hooked_world().await;
    // A first battle, over: the room's battle is rewritten by the next Start (a new battle
    // nobody points at would be abandoned and made again anyway).
    world.start(60).await.unwrap();
    world.finish().await.unwrap();
    // 23 takes red 12 between the Start's load and its commit.
    let adapter = world.adapter.clone();
    store.before_next_id(async move {
        let take = SeatRequest {
            room_id: room_id(ROOM),
            location: location(12),
            command: SeatCommand::Take { user: user(23) },
        };
        adapter.operate_seat(take).await.expect("take");
    });
    let info = world.start(60).await.expect("the Start goes through on its second attempt");
    assert_eq!(info.phase, PhaseName::Scoring);
    assert_eq!(world.nts(), "take(12 by 23)>r900 start>r900");
    assert_eq!(world.seats().await, "11:21 12:23 15:22", "the seat change stands");
    assert_eq!(world.battle().await.map(|battle| battle.pkid()), Some(info.pkid));
    assert_eq!(world.gift(31, 23, 4).await.as_deref(), Some("red"));
}

#[tokio::test]
async fn a_start_renews_the_life_of_the_seats_for_the_battle() {
    let (mut world, store) = hooked_world().await;
    store.take_written();
    let arranged_at = world.now();
    // The seats were arranged almost three days ago (their life: three days from their last
    // write); the battle (60 s, then 120 s of punishment) would outlive them.
    world.advance_secs(STATE_TTL.as_secs() - 60);
    world.start(60).await.unwrap();
    let started_at = world.now();
    let room = (room_tag(room_id(ROOM)), "room".to_string());
    let room_lives: Vec<Option<Duration>> = store
        .take_written()
        .into_iter()
        .filter(|(tag, name, _)| (tag, name) == (&room.0, &room.1))
        .map(|(_, _, life)| life)
        .collect();
    let written_at = if room_lives.is_empty() { arranged_at } else { started_at };
    let battle_over_at = started_at + 60_000 + 120_000;
    assert!(
        written_at + STATE_TTL.as_millis() as u64 > battle_over_at,
        "the seats and the operator must outlive the battle (last written at {written_at})"
    );
    assert_eq!(room_lives, vec![Some(STATE_TTL)], "written once by the Start, for three days");
    // AddTime and Finish read the operator: still there at the end of the punishment.
    world.advance_secs(59);
    world.add_time(30).await.unwrap();
    world.finish().await.unwrap();
}

#[tokio::test]
async fn set_operator_renews_the_room_even_naming_the_same_operator() {
    let (mut world, store) = hooked_world().await;
    store.take_written();
    world.set_operator(OPERATOR).await;
    let written = store.take_written();
    assert_eq!(
        written,
        vec![(room_tag(room_id(ROOM)), "room".to_string(), Some(STATE_TTL))],
        "the same operator: the room is written again, for three days"
    );
    assert!(world.last.is_empty(), "nothing is broadcast");
    assert!(world.room().await.is_operator(user(OPERATOR)));
}

/// A room's gift records stay bounded: a new Start sets the last battle's aside (still
/// answering its retries) and forgets the ones before.
#[tokio::test]
async fn a_new_start_sets_the_last_battles_gift_records_aside_and_forgets_older_ones() {
    let (mut world, _store) = hooked_world().await;
    world.start(60).await.unwrap();
    world.gift_txn("first-1", 31, 21, 5).await;
    world.gift_txn("first-2", 32, 22, 3).await;
    world.gift_at("first-early", 31, 21, 2, START_MS - 1).await;
    assert_eq!(gift_records(&world).await, (3, 0), "two counted, one outside");
    world.finish().await.unwrap();
    assert_eq!(gift_records(&world).await, (3, 0), "kept while the battle is readable");
    world.start(60).await.unwrap();
    assert_eq!(gift_records(&world).await, (0, 3), "a new Start sets them aside");
    // A retry of a gift of the first battle is answered as the first time.
    let replay = world.gift_txn("first-1", 31, 21, 5).await;
    assert!(replay.duplicate);
    assert_eq!(team_of(&replay).as_deref(), Some("red"));
    assert_eq!(world.state().await.battle.unwrap().scores, Scores::default());
    world.gift_txn("second-1", 31, 21, 4).await;
    world.finish().await.unwrap();
    world.start(60).await.unwrap();
    assert_eq!(gift_records(&world).await, (0, 1), "the first battle's are forgotten");
}

/// How many gift records the room's tag holds: the current battle's and the previous one's
/// (crates/store/DESIGN.md "ScoreApply": the hashes `txns` and `txns:prev`, txn id -> answer).
async fn gift_records(world: &World) -> (usize, usize) {
    let store = &world.kit.engine().store;
    let tag = room_tag(room_id(ROOM));
    let current = store.hash_get_all(&tag, "txns").await.expect("read").len();
    let previous = store.hash_get_all(&tag, "txns:prev").await.expect("read").len();
    (current, previous)
}
