//! The engine on its own, driven through the test kit's duels: deadlines settle once and write
//! their record, a finish racing the deadline gives one verdict, operators force-close by pkid,
//! score changes are notified, and a room's stage is freed by its battle's end even when the
//! holder record was never released.

use std::sync::Arc;

use livepk_battle::{BattleId, Scores, Sides};
use livepk_core::{
    BusinessError, Gift, GiftId, Mode, PkId, ReceiverId, RoomSid, SenderProfile, UserId, codes,
};
use livepk_engine::testkit::TestKit;
use livepk_engine::testkit::duel::{DuelAdapter, SideDuel, StageDuel};
use livepk_engine::{EngineError, ModeBinding};
use livepk_store::{Op, Transaction};

struct Kit {
    kit: TestKit,
    stage: Arc<DuelAdapter<StageDuel>>,
    side: Arc<DuelAdapter<SideDuel>>,
}

async fn kit() -> Kit {
    let (mut stage, mut side) = (None, None);
    let kit = TestKit::new(&[], |engine| {
        let (stage_duel, side_duel) = (
            DuelAdapter::<StageDuel>::new(engine.clone()),
            DuelAdapter::<SideDuel>::new(engine.clone()),
        );
        let parts = vec![stage_duel.parts(), side_duel.parts()];
        (stage, side) = (Some(stage_duel), Some(side_duel));
        parts
    })
    .await;
    Kit { kit, stage: stage.expect("built"), side: side.expect("built") }
}

const ROOM: u64 = 500;

fn room() -> RoomSid {
    RoomSid::from_trusted(ROOM)
}

fn gifts() -> Sides<GiftId> {
    Sides::new(GiftId::from_trusted(1), GiftId::from_trusted(2))
}

fn gift(txn: &str, gift_id: u64, value: u64, sent_at_ms: u64) -> Gift {
    Gift {
        gift_txn_id: txn.into(),
        sender: SenderProfile {
            user_id: UserId::from_trusted(9),
            user_nick: "fan".into(),
            user_icon: String::new(),
            user_level: 1,
            user_wealth: 1,
        },
        receiver_id: ReceiverId::from_trusted(1),
        room_sid: room(),
        gift_id: GiftId::from_trusted(gift_id),
        gift_count: 1,
        unit_value: value,
        sent_at_ms,
        show_id: None,
        call_id: None,
    }
}

fn code(error: &EngineError) -> u32 {
    error.as_business().map_or(0, BusinessError::business_code)
}

#[tokio::test]
async fn a_deadline_settles_once_and_writes_the_record() {
    let Kit { kit, stage, .. } = kit().await;
    let pkid = stage.start(room(), gifts(), 60, None).await.unwrap();
    let ledger = kit.runtime.ledger.clone();
    ledger.record(&gift("a", 1, 30, kit.now_ms())).await.unwrap();
    ledger.record(&gift("b", 2, 10, kit.now_ms())).await.unwrap();
    kit.advance_secs(59);
    assert_eq!(kit.fire_due_timers().await, 0, "nothing is due before the deadline");
    kit.advance_secs(1);
    assert_eq!(kit.fire_due_timers().await, 1, "the scoring deadline");
    let records = kit.records().await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(
        (record.mode, record.pkid, record.ended_by.as_str()),
        (Mode::AcrossPk, pkid, "deadline")
    );
    assert_eq!((record.participants[0].score, record.participants[1].score), (30, 10));
    assert_eq!(record.winner_id, 1);
    assert_eq!(record.end_ms, livepk_engine::testkit::START_MS + 60_000);
    // A gift sent after the deadline does not count; the job does not fire again.
    let late = ledger.record(&gift("c", 1, 5, kit.now_ms())).await.unwrap();
    assert!(late.changes.is_empty(), "{late:?}");
    kit.advance_secs(3600);
    assert_eq!(kit.fire_due_timers().await, 1, "only the record's safety net is left");
    assert_eq!(kit.records().await.len(), 1);
}

/// Both orders of a finish and the deadline job (on the in-process store the two do not
/// interleave; the LinkCall races and the root package's race tests run them concurrently on
/// Redis).
#[tokio::test]
async fn a_finish_racing_the_deadline_gives_one_verdict() {
    for finish_first in [true, false] {
        let Kit { kit, stage, .. } = kit().await;
        stage.start(room(), gifts(), 60, None).await.unwrap();
        kit.runtime.ledger.record(&gift("a", 2, 7, kit.now_ms())).await.unwrap();
        kit.advance_secs(60);
        let (finished, fired) = if finish_first {
            let finished = stage.finish(room()).await;
            (finished, kit.fire_due_timers().await)
        } else {
            let (fired, finished) = tokio::join!(kit.fire_due_timers(), stage.finish(room()));
            (finished, fired)
        };
        let records = kit.records().await;
        assert_eq!(records.len(), 1, "finish first: {finish_first}, fired {fired}");
        assert_eq!(records[0].winner_id, 2);
        match finished {
            Ok(Some(settled)) => assert_eq!(records[0].ended_by, "close", "{settled:?}"),
            Ok(None) => panic!("a finish that settles answers its record"),
            Err(error) => {
                assert_eq!(code(&error), codes::PK_OVER, "{error}");
                assert_eq!(records[0].ended_by, "deadline");
            }
        }
    }
}

