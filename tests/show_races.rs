//! InteractiveShow races against a real Redis, through servers in this process on a manual clock:
//! instead of sleeping until an invitation lapses the test moves the clock to the expiry plus an
//! exact offset; each server's delay-queue poller fires a due job on its own within its poll
//! interval. Two replicas share one Redis prefix and one SQL database. Each race must end in one
//! consistent outcome: a payment report delivered to both replicas at once, two invitations of
//! one call on two replicas, an acceptance against the expiry in both orders, the lapse
//! reaching `tb_show` once, and a payment charged just before the lapse but reported after it.

mod support;

use livepk::pb::show::{
    AnchorAcceptRequest, AnchorInviteRequest, GetShowRequest, PaymentOutcome, ReportPaymentRequest,
    ShowStatus, UserInviteRequest,
};
use livepk_core::{Clock, ManualClock};
use livepk_sql::Database;
use support::*;
use tonic::Code;

const ANCHOR: u64 = 1001;
const USER: u64 = 2001;
const CALL: u64 = 3001;
/// `show.invite_seconds` of these tests.
const INVITE_MS: u64 = 60_000;

/// Two replicas on one manual clock, with the catalogue.
async fn replicas() -> (TestServer, TestServer, ManualClock) {
    let clock = manual_clock();
    let first = TestServer::start_on(&clock).await;
    let second = first.replica().await;
    put_show_catalogue(&first).await;
    (first, second, clock)
}

async fn anchor_invite(server: &Client) -> u64 {
    let request =
        AnchorInviteRequest { call_id: CALL, anchor_id: ANCHOR, user_id: USER, gid: SHOW_GIFT };
    show(server)
        .anchor_invite(request)
        .await
        .expect("AnchorInvite")
        .into_inner()
        .show
        .unwrap()
        .show_id
}

async fn user_invite(server: &Client) -> u64 {
    let request =
        UserInviteRequest { call_id: CALL, user_id: USER, anchor_id: ANCHOR, gid: SHOW_GIFT };
    show(server).user_invite(request).await.expect("UserInvite").into_inner().show.unwrap().show_id
}

async fn status(server: &Client, show_id: u64) -> i32 {
    let response = show(server).get_show(GetShowRequest { show_id }).await.expect("GetShow");
    response.into_inner().show.unwrap().status
}

/// A success charged at `paid_at_ms`.
fn payment(show_id: u64, txn_id: &str, paid_at_ms: u64) -> ReportPaymentRequest {
    ReportPaymentRequest {
        show_id,
        user_id: USER,
        txn_id: txn_id.into(),
        outcome: PaymentOutcome::Success as i32,
        paid_at_ms,
    }
}

