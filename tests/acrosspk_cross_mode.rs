//! AcrossPk beside the other modes (SPEC §5a), in servers started in this process (a manual
//! clock, so that no deadline moves anything):
//! * one room, one battle with LinkCallPk and with RoomPk: a room in a link or a team battle is
//!   refused for a cross-room PK, and a room in a cross-room PK is refused for a link or a team
//!   battle — 025 naming the holding mode and its pkid both ways — until the other battle is
//!   over;
//! * a GiftPk runs beside it: one gift sent in the room of both counts once in each.

mod support;

use livepk::pb::acrosspk::AcceptSource;
use livepk::pb::common::Mode;
use livepk::pb::gift::{RecordGiftRequest, RecordGiftResponse, ScoreChange};
use livepk::pb::giftpk::gift_pk_client::GiftPkClient;
use livepk::pb::giftpk::{self, GetLiveRequest, GiftpkGift, GiftpkGiftTotal};
use livepk::pb::linkcall::ConfirmCode;
use livepk::pb::roompk::{FinishRequest, SetOperatorRequest, StartRequest};
use support::*;

/// The holder a 025 names: (`holding_mode`, `holding_pkid`, `room_id`).
fn holder(status: &tonic::Status) -> (String, String, String) {
    let metadata = assert_business(status, tonic::Code::FailedPrecondition, "403400025");
    (
        metadata["holding_mode"].clone(),
        metadata["holding_pkid"].clone(),
        metadata["room_id"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linkcall_link_and_a_cross_room_pk_block_each_others_rooms() {
    let clock = manual_clock();
    let server = TestServer::start_on(&clock).await;
    // Anchor 1 broadcasts in party room 8001; anchor 2 in 8002, anchor 4 in 8005.
    let (host, guest, other) = (Anchor::new(1, 8001), Anchor::new(2, 8002), Anchor::new(4, 8005));
    for anchor in [&host, &guest, &other] {
        anchor.online(&server).await;
    }
    let (room, third, fourth) = (PartyRoom::new(8001), PartyRoom::new(8003), PartyRoom::new(8006));

    // ---- a LinkCallPk link holds rooms 8001 and 8002 ------------------------------------------
    let link_pkid = pair_up(&server, &host, &guest).await;
    third.create(&server, 60).await.expect("Create in a free room");
    let refused = room.accept(&server, &third, AcceptSource::Created).await.unwrap_err();
    assert_eq!(holder(&refused), ("linkcall".into(), link_pkid.to_string(), "8001".into()));
    // The early answers: a room held by a link can neither create nor be challenged.
    let refused = room.create(&server, 60).await.unwrap_err();
    assert_eq!(holder(&refused).0, "linkcall");
    let refused = fourth.challenge(&server, &PartyRoom::new(8002), 60).await.unwrap_err();
    assert_eq!(holder(&refused), ("linkcall".into(), link_pkid.to_string(), "8002".into()));
    // Nothing was taken: 8003's PK is still open.
    assert_eq!(fourth.created_list(&server, 0).await.len(), 1);

    // Once the link closes, the room may accept.
    close(&server, &host, &host, &guest).await.expect("Close");
    // Anchor 4 raises a popup on anchor 1 while its room is still free.
    link(&server, &other, &host).await.expect("Link 4 -> 1");
    let accepted = room.accept(&server, &third, AcceptSource::Created).await.expect("Accept");
    let across_pkid = accepted.pkid;

    // ---- the cross-room PK holds rooms 8001 and 8003 -------------------------------------------
    let refused = confirm(&server, &host, &other, ConfirmCode::Agree).await.unwrap_err();
    assert_eq!(holder(&refused), ("acrosspk".into(), across_pkid.to_string(), "8001".into()));
    let refused = link(&server, &guest, &host).await.unwrap_err();
    assert_eq!(holder(&refused), ("acrosspk".into(), across_pkid.to_string(), "8001".into()));
    // Another cross-room PK cannot take the rooms either (025 naming the running one).
    fourth.create(&server, 60).await.expect("Create");
    let refused = room.accept(&server, &fourth, AcceptSource::Created).await.unwrap_err();
    assert_eq!(holder(&refused), ("acrosspk".into(), across_pkid.to_string(), "8001".into()));
    // A room that is not in it is free for LinkCallPk.
    let elsewhere = pair_up(&server, &guest, &other).await;
    assert!(elsewhere > link_pkid);
    close(&server, &guest, &guest, &other).await.expect("Close");

    // ---- once the cross-room PK is over, its rooms are free for a link -------------------------
    room.finish(&server, across_pkid).await.expect("Finish");
    // (Anchor 1 still holds anchor 4's popup: it answers it first.)
    confirm(&server, &host, &other, ConfirmCode::Refuse).await.expect("Refuse");
    let relinked = pair_up(&server, &host, &guest).await;
    assert!(relinked > elsewhere);
}

/// A RoomPk team battle of `room` started by `operator` (the room's operator named first).
async fn start_team_battle(
    server: &Client,
    room: u64,
    operator: u64,
) -> Result<u64, tonic::Status> {
    let mut client = roompk(server);
    client
        .set_operator(SetOperatorRequest { room_id: room, operator_id: operator })
        .await
        .expect("SetOperator");
    let started = client
        .start(StartRequest {
            room_id: room,
            operator_id: operator,
            punishment: "sing".into(),
            countdown: 60,
        })
        .await?;
    Ok(started.into_inner().pk.expect("the battle").pkid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_battle_and_a_cross_room_pk_block_each_others_rooms() {
    let clock = manual_clock();
    let server = TestServer::start_on(&clock).await;
    let (team_room, open, other) =
        (PartyRoom::new(8101), PartyRoom::new(8102), PartyRoom::new(8103));
    let operator = 81_010;

    // ---- a RoomPk team battle holds room 8101 ---------------------------------------------------
    let team_pkid = start_team_battle(&server, team_room.id, operator).await.expect("Start");
    open.create(&server, 60).await.expect("Create in a free room");
    let refused = team_room.accept(&server, &open, AcceptSource::Created).await.unwrap_err();
    assert_eq!(holder(&refused), ("roompk".into(), team_pkid.to_string(), "8101".into()));
    let refused = other.challenge(&server, &team_room, 60).await.unwrap_err();
    assert_eq!(holder(&refused), ("roompk".into(), team_pkid.to_string(), "8101".into()));
    // Nothing was taken: 8102's PK is still open.
    assert_eq!(other.created_list(&server, 0).await.len(), 1);

    // Once the team battle is over, the room may accept: the cross-room PK holds 8101 and 8102.
    roompk(&server)
        .finish(FinishRequest { room_id: team_room.id, operator_id: operator })
        .await
        .expect("Finish the team battle");
    let across_pkid =
        team_room.accept(&server, &open, AcceptSource::Created).await.expect("Accept").pkid;

    // ---- the cross-room PK refuses a team battle in either of its rooms -------------------------
    for room in [&team_room, &open] {
        let refused = start_team_battle(&server, room.id, operator).await.unwrap_err();
        assert_eq!(
            holder(&refused),
            ("acrosspk".into(), across_pkid.to_string(), room.id.to_string())
        );
    }
    // A room that is not in it is free for RoomPk.
    let elsewhere = start_team_battle(&server, other.id, operator).await.expect("Start elsewhere");
    assert!(elsewhere > 0);

    // ---- once the cross-room PK is over, its rooms are free for a team battle -------------------
    team_room.finish(&server, across_pkid).await.expect("Finish the cross-room pk");
    start_team_battle(&server, team_room.id, operator).await.expect("Start after it");
}

/// The gift PK's show (its room is the show's id).
const SHOW_ROOM: u64 = 8201;
/// The show's anchor, who receives the gifts.
const ANCHOR: u64 = 71;
const ROSE: u64 = 11;
const ROCKET: u64 = 22;

fn giftpk_gift(id: u64) -> GiftpkGift {
    GiftpkGift {
        gift_id: id,
        gift_name: format!("gift {id}"),
        gift_logo: format!("https://img.example/g{id}.png"),
        gift_desc: format!("vote {id}"),
    }
}

/// `count` × gift `gift_id` worth 10 points each, sent now to the anchor in `room` (the show's
/// room) from viewer `sender`, as `txn`.
async fn show_gift(
    server: &Client,
    txn: &str,
    room: u64,
    sender: u64,
    gift_id: u64,
    count: u32,
) -> RecordGiftResponse {
    server
        .gifts()
        .record_gift(RecordGiftRequest {
            gift_txn_id: txn.into(),
            sender: Some(user(sender)),
            receiver_id: ANCHOR,
            room_sid: room,
            gift_id,
            gift_count: count,
            unit_value: 10,
            sent_at_ms: server.now_ms(),
            show_id: Some(SHOW_ROOM),
            call_id: None,
        })
        .await
        .unwrap_or_else(|status| panic!("RecordGift {txn}: {status:?}"))
        .into_inner()
}

/// The changes of a gift's answer, by mode: (AcrossPk's, GiftPk's).
fn by_mode(response: &RecordGiftResponse) -> (Vec<&ScoreChange>, Vec<&ScoreChange>) {
    let of = |mode: Mode| response.changes.iter().filter(|c| c.mode == mode as i32).collect();
    (of(Mode::Acrosspk), of(Mode::Giftpk))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gift_counts_once_in_the_cross_room_pk_and_once_in_the_gift_pk_of_its_room() {
    let clock = manual_clock();
    let server = TestServer::start_on(&clock).await;
    let (red, blue) = (PartyRoom::new(SHOW_ROOM), PartyRoom::new(8202));
    red.create(&server, 300).await.expect("Create");
    let across_pkid = blue.accept(&server, &red, AcceptSource::Created).await.expect("Accept").pkid;
    // A gift PK in the same room (a GiftPk's show is its room), rose against rocket: it runs
    // beside the cross-room PK.
    let mut giftpk = GiftPkClient::new(server.channel.clone());
    let gift_pkid = giftpk
        .create(giftpk::CreateRequest {
            show_id: SHOW_ROOM,
            singer_id: ANCHOR,
            gifts: vec![giftpk_gift(ROSE), giftpk_gift(ROCKET)],
            duration: 300,
        })
        .await
        .expect("GiftPk Create")
        .into_inner()
        .pkid;

    // Three roses in the room: once in each PK, with each one's numbers.
    let counted = show_gift(&server, "both-1", SHOW_ROOM, 5, ROSE, 3).await;
    assert!(!counted.duplicate);
    let (across, gift) = by_mode(&counted);
    assert_eq!(counted.changes.len(), 2, "{counted:?}");
    let across = across.first().expect("counted in the cross-room pk");
    assert_eq!((across.pkid, across.side.as_str(), across.side_total), (across_pkid, "red", 30));
    let gift = gift.first().expect("counted in the gift pk");
    assert_eq!((gift.pkid, gift.side.as_str()), (gift_pkid, "11"));
    // The same txn again: counted nowhere again, the first answer.
    let replay = show_gift(&server, "both-1", SHOW_ROOM, 5, ROSE, 3).await;
    assert!(replay.duplicate);
    assert_eq!(replay.changes, counted.changes);
    // A gift that is not one of the gift PK's counts for the cross-room PK only.
    let other = show_gift(&server, "across-only", SHOW_ROOM, 6, 33, 1).await;
    let (across, gift) = by_mode(&other);
    assert_eq!((across.len(), gift.len()), (1, 0), "{other:?}");
    assert_eq!(across[0].side_total, 40);

    // Each PK shows the gift once.
    let state = blue.state(&server).await.pk.expect("the cross-room pk");
    assert_eq!((state.red.unwrap().pk_value, state.blue.unwrap().pk_value), (40, 0));
    let live = giftpk
        .get_live(GetLiveRequest { show_id: SHOW_ROOM, need_extra_info: false })
        .await
        .expect("GetLive")
        .into_inner();
    assert_eq!(live.pkid, gift_pkid);
    assert_eq!(
        live.gifts,
        vec![
            GiftpkGiftTotal { gift_id: ROSE, gift_count: 3, gift_value: 30 },
            GiftpkGiftTotal { gift_id: ROCKET, gift_count: 0, gift_value: 0 },
        ]
    );
}
