//! One room, one battle, across modes (SPEC §5a), with the test kit's duels standing in for the
//! other modes: [`StageDuel`] takes its room's stage as RoomPk and AcrossPk do, [`SideDuel`] runs
//! alongside as GiftPk does. A room in a LinkCallPk link is busy for the others and the other way
//! round (025 naming the holding mode and pkid); a gift counts once in every battle it belongs
//! to, and a retry is a duplicate for all of them.

use livepk_battle::Sides;
use livepk_core::{Mode, codes};
use livepk_engine::testkit::duel::{DuelAdapter, SideDuel, StageDuel};

use super::*;

struct Rooms {
    world: World,
    stage: Arc<DuelAdapter<StageDuel>>,
    side: Arc<DuelAdapter<SideDuel>>,
}

/// LinkCallPk and both duels on one engine; anchors 1, 2, 3 open (rooms 101, 102, 103).
async fn rooms() -> Rooms {
    rooms_on(Arc::new(livepk_store::MemoryStore::new(Default::default()))).await
}

/// [`rooms`] on `store`.
async fn rooms_on(store: Arc<dyn livepk_store::Store>) -> Rooms {
    let (mut linkcall, mut stage, mut side) = (None, None, None);
    let kit = TestKit::on_store(store, &CONFIG_KEYS, |engine| {
        let adapter = LinkCallAdapter::new(engine.clone(), Arc::new(JsonEncoder));
        let stage_duel = DuelAdapter::<StageDuel>::new(engine.clone());
        let side_duel = DuelAdapter::<SideDuel>::new(engine.clone());
        let parts = vec![adapter.parts(), stage_duel.parts(), side_duel.parts()];
        (linkcall, stage, side) = (Some(adapter), Some(stage_duel), Some(side_duel));
        parts
    })
    .await;
    let mut world =
        World { kit, adapter: linkcall.expect("built"), last: Last::default(), records_seen: 0 };
    for raw in [HOST, GUEST, OTHER] {
        world.profile(raw, 5).await;
        world.open(raw).await.expect("open");
    }
    Rooms { world, stage: stage.expect("built"), side: side.expect("built") }
}

fn gifts() -> Sides<GiftId> {
    Sides::new(GiftId::from_trusted(7), GiftId::from_trusted(8))
}

/// The 025 refusal's holder, from its metadata.
fn holder(error: &EngineError) -> (String, String) {
    let business = error.as_business().expect("a refusal");
    assert_eq!(business.business_code(), codes::ANCHOR_IN_PK, "{error}");
    let details: BTreeMap<String, String> = business.details().into_iter().collect();
    (details["holding_mode"].clone(), details["holding_pkid"].clone())
}

#[tokio::test]
async fn a_room_in_a_link_is_busy_for_another_stage_mode_until_the_link_closes() {
    let Rooms { mut world, stage, side } = rooms().await;
    world.link(HOST, GUEST).await.unwrap();
    let confirmed = world.agree(GUEST, HOST).await.unwrap();
    let pkid = confirmed.pkid.unwrap();

    // Both rooms of the link are taken, whatever the link's phase.
    for room in [sid_of(HOST), sid_of(GUEST)] {
        let error = stage.start(room, gifts(), 60, None).await.unwrap_err();
        assert_eq!(holder(&error), ("linkcall".into(), pkid.to_string()));
    }
    world.start(HOST, GUEST).await.unwrap();
    let error = stage.start(sid_of(HOST), gifts(), 60, None).await.unwrap_err();
    assert_eq!(holder(&error).0, "linkcall");
    // A mode that runs alongside is not refused, and the third room is free.
    side.start(sid_of(HOST), gifts(), 60, None).await.unwrap();
    stage.start(sid_of(OTHER), gifts(), 60, None).await.unwrap();

    // The close gives both rooms back.
    world.close(HOST, GUEST).await.unwrap();
    stage.start(sid_of(HOST), gifts(), 60, None).await.unwrap();
    stage.start(sid_of(GUEST), gifts(), 60, None).await.unwrap();
}

