//! The read-only views: `ListChallenges` (pending only, newest first), `ListCreated` (other
//! rooms' open PKs, newest first, paged) and `GetState` (both rooms see the same PK, totals and
//! boards; ties to the first to reach the total; a replayed gift counts once).

use livepk_battle::Side;

use super::*;

#[tokio::test]
async fn list_challenges_shows_only_pending_ones_newest_first() {
    let mut world = World::new().await;
    world.challenge(RED, FOURTH).await.unwrap();
    world.advance_secs(1);
    world.challenge(BLUE, FOURTH).await.unwrap();
    world.advance_secs(1);
    world.challenge(THIRD, FOURTH).await.unwrap();
    assert_eq!(world.challenges(FOURTH).await, vec!["103>104", "102>104", "101>104"]);
    // 102 enters a PK (its challenge is withdrawn) and 101's lapses without its job running.
    world.create(BLUE).await.unwrap();
    world.accept_created(THIRD, BLUE).await.unwrap();
    world.advance_secs(58);
    assert_eq!(world.challenges(FOURTH).await, Vec::<String>::new(), "103 is in the pk too");
    let mut world = World::new().await;
    world.challenge(RED, FOURTH).await.unwrap();
    world.advance_secs(1);
    world.challenge(BLUE, FOURTH).await.unwrap();
    world.advance_secs(59);
    assert_eq!(world.challenges(FOURTH).await, vec!["102>104"], "101's lapsed");
    assert!(world.challenges(RED).await.is_empty(), "only received ones are listed");
}

#[tokio::test]
async fn list_created_pages_the_other_rooms_newest_first() {
    let mut world = World::new().await;
    world.set_config("acrosspk.page_size", 2).await;
    for raw in [201, 202, 203, 204, 205] {
        world.create(raw).await.unwrap();
        world.advance_secs(1);
    }
    assert_eq!(world.created_list(999, 0).await, vec![205, 204]);
    assert_eq!(world.created_list(999, 1).await, vec![203, 202]);
    assert_eq!(world.created_list(999, 2).await, vec![201]);
    // The caller's own room is left out without shifting the pages.
    assert_eq!(world.created_list(204, 0).await, vec![205, 203]);
    assert_eq!(world.created_list(204, 1).await, vec![202, 201]);
    assert_eq!(world.created_list(205, 0).await, vec![204, 203]);
    assert_eq!(world.created_list(201, 2).await, Vec::<u64>::new());
    // Taken and withdrawn PKs leave the list.
    world.accept_created(202, 204).await.unwrap();
    world.cancel(203).await.unwrap();
    assert_eq!(world.created_list(999, 0).await, vec![205, 201]);
    assert_eq!(world.open_list().await.len(), 2);
}

#[tokio::test]
async fn both_rooms_see_the_same_pk_and_boards() {
    let mut world = World::new().await;
    world.create(RED).await.unwrap();
    world.accept_created(BLUE, RED).await.unwrap();
    world.advance_secs(1);
    // Room 101: fans 8 and 7 tie at 100, and so do receivers 71 and 70 — the higher ids first to
    // reach it, so they rank first (an ascending-id tie-break would fail); 9 gives 30 to 72.
    assert!(world.gift_txn("g1", RED, 8, 71, 100, world.now()).await);
    assert!(world.gift_txn("g2", RED, 7, 70, 60, world.now()).await);
    assert!(world.gift_txn("g3", RED, 7, 70, 40, world.now()).await);
    assert!(world.gift_txn("g4", RED, 9, 72, 30, world.now()).await);
    // Room 102: fan 5 gives 50; the replay of g5 counts once.
    assert!(world.gift_txn("g5", BLUE, 5, 50, 50, world.now()).await);
    assert!(!world.gift_txn("g5", BLUE, 5, 50, 50, world.now()).await);
    let red = world.room_state(RED).await;
    let blue = world.room_state(BLUE).await;
    let (red_pk, blue_pk) = (red.pk.clone().unwrap(), blue.pk.clone().unwrap());
    assert_eq!(red_pk.pk, blue_pk.pk, "one battle, read by both rooms");
    assert_eq!(red.boards, blue.boards);
    assert_eq!((red_pk.side, blue_pk.side), (Side::First, Side::Second));
    assert_eq!(red_pk.other, card(BLUE));
    assert_eq!(blue_pk.other, card(RED));
    assert_eq!((red_pk.pk.scores.first, red_pk.pk.scores.second), (230, 50));
    let rows = |rows: &[BoardRow]| -> Vec<(u64, u64)> {
        rows.iter().map(|row| (row.user_id.get(), row.total)).collect()
    };
    assert_eq!(rows(&red.boards.first.contribute), vec![(8, 100), (7, 100), (9, 30)]);
    assert_eq!(rows(&red.boards.first.pk_value), vec![(71, 100), (70, 100), (72, 30)]);
    assert_eq!(rows(&red.boards.second.contribute), vec![(5, 50)]);
    assert_eq!(rows(&red.boards.second.pk_value), vec![(50, 50)]);
    assert_eq!(red.profiles[&UserId::from_trusted(7)].nick, "fan 7");
    // A room never in a PK has none.
    assert!(world.room_state(THIRD).await.pk.is_none());
    // Once over the PK is still shown, with its final numbers.
    let pkid = world.pkid_of(RED).await;
    world.finish(RED, pkid).await.unwrap();
    assert!(!world.gift(BLUE, 5, 50, 500).await, "no gift counts once it is over");
    let over = world.room_state(BLUE).await.pk.unwrap().pk;
    assert_eq!(over.phase, livepk_battle::PhaseName::Closed);
    assert_eq!((over.scores.first, over.scores.second, over.winner), (230, 50, Some(Side::First)));
}
