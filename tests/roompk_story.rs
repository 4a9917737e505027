//! A whole RoomPk story (seed 002's 团战PK) through the real `livepk` binary over gRPC against a
//! real Redis: seats arranged (take, hold up, lock, disable, invite), a start, gifts to red and
//! blue seated users and to an unseated user (no team), a replayed txn, a board tie, a user
//! moving seat mid-battle, add time, the deadline settling by itself, the punishment, the record,
//! and a second battle in the same room starting from zero — checking every response, GetState
//! after each step, and every notification exactly (`Steps`). Real time: the one deadline is a
//! few seconds away.

mod support;

use livepk::pb::admin::GetPkRecordRequest;
use livepk::pb::common::{Mode, TargetKind};
use livepk::pb::events::Event;
use livepk::pb::roompk::{
    AddTimeRequest, BoardRow, DisableSeatRequest, EndedBy, FinishRequest, GetStateResponse,
    HoldUpRequest, InviteToSeatRequest, LeaveSeatRequest, LockSeatRequest, Phase, RoomPkInfo,
    RoomPkLocation, RoompkAddtimeNt, RoompkInviteNt, RoompkOverNt, RoompkResultNt, RoompkScoreNt,
    RoompkSeatNt, RoompkStartNt, SeatAction, SetOperatorRequest, StartRequest, TakeSeatRequest,
    Team, UserTotals,
};
use support::*;
use tonic::Code;

const ROOM: u64 = 7001;
/// The room the invited user comes from.
const ELSEWHERE: u64 = 7002;
const OPERATOR: u64 = 500;
/// Red: A on 11 (takes it), B on 12 (held up). Blue: C on 15 (disabled), D on 16 (invited).
const A: u64 = 601;
const B: u64 = 602;
const C: u64 = 603;
const D: u64 = 604;
/// On no PK seat.
const E: u64 = 605;
/// Senders.
const S1: u64 = 801;
const S2: u64 = 802;
const S3: u64 = 803;

fn seat_nt(event: &Event) -> Option<RoompkSeatNt> {
    roompk_nt(event, "roompk_seat_nt")
}

fn score_nt(event: &Event) -> Option<RoompkScoreNt> {
    roompk_nt(event, "roompk_score_nt")
}

fn to_room(event: &Event) -> bool {
    target_of(event) == (TargetKind::Room, ROOM) && event.mode == Mode::Roompk as i32
}

/// `roompk_seat_nt` to the room: `action` on `location` by `by`, the seat now `seat`.
fn seat_pred<'a>(action: SeatAction, seat: RoomPkLocation, by: u64) -> Pred<'a> {
    pred("roompk_seat_nt", move |event| {
        to_room(event)
            && event.pkid == 0
            && seat_nt(event).is_some_and(|nt| {
                nt.room_id == ROOM
                    && nt.action == action as i32
                    && nt.location == Some(seat)
                    && nt.by_user_id == by
            })
    })
}

/// `roompk_score_nt` to the room of `pkid`: totals and the changed senders of `team`.
fn score_pred<'a>(pkid: u64, team: Team, red: u64, blue: u64, users: Vec<BoardRow>) -> Pred<'a> {
    pred("roompk_score_nt", move |event| {
        to_room(event)
            && event.pkid == pkid
            && score_nt(event).is_some_and(|nt| {
                let pk = nt.pk.expect("a score nt carries the battle");
                nt.team == team as i32
                    && (pk.pkid, pk.red_total, pk.blue_total) == (pkid, red, blue)
                    && pk.phase == Phase::Scoring as i32
                    && nt.users == users
            })
    })
}

fn seat(location: u32, user_id: u64) -> RoomPkLocation {
    RoomPkLocation { location, user_id, ..Default::default() }
}

/// A contribution row (a sender's profile filled in).
fn sent(user_id: u64, value: u64) -> BoardRow {
    let profile = sender(user_id);
    BoardRow {
        user_id,
        value,
        user_nick: profile.user_nick,
        user_icon: profile.user_icon,
        user_level: profile.user_level,
        user_wealth: profile.user_wealth,
    }
}

/// A PK-value row (receivers carry no profile).
fn received(user_id: u64, value: u64) -> BoardRow {
    BoardRow { user_id, value, ..Default::default() }
}

