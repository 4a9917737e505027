//! Races on a real Redis (under a fresh key prefix, so the commands' round trips really
//! interleave): two users taking one seat (and one user two seats), seat changes racing gifts
//! (the gift let off after 0 to 11 round trips, so it meets the moves before, between and after
//! them), Finish racing the deadline (each side started first in turn) — each round ending in
//! one consistent outcome.

use futures::future::join;
use livepk_battle::Scores;
use livepk_engine::testkit::{fresh_prefix, redis_store};

use super::*;

async fn on_redis() -> World {
    let mut world = World::on_store(redis_store(&fresh_prefix()).await).await;
    world.set_operator(OPERATOR).await;
    world
}

fn request(at: u32, command: SeatCommand) -> SeatRequest {
    SeatRequest { room_id: room_id(ROOM), location: location(at), command }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_taking_one_seat_one_wins() {
    let world = on_redis().await;
    for (round, at) in Location::ALL.iter().enumerate() {
        let (a, b) = (user(100 + 2 * round as u64), user(101 + 2 * round as u64));
        let take =
            |who| world.adapter.operate_seat(request(at.get(), SeatCommand::Take { user: who }));
        let (first, second) = join(take(a), take(b)).await;
        let room = world.room().await;
        let holder = room.seat(*at).user_id.expect("one of them sits");
        let (won, lost) = match (first, second) {
            (Ok(won), Err(lost)) => (won, Refusal(lost)),
            (Err(lost), Ok(won)) => (won, Refusal(lost)),
            other => panic!("seat {at}: exactly one may win: {other:?}"),
        };
        assert_eq!(won.seat.user_id, Some(holder));
        assert_eq!(short_code(&lost), "202", "seat {at}");
        let details: Vec<(String, String)> = lost.details();
        assert_eq!(details[1], ("user_id".into(), holder.to_string()));
    }
    // The same user racing for two seats: one seat, the other answer 203.
    let world = on_redis().await;
    let racer = user(90);
    let take = |at: u32| world.adapter.operate_seat(request(at, SeatCommand::Take { user: racer }));
    let (first, second) = join(take(11), take(12)).await;
    let codes: Vec<String> = [first, second]
        .into_iter()
        .map(|outcome| match outcome {
            Ok(_) => "ok".to_string(),
            Err(error) => short_code(&Refusal(error)),
        })
        .collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["203".to_string(), "ok".to_string()], "{codes:?}");
    let room = world.room().await;
    assert_eq!(room.seats.iter().filter(|seat| seat.user_id == Some(racer)).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seat_changes_racing_gifts_count_each_gift_once_for_one_team() {
    let mut world = on_redis().await;
    world.take(21, 11).await.unwrap();
    world.start(600).await.unwrap();
    let mut expected = Scores::default();
    for round in 0..36u64 {
        // 21 moves between red 11 and blue 16 while a gift to them is recorded.
        let (from, to) = if round % 2 == 0 { (11, 16) } else { (16, 11) };
        let gift = Gift {
            gift_txn_id: format!("race-{round}"),
            sender: SenderProfile {
                user_id: user(31),
                user_nick: "fan".into(),
                user_icon: String::new(),
                user_level: 1,
                user_wealth: 1,
            },
            receiver_id: ReceiverId::from_trusted(21),
            room_sid: room_id(ROOM),
            gift_id: GiftId::from_trusted(7),
            gift_count: 1,
            unit_value: round + 1,
            sent_at_ms: world.now(),
            show_id: None,
            call_id: None,
        };
        let ledger = world.kit.runtime.ledger.clone();
        let adapter = world.adapter.clone();
        // The gift starts after 0 to 11 round trips to Redis (pings, while the moves make their
        // own), so it meets the moves at different points: before the leave, between the leave
        // and the take, after the take.
        let head_start = round % 12;
        let store = world.kit.engine().store.clone();
        let moving = async {
            adapter.operate_seat(request(from, SeatCommand::Leave { user: user(21) })).await?;
            adapter.operate_seat(request(to, SeatCommand::Take { user: user(21) })).await
        };
        let recording = async {
            for _ in 0..head_start {
                store.ping().await.expect("Redis");
            }
            ledger.record(&gift).await
        };
        let (moved, recorded) = join(moving, recording).await;
        moved.expect("the moves are not refused");
        let outcome = recorded.expect("the ledger");
        // Counted for the team of a seat 21 held during the race, or for none while between
        // seats; never twice.
        match team_of(&outcome).as_deref() {
            Some("red") => expected.first += round + 1,
            Some("blue") => expected.second += round + 1,
            None => {}
            Some(other) => panic!("unknown team {other}"),
        }
        let again = ledger.record(&gift).await.expect("the ledger");
        assert!(again.duplicate);
        assert_eq!(again.changes, outcome.changes);
    }
    let state = world.state().await;
    assert_eq!(state.battle.unwrap().scores, expected);
    let totals = world.user_totals(21).await;
    assert_eq!(totals.pk_value, expected.first + expected.second);
    assert_eq!(totals.total_pk_value, expected.first + expected.second);
    let received: u64 = [&state.boards.pk_value.first, &state.boards.pk_value.second]
        .into_iter()
        .flatten()
        .map(|row| row.value)
        .sum();
    assert_eq!(received, expected.first + expected.second);
    assert_eq!(
        world.user_totals(31).await.total_contribute_value,
        expected.first + expected.second
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_racing_the_deadline_gives_one_verdict() {
    for round in 0..6u64 {
        let mut world = on_redis().await;
        world.take(21, 11).await.unwrap();
        world.take(22, 15).await.unwrap();
        world.start(60).await.unwrap();
        world.gift(31, 21, 3 + round).await;
        world.gift(32, 22, 5).await;
        world.advance_secs(60);
        let request = FinishRequest { room_id: room_id(ROOM), operator_id: user(OPERATOR) };
        let adapter = world.adapter.clone();
        let finish = adapter.finish(request);
        let deadline = world.kit.fire_due_timers();
        let finished = if round % 2 == 0 {
            join(finish, deadline).await.0
        } else {
            join(deadline, finish).await.1
        };
        let records = world.records().await;
        assert_eq!(records.len(), 1, "round {round}: one verdict, one record: {records:?}");
        let record = &records[0];
        let draw = 3 + round == 5;
        let info = match finished {
            Ok(info) => info,
            // A draw has no punishment: once the deadline settled it, the battle is over and a
            // late Finish is told so (026); that deadline wrote the one record.
            Err(late) if draw && record.ended_by == "deadline" => {
                assert_eq!(short_code(&Refusal(late)), "026", "round {round}");
                world.advance_secs(130);
                world.fire_due_timers().await;
                assert_eq!(world.records().await.len(), 1);
                continue;
            }
            Err(refusal) => panic!(
                "round {round}: Finish either takes the verdict or ends the punishment: {refusal:?}"
            ),
        };
        assert!(info.settled);
        assert_eq!(info.phase, PhaseName::Closed);
        // Whoever took it, the verdict is on the totals at the deadline.
        assert_eq!(info.scores, Scores::new(3 + round, 5));
        let winner = if 3 + round > 5 {
            "red"
        } else if 3 + round < 5 {
            "blue"
        } else {
            ""
        };
        assert_eq!(info.winner.map_or("", Team::as_str), winner);
        assert_eq!(Some(record.ended_by.as_str()), info.ended_by.map(|by| by.as_str()));
        assert_eq!(record.end_ms, START_MS + 60_000);
        // Nothing is left to fire but the record's safety net, which writes nothing new.
        world.advance_secs(130);
        world.fire_due_timers().await;
        assert_eq!(world.records().await.len(), 1);
        assert_eq!(world.battle_line().await.split(' ').next(), Some("closed#1"));
    }
}