#[tokio::test]
async fn an_anchor_whose_room_is_in_another_mode_is_busy_for_linkcall() {
    let Rooms { mut world, stage, .. } = rooms().await;
    // A popup raised before the other mode took the room: the agree is refused, nothing moves.
    world.link(HOST, OTHER).await.unwrap();
    let duel_pkid = stage.start(sid_of(OTHER), gifts(), 60, None).await.unwrap();
    let before = world.state().await;
    let error = world.agree(OTHER, HOST).await.unwrap_err();
    assert_eq!(holder(&error.0), ("acrosspk".into(), duel_pkid.to_string()));
    assert_eq!(world.state().await, before, "a refused agree changes nothing");

    // Linking an anchor whose room is taken is refused at once.
    world.advance_secs(16);
    world.fire_due_timers().await;
    let error = world.link(GUEST, OTHER).await.unwrap_err();
    assert_eq!(holder(&error.0), ("acrosspk".into(), duel_pkid.to_string()));
    let error = world.link(OTHER, GUEST).await.unwrap_err();
    assert_eq!(holder(&error.0).0, "acrosspk");

    // Once the duel is over its room is free again.
    stage.finish(sid_of(OTHER)).await.unwrap();
    world.link(GUEST, OTHER).await.unwrap();
    world.agree(OTHER, GUEST).await.unwrap();
    assert_eq!(world.battle_summary().await, "linked#2");
}

#[tokio::test]
async fn the_deadline_gives_a_finished_battles_room_back() {
    let Rooms { mut world, stage, .. } = rooms().await;
    stage.start(sid_of(OTHER), gifts(), 60, None).await.unwrap();
    assert!(world.link(HOST, OTHER).await.is_err());
    world.advance_secs(60);
    world.fire_due_timers().await;
    world.link(HOST, OTHER).await.unwrap();
}

#[tokio::test]
async fn one_gift_counts_once_in_every_battle_it_belongs_to() {
    let Rooms { mut world, side, .. } = rooms().await;
    world.link(HOST, GUEST).await.unwrap();
    world.agree(GUEST, HOST).await.unwrap();
    world.start(HOST, GUEST).await.unwrap();
    side.start(sid_of(HOST), gifts(), 60, None).await.unwrap();

    let gift = |txn: &str, gift_id: u64, unit_value: u64, now: u64| Gift {
        gift_txn_id: txn.into(),
        sender: SenderProfile {
            user_id: user(77),
            user_nick: "fan".into(),
            user_icon: String::new(),
            user_level: 1,
            user_wealth: 1,
        },
        receiver_id: ReceiverId::from(singer(HOST)),
        room_sid: sid_of(HOST),
        gift_id: GiftId::from_trusted(gift_id),
        gift_count: 1,
        unit_value,
        sent_at_ms: now,
        show_id: None,
        call_id: None,
    };
    let ledger = world.kit.runtime.ledger.clone();
    let now = world.now();
    let first = ledger.record(&gift("g-1", 7, 30, now)).await.unwrap();
    let mut counted: Vec<(&str, String, i64)> =
        first.changes.iter().map(|c| (c.mode.as_str(), c.side.clone(), c.side_total)).collect();
    counted.sort();
    assert_eq!(
        counted,
        vec![("giftpk", "first".into(), 30), ("linkcall", "host".into(), 30)],
        "the gift counts in the link (to the host) and in the room's duel (for its gift)"
    );
    assert!(!first.duplicate);

    // A retry is a duplicate for both, with the same answer.
    let again = ledger.record(&gift("g-1", 7, 30, now)).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.changes, first.changes);
    // A gift of the duel's other gift id counts there for the second side, and in the link.
    let second = ledger.record(&gift("g-2", 8, 5, now)).await.unwrap();
    assert_eq!(second.changes.len(), 2);
    assert_eq!(world.scores_of(HOST).await, Scores::new(35, 0));
    let (_, duel) = side.scores(sid_of(HOST)).await.unwrap().unwrap();
    assert_eq!(duel, Scores::new(30, 5));
}

