//! `tb_show` follows the store: a commit whose row write was lost (the replica died right after
//! the commit) is healed by the show's sync job, scheduled before the commit; a row write that
//! failed schedules the job again (the first one may have run already); a lapse, which no
//! command writes, reaches SQL through the same job; the job lapses a past-due show itself when
//! the expiry job has not run; requests naming an unknown show leave no job behind.

use livepk_engine::Snapshot;

use super::*;
use crate::adapter::{SYNC_DELAY_MS, SYNC_TOPIC};

fn row_status(row: Option<livepk_sql::ShowRow>) -> Option<livepk_sql::ShowStatus> {
    row.map(|row| row.status)
}

#[tokio::test]
async fn a_commit_whose_row_write_was_lost_is_healed_by_the_sync_job() {
    let mut world = World::new().await;
    world.user_invite(CALL, USER, ANCHOR, GIFT).await.unwrap();
    // What the adapter does for an AnchorAccept, up to the crash: the safety net scheduled,
    // then the commit — and no row write.
    let due = world.now() + SYNC_DELAY_MS;
    let body = b"1".to_vec();
    world.kit.engine().timers.schedule(SYNC_TOPIC, "show.sync:1", due, body).await.unwrap();
    let adapter = &*world.adapter;
    let engine = world.kit.engine().clone();
    let engine = &engine;
    let config = ShowConfig::default();
    engine
        .run(
            adapter,
            || async move {
                let mut snapshot = Snapshot::new();
                let keys = [ShowKey::Show(show_id(1))];
                engine.load_aggregates(adapter, &mut snapshot, &keys).await?;
                Ok((snapshot, ()))
            },
            |snapshot, _, now_ms| {
                let show =
                    snapshot.aggregate(ShowKey::Show(show_id(1))).and_then(ShowState::as_show);
                Ok(crate::anchor_accept(show, show_id(1), anchor(ANCHOR), &config, now_ms)?)
            },
        )
        .await
        .unwrap();
    let database = engine.database.clone();
    assert_eq!(world.show(1).await.status(), ShowStatus::Accepted);
    assert_eq!(
        row_status(database.get_show(1).await.unwrap()),
        Some(livepk_sql::ShowStatus::Invited)
    );
    // The job, when due, writes the truth.
    world.expire(2).await;
    assert_eq!(
        row_status(database.get_show(1).await.unwrap()),
        Some(livepk_sql::ShowStatus::Accepted)
    );
}

#[tokio::test]
async fn a_lapse_reaches_tb_show_and_the_sync_job_stops_once_the_show_is_settled() {
    let mut world = World::new().await;
    world.anchor_invite(CALL, ANCHOR, USER, GIFT).await.unwrap();
    // The safety net after the invitation, then again at its expiry (with the expiry job).
    assert_eq!(world.expire(2).await, 1);
    assert_eq!(world.expire(58).await, 2);
    assert_eq!(world.summary().await, "#1 lapsed |");
    let row = world.kit.engine().database.get_show(1).await.unwrap().unwrap();
    assert_eq!((row.status, row.version), (livepk_sql::ShowStatus::Lapsed, 2));
    // Nothing is left in the queue for the show.
    world.advance_secs(3_600);
    assert_eq!(world.kit.fire_due_timers().await, 0);
}

#[tokio::test]
async fn the_sync_job_lapses_a_past_due_show_whose_expiry_did_not_run() {
    let mut world = World::new().await;
    world.anchor_invite(CALL, ANCHOR, USER, GIFT).await.unwrap();
    world.advance_secs(61);
    // The safety net alone (as if the expiry job had been lost).
    world.adapter.sync(show_id(1)).await.unwrap();
    assert!(matches!(
        world.show(1).await.stage,
        ShowStage::Lapsed { invitation }
            if invitation.expires_at_ms == livepk_engine::testkit::START_MS + 60_000
    ));
    world.step(Ok(())).await.unwrap();
    // The expiry job, late, finds it lapsed.
    world.kit.fire_due_timers().await;
    assert_eq!(world.show(1).await.version, 2);
}

#[tokio::test]
async fn the_sync_job_of_a_show_never_written_does_nothing() {
    let world = World::new().await;
    world.adapter.sync(show_id(9)).await.unwrap();
    assert_eq!(world.kit.engine().database.get_show(9).await.unwrap(), None);
}

