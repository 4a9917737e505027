//! Race-shaped sequences on Redis (real round trips, so the two commands of a `join!`
//! interleave): a payment report delivered twice at once, two payments of one show, two
//! invitations of one call, a rejection racing the payment; and a command against the expiry
//! job in each order. Each must end in one consistent outcome, with one message.

use super::*;

#[tokio::test]
async fn a_payment_report_delivered_twice_at_once_counts_once_and_answers_alike() {
    let mut world = World::on_redis().await;
    world.anchor_invite(CALL, ANCHOR, USER, GIFT).await.unwrap();
    let paid_at = world.now();
    let report = || payment(1, USER, "pay-42", PaymentOutcome::Success, Some(paid_at));
    let (first, second) = tokio::join!(
        world.adapter.report_payment(report()),
        world.adapter.report_payment(report())
    );
    let expected = PaymentAnswer { chat_type: ChatType::UserAccept, status: ShowStatus::Paid };
    assert_eq!((first.unwrap(), second.unwrap()), (expected, expected));
    world.step(Ok(())).await.unwrap();
    assert_eq!(world.summary().await, "#1 paid | 54>a10", "one message for the two reports");
    assert_eq!(world.show(1).await.payments.len(), 1);
    // And again later, after the show moved on: still the first answer, nothing else.
    world.finish(1, ANCHOR).await.unwrap();
    assert_eq!(world.adapter.report_payment(report()).await.unwrap(), expected);
    world.step(Ok(())).await.unwrap();
    assert_eq!(world.summary().await, "#1 paid fin |");
}

#[tokio::test]
async fn an_insufficient_balance_report_delivered_twice_at_once_tells_the_anchor_once() {
    let mut world = World::on_redis().await;
    world.anchor_invite(CALL, ANCHOR, USER, GIFT).await.unwrap();
    let report = || payment(1, USER, "low-1", PaymentOutcome::InsufficientBalance, None);
    let (first, second) = tokio::join!(
        world.adapter.report_payment(report()),
        world.adapter.report_payment(report())
    );
    assert_eq!(first.unwrap(), second.unwrap());
    world.step(Ok(())).await.unwrap();
    assert_eq!(world.summary().await, "#1 invited>user | 57>a10");
}

#[tokio::test]
async fn two_payments_of_one_show_at_once_the_second_is_refused() {
    let mut world = World::on_redis().await;
    world.user_invite(CALL, USER, ANCHOR, GIFT).await.unwrap();
    world.anchor_accept(1, ANCHOR).await.unwrap();
    let paid_at = world.now();
    let report = |id: &str| payment(1, USER, id, PaymentOutcome::Success, Some(paid_at));
    let (first, second) = tokio::join!(
        world.adapter.report_payment(report("pay-a")),
        world.adapter.report_payment(report("pay-b"))
    );
    let (won, lost) = match (first, second) {
        (Ok(answer), Err(error)) => (("pay-a", answer), error),
        (Err(error), Ok(answer)) => (("pay-b", answer), error),
        other => panic!("exactly one payment wins: {other:?}"),
    };
    assert_eq!(Refusal(lost).short(), "err 026 FailedPrecondition");
    assert_eq!(won.1.chat_type, ChatType::UserAcceptSelf);
    world.step(Ok(())).await.unwrap();
    assert_eq!(world.summary().await, "#1 paid | 58>a10");
    assert!(
        matches!(&world.show(1).await.stage, ShowStage::Paid { txn_id, .. } if txn_id.as_str() == won.0)
    );
}

#[tokio::test]
async fn two_invitations_of_one_call_at_once_one_is_open() {
    let mut world = World::on_redis().await;
    let (by_anchor, by_user) = tokio::join!(
        world.adapter.invite(
            Party::Anchor,
            call(CALL),
            anchor(ANCHOR),
            user(USER),
            GiftId::from_trusted(GIFT)
        ),
        world.adapter.invite(
            Party::User,
            call(CALL),
            anchor(ANCHOR),
            user(USER),
            GiftId::from_trusted(VIP_GIFT)
        )
    );
    let (open, refused) = match (by_anchor, by_user) {
        (Ok(show), Err(error)) | (Err(error), Ok(show)) => (show, error),
        other => panic!("exactly one invitation is open: {other:?}"),
    };
    assert_eq!(Refusal(refused).short(), "err 401 FailedPrecondition");
    world.step(Ok(())).await.unwrap();
    assert_eq!(world.last.len(), 1, "{:?}", world.last);
    let stored = world.adapter.call(call(CALL)).await.unwrap().unwrap();
    assert_eq!(stored.open.map(|open| open.show), Some(open.show_id));
    assert_eq!(world.shows().await, vec![open]);
}

#[tokio::test]
async fn a_rejection_racing_the_payment_one_of_them_answers() {
    let mut world = World::on_redis().await;
    world.anchor_invite(CALL, ANCHOR, USER, GIFT).await.unwrap();
    let report = payment(1, USER, "pay-1", PaymentOutcome::Success, Some(world.now()));
    let (rejected, paid) = tokio::join!(
        world.adapter.user_reject(show_id(1), user(USER)),
        world.adapter.report_payment(report)
    );
    world.step(Ok(())).await.unwrap();
    match (rejected, paid) {
        (Ok(_), Err(error)) => {
            assert_eq!(Refusal(error).short(), "err 026 FailedPrecondition");
            assert_eq!(world.summary().await, "#1 user_rejected | 56>a10");
        }
        (Err(error), Ok(_)) => {
            assert_eq!(Refusal(error).short(), "err 026 FailedPrecondition");
            assert_eq!(world.summary().await, "#1 paid | 54>a10");
        }
        other => panic!("exactly one answer stands: {other:?}"),
    }
}

