//! RoomPk's settled records as `Admin.GetPkRecord` answers them, through a server in this
//! process on a manual clock: a team battle is one record whose two participants are the room's
//! two teams (both carry the room's id, `side` red or blue, the team total). The winning team is
//! listed first and names `winner_side` (the room's id is `winner_id`); a draw lists red first
//! with no winner. One room per outcome: red wins (Finish), blue wins (the deadline), a draw
//! (Finish on equal totals).

mod support;

use livepk::pb::admin::{GetPkRecordRequest, Participant, PkRecord};
use livepk::pb::common::Mode;
use livepk::pb::roompk::{FinishRequest, SetOperatorRequest, StartRequest, TakeSeatRequest};
use support::*;

const OPERATOR: u64 = 530;
/// On red 11 and blue 15 in every room.
const RED: u64 = 651;
const BLUE: u64 = 652;
const FAN: u64 = 851;

/// Room `room` arranged and started for `countdown` seconds; its pkid and deadline.
async fn started(server: &TestServer, room: u64, countdown: u32) -> (u64, u64) {
    let rp = roompk(server);
    rp.clone()
        .set_operator(SetOperatorRequest { room_id: room, operator_id: OPERATOR })
        .await
        .expect("SetOperator");
    for (location, user_id) in [(11, RED), (15, BLUE)] {
        rp.clone()
            .take_seat(TakeSeatRequest { room_id: room, location, user_id })
            .await
            .expect("TakeSeat");
    }
    let pk = rp
        .clone()
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
        .unwrap();
    (pk.pkid, pk.phase_deadline_ms)
}

async fn finish(server: &TestServer, room: u64) {
    roompk(server)
        .finish(FinishRequest { room_id: room, operator_id: OPERATOR })
        .await
        .expect("Finish");
}

async fn record(server: &TestServer, pkid: u64) -> PkRecord {
    eventually(&format!("the record of pk {pkid}"), SETTLE_SLACK, || async {
        server
            .admin()
            .get_pk_record(GetPkRecordRequest { mode: Mode::Roompk as i32, pkid })
            .await
            .ok()
            .and_then(|response| response.into_inner().record)
    })
    .await
}

fn team(room: u64, side: &str, score: i64) -> Participant {
    Participant { id: room, sid: room, side: side.into(), score }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roompk_records_list_the_winning_team_first() {
    let clock = manual_clock();
    let server = TestServer::start_on(&clock).await;

    // Red wins 7 : 3, by Finish.
    let room = 7501;
    let (pkid, _) = started(&server, room, 60).await;
    room_gift(&server, "records-red-1", FAN, RED, room, 7).await;
    room_gift(&server, "records-red-2", FAN, BLUE, room, 3).await;
    finish(&server, room).await;
    let red_win = record(&server, pkid).await;
    assert_eq!(red_win.participants, vec![team(room, "red", 7), team(room, "blue", 3)]);
    assert_eq!((red_win.winner_id, red_win.winner_side.as_str()), (room, "red"));
    assert_eq!(red_win.ended_by, "close");

    // Blue wins 2 : 9, by the deadline.
    let room = 7502;
    let (pkid, deadline) = started(&server, room, 30).await;
    room_gift(&server, "records-blue-1", FAN, RED, room, 2).await;
    room_gift(&server, "records-blue-2", FAN, BLUE, room, 9).await;
    // The deadline's settle waits `score.grace_ms` (3 s by default) for gifts sent before it.
    clock.set_ms(deadline + 3_000);
    let blue_win = record(&server, pkid).await;
    assert_eq!(blue_win.participants, vec![team(room, "blue", 9), team(room, "red", 2)]);
    assert_eq!((blue_win.winner_id, blue_win.winner_side.as_str()), (room, "blue"));
    assert_eq!((blue_win.ended_by.as_str(), blue_win.endtime_ms), ("deadline", deadline));

    // A draw 4 : 4, by Finish: red first, no winner.
    let room = 7503;
    let (pkid, _) = started(&server, room, 60).await;
    room_gift(&server, "records-draw-1", FAN, RED, room, 4).await;
    room_gift(&server, "records-draw-2", FAN, BLUE, room, 4).await;
    finish(&server, room).await;
    let draw = record(&server, pkid).await;
    assert_eq!(draw.participants, vec![team(room, "red", 4), team(room, "blue", 4)]);
    assert_eq!((draw.winner_id, draw.winner_side.as_str()), (0, ""));
    server.shutdown().await;
}