#[tokio::test]
async fn a_failed_row_write_schedules_the_sync_job_again() {
    let mut world = World::new().await;
    world.anchor_invite(CALL, ANCHOR, USER, GIFT).await.unwrap();
    world.pay(1, USER, "pay-1", PaymentOutcome::Success).await.unwrap();
    // The payment's safety net and the stale expiry ran: nothing is left in the queue, as when
    // the job scheduled before a slow commit ran before the commit's own row write.
    world.expire(60).await;
    assert_eq!(job_count(&world).await, 0);
    let paid = world.show(1).await;
    // The row write after the commit fails (the database is gone).
    world.kit.engine().database.close().await;
    world.adapter.written(Some(&paid)).await;
    assert_eq!(job_count(&world).await, 1, "the sync job is scheduled again");
    let due = world.kit.engine().store.next_job_due().await.unwrap();
    assert_eq!(due, Some(world.now() + SYNC_DELAY_MS));
}

#[tokio::test]
async fn requests_naming_an_unknown_show_leave_no_job() {
    let mut world = World::new().await;
    world.anchor_invite(CALL, ANCHOR, USER, GIFT).await.unwrap();
    let jobs = job_count(&world).await;
    assert_eq!(jobs, 2, "the invitation's expiry and its safety net");
    assert_eq!(world.finish(77, ANCHOR).await.unwrap_err().short(), "err 021 NotFound");
    assert_eq!(world.user_reject(78, USER).await.unwrap_err().short(), "err 021 NotFound");
    let refusal = world.pay(79, USER, "pay-1", PaymentOutcome::Success).await.unwrap_err();
    assert_eq!(refusal.short(), "err 021 NotFound");
    let rating = RateTarget::Show(show_id(80));
    assert_eq!(world.rate(rating, USER, 3).await.unwrap_err().short(), "err 021 NotFound");
    assert_eq!(job_count(&world).await, jobs);
    // A request on a known show moves its job (one per show): still two.
    world.user_reject(1, USER).await.unwrap();
    assert_eq!(job_count(&world).await, jobs);
}

/// The store keeps a show 3 days after its last change; `tb_show` keeps it for good. Once the
/// store forgot it, a repeat of its successful payment report still answers as the first time
/// (from the row); anything else about it is NOT_FOUND.
#[tokio::test]
async fn a_repeated_payment_of_a_show_the_store_forgot_answers_from_its_row() {
    let mut world = World::new().await;
    world.user_invite(CALL, USER, ANCHOR, GIFT).await.unwrap();
    world.anchor_accept(1, ANCHOR).await.unwrap();
    let first = world.pay(1, USER, "pay-1", PaymentOutcome::Success).await.unwrap();
    assert_eq!(
        first,
        PaymentAnswer { chat_type: ChatType::UserAcceptSelf, status: ShowStatus::Paid }
    );
    // What the store's 3-day expiry does to the show (layout: tag `show:<id>`, name `show`).
    let forget = livepk_store::Transaction::new("show:1")
        .op(livepk_store::Op::Delete { name: "show".into() });
    world.kit.engine().store.commit(forget).await.unwrap();
    assert_eq!(world.adapter.show(show_id(1)).await.unwrap(), None);

    assert_eq!(world.pay(1, USER, "pay-1", PaymentOutcome::Success).await.unwrap(), first);
    assert!(world.last.is_empty(), "the repeat tells nobody");
    for refused in [
        world.pay(1, USER, "pay-2", PaymentOutcome::Success).await.unwrap_err(),
        world.pay(1, USER, "pay-1", PaymentOutcome::InsufficientBalance).await.unwrap_err(),
        world.pay(1, OTHER_USER, "pay-1", PaymentOutcome::Success).await.unwrap_err(),
        world.finish(1, ANCHOR).await.unwrap_err(),
    ] {
        assert_eq!(refused.short(), "err 021 NotFound");
    }
    let row = world.kit.engine().database.get_show(1).await.unwrap().unwrap();
    assert_eq!((row.status, row.pay_txn_id.as_str()), (livepk_sql::ShowStatus::Paid, "pay-1"));
}
