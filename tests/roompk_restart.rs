//! A team battle survives a `kill -9` of the server it runs on (the seed wiped team battles on a
//! restart: "服务器重启时，团战pk数据清空"): seats, the battle, team totals, boards, running
//! totals and the gifts' txn records are in Redis, and the deadline is a delay-queue job that a
//! second process fires once. Real `livepk` processes, real Redis, one SQLite file.

mod support;

use std::time::Duration;

use livepk::pb::admin::GetPkRecordRequest;
use livepk::pb::common::Mode;
use livepk::pb::roompk::{
    GetStateResponse, HoldUpRequest, LockSeatRequest, Phase, SetOperatorRequest, StartRequest,
    TakeSeatRequest, Team,
};
use support::*;

const ROOM: u64 = 7101;
const OPERATOR: u64 = 510;
const RED: u64 = 611;
const BLUE: u64 = 615;
const SENDER: u64 = 811;

/// What must survive: seats, phase, totals, boards (user ids and values), the sender's totals.
fn survivors(state: &GetStateResponse) -> String {
    let seats: Vec<String> = state
        .locations
        .iter()
        .filter(|seat| seat.user_id != 0 || seat.locked)
        .map(|seat| {
            format!("{}:{}{}", seat.location, seat.user_id, if seat.locked { "L" } else { "" })
        })
        .collect();
    let pk = state.pk.as_ref().expect("a battle");
    let rows = |rows: &[livepk::pb::roompk::BoardRow]| -> String {
        rows.iter()
            .map(|row| format!("{}={}", row.user_id, row.value))
            .collect::<Vec<_>>()
            .join(",")
    };
    let user = state.user.as_ref().expect("asked");
    format!(
        "seats {} | pk {} phase {} {}:{} | red {} / {} | blue {} / {} | sender {} {}",
        seats.join(" "),
        pk.pkid,
        pk.phase,
        pk.red_total,
        pk.blue_total,
        rows(&state.red_contribution),
        rows(&state.red_pk_value),
        rows(&state.blue_contribution),
        rows(&state.blue_pk_value),
        user.contribute_value,
        user.total_contribute_value,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roompk_restart_kill_9_mid_battle_loses_nothing() {
    let deployment = Deployment::new();
    let mut first = deployment.spawn().await;
    first.set_config("roompk.punish_seconds", "1").await;
    // Score nts at once (a coalesced one still pending in a killed process is not the point).
    first.set_config("events.score_coalesce_ms", "0").await;
    let rp = roompk(&first);
    rp.clone()
        .set_operator(SetOperatorRequest { room_id: ROOM, operator_id: OPERATOR })
        .await
        .expect("SetOperator");
    rp.clone()
        .take_seat(TakeSeatRequest { room_id: ROOM, location: 11, user_id: RED })
        .await
        .expect("TakeSeat");
    rp.clone()
        .hold_up(HoldUpRequest {
            room_id: ROOM,
            location: 15,
            operator_id: OPERATOR,
            user_id: BLUE,
        })
        .await
        .expect("HoldUp");
    rp.clone()
        .lock_seat(LockSeatRequest {
            room_id: ROOM,
            location: 18,
            operator_id: OPERATOR,
            locked: true,
        })
        .await
        .expect("LockSeat");
    let started = rp
        .clone()
        .start(StartRequest {
            room_id: ROOM,
            operator_id: OPERATOR,
            punishment: "push-ups".into(),
            countdown: 4,
        })
        .await
        .expect("Start")
        .into_inner()
        .pk
        .unwrap();
    let (pkid, deadline) = (started.pkid, started.phase_deadline_ms);
    // The retry below is the same gift, sent at the same moment (the send time is part of it).
    let rp1_at = first.now_ms();
    room_gift_at(&first, "restart-rp-1", SENDER, RED, ROOM, 30, rp1_at).await;
    room_gift(&first, "restart-rp-2", SENDER, BLUE, ROOM, 20).await;
    let before = room_state(&first, ROOM, SENDER).await;
    assert_eq!(
        survivors(&before),
        format!(
            "seats 11:{RED} 15:{BLUE} 18:0L | pk {pkid} phase {} 30:20 | red {SENDER}=30 / {RED}=30 | blue {SENDER}=20 / {BLUE}=20 | sender 50 50",
            Phase::Scoring as i32
        )
    );

    // kill -9 well before the deadline: nothing of the deadline has run yet.
    first.kill();
    assert!(first.now_ms() + 1_000 < deadline, "the server was killed too late to prove anything");

    let second = deployment.spawn().await;
    let after = room_state(&second, ROOM, SENDER).await;
    assert_eq!(survivors(&after), survivors(&before), "nothing lost");
    // The first process's gifts are remembered: a retry is a duplicate, not a second count.
    let retry = room_gift_at(&second, "restart-rp-1", SENDER, RED, ROOM, 30, rp1_at).await;
    assert!(retry.duplicate);
    assert_eq!(retry.changes[0].side_total, 30);
    let more = room_gift(&second, "restart-rp-3", SENDER, BLUE, ROOM, 15).await;
    assert_eq!((more.changes[0].side.as_str(), more.changes[0].side_total), ("blue", 35));

    // The second process settles at the first one's deadline: blue wins 35:30, punishment, over.
    let until_deadline = Duration::from_millis(deadline.saturating_sub(second.now_ms()));
    let punished = eventually("the punishment", until_deadline + SETTLE_SLACK, || async {
        let pk = room_state(&second, ROOM, 0).await.pk.unwrap();
        (pk.phase == Phase::Punishment as i32).then_some(pk)
    })
    .await;
    assert!(second.now_ms() >= deadline);
    assert_eq!(
        (punished.pkid, punished.winner, punished.red_total, punished.blue_total),
        (pkid, Team::Blue as i32, 30, 35)
    );
    let over = wait_room_phase(&second, ROOM, Phase::Over).await;
    assert_eq!(over.winner, Team::Blue as i32);
    let record = eventually("the record", SETTLE_SLACK, || async {
        second
            .admin()
            .get_pk_record(GetPkRecordRequest { mode: Mode::Roompk as i32, pkid })
            .await
            .ok()
            .and_then(|response| response.into_inner().record)
    })
    .await;
    assert_eq!(
        (record.ended_by.as_str(), record.winner_side.as_str(), record.endtime_ms),
        ("deadline", "blue", deadline)
    );
    let totals = room_state(&second, ROOM, BLUE).await.user.unwrap();
    assert_eq!((totals.total_pk_value, totals.location), (35, 15));

    // Exactly once, as the stream shows it: one start, one verdict, one end.
    let events = fetch_matching(&second, &roompk_filter()).await;
    let count = |kind: &str| {
        events.iter().filter(|event| event.r#type == kind && event.pkid == pkid).count()
    };
    assert_eq!(
        (count("roompk_start_nt"), count("roompk_result_nt"), count("roompk_over_nt")),
        (1, 1, 1)
    );
    assert_eq!(count("roompk_score_nt"), 3, "one per counted gift (the retry is none)");
}
