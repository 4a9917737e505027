//! InteractiveShow (seed 003) through the real `livepk` binary, real Redis and SQL — once on a
//! SQLite file and once on a fresh MariaDB database: the four sequence diagrams (anchor invites →
//! user pays; anchor invites → user rejects; user invites → anchor accepts → user pays; user
//! invites → anchor rejects), insufficient balance then success, a payment report delivered
//! twice at once, the show's gift through `Gifts.RecordGift` (with `call_id`: it scores
//! nowhere), a lapsed invitation (the one real-time deadline: `show.invite_seconds` set to 2 s)
//! and a payment charged before its lapse but reported after it, Finish and Rate — checking every
//! message delivered (through `Events.Subscribe`, exactly, field for field), the `tb_show` rows
//! (read from the server's own database), the income ranking and the back office's statistics.

mod support;

use std::time::Duration;

use livepk::pb::admin::{GetShowStatisticsRequest, ListShowGiftsRequest as AdminListShowGifts};
use livepk::pb::admin::{GetShowStatisticsResponse, ShowRatingCount};
use livepk::pb::common::Mode;
use livepk::pb::gift::RecordGiftRequest;
use livepk::pb::giftpk::gift_pk_client::GiftPkClient;
use livepk::pb::giftpk::{CloseRequest as GiftPkClose, CreateRequest as GiftPkCreate, GiftpkGift};
use livepk::pb::show::{
    AnchorAcceptRequest, AnchorInviteRequest, AnchorRejectRequest, FinishRequest,
    GetIncomeRankingRequest, GetShowEnableRequest, GetShowRequest, IncomeRankingRow,
    InviterType as WireInviter, ListShowGiftsRequest, PaymentOutcome, RankingPeriod, RateRequest,
    ReportPaymentRequest, ReportPaymentResponse, SetShowEnableRequest, ShowInfo, ShowStatus,
    UserInviteRequest, UserRejectRequest,
};
use livepk_sql::{Database, InviterType, ShowRow};
use support::*;

/// The call's parties, and two more.
const ANCHOR: u64 = 1001;
const USER: u64 = 2001;
const ANCHOR_2: u64 = 1002;
const USER_OFF: u64 = 2002;
const USER_3: u64 = 2003;
/// Calls.
const CALL: u64 = 3001;
const CALL_2: u64 = 3002;
const CALL_OFF: u64 = 3005;

fn now_secs(server: &Client) -> u64 {
    server.now_ms() / 1000
}

