//! A whole cross-room story (seed 002, 跨房PK) through the real `livepk` binary over gRPC against
//! a real Redis, on the real clock: A creates a PK and C accepts it; meanwhile D challenges E,
//! E's challenge back is refused and E rejects; F challenges G and it lapses by itself; gifts in
//! both rooms of the running PK (a replayed txn, a tie on a board) show the same numbers on both
//! rooms' GetState; the countdown settles on its own, gifts after it do not count, the punishment
//! ends; H challenges I, I accepts, I's operator may not finish it for H, H finishes early and
//! no gift counts in either room after;
//! both PKs are records. Every reply is checked, and every notification delivered through
//! `Events.Subscribe`: each step's exactly, loose only about the score notifications the
//! coalescer sends on its own tick.

mod support;

use livepk::pb::acrosspk::{
    AcceptSource, AcrossPkInfo, AcrossPkOffer, AcrossPkPhase, AcrossPkResult, AcrossPkUser,
    AcrosspkChallengeCancelNt, AcrosspkChallengeExpireNt, AcrosspkChallengeNt,
    AcrosspkChallengeRejectNt, AcrosspkOverNt, AcrosspkResultNt, AcrosspkScoreNt, AcrosspkStartNt,
};
use livepk::pb::common::{Mode, TargetKind};
use livepk::pb::events::Event;
use support::*;

const ROOM: TargetKind = TargetKind::Room;

/// An AcrossPk notification of type `kind` to room `room`.
fn nt_to(event: &Event, kind: &str, room: &PartyRoom) -> bool {
    is(event, kind, ROOM, room.id) && event.mode == Mode::Acrosspk as i32
}

/// A coalesced score notification (sent on the coalescer's own tick).
fn is_score_nt(event: &Event) -> bool {
    event.r#type == "acrosspk_score_nt"
}

/// The `reason` of an error's `ErrorInfo` (the code's stable name).
fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status.get_details_error_info().expect("ErrorInfo").reason
}

fn now_secs(server: &Client) -> u64 {
    server.now_ms() / 1000
}

/// `time_now` of a reply is the server's clock in seconds: close to ours.
fn assert_time_now(server: &Client, what: &str, time_now: u64) {
    let now = now_secs(server);
    assert!(time_now + 2 >= now && time_now <= now + 1, "{what}: time_now {time_now}, now {now}");
}

/// The offer `room` made, as the seed's `AcrossPK` shows it.
fn offer_of(
    room: &PartyRoom,
    to: Option<&PartyRoom>,
    punishment: &str,
    countdown: u64,
) -> AcrossPkOffer {
    AcrossPkOffer {
        create_room_id: room.id,
        pk_room_id: to.map_or(0, |to| to.id),
        room_name: room.name(),
        user_name: room.owner(),
        user_avatar: room.avatar(),
        punishment: punishment.into(),
        countdown,
        ..Default::default()
    }
}

/// `offer` with its times cleared, to compare with [`offer_of`].
fn timeless(offer: &AcrossPkOffer) -> AcrossPkOffer {
    AcrossPkOffer { create_time: 0, expire_time: 0, ..offer.clone() }
}

/// A PK as a notification shows it, with the fields that move with time cleared.
fn timeless_pk(pk: &AcrossPkInfo) -> AcrossPkInfo {
    AcrossPkInfo { time_left: 0, ..pk.clone() }
}

fn board_row(user_id: u64, value: u64) -> AcrossPkUser {
    let profile = user(user_id);
    AcrossPkUser {
        user_id,
        value,
        user_nick: profile.user_nick,
        user_icon: profile.user_icon,
        user_level: profile.user_level,
        user_wealth: profile.user_wealth,
    }
}

