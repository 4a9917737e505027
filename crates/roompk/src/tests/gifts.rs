//! Gifts through the engine's real ledger: a gift to a seated user counts for the team of the
//! seat they hold when it is recorded — the sender's contribution on the team's contribution
//! board, the receiver's PK value on the team's PK-value board and the team total —, a gift to
//! anyone else for no team; exactly once per txn id; ties rank the first to reach a total
//! higher; each user's running totals add up across battles; a second battle starts from zero.
//! Also the deadline's own steps (AddTime keeping the pkid, the record), and forced closes.

use livepk_battle::Sides;

use super::*;

/// Operator named, 21 on red 11, 22 on blue 15, 23 on no seat; a 60 s battle (pkid 1) started.
async fn battling() -> World {
    let mut world = World::new().await;
    world.set_operator(OPERATOR).await;
    world.take(21, 11).await.unwrap();
    world.take(22, 15).await.unwrap();
    world.start(60).await.unwrap();
    world.last.clear();
    world
}

fn rows(rows: &[(u64, u64)]) -> Vec<TeamRow> {
    rows.iter().map(|&(user_id, value)| TeamRow { user_id: user(user_id), value }).collect()
}

#[tokio::test]
async fn a_gift_scores_for_the_team_of_the_receivers_seat() {
    let mut world = battling().await;
    let outcome = world.gift_txn("red-1", 31, 21, 5).await;
    assert!(!outcome.duplicate);
    let [change] = outcome.changes.as_slice() else { panic!("{outcome:?}") };
    assert_eq!((change.mode, change.side.as_str(), change.receiver_id), (Mode::RoomPk, "red", 21));
    assert_eq!((change.pkid, change.side_total, change.sender_total), (1, 5, 5));
    assert_eq!(world.nts(), "score(red r:5 b:0 31=5)>r900");

    assert_eq!(world.gift(32, 22, 7).await.as_deref(), Some("blue"));
    assert_eq!(world.nts(), "score(blue r:5 b:7 32=7)>r900");
    // 23 holds no PK seat: no team, nothing moves, nothing is told.
    assert_eq!(world.gift(33, 23, 100).await, None);
    assert!(world.last.is_empty());
    // Another red gift from 31, to 21 again.
    assert_eq!(world.gift(31, 21, 4).await.as_deref(), Some("red"));

    let state = world.state().await;
    let battle = state.battle.unwrap();
    assert_eq!((battle.scores.first, battle.scores.second), (9, 7));
    assert_eq!(state.boards.contribution, Sides::new(rows(&[(31, 9)]), rows(&[(32, 7)])));
    assert_eq!(state.boards.pk_value, Sides::new(rows(&[(21, 9)]), rows(&[(22, 7)])));
    let profiles =
        world.adapter.gifter_profiles(room_id(ROOM), &[user(31), user(33)]).await.unwrap();
    assert_eq!(profiles[&user(31)].nick, "fan 31");
    assert!(!profiles.contains_key(&user(33)), "an uncounted gift stores no profile");

    let receiver = world.user_totals(21).await;
    assert_eq!((receiver.total_pk_value, receiver.pk_value), (9, 9));
    assert_eq!(receiver.location, Some(location(11)));
    let sender = world.user_totals(31).await;
    assert_eq!((sender.total_contribute_value, sender.contribute_value), (9, 9));
    assert_eq!((sender.total_pk_value, sender.location), (0, None));
    assert_eq!(world.user_totals(23).await.total_pk_value, 0);
}

#[tokio::test]
async fn a_replayed_txn_counts_once() {
    let mut world = battling().await;
    let first = world.gift_txn("once", 31, 21, 5).await;
    let again = world.gift_txn("once", 31, 21, 5).await;
    assert!(again.duplicate);
    assert_eq!(again.changes, first.changes);
    assert!(world.last.is_empty(), "a duplicate tells nobody");
    // Even after 21 moved to blue, the replay answers what the first call did.
    world.leave(21, 11).await.unwrap();
    world.take(21, 16).await.unwrap();
    let replay = world.gift_txn("once", 31, 21, 5).await;
    assert!(replay.duplicate);
    assert_eq!(team_of(&replay).as_deref(), Some("red"));
    let state = world.state().await;
    assert_eq!(state.battle.unwrap().scores, livepk_battle::Scores::new(5, 0));
    assert_eq!(world.user_totals(21).await.total_pk_value, 5);
    assert_eq!(world.user_totals(31).await.total_contribute_value, 5);
}