/// A message of a step.
#[allow(clippy::too_many_arguments)]
fn nt(
    r#type: &'static str,
    chat_type: u32,
    uid: u64,
    receive_uid: u64,
    to_anchor: bool,
    show_id: u64,
    call_id: u64,
    gid: u64,
) -> ExpectedShowMessage {
    ExpectedShowMessage { r#type, chat_type, uid, receive_uid, to_anchor, show_id, call_id, gid }
}

async fn show_info(server: &Client, show_id: u64) -> ShowInfo {
    let response = show(server).get_show(GetShowRequest { show_id }).await.expect("GetShow");
    response.into_inner().show.expect("a show")
}

/// Reports a payment as the gateway does right after charging: a success charged now.
async fn pay(
    server: &Client,
    show_id: u64,
    user_id: u64,
    txn_id: &str,
    outcome: PaymentOutcome,
) -> Result<ReportPaymentResponse, tonic::Status> {
    let paid_at_ms = if outcome == PaymentOutcome::Success { server.now_ms() } else { 0 };
    pay_at(server, show_id, user_id, txn_id, outcome, paid_at_ms).await
}

async fn pay_at(
    server: &Client,
    show_id: u64,
    user_id: u64,
    txn_id: &str,
    outcome: PaymentOutcome,
    paid_at_ms: u64,
) -> Result<ReportPaymentResponse, tonic::Status> {
    let request = ReportPaymentRequest {
        show_id,
        user_id,
        txn_id: txn_id.into(),
        outcome: outcome as i32,
        paid_at_ms,
    };
    show(server).report_payment(request).await.map(tonic::Response::into_inner)
}

async fn enable(server: &Client, uid: u64, call_id: u64) -> u32 {
    let request = GetShowEnableRequest { uid, call_id };
    show(server).get_show_enable(request).await.expect("GetShowEnable").into_inner().show_enable
}

/// Every check of the whole story, on the deployment's database.
async fn story(deployment: &Deployment) {
    let server = deployment.spawn().await;
    let server = &*server;
    let log = EventLog::subscribe_with(server, show_filter()).await;
    let mut steps = Steps::new(&log, show_filter());
    let started = now_secs(server);

    // -- the catalogue (Admin) and what the gateway reads of it --------------------------------
    put_show_catalogue(server).await;
    let offered = show(server).list_show_gifts(ListShowGiftsRequest {}).await.unwrap().into_inner();
    assert_eq!(offered.gifts, vec![show_gift(SHOW_GIFT), show_gift(SHOW_VIP_GIFT)]);
    let all = server.admin().list_show_gifts(AdminListShowGifts {}).await.unwrap().into_inner();
    assert_eq!(all.gifts.len(), 3, "the retired gift stays in the catalogue");

    // -- showEnable of the call's two parties (paycall/call, paycall/answer) -------------------
    assert_eq!(enable(server, USER, CALL).await, 1);
    assert_eq!(enable(server, ANCHOR, CALL).await, 1);
    show(server)
        .set_show_enable(SetShowEnableRequest { uid: USER_OFF, show_enable: 0 })
        .await
        .expect("SetShowEnable");
    assert_eq!(enable(server, USER_OFF, CALL_OFF).await, 0);
    assert_eq!(enable(server, ANCHOR, CALL_OFF).await, 1);
    let error = show(server)
        .user_invite(UserInviteRequest {
            call_id: CALL_OFF,
            user_id: USER_OFF,
            anchor_id: ANCHOR,
            gid: SHOW_GIFT,
        })
        .await
        .unwrap_err();
    assert_business(&error, tonic::Code::FailedPrecondition, "403400405");

    // -- diagram 1: the anchor invites, the user's balance is too low, then the user pays ------
    let before = now_secs(server);
    let invited = show(server)
        .anchor_invite(AnchorInviteRequest {
            call_id: CALL,
            anchor_id: ANCHOR,
            user_id: USER,
            gid: SHOW_GIFT,
        })
        .await
        .expect("AnchorInvite")
        .into_inner()
        .show
        .expect("the show");
    let s1 = invited.show_id;
    assert_eq!(
        (invited.call_id, invited.anchor_id, invited.user_id, invited.gid),
        (CALL, ANCHOR, USER, SHOW_GIFT)
    );
    assert_eq!(invited.inviter_type, WireInviter::Anchor as i32);
    assert_eq!(invited.status, ShowStatus::Invited as i32);
    assert_eq!(invited.expire_time, invited.ctime + 60);
    let msg = nt("show_anchor_invite_nt", 51, ANCHOR, USER, false, s1, CALL, SHOW_GIFT);
    steps.expect_exactly("51 to the user", vec![msg.pred(before, now_secs(server))]).await;
    // One open invitation per call.
    let error = show(server)
        .user_invite(UserInviteRequest {
            call_id: CALL,
            user_id: USER,
            anchor_id: ANCHOR,
            gid: SHOW_GIFT,
        })
        .await
        .unwrap_err();
    assert_business(&error, tonic::Code::FailedPrecondition, "403400401");

    let before = now_secs(server);
    let low = pay(server, s1, USER, "pay-1a", PaymentOutcome::InsufficientBalance).await.unwrap();
    assert_eq!((low.chat_type, low.status), (57, ShowStatus::Invited as i32));
    let msg = nt("show_user_balance_nt", 57, USER, ANCHOR, true, s1, CALL, SHOW_GIFT);
    steps.expect_exactly("57 to the anchor", vec![msg.pred(before, now_secs(server))]).await;

    let before = now_secs(server);
    let paid = pay(server, s1, USER, "pay-1b", PaymentOutcome::Success).await.unwrap();
    assert_eq!((paid.chat_type, paid.status), (54, ShowStatus::Paid as i32));
    let msg = nt("show_user_accept_nt", 54, USER, ANCHOR, true, s1, CALL, SHOW_GIFT);
    steps.expect_exactly("54 to the anchor", vec![msg.pred(before, now_secs(server))]).await;

    // The same report delivered twice at once, and the first one's again: changes nothing,
    // answers as the first time, tells nobody.
    let (again, twice) = tokio::join!(
        pay(server, s1, USER, "pay-1b", PaymentOutcome::Success),
        pay(server, s1, USER, "pay-1b", PaymentOutcome::Success)
    );
    assert_eq!((again.unwrap(), twice.unwrap()), (paid, paid));
    assert_eq!(
        pay(server, s1, USER, "pay-1a", PaymentOutcome::InsufficientBalance).await.unwrap(),
        low
    );
    // Another payment of the paid show: 026.
    let error = pay(server, s1, USER, "pay-1c", PaymentOutcome::Success).await.unwrap_err();
    assert_business(&error, tonic::Code::FailedPrecondition, "403400026");

    // The show's gift also flows through Gifts.RecordGift, with the call and the show id as the
    // gateway sets them on a payment in a call: recorded once by the ledger (the retry is a
    // duplicate), it scores nowhere — not even in a gift PK of a live show whose id happens to
    // be the show's, over the same gift, which a live room's gift does count in — and it moves
    // no show.
    let mut gift_pk = GiftPkClient::new(server.channel.clone());
    let live_pk = gift_pk
        .create(GiftPkCreate {
            show_id: s1,
            singer_id: ANCHOR_2,
            gifts: [SHOW_GIFT, 99]
                .map(|gift_id| GiftpkGift {
                    gift_id,
                    gift_name: format!("g{gift_id}"),
                    ..Default::default()
                })
                .into(),
            duration: 60,
        })
        .await
        .expect("a gift PK in live show s1")
        .into_inner()
        .pkid;
    let gift = RecordGiftRequest {
        gift_txn_id: "pay-1b".into(),
        sender: Some(user(USER)),
        receiver_id: ANCHOR,
        room_sid: CALL,
        gift_id: SHOW_GIFT,
        gift_count: 1,
        unit_value: 100,
        sent_at_ms: server.now_ms(),
        show_id: Some(s1),
        call_id: Some(CALL),
    };
    let first = server.gifts().record_gift(gift.clone()).await.unwrap().into_inner();
    assert!(!first.duplicate && first.changes.is_empty(), "{first:?}");
    assert!(server.gifts().record_gift(gift.clone()).await.unwrap().into_inner().duplicate);
    let in_the_room =
        RecordGiftRequest { gift_txn_id: "room-1".into(), call_id: None, ..gift.clone() };
    let counted = server.gifts().record_gift(in_the_room).await.unwrap().into_inner();
    let modes: Vec<(i32, u64)> =
        counted.changes.iter().map(|change| (change.mode, change.pkid)).collect();
    assert_eq!(modes, vec![(Mode::Giftpk as i32, live_pk)], "the same gift in the live show");
    gift_pk
        .close(GiftPkClose { show_id: s1, pkid: live_pk, singer_id: ANCHOR_2 })
        .await
        .expect("Close the gift PK");

    let finished = show(server)
        .finish(FinishRequest { show_id: s1, anchor_id: ANCHOR })
        .await
        .expect("Finish")
        .into_inner()
        .show
        .unwrap();
    assert!(finished.finish_time >= finished.pay_time && finished.pay_time > 0);
    let rated = show(server)
        .rate(RateRequest { show_id: s1, call_id: 0, user_id: USER, show_rating: 5 })
        .await
        .expect("Rate")
        .into_inner()
        .show
        .unwrap();
    assert_eq!(rated.show_rating, 5);
    let error = show(server)
        .rate(RateRequest { show_id: s1, call_id: 0, user_id: USER, show_rating: 2 })
        .await
        .unwrap_err();
    assert_business(&error, tonic::Code::FailedPrecondition, "403400404");

    // -- diagram 2: the anchor invites, the user rejects ---------------------------------------
    let before = now_secs(server);
    let s2 = show(server)
        .anchor_invite(AnchorInviteRequest {
            call_id: CALL,
            anchor_id: ANCHOR,
            user_id: USER,
            gid: SHOW_VIP_GIFT,
        })
        .await
        .expect("AnchorInvite")
        .into_inner()
        .show
        .unwrap()
        .show_id;
    let msg = nt("show_anchor_invite_nt", 51, ANCHOR, USER, false, s2, CALL, SHOW_VIP_GIFT);
    steps.expect_exactly("51 to the user", vec![msg.pred(before, now_secs(server))]).await;
    // The anchor does not answer her own invitation.
    let error = show(server)
        .anchor_accept(AnchorAcceptRequest { show_id: s2, anchor_id: ANCHOR })
        .await
        .unwrap_err();
    assert_business(&error, tonic::Code::PermissionDenied, "403400021");
    let before = now_secs(server);
    let rejected = show(server)
        .user_reject(UserRejectRequest { show_id: s2, user_id: USER })
        .await
        .expect("UserReject")
        .into_inner()
        .show
        .unwrap();
    assert_eq!(rejected.status, ShowStatus::UserRejected as i32);
    let msg = nt("show_user_reject_nt", 56, USER, ANCHOR, true, s2, CALL, SHOW_VIP_GIFT);
    steps.expect_exactly("56 to the anchor", vec![msg.pred(before, now_secs(server))]).await;

    // -- diagram 3: the user invites, the anchor accepts, the user pays ------------------------
    let before = now_secs(server);
    let s3 = show(server)
        .user_invite(UserInviteRequest {
            call_id: CALL,
            user_id: USER,
            anchor_id: ANCHOR,
            gid: SHOW_VIP_GIFT,
        })
        .await
        .expect("UserInvite")
        .into_inner()
        .show
        .unwrap()
        .show_id;
    let msg = nt("show_user_invite_nt", 52, USER, ANCHOR, true, s3, CALL, SHOW_VIP_GIFT);
    steps.expect_exactly("52 to the anchor", vec![msg.pred(before, now_secs(server))]).await;
    // No payment before the anchor accepted.
    let error = pay(server, s3, USER, "pay-3", PaymentOutcome::Success).await.unwrap_err();
    assert_business(&error, tonic::Code::FailedPrecondition, "403400402");
    let before = now_secs(server);
    let accepted = show(server)
        .anchor_accept(AnchorAcceptRequest { show_id: s3, anchor_id: ANCHOR })
        .await
        .expect("AnchorAccept")
        .into_inner()
        .show
        .unwrap();
    assert_eq!(accepted.status, ShowStatus::Accepted as i32);
    assert_eq!(accepted.expire_time, accepted.answer_time + 60);
    let msg = nt("show_anchor_accept_nt", 53, ANCHOR, USER, false, s3, CALL, SHOW_VIP_GIFT);
    steps.expect_exactly("53 to the user", vec![msg.pred(before, now_secs(server))]).await;
    let before = now_secs(server);
    let paid_self = pay(server, s3, USER, "pay-3", PaymentOutcome::Success).await.unwrap();
    assert_eq!((paid_self.chat_type, paid_self.status), (58, ShowStatus::Paid as i32));
    let msg = nt("show_user_accept_self_nt", 58, USER, ANCHOR, true, s3, CALL, SHOW_VIP_GIFT);
    steps.expect_exactly("58 to the anchor", vec![msg.pred(before, now_secs(server))]).await;
    // Rated through the call evaluation by call: the call's latest paid show.
    let rated = show(server)
        .rate(RateRequest { show_id: 0, call_id: CALL, user_id: USER, show_rating: 4 })
        .await
        .expect("Rate by call")
        .into_inner()
        .show
        .unwrap();
    assert_eq!((rated.show_id, rated.show_rating), (s3, 4));

    // -- diagram 4: the user invites, the anchor rejects ---------------------------------------
    let before = now_secs(server);
    let s4 = show(server)
        .user_invite(UserInviteRequest {
            call_id: CALL,
            user_id: USER,
            anchor_id: ANCHOR,
            gid: SHOW_GIFT,
        })
        .await
        .expect("UserInvite")
        .into_inner()
        .show
        .unwrap()
        .show_id;
    let msg = nt("show_user_invite_nt", 52, USER, ANCHOR, true, s4, CALL, SHOW_GIFT);
    steps.expect_exactly("52 to the anchor", vec![msg.pred(before, now_secs(server))]).await;
    let before = now_secs(server);
    let rejected = show(server)
        .anchor_reject(AnchorRejectRequest { show_id: s4, anchor_id: ANCHOR })
        .await
        .expect("AnchorReject")
        .into_inner()
        .show
        .unwrap();
    assert_eq!(rejected.status, ShowStatus::AnchorRejected as i32);
    let msg = nt("show_anchor_reject_nt", 55, ANCHOR, USER, false, s4, CALL, SHOW_GIFT);
    steps.expect_exactly("55 to the user", vec![msg.pred(before, now_secs(server))]).await;
    // Answered: 026.
    let error = show(server)
        .anchor_accept(AnchorAcceptRequest { show_id: s4, anchor_id: ANCHOR })
        .await
        .unwrap_err();
    assert_business(&error, tonic::Code::FailedPrecondition, "403400026");

    // -- another anchor's paid show, then an invitation that lapses (2 s) ----------------------
    let before = now_secs(server);
    let s5 = show(server)
        .anchor_invite(AnchorInviteRequest {
            call_id: CALL_2,
            anchor_id: ANCHOR_2,
            user_id: USER_3,
            gid: SHOW_VIP_GIFT,
        })
        .await
        .expect("AnchorInvite")
        .into_inner()
        .show
        .unwrap()
        .show_id;
    pay(server, s5, USER_3, "pay-5", PaymentOutcome::Success).await.unwrap();
    steps
        .expect_exactly(
            "51 then 54 of the second call",
            vec![
                nt("show_anchor_invite_nt", 51, ANCHOR_2, USER_3, false, s5, CALL_2, SHOW_VIP_GIFT)
                    .pred(before, now_secs(server)),
                nt("show_user_accept_nt", 54, USER_3, ANCHOR_2, true, s5, CALL_2, SHOW_VIP_GIFT)
                    .pred(before, now_secs(server)),
            ],
        )
        .await;

    server.set_config("show.invite_seconds", "2").await;
    let before = now_secs(server);
    let s6 = show(server)
        .anchor_invite(AnchorInviteRequest {
            call_id: CALL_2,
            anchor_id: ANCHOR_2,
            user_id: USER_3,
            gid: SHOW_GIFT,
        })
        .await
        .expect("AnchorInvite")
        .into_inner()
        .show
        .unwrap()
        .show_id;
    let msg = nt("show_anchor_invite_nt", 51, ANCHOR_2, USER_3, false, s6, CALL_2, SHOW_GIFT);
    steps.expect_exactly("51 to the third user", vec![msg.pred(before, now_secs(server))]).await;
    let database =
        Database::connect(&deployment.database_url).await.expect("the server's SQL database");
    let database = &database;
    let lapsed_row = eventually(
        "the invitation to lapse, in the store and in tb_show",
        Duration::from_secs(10),
        || async move {
            let lapsed = show_info(server, s6).await.status == ShowStatus::Lapsed as i32;
            let row = database.get_show(s6).await.unwrap();
            row.filter(|row| lapsed && row.status == livepk_sql::ShowStatus::Lapsed)
        },
    )
    .await;
    assert_eq!(lapsed_row.expire_time, lapsed_row.ctime + 2);
    // A payment charged after the lapse: 026 (the gateway refunds it).
    let charged_late = (lapsed_row.expire_time + 1) * 1000;
    let success = PaymentOutcome::Success;
    let error = pay_at(server, s6, USER_3, "pay-6", success, charged_late).await.unwrap_err();
    assert_business(&error, tonic::Code::FailedPrecondition, "403400026");
    // One charged before the lapse (in the second before the expiry's), reported after it: the
    // money was taken in time, so the show is paid after all and the anchor told.
    let charged_in_time = lapsed_row.expire_time * 1000 - 1;
    let before = now_secs(server);
    let paid_late = pay_at(server, s6, USER_3, "pay-6b", success, charged_in_time).await.unwrap();
    assert_eq!((paid_late.chat_type, paid_late.status), (54, ShowStatus::Paid as i32));
    let msg = nt("show_user_accept_nt", 54, USER_3, ANCHOR_2, true, s6, CALL_2, SHOW_GIFT);
    steps
        .expect_exactly(
            "54 for the payment charged in time",
            vec![msg.pred(before, now_secs(server))],
        )
        .await;
    let ended = now_secs(server);

    // -- no other message (the lapse has none) -------------------------------------------------
    steps.expect_end(server, |_| false).await;

    // -- the tb_show rows ----------------------------------------------------------------------
    let row =
        |show_id| async move { database.get_show(show_id).await.unwrap().expect("a tb_show row") };
    let check = |row: &ShowRow, inviter, gid, status, txn: &str, finished: bool, rating| {
        assert_eq!(
            (row.inviter_type, row.gid, row.status, row.pay_txn_id.as_str()),
            (inviter, gid, status, txn),
            "{row:?}"
        );
        assert!((started..=ended).contains(&row.ctime), "{row:?}");
        assert_eq!(row.finish_time > 0, finished, "{row:?}");
        assert_eq!(row.rating, rating, "{row:?}");
    };
    use livepk_sql::ShowStatus as Status;
    let rows =
        [row(s1).await, row(s2).await, row(s3).await, row(s4).await, row(s5).await, row(s6).await];
    check(&rows[0], InviterType::Anchor, SHOW_GIFT, Status::Paid, "pay-1b", true, 5);
    check(&rows[1], InviterType::Anchor, SHOW_VIP_GIFT, Status::UserRejected, "", false, 0);
    check(&rows[2], InviterType::User, SHOW_VIP_GIFT, Status::Paid, "pay-3", false, 4);
    check(&rows[3], InviterType::User, SHOW_GIFT, Status::AnchorRejected, "", false, 0);
    check(&rows[4], InviterType::Anchor, SHOW_VIP_GIFT, Status::Paid, "pay-5", false, 0);
    check(&rows[5], InviterType::Anchor, SHOW_GIFT, Status::Paid, "pay-6b", false, 0);
    for (row, show_id, call_id, anchor_id, user_id) in [
        (&rows[0], s1, CALL, ANCHOR, USER),
        (&rows[3], s4, CALL, ANCHOR, USER),
        (&rows[5], s6, CALL_2, ANCHOR_2, USER_3),
    ] {
        assert_eq!(
            (row.show_id, row.call_id, row.anchor_id, row.user_id),
            (show_id, call_id, anchor_id, user_id)
        );
    }
    assert!(rows[1].answer_time > 0 && rows[2].answer_time > 0 && rows[3].answer_time > 0);
    // Lapsed, then paid by the payment charged in time: paid at its charge time, no expiry.
    assert_eq!((rows[5].pay_time, rows[5].expire_time), (lapsed_row.expire_time - 1, 0));
    assert_eq!(rows[5].version, lapsed_row.version + 1);
    // The rows are the shows as the store has them.
    for (row, show_id) in rows.iter().zip([s1, s2, s3, s4, s5, s6]) {
        let info = show_info(server, show_id).await;
        assert_eq!(
            (info.status, info.pay_time, info.finish_time, info.show_rating, info.answer_time),
            (
                row.status.number() as i32,
                row.pay_time,
                row.finish_time,
                row.rating,
                row.answer_time
            ),
            "show {show_id}"
        );
    }

    // -- the show-income ranking (sub_type 9) --------------------------------------------------
    let ranking = show(server)
        .get_income_ranking(GetIncomeRankingRequest {
            period: RankingPeriod::Day as i32,
            page_num: 0,
            page_size: 0,
        })
        .await
        .expect("GetIncomeRanking")
        .into_inner();
    // Today in UTC+8; the shows were paid within the last seconds, so today unless the story
    // ran across midnight there: the expected rows are those paid inside the answered period.
    let in_period = |row: &ShowRow| (ranking.from_time..ranking.to_time).contains(&row.pay_time);
    let income = |anchor: u64| -> (u64, u64) {
        rows.iter()
            .filter(|row| row.anchor_id == anchor && row.pay_time > 0 && in_period(row))
            .fold((0, 0), |(coins, shows), row| (coins + show_gift(row.gid).price, shows + 1))
    };
    let mut expected: Vec<IncomeRankingRow> = [ANCHOR, ANCHOR_2]
        .into_iter()
        .map(|anchor_id| (anchor_id, income(anchor_id)))
        .filter(|(_, (coins, _))| *coins > 0)
        .map(|(anchor_id, (income, shows))| IncomeRankingRow { rank: 0, anchor_id, income, shows })
        .collect();
    expected.sort_by_key(|row| std::cmp::Reverse(row.income));
    for (rank, row) in expected.iter_mut().enumerate() {
        row.rank = rank as u32 + 1;
    }
    assert_eq!(ranking.to_time - ranking.from_time, 86_400);
    assert_eq!((ranking.rows, ranking.total), (expected.clone(), expected.len() as u64));
    if expected.len() == 2 {
        // The usual case: anchor 1001 earned 100 + 300, anchor 1002 300 + 100 — a tie, which
        // 1001 reached first.
        let summary: Vec<(u64, u64, u64)> =
            expected.iter().map(|row| (row.anchor_id, row.income, row.shows)).collect();
        assert_eq!(summary, vec![(ANCHOR, 400, 2), (ANCHOR_2, 400, 2)]);
    }

    // -- the back office's statistics ------------------------------------------------------------
    let statistics = server
        .admin()
        .get_show_statistics(GetShowStatisticsRequest { from_time: started, to_time: ended + 1 })
        .await
        .expect("GetShowStatistics")
        .into_inner();
    let rating_counts = (1..=5u32)
        .map(|show_rating| ShowRatingCount {
            show_rating,
            shows: u64::from(show_rating == 4 || show_rating == 5),
        })
        .collect();
    assert_eq!(
        statistics,
        GetShowStatisticsResponse {
            // s1, s2, s5, s6 by anchors; s3, s4 by the user.
            anchor_invites: 4,
            user_invites: 2,
            // Call 3001 (both parties 1); call 3005 had a 0.
            calls_show_enabled: 1,
            paid_shows: 4,
            successful_shows: 1,
            coins: 100 + 300 + 300 + 100,
            rated_shows: 2,
            average_rating: 4.5,
            rating_counts,
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_whole_interactive_show_story_on_sqlite() {
    let deployment = Deployment::new();
    story(&deployment).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_whole_interactive_show_story_on_mariadb() {
    let database = MysqlDatabase::create().await;
    let mut deployment = Deployment::new();
    deployment.database_url = database.url.clone();
    // Dropped also when the story fails (the panic is carried across the clean-up).
    let outcome =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(story(&deployment))).await;
    drop(deployment);
    database.drop_database().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