#[tokio::test]
async fn operators_force_close_by_pkid() {
    let Kit { kit, side, .. } = kit().await;
    let pkid = side.start(room(), gifts(), 600, None).await.unwrap();
    kit.runtime.ledger.record(&gift("a", 1, 4, kit.now_ms())).await.unwrap();
    kit.advance_secs(10);
    let engine = kit.engine();
    let record = engine.force_close(Mode::GiftPk, pkid, "test").await.unwrap().expect("settled");
    assert_eq!((record.pkid, record.ended_by.as_str(), record.winner_id), (pkid, "admin", 1));
    assert_eq!(record.end_ms, livepk_engine::testkit::START_MS + 10_000);
    assert_eq!(kit.records().await.len(), 1);
    // Closing a closed battle settles nothing; an unknown pkid or mode names the field.
    assert_eq!(engine.force_close(Mode::GiftPk, pkid, "again").await.unwrap(), None);
    let error = engine.force_close(Mode::GiftPk, PkId::from_trusted(99), "x").await.unwrap_err();
    assert_eq!(error.as_business().and_then(|e| e.field()), Some("pkid"));
    let error = engine.force_close(Mode::RoomPk, pkid, "x").await.unwrap_err();
    assert_eq!(error.as_business().and_then(|e| e.field()), Some("mode"));
}

#[tokio::test]
async fn score_changes_are_notified_with_the_latest_totals() {
    let Kit { kit, side, .. } = kit().await;
    side.start(room(), gifts(), 600, None).await.unwrap();
    kit.take_events().await;
    kit.runtime.ledger.record(&gift("a", 1, 4, kit.now_ms())).await.unwrap();
    kit.runtime.ledger.record(&gift("b", 2, 6, kit.now_ms())).await.unwrap();
    let notes: Vec<String> = kit
        .take_events()
        .await
        .iter()
        .map(|payload| {
            let (mode, _, note): (String, u64, serde_json::Value) =
                serde_json::from_slice(payload).expect("a duel event");
            format!("{mode} {}", note["text"].as_str().expect("text"))
        })
        .collect();
    assert_eq!(notes, vec!["giftpk score 4:0", "giftpk score 4:6"]);
    assert_eq!(
        side.scores(room()).await.unwrap().map(|(_, scores)| scores),
        Some(Scores::new(4, 6))
    );
}

#[tokio::test]
async fn a_room_whose_battle_is_gone_is_free_though_never_released() {
    let Kit { kit, stage, .. } = kit().await;
    stage.start(room(), gifts(), 600, None).await.unwrap();
    let error = stage.start(room(), gifts(), 600, None).await.unwrap_err();
    assert_eq!(code(&error), codes::ANCHOR_IN_PK, "one duel per room: {error}");
    // The battle vanishes (an operator's hand, data loss) without its room being released.
    let battle_tag = ModeBinding::battle_tag(&*stage, BattleId::new(1));
    kit.engine()
        .store
        .commit(Transaction::new(battle_tag).op(Op::Delete { name: "battle".into() }))
        .await
        .unwrap();
    // The holder points at a battle that does not hold the room: the room is free.
    let pkid = stage.start(room(), gifts(), 600, None).await.unwrap();
    // And the new battle holds it against another mode's claim, naming itself.
    let side = kit.engine();
    let details = livepk_engine::stage::check(side, Mode::LinkCall, &[room()])
        .await
        .unwrap_err()
        .as_business()
        .map(BusinessError::details)
        .unwrap_or_default();
    assert!(details.contains(&("holding_mode".into(), "acrosspk".into())), "{details:?}");
    assert!(details.contains(&("holding_pkid".into(), pkid.to_string())), "{details:?}");
}

#[tokio::test]
async fn a_gift_sent_in_a_paid_call_is_recorded_once_and_scores_nowhere() {
    let Kit { kit, stage, side } = kit().await;
    stage.start(room(), gifts(), 600, None).await.unwrap();
    side.start(room(), gifts(), 600, None).await.unwrap();
    // The same room, receiver and gift as a counting one, but sent inside a 1:1 call.
    let mut paid = gift("call-1", 1, 30, kit.now_ms());
    paid.call_id = Some(77);
    paid.show_id = Some(ROOM);
    let first = kit.runtime.ledger.record(&paid).await.unwrap();
    assert!(first.changes.is_empty() && !first.duplicate, "{first:?}");
    let again = kit.runtime.ledger.record(&paid).await.unwrap();
    assert!(again.changes.is_empty() && again.duplicate, "{again:?}");
    let counted = kit.runtime.ledger.record(&gift("room-1", 1, 30, kit.now_ms())).await.unwrap();
    assert_eq!(counted.changes.len(), 2, "the room's gift counts in both: {counted:?}");
    for scores in [stage.scores(room()).await.unwrap(), side.scores(room()).await.unwrap()] {
        assert_eq!(scores.map(|(_, scores)| scores), Some(Scores::new(30, 0)));
    }
}
