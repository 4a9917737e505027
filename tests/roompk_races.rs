//! RoomPk races against a real Redis, through servers in this process on a manual clock: the
//! test moves the clock to the deadline plus an exact offset instead of sleeping, and each
//! server's delay-queue poller fires the due job on its own within its poll interval, so a
//! request sent then really races the deadline job. Each race ends in one consistent outcome:
//! Finish racing the deadline (one verdict, one record), two users taking one seat (one sits),
//! a user changing seat while a gift to them is recorded (the gift counts once, for one team or
//! none).

mod support;

use futures::future::join_all;
use livepk::pb::admin::GetPkRecordRequest;
use livepk::pb::common::Mode;
use livepk::pb::roompk::{
    FinishRequest, LeaveSeatRequest, Phase, SetOperatorRequest, StartRequest, TakeSeatRequest, Team,
};
use livepk_core::ManualClock;
use support::*;
use tonic::Code;

const OPERATOR: u64 = 520;

/// A server on its own manual clock (standing still until the test moves it), room `room`
/// with its operator named and `red` on seat 11, `blue` on 15.
async fn room_on_manual_clock(room: u64, red: u64, blue: u64) -> (TestServer, ManualClock) {
    let clock = manual_clock();
    let server = TestServer::start_on(&clock).await;
    server.set_config("roompk.punish_seconds", "1").await;
    let rp = roompk(&server);
    rp.clone()
        .set_operator(SetOperatorRequest { room_id: room, operator_id: OPERATOR })
        .await
        .expect("SetOperator");
    for (location, user_id) in [(11, red), (15, blue)] {
        rp.clone()
            .take_seat(TakeSeatRequest { room_id: room, location, user_id })
            .await
            .expect("TakeSeat");
    }
    (server, clock)
}