#[tokio::test]
async fn the_last_moment_before_the_expiry_still_answers_and_the_job_then_finds_it_answered() {
    let mut world = World::new().await;
    world.user_invite(CALL, USER, ANCHOR, GIFT).await.unwrap();
    world.kit.advance_ms(59_999);
    world.anchor_accept(1, ANCHOR).await.unwrap();
    assert_eq!(world.expire(2).await, 2, "the first expiry (stale) and the safety net ran");
    assert_eq!(world.summary().await, "#1 accepted>user |");
    world.kit.advance_ms(57_999);
    world.pay(1, USER, "pay-1", PaymentOutcome::Success).await.unwrap();
    world.expire(1).await;
    assert_eq!(world.summary().await, "#1 paid |");
}

#[tokio::test]
async fn the_expiry_first_then_the_answer_is_026() {
    let mut world = World::new().await;
    world.user_invite(CALL, USER, ANCHOR, GIFT).await.unwrap();
    world.expire(60).await;
    assert_eq!(world.summary().await, "#1 lapsed |");
    assert_eq!(
        world.anchor_accept(1, ANCHOR).await.unwrap_err().short(),
        "err 026 FailedPrecondition"
    );
    assert_eq!(
        world.pay(1, USER, "pay-1", PaymentOutcome::Success).await.unwrap_err().short(),
        "err 026 FailedPrecondition"
    );
}

/// A payment charged a millisecond before the invitation lapsed, reported after the lapse (the
/// gateway charges first, then reports): it pays for the show — lapsed → paid, the anchor told,
/// the row rewritten — in either order with the expiry job. Charged at the expiry: 026 (the
/// gateway refunds).
#[tokio::test]
async fn a_payment_charged_before_the_lapse_pays_even_when_reported_after_it() {
    for expiry_job_first in [true, false] {
        let mut world = World::new().await;
        world.anchor_invite(CALL, ANCHOR, USER, GIFT).await.unwrap();
        let expires_at = world.now() + 60_000;
        world.advance_secs(61);
        if expiry_job_first {
            world.kit.fire_due_timers().await;
            world.step(Ok(())).await.unwrap();
            assert_eq!(world.summary().await, "#1 lapsed |");
        }
        let late = world.pay_at(1, USER, "pay-late", expires_at).await.unwrap_err();
        assert_eq!(late.short(), "err 026 FailedPrecondition", "charged at the expiry");
        let answer = world.pay_at(1, USER, "pay-1", expires_at - 1).await.unwrap();
        assert_eq!(
            answer,
            PaymentAnswer { chat_type: ChatType::UserAccept, status: ShowStatus::Paid }
        );
        assert_eq!(
            world.summary().await,
            "#1 paid | 54>a10",
            "expiry job first: {expiry_job_first}"
        );
        let show = world.show(1).await;
        assert_eq!(show.paid_at_ms(), Some(expires_at - 1));
        assert_eq!(show.version, if expiry_job_first { 3 } else { 2 });
        // The expiry job, late or stale, finds it paid; the row stays paid.
        world.kit.fire_due_timers().await;
        world.step(Ok(())).await.unwrap();
        assert_eq!(world.summary().await, "#1 paid |");
        let row = world.kit.engine().database.get_show(1).await.unwrap().unwrap();
        assert_eq!(
            (row.status, row.pay_time, row.pay_txn_id.as_str()),
            (livepk_sql::ShowStatus::Paid, (expires_at - 1) / 1000, "pay-1")
        );
    }
}

/// The show's gift also goes through `Gifts.RecordGift` with the call and the show id: the
/// ledger records it once (a retry is a duplicate), no mode claims it, and it moves nothing in
/// the show — the payment report is the authoritative path.
#[tokio::test]
async fn the_shows_gift_through_the_ledger_changes_no_show() {
    let mut world = World::new().await;
    world.anchor_invite(CALL, ANCHOR, USER, GIFT).await.unwrap();
    world.pay(1, USER, "pay-1", PaymentOutcome::Success).await.unwrap();
    let before = world.shows().await;
    let gift = livepk_core::Gift {
        gift_txn_id: "pay-1".into(),
        sender: livepk_core::SenderProfile {
            user_id: user(USER),
            user_nick: "fan".into(),
            user_icon: String::new(),
            user_level: 1,
            user_wealth: 1,
        },
        receiver_id: livepk_core::ReceiverId::from_trusted(ANCHOR),
        room_sid: livepk_core::RoomSid::from_trusted(CALL),
        gift_id: GiftId::from_trusted(GIFT),
        gift_count: 1,
        unit_value: 100,
        sent_at_ms: world.now(),
        show_id: Some(1),
        call_id: Some(CALL),
    };
    let ledger = &world.kit.runtime.ledger;
    let first = ledger.record(&gift).await.unwrap();
    assert!(!first.duplicate && first.changes.is_empty(), "{first:?}");
    assert!(ledger.record(&gift).await.unwrap().duplicate);
    world.step(Ok(())).await.unwrap();
    assert_eq!(world.shows().await, before);
    assert!(world.last.is_empty());
}