#[tokio::test]
async fn a_user_moving_seat_mid_battle_scores_for_the_new_team() {
    let mut world = battling().await;
    assert_eq!(world.gift(31, 21, 5).await.as_deref(), Some("red"));
    world.leave(21, 11).await.unwrap();
    // Between the seats: no team.
    assert_eq!(world.gift(31, 21, 50).await, None);
    world.take(21, 16).await.unwrap();
    assert_eq!(world.gift(31, 21, 3).await.as_deref(), Some("blue"));
    let state = world.state().await;
    assert_eq!(state.battle.unwrap().scores, livepk_battle::Scores::new(5, 3));
    assert_eq!(state.boards.pk_value, Sides::new(rows(&[(21, 5)]), rows(&[(21, 3)])));
    assert_eq!(state.boards.contribution, Sides::new(rows(&[(31, 5)]), rows(&[(31, 3)])));
    let totals = world.user_totals(21).await;
    assert_eq!((totals.pk_value, totals.total_pk_value), (8, 8));
    assert_eq!(totals.location, Some(location(16)));
    // A disabled seat's user still scores.
    world
        .seat(16, SeatCommand::Disable { operator: user(OPERATOR), disabled: true })
        .await
        .unwrap();
    assert_eq!(world.gift(32, 21, 1).await.as_deref(), Some("blue"));
}

#[tokio::test]
async fn a_board_tie_ranks_the_first_to_reach_the_total_higher() {
    let mut world = battling().await;
    world.hold_up(23, 12).await.unwrap();
    // 32 reaches 10 first, 31 only later: 32 ranks first. 23 reaches 10 before 21 does.
    world.gift(32, 23, 10).await;
    world.gift(31, 21, 4).await;
    world.gift(31, 21, 6).await;
    let state = world.state().await;
    assert_eq!(state.boards.contribution.first, rows(&[(32, 10), (31, 10)]));
    assert_eq!(state.boards.pk_value.first, rows(&[(23, 10), (21, 10)]));
    // One more point puts 31 ahead.
    world.gift(31, 23, 1).await;
    assert_eq!(world.nts(), "score(red r:21 b:0 31=11)>r900");
    let state = world.state().await;
    assert_eq!(state.boards.contribution.first, rows(&[(31, 11), (32, 10)]));
    assert_eq!(state.boards.pk_value.first, rows(&[(23, 11), (21, 10)]));
}

#[tokio::test]
async fn boards_list_the_top_20() {
    let mut world = battling().await;
    for sender in 100..125 {
        world.gift(sender, 21, sender - 99).await;
    }
    let state = world.state().await;
    let red = &state.boards.contribution.first;
    assert_eq!(red.len(), BOARD_SIZE);
    assert_eq!(red.first(), Some(&TeamRow { user_id: user(124), value: 25 }));
    assert_eq!(red.last(), Some(&TeamRow { user_id: user(105), value: 6 }));
}