/// A board row of a receiver, who sent nothing: no profile is known.
fn receiver_row(user_id: u64, value: u64) -> AcrossPkUser {
    AcrossPkUser { user_id, value, ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acrosspk_full_story() {
    let deployment = Deployment::new();
    let server = deployment.spawn().await;
    let log = EventLog::subscribe_with(&server, acrosspk_filter()).await;
    let mut steps = Steps::new(&log, acrosspk_filter());
    server.set_config("acrosspk.challenge_seconds", "2").await;
    server.set_config("acrosspk.punish_seconds", "1").await;

    let [a, c, d, e, f, g, h, i, j] =
        [7001, 7003, 7004, 7005, 7006, 7007, 7008, 7009, 7010].map(PartyRoom::new);

    // ---- A creates; C sees it; A cannot create twice ---------------------------------------
    let created = a.create(&server, 6).await.expect("Create");
    assert_eq!(timeless(&created), offer_of(&a, None, "room 7001 sings", 6));
    assert_eq!((created.create_time, created.expire_time), (now_secs(&server), 0));
    assert_eq!(c.created_list(&server, 0).await, vec![created.clone()]);
    assert!(a.created_list(&server, 0).await.is_empty(), "a room's own pk is not listed to it");
    let again = a.create(&server, 6).await.unwrap_err();
    assert_business(&again, tonic::Code::FailedPrecondition, "403400101");
    assert_eq!(reason(&again), "ACROSSPK_ALREADY_CREATED");

    // C had challenged J: accepting withdraws that challenge, and J is told.
    let withdrawn = c.challenge(&server, &j, 30).await.expect("Challenge C -> J");
    steps
        .expect_exactly(
            "C challenges J",
            vec![pred("challenge nt to J", |ev| nt_to(ev, "acrosspk_challenge_nt", &j))],
        )
        .await;

    // ---- C accepts A's created PK: it starts in both rooms, A red ------------------------------
    let accepted = c.accept(&server, &a, AcceptSource::Created).await.expect("Accept");
    assert_time_now(&server, "Accept", accepted.time_now);
    let p1 = accepted.pkid;
    assert!(p1 > 0);
    let pk = accepted.pk.clone().expect("the pk");
    assert_eq!(pk.pkid, p1);
    let (red, blue) = (pk.red.clone().unwrap(), pk.blue.clone().unwrap());
    let (red_room, blue_room) = (red.room.clone().unwrap(), blue.room.clone().unwrap());
    assert_eq!((red_room.room_id, blue_room.room_id), (a.id, c.id));
    assert_eq!((red_room.room_name, blue_room.user_name), (a.name(), c.owner()));
    assert_eq!((red.pk_value, blue.pk_value), (0, 0));
    assert_eq!(
        (pk.phase, pk.result),
        (AcrossPkPhase::Scoring as i32, AcrossPkResult::Unspecified as i32)
    );
    assert_eq!((pk.countdown, pk.punishment.as_str()), (6, "room 7001 sings"));
    assert_eq!(pk.phase_deadline_ms / 1000, pk.start_time + 6, "scoring lasts the countdown");
    assert!((5..=6).contains(&pk.time_left), "{pk:?}");
    let started = steps
        .expect_exactly(
            "accept",
            vec![
                pred("start nt to A", |ev| nt_to(ev, "acrosspk_start_nt", &a)),
                pred("start nt to C", |ev| nt_to(ev, "acrosspk_start_nt", &c)),
                pred("cancel nt to J", |ev| nt_to(ev, "acrosspk_challenge_cancel_nt", &j)),
            ],
        )
        .await;
    let cancel: AcrosspkChallengeCancelNt =
        across_nt(&started[2], "acrosspk_challenge_cancel_nt").unwrap();
    assert_eq!((cancel.challenge, cancel.busy_room_id, cancel.pkid), (Some(withdrawn), c.id, p1));
    assert!(j.challengers(&server).await.is_empty());
    for event in &started[..2] {
        assert_eq!(event.pkid, p1);
        let nt: AcrosspkStartNt = across_nt(event, "acrosspk_start_nt").unwrap();
        assert_eq!(nt.pkid, p1);
        assert_eq!(timeless_pk(&nt.pk.unwrap()), timeless_pk(&pk));
    }
    assert!(c.created_list(&server, 0).await.is_empty(), "A's pk left the list");

    // ---- meanwhile D challenges E; E -> D is refused; E rejects ---------------------------------
    let challenge = d.challenge(&server, &e, 30).await.expect("Challenge D -> E");
    assert_eq!(timeless(&challenge), offer_of(&d, Some(&e), "room 7004 dances", 30));
    assert_eq!(challenge.expire_time, challenge.create_time + 2);
    let events = steps
        .expect_exactly(
            "D challenges E",
            vec![pred("challenge nt to E", |ev| nt_to(ev, "acrosspk_challenge_nt", &e))],
        )
        .await;
    let nt: AcrosspkChallengeNt = across_nt(&events[0], "acrosspk_challenge_nt").unwrap();
    assert_eq!(nt.challenge, Some(challenge.clone()));
    assert_eq!(events[0].pkid, 0, "a challenge is about no pk yet");
    let back = e.challenge(&server, &d, 30).await.unwrap_err();
    assert_business(&back, tonic::Code::FailedPrecondition, "403400102");
    assert_eq!(reason(&back), "ACROSSPK_REVERSE_CHALLENGE_PENDING");
    assert_eq!(e.challengers(&server).await, vec![d.id]);
    let rejected = e.reject(&server, &d).await.expect("Reject");
    assert_eq!(rejected, challenge);
    let events = steps
        .expect_exactly(
            "E rejects",
            vec![pred("reject nt to D", |ev| nt_to(ev, "acrosspk_challenge_reject_nt", &d))],
        )
        .await;
    let nt: AcrosspkChallengeRejectNt =
        across_nt(&events[0], "acrosspk_challenge_reject_nt").unwrap();
    assert_eq!((nt.challenge, nt.operator_id), (Some(challenge), e.operator()));
    assert!(e.challengers(&server).await.is_empty());

    // ---- F challenges G and it lapses by itself ------------------------------------------------
    let lapsing = f.challenge(&server, &g, 30).await.expect("Challenge F -> G");
    steps
        .expect_exactly(
            "F challenges G",
            vec![pred("challenge nt to G", |ev| nt_to(ev, "acrosspk_challenge_nt", &g))],
        )
        .await;
    assert_eq!(g.challengers(&server).await, vec![f.id]);
    let events = steps
        .expect_exactly(
            "the challenge lapses",
            vec![
                pred("expire nt to G", |ev| nt_to(ev, "acrosspk_challenge_expire_nt", &g)),
                pred("expire nt to F", |ev| nt_to(ev, "acrosspk_challenge_expire_nt", &f)),
            ],
        )
        .await;
    for event in &events {
        let nt: AcrosspkChallengeExpireNt =
            across_nt(event, "acrosspk_challenge_expire_nt").unwrap();
        assert_eq!(nt.challenge, Some(lapsing.clone()));
        assert!(nt.time_now >= lapsing.expire_time);
    }
    assert!(g.challengers(&server).await.is_empty(), "a lapsed challenge is never shown");
    let late = g.accept(&server, &f, AcceptSource::Challenge).await.unwrap_err();
    assert_business(&late, tonic::Code::NotFound, "403400026");

    // ---- gifts in both rooms of the running PK -------------------------------------------------
    // Ties on both boards, each reached first by the higher id, which must rank first (an
    // ascending-id tie-break would put 11 and 21 first): sender 12 gives 100 to receiver 22 at
    // once; 11 reaches 100 later, giving 60 and 40 to 21, who reaches 100 later than 22.
    let gifts = [
        (&a, "tx-a1", 12, 22, 100),
        (&a, "tx-a2", 11, 21, 60),
        (&a, "tx-a3", 11, 21, 40),
        (&c, "tx-c1", 13, 23, 50),
    ];
    let mut expected_totals = (0, 0);
    // A replay is the same gift, sent at the same moment (the send time is part of it).
    let sent_at_ms = server.now_ms();
    for (room, txn, sender, receiver, value) in gifts {
        let response = room.gift_at(&server, txn, sender, receiver, value, sent_at_ms).await;
        assert!(!response.duplicate, "{txn}");
        assert_eq!(response.changes.len(), 1, "{txn}: {response:?}");
        let change = &response.changes[0];
        let side = if room.id == a.id { "red" } else { "blue" };
        if side == "red" {
            expected_totals.0 += value;
        } else {
            expected_totals.1 += value;
        }
        assert_eq!(
            (change.mode, change.pkid, change.side.as_str()),
            (Mode::Acrosspk as i32, p1, side)
        );
        let total = if side == "red" { expected_totals.0 } else { expected_totals.1 };
        assert_eq!((change.side_total, change.receiver_id), (total as i64, receiver), "{txn}");
    }
    let replay = a.gift_at(&server, "tx-a1", 12, 22, 100, sent_at_ms).await;
    assert!(replay.duplicate, "a replayed txn changes nothing");
    assert_eq!(replay.changes[0].side_total, 100, "the first call's answer");
    // The coalesced score notifications reach both rooms with both totals.
    for room in [&a, &c] {
        log.wait_for(&format!("a score nt with 200:50 to {}", room.id), |ev| {
            nt_to(ev, "acrosspk_score_nt", room)
                && across_nt::<AcrosspkScoreNt>(ev, "acrosspk_score_nt")
                    .is_some_and(|nt| (nt.red_pk_value, nt.blue_pk_value) == (200, 50))
        })
        .await;
    }
    let red_rows = log
        .wait_for("a score nt listing contributor 11 at 100", |ev| {
            across_nt::<AcrosspkScoreNt>(ev, "acrosspk_score_nt")
                .is_some_and(|nt| nt.room_id == a.id && nt.contribute.contains(&board_row(11, 100)))
        })
        .await;
    let red_rows: AcrosspkScoreNt = across_nt(&red_rows, "acrosspk_score_nt").unwrap();
    assert_eq!(red_rows.pkid, p1);

    // Both rooms' GetState show the same PK, values and boards.
    let state_a = a.state(&server).await;
    let state_c = c.state(&server).await;
    assert_eq!((state_a.pkid, state_c.pkid), (p1, p1));
    assert_eq!((state_a.pk_room_id, state_a.pk_room_name.clone()), (c.id, c.name()));
    assert_eq!((state_c.pk_room_id, state_c.pk_user_name.clone()), (a.id, a.owner()));
    assert_eq!(state_c.pk_user_avatar, a.avatar());
    let (pk_a, pk_c) = (state_a.pk.unwrap(), state_c.pk.unwrap());
    assert_eq!(timeless_pk(&pk_a), timeless_pk(&pk_c));
    let (red, blue) = (pk_a.red.unwrap(), pk_a.blue.unwrap());
    assert_eq!((red.pk_value, blue.pk_value), (200, 50));
    assert_eq!(red.contribute, vec![board_row(12, 100), board_row(11, 100)]);
    assert_eq!(red.pk, vec![receiver_row(22, 100), receiver_row(21, 100)]);
    assert_eq!(blue.contribute, vec![board_row(13, 50)]);
    assert_eq!(blue.pk, vec![receiver_row(23, 50)]);
    assert_eq!(pk_a.phase, AcrossPkPhase::Scoring as i32);

    // ---- the countdown settles on its own: red wins, punishment, then over -----------------------
    let remaining =
        std::time::Duration::from_millis(pk.phase_deadline_ms.saturating_sub(server.now_ms()));
    eventually("the countdown's end", remaining + SETTLE_SLACK, || async {
        let phase = a.state(&server).await.pk.map(|pk| pk.phase);
        (phase == Some(AcrossPkPhase::Punishment as i32)).then_some(())
    })
    .await;
    let events = steps
        .expect_amid(
            "the countdown's end",
            is_score_nt,
            vec![
                pred("result nt to A", |ev| nt_to(ev, "acrosspk_result_nt", &a)),
                pred("result nt to C", |ev| nt_to(ev, "acrosspk_result_nt", &c)),
            ],
        )
        .await;
    for event in &events {
        let nt: AcrosspkResultNt = across_nt(event, "acrosspk_result_nt").unwrap();
        let pk = nt.pk.unwrap();
        assert_eq!(
            (pk.phase, pk.result),
            (AcrossPkPhase::Punishment as i32, AcrossPkResult::Red as i32)
        );
        assert_eq!((pk.winner_room_id, pk.ended_by.as_str()), (a.id, "deadline"));
        assert_eq!((pk.red.unwrap().pk_value, pk.blue.unwrap().pk_value), (200, 50));
    }
    let record = wait_across_record(&server, p1).await;
    assert_eq!((record.winner_id, record.ended_by.as_str()), (a.id, "deadline"));
    let participants: Vec<(u64, String, i64)> =
        record.participants.iter().map(|p| (p.id, p.side.clone(), p.score)).collect();
    assert_eq!(participants, vec![(a.id, "red".into(), 200), (c.id, "blue".into(), 50)]);
    assert_eq!(record.endtime_ms - record.starttime_ms, 6_000, "scoring lasted the countdown");
    assert_eq!(record.winner_side, "red");
    // Gifts after the deadline do not count.
    let after = c.gift(&server, "tx-c2", 13, 23, 500).await;
    assert!(after.changes.is_empty(), "{after:?}");
    let state = c.state(&server).await.pk.unwrap();
    assert_eq!((state.red.unwrap().pk_value, state.blue.unwrap().pk_value), (200, 50));
    assert_eq!(state.phase, AcrossPkPhase::Punishment as i32);
    let events = steps
        .expect_amid(
            "the punishment's end",
            is_score_nt,
            vec![
                pred("over nt to A", |ev| nt_to(ev, "acrosspk_over_nt", &a)),
                pred("over nt to C", |ev| nt_to(ev, "acrosspk_over_nt", &c)),
            ],
        )
        .await;
    for event in &events {
        let nt: AcrosspkOverNt = across_nt(event, "acrosspk_over_nt").unwrap();
        let pk = nt.pk.unwrap();
        assert_eq!(
            (pk.phase, pk.winner_room_id, pk.time_left),
            (AcrossPkPhase::Over as i32, a.id, 0)
        );
    }

    // ---- H challenges I, I accepts, H finishes early ---------------------------------------------
    h.challenge(&server, &i, 60).await.expect("Challenge H -> I");
    steps
        .expect_exactly(
            "H challenges I",
            vec![pred("challenge nt to I", |ev| nt_to(ev, "acrosspk_challenge_nt", &i))],
        )
        .await;
    let p2 = i.accept(&server, &h, AcceptSource::Challenge).await.expect("Accept").pkid;
    assert!(p2 > p1);
    steps
        .expect_exactly(
            "I accepts",
            vec![
                pred("start nt to H", |ev| nt_to(ev, "acrosspk_start_nt", &h)),
                pred("start nt to I", |ev| nt_to(ev, "acrosspk_start_nt", &i)),
            ],
        )
        .await;
    assert_eq!(h.gift(&server, "tx-h1", 14, 24, 30).await.changes.len(), 1);
    assert_eq!(i.gift(&server, "tx-i1", 15, 25, 70).await.changes.len(), 1);
    let not_party = a.finish(&server, p2).await.unwrap_err();
    assert_business(&not_party, tonic::Code::PermissionDenied, "403400103");
    // Only each room's own operator in this PK: I's operator may not finish it for H.
    let not_operator = h.finish_by(&server, p2, i.operator()).await.unwrap_err();
    let metadata = assert_business(&not_operator, tonic::Code::PermissionDenied, "403400103");
    assert_eq!(metadata["field"], "operator_id");
    let finished = h.finish(&server, p2).await.expect("Finish");
    let pk = finished.pk.unwrap();
    assert_eq!((pk.phase, pk.result), (AcrossPkPhase::Over as i32, AcrossPkResult::Blue as i32));
    assert_eq!((pk.winner_room_id, pk.ended_by.as_str()), (i.id, "close"));
    assert_eq!((pk.red.clone().unwrap().pk_value, pk.blue.clone().unwrap().pk_value), (30, 70));
    let events = steps
        .expect_amid(
            "H finishes",
            is_score_nt,
            vec![
                pred("result nt to H", |ev| nt_to(ev, "acrosspk_result_nt", &h)),
                pred("result nt to I", |ev| nt_to(ev, "acrosspk_result_nt", &i)),
                pred("over nt to H", |ev| nt_to(ev, "acrosspk_over_nt", &h)),
                pred("over nt to I", |ev| nt_to(ev, "acrosspk_over_nt", &i)),
            ],
        )
        .await;
    assert!(events.iter().all(|event| event.pkid == p2));
    // No gift counts in either room any more.
    for (room, txn) in [(&h, "tx-h2"), (&i, "tx-i2")] {
        assert!(room.gift(&server, txn, 16, 26, 1_000).await.changes.is_empty(), "{txn}");
    }
    for room in [&h, &i] {
        let pk = room.state(&server).await.pk.unwrap();
        assert_eq!((pk.red.unwrap().pk_value, pk.blue.unwrap().pk_value), (30, 70));
        assert_eq!(pk.phase, AcrossPkPhase::Over as i32);
    }
    let again = i.finish(&server, p2).await.unwrap_err();
    assert_business(&again, tonic::Code::FailedPrecondition, "403400026");
    let record = wait_across_record(&server, p2).await;
    assert_eq!((record.winner_id, record.ended_by.as_str()), (i.id, "close"));

    // ---- records, and nothing else was sent -----------------------------------------------------
    let records: Vec<u64> = across_records(&server).await.iter().map(|r| r.pkid).collect();
    assert_eq!(records, vec![p2, p1], "newest first");
    steps.expect_end(&server, is_score_nt).await;
}