/// The eight seats of a state, as (location, user, locked, disabled, invite user).
fn seats(state: &GetStateResponse) -> Vec<(u32, u64, bool, bool, u64)> {
    state
        .locations
        .iter()
        .map(|seat| (seat.location, seat.user_id, seat.locked, seat.disabled, seat.invite_user_id))
        .collect()
}

/// The seats once arranged: A 11, B 12, 13 locked, C 15 disabled, D 16.
fn arranged() -> Vec<(u32, u64, bool, bool, u64)> {
    vec![
        (11, A, false, false, 0),
        (12, B, false, false, 0),
        (13, 0, true, false, 0),
        (14, 0, false, false, 0),
        (15, C, false, true, 0),
        (16, D, false, false, 0),
        (17, 0, false, false, 0),
        (18, 0, false, false, 0),
    ]
}

/// (phase, red, blue, settled, winner) of a state's battle.
fn battle_of(state: &GetStateResponse) -> (i32, u64, u64, bool, i32) {
    let pk = state.pk.as_ref().expect("a battle");
    (pk.phase, pk.red_total, pk.blue_total, pk.settled, pk.winner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roompk_full_story() {
    let deployment = Deployment::new();
    let server = deployment.spawn().await;
    let log = EventLog::subscribe_with(&server, roompk_filter()).await;
    let mut steps = Steps::new(&log, roompk_filter());
    server.set_config("roompk.punish_seconds", "2").await;
    // Every counted gift's score nt at once (no coalescing), so each step's events are exact.
    server.set_config("events.score_coalesce_ms", "0").await;
    let rp = roompk(&server);

    // ---- an empty room ---------------------------------------------------------------------------
    let empty = room_state(&server, ROOM, 0).await;
    assert_eq!((empty.room_id, empty.operator_id, empty.pk), (ROOM, 0, None));
    let locations: Vec<u32> = empty.locations.iter().map(|seat| seat.location).collect();
    assert_eq!(locations, (11..=18).collect::<Vec<u32>>());
    assert!(empty.locations.iter().all(|seat| seat.user_id == 0 && !seat.locked));

    // ---- arrange the seats --------------------------------------------------------------------------
    let named = rp
        .clone()
        .set_operator(SetOperatorRequest { room_id: ROOM, operator_id: OPERATOR })
        .await
        .expect("SetOperator")
        .into_inner();
    assert_eq!((named.room_id, named.operator_id), (ROOM, OPERATOR));

    let took = rp
        .clone()
        .take_seat(TakeSeatRequest { room_id: ROOM, location: 11, user_id: A })
        .await
        .expect("TakeSeat")
        .into_inner();
    assert_eq!((took.location, took.changed), (Some(seat(11, A)), true));
    steps.expect_exactly("A takes 11", vec![seat_pred(SeatAction::Take, seat(11, A), A)]).await;

    let held = rp
        .clone()
        .hold_up(HoldUpRequest { room_id: ROOM, location: 12, operator_id: OPERATOR, user_id: B })
        .await
        .expect("HoldUp")
        .into_inner();
    assert_eq!(held.location, Some(seat(12, B)));
    steps
        .expect_exactly(
            "B held up to 12",
            vec![seat_pred(SeatAction::HoldUp, seat(12, B), OPERATOR)],
        )
        .await;

    let locked = RoomPkLocation { location: 13, locked: true, ..Default::default() };
    rp.clone()
        .lock_seat(LockSeatRequest {
            room_id: ROOM,
            location: 13,
            operator_id: OPERATOR,
            locked: true,
        })
        .await
        .expect("LockSeat");
    steps.expect_exactly("13 locked", vec![seat_pred(SeatAction::Lock, locked, OPERATOR)]).await;
    let refused = rp
        .clone()
        .take_seat(TakeSeatRequest { room_id: ROOM, location: 13, user_id: E })
        .await
        .unwrap_err();
    let metadata = assert_business(&refused, Code::FailedPrecondition, "403400201");
    assert_eq!(metadata.get("location").map(String::as_str), Some("13"));

    rp.clone()
        .take_seat(TakeSeatRequest { room_id: ROOM, location: 15, user_id: C })
        .await
        .expect("TakeSeat");
    let muted = RoomPkLocation { location: 15, user_id: C, disabled: true, ..Default::default() };
    rp.clone()
        .disable_seat(DisableSeatRequest {
            room_id: ROOM,
            location: 15,
            operator_id: OPERATOR,
            disabled: true,
        })
        .await
        .expect("DisableSeat");
    steps
        .expect_exactly(
            "C takes 15, which is disabled",
            vec![
                seat_pred(SeatAction::Take, seat(15, C), C),
                seat_pred(SeatAction::Disable, muted, OPERATOR),
            ],
        )
        .await;

    let offered = RoomPkLocation {
        location: 16,
        invite_user_id: D,
        invite_room_id: ELSEWHERE,
        ..Default::default()
    };
    let invited = rp
        .clone()
        .invite_to_seat(InviteToSeatRequest {
            room_id: ROOM,
            location: 16,
            operator_id: OPERATOR,
            invite_user_id: D,
            invite_room_id: ELSEWHERE,
        })
        .await
        .expect("InviteToSeat")
        .into_inner();
    assert_eq!(invited.location, Some(offered));
    let got = steps
        .expect_exactly(
            "D invited to 16",
            vec![
                seat_pred(SeatAction::Invite, offered, OPERATOR),
                pred("roompk_invite_nt to D", |event| {
                    target_of(event) == (TargetKind::User, D)
                        && roompk_nt::<RoompkInviteNt>(event, "roompk_invite_nt").is_some()
                }),
            ],
        )
        .await;
    let nt: RoompkInviteNt = roompk_nt(&got[1], "roompk_invite_nt").unwrap();
    assert_eq!(
        (nt.room_id, nt.location, nt.invite_user_id, nt.invite_room_id, nt.operator_id),
        (ROOM, 16, D, ELSEWHERE, OPERATOR)
    );
    // Promised to D: E may not take it; D does.
    let refused = rp
        .clone()
        .take_seat(TakeSeatRequest { room_id: ROOM, location: 16, user_id: E })
        .await
        .unwrap_err();
    let metadata = assert_business(&refused, Code::FailedPrecondition, "403400202");
    assert_eq!(metadata.get("user_id").map(String::as_str), Some("604"));
    rp.clone()
        .take_seat(TakeSeatRequest { room_id: ROOM, location: 16, user_id: D })
        .await
        .expect("TakeSeat");
    steps.expect_exactly("D takes 16", vec![seat_pred(SeatAction::Take, seat(16, D), D)]).await;

    // Refusals: not the operator, one seat per user, a seat that does not exist.
    let refused = rp
        .clone()
        .hold_up(HoldUpRequest { room_id: ROOM, location: 14, operator_id: A, user_id: E })
        .await
        .unwrap_err();
    assert_business(&refused, Code::PermissionDenied, "403400204");
    let refused = rp
        .clone()
        .take_seat(TakeSeatRequest { room_id: ROOM, location: 14, user_id: A })
        .await
        .unwrap_err();
    assert_business(&refused, Code::FailedPrecondition, "403400203");
    let refused = rp
        .clone()
        .take_seat(TakeSeatRequest { room_id: ROOM, location: 19, user_id: E })
        .await
        .unwrap_err();
    assert_invalid(&refused, "location");
    let state = room_state(&server, ROOM, 0).await;
    assert_eq!(seats(&state), arranged());
    assert_eq!((state.operator_id, state.pk), (OPERATOR, None));

    // ---- start ------------------------------------------------------------------------------------
    let started = rp
        .clone()
        .start(StartRequest {
            room_id: ROOM,
            operator_id: OPERATOR,
            punishment: "sing a song".into(),
            countdown: 5,
        })
        .await
        .expect("Start")
        .into_inner();
    let pk = started.pk.expect("the battle");
    let pkid = pk.pkid;
    assert!(pkid > 0);
    assert_eq!(
        (pk.room_id, pk.punishment.as_str(), pk.countdown, pk.operator_id),
        (ROOM, "sing a song", 5, OPERATOR)
    );
    assert_eq!(
        (pk.red_location_ids.clone(), pk.blue_location_ids.clone()),
        (vec![11, 12, 13, 14], vec![15, 16, 17, 18])
    );
    assert_eq!(
        (pk.phase, pk.red_total, pk.blue_total, pk.settled),
        (Phase::Scoring as i32, 0, 0, false)
    );
    assert_eq!((pk.phase_deadline_ms - 5_000) / 1000, pk.start_time);
    let got = steps
        .expect_exactly(
            "start",
            vec![pred("roompk_start_nt", move |event| {
                to_room(event)
                    && event.pkid == pkid
                    && roompk_nt::<RoompkStartNt>(event, "roompk_start_nt").is_some()
            })],
        )
        .await;
    let nt: RoompkStartNt = roompk_nt(&got[0], "roompk_start_nt").unwrap();
    let mut shown = nt.pk.unwrap();
    shown.time_left = pk.time_left;
    assert_eq!(shown, pk);
    let state = room_state(&server, ROOM, 0).await;
    assert_eq!(battle_of(&state), (Phase::Scoring as i32, 0, 0, false, Team::Unspecified as i32));
    assert!(state.red_contribution.is_empty() && state.blue_pk_value.is_empty());
    // A second Start while it runs: 025 naming this battle.
    let refused = rp
        .clone()
        .start(StartRequest {
            room_id: ROOM,
            operator_id: OPERATOR,
            punishment: String::new(),
            countdown: 5,
        })
        .await
        .unwrap_err();
    let metadata = assert_business(&refused, Code::FailedPrecondition, "403400025");
    assert_eq!(metadata.get("holding_mode").map(String::as_str), Some("roompk"));
    assert_eq!(metadata.get("holding_pkid"), Some(&pkid.to_string()));

    // ---- gifts --------------------------------------------------------------------------------------
    // A replay is the same gift, sent at the same moment (the send time is part of it).
    let rp1_at = server.now_ms();
    let red = room_gift_at(&server, "rp-1", S1, A, ROOM, 10, rp1_at).await;
    assert!(!red.duplicate);
    let change = &red.changes[0];
    assert_eq!(
        (change.mode, change.pkid, change.side.as_str(), change.side_total, change.sender_total),
        (Mode::Roompk as i32, pkid, "red", 10, 10)
    );
    steps
        .expect_exactly(
            "S1 -> A (red)",
            vec![score_pred(pkid, Team::Red, 10, 0, vec![sent(S1, 10)])],
        )
        .await;
    let state = room_state(&server, ROOM, 0).await;
    assert_eq!(
        (state.red_contribution.clone(), state.red_pk_value.clone()),
        (vec![sent(S1, 10)], vec![received(A, 10)])
    );

    let blue = room_gift(&server, "rp-2", S2, C, ROOM, 5).await;
    assert_eq!(blue.changes[0].side, "blue", "a disabled seat's user still scores");
    steps
        .expect_exactly(
            "S2 -> C (blue)",
            vec![score_pred(pkid, Team::Blue, 10, 5, vec![sent(S2, 5)])],
        )
        .await;
    let unseated = room_gift(&server, "rp-3", S3, E, ROOM, 100).await;
    assert!(!unseated.duplicate && unseated.changes.is_empty(), "{unseated:?}");
    let replay = room_gift_at(&server, "rp-1", S1, A, ROOM, 10, rp1_at).await;
    assert!(replay.duplicate);
    assert_eq!(replay.changes, red.changes);
    let state = room_state(&server, ROOM, 0).await;
    assert_eq!(battle_of(&state), (Phase::Scoring as i32, 10, 5, false, 0));

    // A tie: S2 reaches 10 on red after S1 did, B reaches 10 after A did.
    room_gift(&server, "rp-4", S2, B, ROOM, 10).await;
    steps
        .expect_exactly(
            "S2 -> B (red)",
            vec![score_pred(pkid, Team::Red, 20, 5, vec![sent(S2, 10)])],
        )
        .await;
    let state = room_state(&server, ROOM, 0).await;
    assert_eq!(state.red_contribution, vec![sent(S1, 10), sent(S2, 10)]);
    assert_eq!(state.red_pk_value, vec![received(A, 10), received(B, 10)]);
    assert_eq!(state.blue_contribution, vec![sent(S2, 5)]);
    assert_eq!(state.blue_pk_value, vec![received(C, 5)]);

    // ---- A moves to blue mid-battle ---------------------------------------------------------------
    rp.clone()
        .leave_seat(LeaveSeatRequest { room_id: ROOM, location: 11, user_id: A })
        .await
        .expect("LeaveSeat");
    rp.clone()
        .take_seat(TakeSeatRequest { room_id: ROOM, location: 17, user_id: A })
        .await
        .expect("TakeSeat");
    steps
        .expect_exactly(
            "A moves from 11 to 17",
            vec![
                seat_pred(SeatAction::Leave, seat(11, 0), A),
                seat_pred(SeatAction::Take, seat(17, A), A),
            ],
        )
        .await;
    let moved = room_gift(&server, "rp-5", S1, A, ROOM, 5).await;
    assert_eq!((moved.changes[0].side.as_str(), moved.changes[0].side_total), ("blue", 10));
    steps
        .expect_exactly(
            "S1 -> A (now blue)",
            vec![score_pred(pkid, Team::Blue, 20, 10, vec![sent(S1, 5)])],
        )
        .await;
    let state = room_state(&server, ROOM, A).await;
    // A tie the other way round: on blue the higher ids reached 5 first (S2 before S1, C
    // before A) and rank first, so the boards break ties by arrival, not by user id.
    assert_eq!(state.blue_contribution, vec![sent(S2, 5), sent(S1, 5)]);
    assert_eq!(state.blue_pk_value, vec![received(C, 5), received(A, 5)]);
    assert_eq!(state.red_pk_value, vec![received(A, 10), received(B, 10)]);
    assert_eq!(
        state.user,
        Some(UserTotals {
            user_id: A,
            location: 17,
            total_pk_value: 15,
            total_contribute_value: 0,
            pk_value: 15,
            contribute_value: 0
        })
    );

    // ---- add time, then the deadline settles by itself ---------------------------------------------
    let extended = rp
        .clone()
        .add_time(AddTimeRequest { room_id: ROOM, operator_id: OPERATOR, seconds: 2 })
        .await
        .expect("AddTime")
        .into_inner()
        .pk
        .unwrap();
    assert_eq!((extended.pkid, extended.countdown), (pkid, 7));
    let deadline = extended.phase_deadline_ms;
    assert_eq!(deadline, pk.phase_deadline_ms + 2_000);
    steps
        .expect_exactly(
            "add time",
            vec![pred("roompk_addtime_nt", move |event| {
                to_room(event)
                    && roompk_nt::<RoompkAddtimeNt>(event, "roompk_addtime_nt").is_some_and(|nt| {
                        let pk = nt.pk.unwrap();
                        nt.added_seconds == 2 && pk.pkid == pkid && pk.phase_deadline_ms == deadline
                    })
            })],
        )
        .await;
    assert!(server.now_ms() + 500 < deadline, "the story took too long to prove the deadline");

    // The deadline job settles it (allow the time left, then the usual slack).
    let until_deadline = std::time::Duration::from_millis(deadline - server.now_ms());
    let punished = eventually("the punishment", until_deadline + SETTLE_SLACK, || async {
        let pk = room_state(&server, ROOM, 0).await.pk.unwrap();
        (pk.phase == Phase::Punishment as i32).then_some(pk)
    })
    .await;
    let got = steps
        .expect_exactly(
            "the deadline: red wins 20:10, punishment",
            vec![pred("roompk_result_nt", move |event| {
                to_room(event) && event.pkid == pkid && event.r#type == "roompk_result_nt"
            })],
        )
        .await;
    let result = roompk_nt::<RoompkResultNt>(&got[0], "roompk_result_nt").unwrap().pk.unwrap();
    assert!(server.now_ms() >= deadline);
    assert_eq!(
        (
            result.phase,
            result.red_total,
            result.blue_total,
            result.settled,
            result.winner,
            result.ended_by
        ),
        (Phase::Punishment as i32, 20, 10, true, Team::Red as i32, EndedBy::Deadline as i32)
    );
    assert_eq!(punished.phase_deadline_ms, result.phase_deadline_ms);
    // Too late to add time: the verdict is final.
    let refused = rp
        .clone()
        .add_time(AddTimeRequest { room_id: ROOM, operator_id: OPERATOR, seconds: 2 })
        .await
        .unwrap_err();
    assert_business(&refused, Code::Aborted, "403400024");
    let gift_after = room_gift(&server, "rp-6", S1, B, ROOM, 50).await;
    assert!(gift_after.changes.is_empty(), "nothing counts after the verdict");

    let got = steps
        .expect_exactly(
            "the punishment ends",
            vec![pred("roompk_over_nt", move |event| {
                to_room(event) && event.pkid == pkid && event.r#type == "roompk_over_nt"
            })],
        )
        .await;
    let over: RoomPkInfo =
        roompk_nt::<RoompkOverNt>(&got[0], "roompk_over_nt").unwrap().pk.unwrap();
    assert_eq!(
        (over.phase, over.winner, over.phase_deadline_ms),
        (Phase::Over as i32, Team::Red as i32, 0)
    );
    let state = room_state(&server, ROOM, S1).await;
    assert_eq!(battle_of(&state), (Phase::Over as i32, 20, 10, true, Team::Red as i32));
    assert_eq!(state.user.unwrap().total_contribute_value, 15, "S1: 10 to A on red, 5 on blue");

    // ---- the record -----------------------------------------------------------------------------------
    let record = eventually("the record", SETTLE_SLACK, || async {
        server
            .admin()
            .get_pk_record(GetPkRecordRequest { mode: Mode::Roompk as i32, pkid })
            .await
            .ok()
            .and_then(|response| response.into_inner().record)
    })
    .await;
    assert_eq!(
        (record.ended_by.as_str(), record.winner_side.as_str(), record.winner_id),
        ("deadline", "red", ROOM)
    );
    assert_eq!((record.starttime_ms / 1000, record.endtime_ms), (pk.start_time, deadline));
    let teams: Vec<(&str, i64)> =
        record.participants.iter().map(|team| (team.side.as_str(), team.score)).collect();
    assert_eq!(teams, vec![("red", 20), ("blue", 10)]);

    // ---- a second battle in the same room starts from zero ----------------------------------------
    let second = rp
        .clone()
        .start(StartRequest {
            room_id: ROOM,
            operator_id: OPERATOR,
            punishment: "dance".into(),
            countdown: 60,
        })
        .await
        .expect("second Start")
        .into_inner()
        .pk
        .unwrap();
    let second_pkid = second.pkid;
    assert!(second_pkid > pkid);
    steps
        .expect_exactly(
            "second start",
            vec![pred("roompk_start_nt", move |event| {
                to_room(event) && event.pkid == second_pkid && event.r#type == "roompk_start_nt"
            })],
        )
        .await;
    let state = room_state(&server, ROOM, 0).await;
    assert_eq!(battle_of(&state), (Phase::Scoring as i32, 0, 0, false, 0));
    assert!(state.red_contribution.is_empty() && state.blue_contribution.is_empty());
    assert!(state.red_pk_value.is_empty() && state.blue_pk_value.is_empty());
    room_gift(&server, "rp-7", S1, B, ROOM, 3).await;
    steps
        .expect_exactly(
            "S1 -> B (red)",
            vec![score_pred(second_pkid, Team::Red, 3, 0, vec![sent(S1, 3)])],
        )
        .await;
    let totals = room_state(&server, ROOM, S1).await.user.unwrap();
    assert_eq!((totals.contribute_value, totals.total_contribute_value), (3, 18));
    let finished = rp
        .clone()
        .finish(FinishRequest { room_id: ROOM, operator_id: OPERATOR })
        .await
        .expect("Finish")
        .into_inner()
        .pk
        .unwrap();
    assert_eq!(
        (finished.phase, finished.red_total, finished.winner, finished.ended_by),
        (Phase::Over as i32, 3, Team::Red as i32, EndedBy::Finish as i32)
    );
    steps
        .expect_exactly(
            "finish",
            vec![
                pred("roompk_result_nt", move |event| {
                    to_room(event)
                        && event.pkid == second_pkid
                        && event.r#type == "roompk_result_nt"
                }),
                pred("roompk_over_nt", move |event| {
                    to_room(event) && event.pkid == second_pkid && event.r#type == "roompk_over_nt"
                }),
            ],
        )
        .await;
    let record = eventually("the second record", SETTLE_SLACK, || async {
        server
            .admin()
            .get_pk_record(GetPkRecordRequest { mode: Mode::Roompk as i32, pkid: second_pkid })
            .await
            .ok()
            .and_then(|response| response.into_inner().record)
    })
    .await;
    assert_eq!((record.ended_by.as_str(), record.winner_side.as_str()), ("close", "red"));
    assert_eq!(seats(&room_state(&server, ROOM, 0).await)[6], (17, A, false, false, 0));

    steps.expect_end(&server, |_| false).await;
}