async fn start(server: &TestServer, room: u64, countdown: u32) -> livepk::pb::roompk::RoomPkInfo {
    roompk(server)
        .start(StartRequest {
            room_id: room,
            operator_id: OPERATOR,
            punishment: String::new(),
            countdown,
        })
        .await
        .expect("Start")
        .into_inner()
        .pk
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn roompk_races_finish_with_the_deadline() {
    // Each round on its own server and clock, all at once: ms from the deadline, and whether
    // Finish waits until a poller claimed the deadline job.
    let rounds: [(i64, bool); 4] = [(-20, false), (0, false), (0, true), (15, true)];
    let rounds = rounds.into_iter().enumerate().map(|(round, (offset, after_claim))| async move {
        let round = round as u64;
        let room = 7201 + round;
        let (red, blue) = (621 + 2 * round, 622 + 2 * round);
        let (server, clock) = room_on_manual_clock(room, red, blue).await;
        let started = start(&server, room, 1).await;
        let (pkid, deadline) = (started.pkid, started.phase_deadline_ms);
        room_gift(&server, &format!("finish-race-{round}"), 821, blue, room, 25).await;
        let finish_at = deadline.saturating_add_signed(offset);
        clock.set_ms(finish_at);
        if after_claim {
            server.wait_due_timers_claimed().await;
        }
        let finished = roompk(&server)
            .finish(FinishRequest { room_id: room, operator_id: OPERATOR })
            .await
            .expect("Finish racing the deadline: it takes the verdict or ends the punishment")
            .into_inner()
            .pk
            .unwrap();
        assert_eq!((finished.pkid, finished.phase), (pkid, Phase::Over as i32), "{finished:?}");
        assert_eq!(
            (finished.red_total, finished.blue_total, finished.winner),
            (0, 25, Team::Blue as i32)
        );

        let record = eventually("the record", SETTLE_SLACK, || async {
            server
                .admin()
                .get_pk_record(GetPkRecordRequest { mode: Mode::Roompk as i32, pkid })
                .await
                .ok()
                .and_then(|response| response.into_inner().record)
        })
        .await;
        eprintln!(
            "finish race at {offset:+} ms (after claim: {after_claim}): ended by {}",
            record.ended_by
        );
        if offset < 0 {
            assert_eq!(record.ended_by, "close", "the deadline was not due: {record:?}");
        } else {
            assert!(["close", "deadline"].contains(&record.ended_by.as_str()), "{record:?}");
        }
        assert_eq!(record.winner_side, "blue");
        assert_eq!(
            record.endtime_ms,
            finish_at.min(deadline),
            "scoring ends at the first of the two"
        );

        // Every timer left runs out: nothing comes back to life, one verdict in the stream.
        clock.advance_ms(10_000);
        server.wait_timers_done().await;
        let state = room_state(&server, room, 0).await;
        assert_eq!(state.pk.map(|pk| (pk.phase, pk.blue_total)), Some((Phase::Over as i32, 25)));
        let events = fetch_matching(&server, &roompk_filter()).await;
        let count = |kind: &str| {
            events.iter().filter(|event| event.r#type == kind && event.pkid == pkid).count()
        };
        assert_eq!((count("roompk_result_nt"), count("roompk_over_nt")), (1, 1), "pk {pkid}");
        server.shutdown().await;
    });
    join_all(rounds).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn roompk_races_two_users_take_one_seat() {
    let room = 7301;
    let (server, _clock) = room_on_manual_clock(room, 631, 632).await;
    for (round, location) in [12u32, 13, 14, 16, 17, 18].into_iter().enumerate() {
        let (first, second) = (700 + 2 * round as u64, 701 + 2 * round as u64);
        let take = |user_id| {
            let mut client = roompk(&server);
            async move { client.take_seat(TakeSeatRequest { room_id: room, location, user_id }).await }
        };
        let (a, b) = tokio::join!(take(first), take(second));
        let sat = room_state(&server, room, 0).await.locations[(location - 11) as usize].user_id;
        let (won, lost) = match (a, b) {
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won.into_inner(), lost),
            other => panic!("seat {location}: exactly one may sit: {other:?}"),
        };
        assert_eq!(won.location.unwrap().user_id, sat);
        let metadata = assert_business(&lost, Code::FailedPrecondition, "403400202");
        assert_eq!(metadata.get("user_id"), Some(&sat.to_string()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn roompk_races_seat_change_with_a_gift() {
    let room = 7401;
    let mover = 641;
    let (server, _clock) = room_on_manual_clock(room, mover, 642).await;
    start(&server, room, 600).await;
    let (mut red, mut blue) = (0u64, 0u64);
    for round in 0..8u64 {
        // The mover goes from red 11 to blue 16 and back while a gift to them is recorded.
        let (from, to) = if round % 2 == 0 { (11, 16) } else { (16, 11) };
        let moving = async {
            let mut client = roompk(&server);
            client
                .leave_seat(LeaveSeatRequest { room_id: room, location: from, user_id: mover })
                .await
                .expect("LeaveSeat");
            client
                .take_seat(TakeSeatRequest { room_id: room, location: to, user_id: mover })
                .await
                .expect("TakeSeat");
        };
        let txn = format!("move-race-{round}");
        let value = round + 1;
        let (_, outcome) = tokio::join!(moving, room_gift(&server, &txn, 841, mover, room, value));
        match outcome.changes.as_slice() {
            [] => {}
            [change] if change.side == "red" => red += value,
            [change] if change.side == "blue" => blue += value,
            other => panic!("one team at most: {other:?}"),
        }
        let again = room_gift(&server, &txn, 841, mover, room, value).await;
        assert!(again.duplicate);
        assert_eq!(again.changes, outcome.changes);
    }
    let state = room_state(&server, room, mover).await;
    let pk = state.pk.unwrap();
    assert_eq!((pk.red_total, pk.blue_total), (red, blue));
    let user = state.user.unwrap();
    assert_eq!((user.pk_value, user.total_pk_value), (red + blue, red + blue));
}