#[tokio::test]
async fn gifts_count_only_in_the_scoring_window_by_their_send_time() {
    let mut world = World::new().await;
    world.set_operator(OPERATOR).await;
    world.take(21, 11).await.unwrap();
    // No battle yet.
    assert_eq!(world.gift(31, 21, 5).await, None);
    world.start(60).await.unwrap();
    let deadline = START_MS + 60_000;
    // Sent before the start.
    assert!(world.gift_at("early", 31, 21, 5, START_MS - 1).await.changes.is_empty());
    world.advance_secs(61);
    // Sent in time, recorded after the deadline but before its job ran: counts.
    assert_eq!(
        team_of(&world.gift_at("in-time", 31, 21, 5, deadline - 1).await).as_deref(),
        Some("red")
    );
    // Sent at the deadline: too late.
    assert!(world.gift_at("late", 31, 21, 5, deadline).await.changes.is_empty());
    world.fire_due_timers().await;
    // Settled: nothing counts any more, whatever its time.
    assert!(world.gift_at("after", 31, 21, 5, deadline - 2).await.changes.is_empty());
    assert_eq!(world.battle_line().await, "punishment#1 r:5 b:0 won:red");
    assert_eq!(world.user_totals(21).await.total_pk_value, 5);
}

#[tokio::test]
async fn running_totals_add_up_across_battles_and_a_second_battle_starts_from_zero() {
    let mut world = battling().await;
    world.gift(31, 21, 5).await;
    world.gift(31, 22, 2).await;
    world.finish().await.unwrap();
    let first = world.state().await;
    assert_eq!(first.battle.as_ref().unwrap().phase, PhaseName::Closed);
    assert_eq!(first.boards.contribution.first, rows(&[(31, 5)]), "the last battle stays readable");

    let second = world.start(60).await.unwrap();
    assert_eq!(second.pkid, PkId::from_trusted(2));
    let state = world.state().await;
    let battle = state.battle.unwrap();
    assert_eq!((battle.scores.first, battle.scores.second, battle.settled), (0, 0, false));
    assert_eq!(state.boards, Boards::default(), "boards start from zero");
    assert_eq!(render_seats(&state.room), "11:21 15:22", "the seats stay as arranged");
    let fresh = world.user_totals(31).await;
    assert_eq!((fresh.contribute_value, fresh.total_contribute_value), (0, 7));

    world.gift(31, 22, 4).await;
    let totals = world.user_totals(31).await;
    assert_eq!((totals.contribute_value, totals.total_contribute_value), (4, 11));
    assert_eq!(world.user_totals(22).await.total_pk_value, 6);
    assert_eq!(world.user_totals(21).await.total_pk_value, 5);
}

#[tokio::test]
async fn the_deadline_settles_then_the_punishment_ends_the_battle() {
    let mut world = battling().await;
    world.advance_secs(1);
    world.gift(31, 22, 8).await;
    world.gift(32, 21, 3).await;
    world.advance_secs(59);
    assert_eq!(world.fire_due_timers().await, 1);
    assert_eq!(world.nts(), "result(blue r:3 b:8)>r900");
    let punished = world.state().await.battle.unwrap();
    assert_eq!(punished.phase, PhaseName::Punishment);
    assert_eq!(punished.phase_deadline_ms, START_MS + 60_000 + 120_000);
    assert_eq!(punished.ended_by, Some(livepk_battle::EndedBy::Deadline));
    let records = world.new_records().await;
    assert_eq!(
        records,
        vec![SettledView {
            pkid: PkId::from_trusted(1),
            ended_by: "deadline".into(),
            teams: vec![("blue".into(), 8), ("red".into(), 3)],
            winner_id: ROOM,
            start_ms: START_MS,
            end_ms: START_MS + 60_000,
        }]
    );
    // The room is still held during the punishment; seats still change.
    world.take(23, 12).await.unwrap();
    world.advance_secs(120);
    world.fire_due_timers().await;
    assert_eq!(world.nts(), "over>r900");
    assert_eq!(world.battle_line().await, "closed#1 r:3 b:8 won:blue");
    assert!(livepk_battle::BattleState::stage(&world.battle().await.unwrap()).is_empty());
    // The record's safety-net job finds it written: still one record.
    world.advance_secs(10);
    world.fire_due_timers().await;
    assert_eq!(world.records().await.len(), 1);
    assert_eq!(world.kit.engine().store.job_count().await.unwrap(), 0);
}