/// The show events of the stream, as (type, pkid).
async fn events(server: &Client) -> Vec<(String, u64)> {
    let events = fetch_matching(server, &show_filter()).await;
    events.into_iter().map(|event| (event.r#type, event.pkid)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_report_delivered_to_two_replicas_at_once_counts_once() {
    let (first, second, clock) = replicas().await;
    let show_id = anchor_invite(&first).await;
    let (mut to_first, mut to_second) = (show(&first), show(&second));
    let paid_at = clock.now_ms();
    let (a, b) = tokio::join!(
        to_first.report_payment(payment(show_id, "pay-1", paid_at)),
        to_second.report_payment(payment(show_id, "pay-1", paid_at))
    );
    let (a, b) = (a.expect("first replica").into_inner(), b.expect("second replica").into_inner());
    assert_eq!(a, b, "both answer as the first time");
    assert_eq!((a.chat_type, a.status), (54, ShowStatus::Paid as i32));
    assert_eq!(
        events(&first).await,
        vec![("show_anchor_invite_nt".into(), show_id), ("show_user_accept_nt".into(), show_id)],
        "one 54 for the two reports"
    );
    let database = Database::connect(&first.database_url).await.unwrap();
    let row = database.get_show(show_id).await.unwrap().unwrap();
    assert_eq!((row.pay_txn_id.as_str(), row.version), ("pay-1", 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_invitations_of_one_call_on_two_replicas_one_is_open() {
    let (first, second, _clock) = replicas().await;
    let by_anchor =
        AnchorInviteRequest { call_id: CALL, anchor_id: ANCHOR, user_id: USER, gid: SHOW_GIFT };
    let (mut to_first, mut to_second) = (show(&first), show(&second));
    let by_user =
        UserInviteRequest { call_id: CALL, user_id: USER, anchor_id: ANCHOR, gid: SHOW_GIFT };
    let (anchor_side, user_side) =
        tokio::join!(to_first.anchor_invite(by_anchor), to_second.user_invite(by_user));
    let refused = match (anchor_side, user_side) {
        (Ok(_), Err(status)) | (Err(status), Ok(_)) => status,
        other => panic!("exactly one invitation is open: {other:?}"),
    };
    assert_business(&refused, Code::FailedPrecondition, "403400401");
    assert_eq!(events(&first).await.len(), 1, "one invitation message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_acceptance_just_before_the_expiry_stands_and_the_expiry_finds_it_answered() {
    let (first, second, clock) = replicas().await;
    let show_id = user_invite(&first).await;
    let invited_at = clock.now_ms();
    clock.set_ms(invited_at + INVITE_MS - 1);
    let accepted = show(&second)
        .anchor_accept(AnchorAcceptRequest { show_id, anchor_id: ANCHOR })
        .await
        .expect("AnchorAccept a millisecond before the expiry");
    assert_eq!(accepted.into_inner().show.unwrap().status, ShowStatus::Accepted as i32);
    // The first expiry is due now: a poller runs it, and it finds the invitation answered.
    clock.set_ms(invited_at + INVITE_MS);
    first.wait_due_timers_claimed().await;
    second.wait_due_timers_claimed().await;
    assert_eq!(status(&first, show_id).await, ShowStatus::Accepted as i32);
    // The payment's own expiry, a minute after the acceptance, lapses it.
    clock.set_ms(invited_at + 2 * INVITE_MS + 10_000);
    first.wait_timers_done().await;
    assert_eq!(status(&first, show_id).await, ShowStatus::Lapsed as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_expiry_first_then_the_acceptance_is_026_and_the_lapse_is_written_once() {
    let (first, second, clock) = replicas().await;
    let show_id = user_invite(&first).await;
    clock.advance_ms(INVITE_MS);
    // Both replicas poll: the expiry runs on one of them, once.
    let first_ref = &first;
    eventually("the invitation to lapse", SETTLE_SLACK, || async move {
        (status(first_ref, show_id).await == ShowStatus::Lapsed as i32).then_some(())
    })
    .await;
    let error = show(&second)
        .anchor_accept(AnchorAcceptRequest { show_id, anchor_id: ANCHOR })
        .await
        .unwrap_err();
    assert_business(&error, Code::FailedPrecondition, "403400026");
    clock.advance_ms(10_000);
    first.wait_timers_done().await;
    let database = Database::connect(&first.database_url).await.unwrap();
    let row = database.get_show(show_id).await.unwrap().unwrap();
    assert_eq!((row.status, row.version), (livepk_sql::ShowStatus::Lapsed, 2));
    assert_eq!(events(&first).await, vec![("show_user_invite_nt".into(), show_id)]);
}

/// The gateway charges first and reports after: a payment charged a millisecond before the
/// invitation lapsed, whose report reaches a replica only after the other one ran the expiry,
/// pays for the show (lapsed → paid, the anchor told, the row rewritten). One charged at the
/// expiry is 026: the gateway refunds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_charged_just_before_the_lapse_and_reported_after_it_pays() {
    let (first, second, clock) = replicas().await;
    let show_id = anchor_invite(&first).await;
    let expires_at = clock.now_ms() + INVITE_MS;
    clock.set_ms(expires_at + 5_000);
    let first_ref = &first;
    eventually("the invitation to lapse", SETTLE_SLACK, || async move {
        (status(first_ref, show_id).await == ShowStatus::Lapsed as i32).then_some(())
    })
    .await;
    first.wait_timers_done().await;
    let database = Database::connect(&first.database_url).await.unwrap();
    let lapsed = database.get_show(show_id).await.unwrap().unwrap();
    assert_eq!((lapsed.status, lapsed.version), (livepk_sql::ShowStatus::Lapsed, 2));

    let error =
        show(&second).report_payment(payment(show_id, "pay-late", expires_at)).await.unwrap_err();
    assert_business(&error, Code::FailedPrecondition, "403400026");
    let paid = show(&second)
        .report_payment(payment(show_id, "pay-1", expires_at - 1))
        .await
        .expect("a payment charged before the lapse")
        .into_inner();
    assert_eq!((paid.chat_type, paid.status), (54, ShowStatus::Paid as i32));
    let info = show(&first).get_show(GetShowRequest { show_id }).await.unwrap().into_inner();
    let info = info.show.unwrap();
    assert_eq!((info.status, info.pay_time), (ShowStatus::Paid as i32, (expires_at - 1) / 1000));
    let row = database.get_show(show_id).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.pay_txn_id.as_str(), row.version),
        (livepk_sql::ShowStatus::Paid, "pay-1", 3)
    );
    assert_eq!(
        events(&first).await,
        vec![("show_anchor_invite_nt".into(), show_id), ("show_user_accept_nt".into(), show_id)],
        "the invitation, and the 54 of the payment in time"
    );
}
