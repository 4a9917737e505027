//! Races of AcrossPk through gRPC, in-process on a manual clock (two replicas on one Redis where
//! the race is between two calls): two rooms accepting one created PK, crossing challenges, an
//! Accept racing the challenge's lapse, a Finish racing the countdown's deadline. Waits poll with
//! `eventually`; nothing sleeps a fixed time.

mod support;

use livepk::pb::acrosspk::{AcceptSource, AcrossPkPhase, AcrossPkResult};
use support::*;

/// The business code of a refusal.
fn code(status: &tonic::Status) -> String {
    error_metadata(status)["code"].clone()
}

/// Every AcrossPk event of `type` delivered so far to room `room`.
async fn events_to(server: &Client, kind: &str, room: &PartyRoom) -> usize {
    fetch_matching(server, &acrosspk_filter())
        .await
        .iter()
        .filter(|event| is(event, kind, livepk::pb::common::TargetKind::Room, room.id))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rooms_accepting_one_created_pk_on_two_replicas_one_gets_it() {
    let clock = manual_clock();
    let first = TestServer::start_on(&clock).await;
    let second = first.replica().await;
    for round in 0..8u64 {
        let (creator, b, c) =
            (PartyRoom::new(100 + round), PartyRoom::new(200 + round), PartyRoom::new(300 + round));
        creator.create(&first, 60).await.expect("Create");
        let (by_b, by_c) = tokio::join!(
            b.accept(&first, &creator, AcceptSource::Created),
            c.accept(&second, &creator, AcceptSource::Created),
        );
        let (winner, pkid, lost) = match (by_b, by_c) {
            (Ok(won), Err(lost)) => (&b, won.pkid, lost),
            (Err(lost), Ok(won)) => (&c, won.pkid, lost),
            other => panic!("round {round}: exactly one accept wins: {other:?}"),
        };
        assert!(["403400025", "403400026"].contains(&code(&lost).as_str()), "{lost:?}");
        let loser = if winner == &b { &c } else { &b };
        assert_eq!(creator.state(&first).await.pkid, pkid, "round {round}");
        assert_eq!(winner.state(&second).await.pkid, pkid, "round {round}");
        assert_eq!(loser.state(&first).await.pkid, 0, "round {round}");
        assert!(
            loser.created_list(&second, 0).await.iter().all(|pk| pk.create_room_id != creator.id)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_challenges_one_pends_the_other_is_refused() {
    let clock = manual_clock();
    let first = TestServer::start_on(&clock).await;
    let second = first.replica().await;
    for round in 0..8u64 {
        let (a, b) = (PartyRoom::new(400 + round), PartyRoom::new(500 + round));
        let (ab, ba) = tokio::join!(a.challenge(&first, &b, 60), b.challenge(&second, &a, 60));
        let (challenger, challenged, lost) = match (ab, ba) {
            (Ok(_), Err(lost)) => (&a, &b, lost),
            (Err(lost), Ok(_)) => (&b, &a, lost),
            other => panic!("round {round}: exactly one challenge pends: {other:?}"),
        };
        assert_eq!(code(&lost), "403400102", "round {round}");
        assert_eq!(challenged.challengers(&first).await, vec![challenger.id], "round {round}");
        assert!(challenger.challengers(&second).await.is_empty(), "round {round}");
        // Both rooms accept at once: only the challenged room may.
        let (by_challenged, by_challenger) = tokio::join!(
            challenged.accept(&first, challenger, AcceptSource::Challenge),
            challenger.accept(&second, challenged, AcceptSource::Challenge),
        );
        let pkid = by_challenged.expect("the challenged room accepts").pkid;
        let refused = by_challenger.unwrap_err();
        // The challenger is refused as no party to accept it (103), or finds the rooms taken
        // (025) or the challenge gone (026) when the accept committed first.
        assert!(
            ["403400103", "403400025", "403400026"].contains(&code(&refused).as_str()),
            "round {round}: {refused:?}"
        );
        assert_eq!(a.state(&first).await.pkid, pkid);
        assert_eq!(b.state(&second).await.pkid, pkid);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_racing_the_challenges_lapse() {
    let clock = manual_clock();
    let server = TestServer::start_on(&clock).await;
    // The accept in the last millisecond: it starts the PK, the lapse job later finds nothing.
    let (a, b) = (PartyRoom::new(601), PartyRoom::new(602));
    a.challenge(&server, &b, 60).await.expect("Challenge");
    clock.advance_ms(59_999);
    let pkid = b.accept(&server, &a, AcceptSource::Challenge).await.expect("Accept").pkid;
    clock.advance_ms(1);
    server.wait_due_timers_claimed().await;
    // The lapse at the same moment as the accept: the accept is refused whether or not the
    // server's poller ran the job first, and both rooms are told once.
    let (c, d) = (PartyRoom::new(603), PartyRoom::new(604));
    c.challenge(&server, &d, 60).await.expect("Challenge");
    clock.advance_ms(60_000);
    let refused = d.accept(&server, &c, AcceptSource::Challenge).await.unwrap_err();
    assert_business(&refused, tonic::Code::NotFound, "403400026");
    for room in [&c, &d] {
        eventually("the lapse told to both rooms", SETTLE_SLACK, || async {
            (events_to(&server, "acrosspk_challenge_expire_nt", room).await == 1).then_some(())
        })
        .await;
    }
    assert_eq!(d.state(&server).await.pkid, 0);
    // The first pair's PK runs, and neither of its rooms heard of a lapse.
    assert_eq!(a.state(&server).await.pkid, pkid);
    for room in [&a, &b] {
        assert_eq!(events_to(&server, "acrosspk_challenge_expire_nt", room).await, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_racing_the_deadline_gives_one_verdict() {
    let clock = manual_clock();
    let server = TestServer::start_on(&clock).await;
    server.set_config("acrosspk.punish_seconds", "30").await;
    for round in 0..5u64 {
        let (red, blue) = (PartyRoom::new(700 + 2 * round), PartyRoom::new(701 + 2 * round));
        red.create(&server, 10).await.expect("Create");
        let pkid = blue.accept(&server, &red, AcceptSource::Created).await.expect("Accept").pkid;
        assert_eq!(blue.gift(&server, &format!("r{round}"), 9, 90, 5).await.changes.len(), 1);
        // The deadline passes: the server's poller and the Finish race for it.
        clock.advance_ms(10_000);
        let finished = red.finish(&server, pkid).await.expect("Finish wins or ends the punishment");
        let pk = finished.pk.unwrap();
        assert_eq!(
            (pk.phase, pk.result),
            (AcrossPkPhase::Over as i32, AcrossPkResult::Blue as i32)
        );
        assert_eq!(pk.winner_room_id, blue.id);
        let record = wait_across_record(&server, pkid).await;
        assert_eq!(record.winner_id, blue.id, "round {round}");
        assert!(["deadline", "close"].contains(&record.ended_by.as_str()), "{record:?}");
        clock.advance_ms(30_000);
        server.wait_due_timers_claimed().await;
    }
    server.wait_timers_done().await;
    // Each room heard one verdict and one end, whichever won.
    for round in 0..5u64 {
        for room in [PartyRoom::new(700 + 2 * round), PartyRoom::new(701 + 2 * round)] {
            assert_eq!(events_to(&server, "acrosspk_result_nt", &room).await, 1, "round {round}");
            assert_eq!(events_to(&server, "acrosspk_over_nt", &room).await, 1, "round {round}");
        }
    }
    assert_eq!(across_records(&server).await.len(), 5, "one record per pk");
}