#[tokio::test]
async fn no_punishment_when_it_is_configured_off() {
    let mut world = battling().await;
    world.set_config("roompk.punish_seconds", 0).await;
    world.gift(31, 21, 1).await;
    world.advance_secs(60);
    world.fire_due_timers().await;
    assert_eq!(world.nts(), "result(red r:1 b:0)>r900 over>r900");
    assert_eq!(world.battle_line().await, "closed#1 r:1 b:0 won:red");
}

#[tokio::test]
async fn add_time_keeps_the_pkid_and_moves_the_deadline() {
    let mut world = battling().await;
    world.advance_secs(50);
    let info = world.add_time(30).await.unwrap();
    assert_eq!(info.pkid, PkId::from_trusted(1));
    assert_eq!((info.countdown_ms, info.phase_deadline_ms), (90_000, START_MS + 90_000));
    // The old deadline's job comes early: nothing settles, it waits for the new deadline.
    world.advance_secs(10);
    world.gift(31, 21, 2).await;
    world.fire_due_timers().await;
    assert!(world.last.is_empty());
    assert_eq!(world.battle_line().await, "scoring#1 r:2 b:0");
    world.advance_secs(30);
    world.fire_due_timers().await;
    assert_eq!(world.nts(), "result(red r:2 b:0)>r900");
    let records = world.new_records().await;
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].pkid.get(), records[0].end_ms), (1, START_MS + 90_000));
}

#[tokio::test]
async fn an_operator_force_closes_the_running_battle() {
    let mut world = battling().await;
    world.gift(31, 22, 3).await;
    let record = world.force_close(PkId::from_trusted(1)).await.unwrap().unwrap();
    assert_eq!((record.ended_by.as_str(), record.winner_id), ("admin", ROOM));
    assert_eq!(record.participants[0].side, "blue");
    assert_eq!(world.nts(), "result(blue r:0 b:3)>r900 over>r900");
    assert_eq!(world.battle_line().await, "closed#1 r:0 b:3 won:blue");
}

#[tokio::test]
async fn a_forced_close_naming_an_earlier_battle_leaves_the_current_one_alone() {
    let mut world = battling().await;
    world.finish().await.unwrap();
    let second = world.start(60).await.unwrap();
    world.gift(31, 21, 2).await;
    // Battle 1 is over; its pkid names nothing to close any more.
    assert_eq!(world.force_close(PkId::from_trusted(1)).await.unwrap(), None);
    assert!(world.last.is_empty());
    assert_eq!(world.battle_line().await, "scoring#2 r:2 b:0");
    // The current battle's own pkid closes it.
    let record = world.force_close(second.pkid).await.unwrap().expect("settled");
    assert_eq!((record.pkid, record.ended_by.as_str()), (second.pkid, "admin"));
    assert_eq!(world.battle_line().await, "closed#2 r:2 b:0 won:red");
}

#[tokio::test]
async fn the_record_job_of_an_earlier_battle_still_writes_once_a_later_one_runs() {
    // As if battle 1's record write right after its commit had failed: its safety-net job is
    // delivered while battle 2 stands in the room (the engine asks `holds_pkid`).
    let mut world = battling().await;
    world.gift(31, 21, 4).await;
    world.finish().await.unwrap();
    world.start(60).await.unwrap();
    let mut record = world.kit.records().await.remove(0);
    assert_eq!(record.pkid, PkId::from_trusted(1));
    // A pkid the database has not seen (the real one was written), of an earlier battle.
    record.pkid = PkId::from_trusted(99);
    let job = serde_json::json!({ "battle": ROOM, "record": record });
    let body = serde_json::to_vec(&job).unwrap();
    let now = world.now();
    world
        .kit
        .engine()
        .timers
        .schedule(livepk_engine::RECORD_TOPIC, "record:roompk:99", now, body)
        .await
        .unwrap();
    world.fire_due_timers().await;
    let pkids: Vec<u64> = world.records().await.iter().map(|record| record.pkid.get()).collect();
    assert_eq!(pkids, vec![1, 99]);
    assert_eq!(world.battle_line().await, "scoring#2 r:0 b:0", "the current battle is untouched");
}