#[tokio::test]
async fn a_gift_can_end_a_battle_once_however_often_it_is_retried() {
    let Rooms { mut world, side, .. } = rooms().await;
    let pkid = side.start(sid_of(OTHER), gifts(), 60, Some(50)).await.unwrap();
    let gift = Gift {
        gift_txn_id: "finisher".into(),
        sender: SenderProfile {
            user_id: user(5),
            user_nick: String::new(),
            user_icon: String::new(),
            user_level: 1,
            user_wealth: 1,
        },
        receiver_id: ReceiverId::from(singer(OTHER)),
        room_sid: sid_of(OTHER),
        gift_id: GiftId::from_trusted(8),
        gift_count: 5,
        unit_value: 10,
        sent_at_ms: world.now(),
        show_id: None,
        call_id: None,
    };
    let ledger = world.kit.runtime.ledger.clone();
    ledger.record(&gift).await.unwrap();
    let records = world.kit.records().await;
    assert_eq!(records.len(), 1, "the gift that reached 50 ended the duel");
    assert_eq!((records[0].mode, records[0].pkid), (Mode::GiftPk, pkid));
    assert_eq!(records[0].winner_id, 8);
    assert_eq!(records[0].ended_by, "close");
    // The retry changes nothing and ends nothing again.
    assert!(ledger.record(&gift).await.unwrap().duplicate);
    assert_eq!(world.kit.records().await.len(), 1);
    world.advance_secs(60);
    world.fire_due_timers().await;
    assert_eq!(world.kit.records().await.len(), 1, "the deadline finds it over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirm_that_loses_a_race_for_its_anchors_still_takes_the_rooms() {
    // Each round an OpenFunction of the host races the guest's agree: when it writes the host
    // between the agree's read and its write, the agree's battle is written but its anchors lose
    // the compare-and-set, and the agree runs again with a new battle. The first attempt's room
    // claims must not block the second. On Redis, so that the two commands' round trips
    // interleave (the in-process store answers without ever yielding).
    let store = livepk_engine::testkit::redis_store(&livepk_engine::testkit::fresh_prefix()).await;
    let Rooms { mut world, .. } = rooms_on(store).await;
    let adapter = world.adapter.clone();
    for round in 0..20u64 {
        let (host, guest) = (10 + 2 * round, 11 + 2 * round);
        for raw in [host, guest] {
            world.profile(raw, 5).await;
            world.open(raw).await.expect("open");
        }
        world.link(host, guest).await.expect("link");
        let request = OpenFunctionRequest { singer_id: singer(host), singer_sid: sid_of(host) };
        let (agreed, reopened) = tokio::join!(
            adapter.confirm(singer(guest), singer(host), true),
            adapter.open_function(request)
        );
        reopened.expect("reopening an open function");
        let agreed = agreed.unwrap_or_else(|error| panic!("round {round}: {error}"));
        assert_eq!(agreed.pk_state, PkState::Yes, "round {round}");
        let battle = world.battle_of(host).await.expect("the host points at its battle");
        assert_eq!(battle.pkid(), agreed.pkid.unwrap(), "round {round}");
    }
    // The race happened: the battles of lost attempts were closed as abandoned, none left open.
    let engine = world.kit.engine();
    let mut abandoned = 0;
    for id in 1..=200 {
        let Some((battle, _)) =
            engine.read_battle(&*world.adapter, BattleId::new(id)).await.expect("read")
        else {
            continue;
        };
        match battle.round.phase {
            livepk_battle::Phase::Closed {
                ended_by: livepk_battle::EndedBy::Abandoned, ..
            } => {
                abandoned += 1;
            }
            phase => assert_eq!(phase, livepk_battle::Phase::Idle, "battle {id}"),
        }
    }
    assert!(abandoned > 0, "no agree lost its race: the test proved nothing this time");
}
