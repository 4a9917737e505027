//! InteractiveShow's bad input over gRPC: every request field is validated at the edge and a bad
//! one answers INVALID_ARGUMENT with business code 403400021 naming the field — for the mode's
//! RPCs and for its Admin additions (the catalogue, the statistics).

mod support;

use livepk::pb::admin::{GetShowStatisticsRequest, SetShowGiftRequest};
use livepk::pb::show::{
    AnchorAcceptRequest, AnchorInviteRequest, GetIncomeRankingRequest, GetShowEnableRequest,
    GetShowRequest, PaymentOutcome, RankingPeriod, RateRequest, ReportPaymentRequest,
    SetShowEnableRequest, UserInviteRequest,
};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_naming_the_field() {
    let server = TestServer::start().await;
    put_show_catalogue(&server).await;
    let mut client = show(&server);

    let invite =
        |call_id, anchor_id, user_id, gid| AnchorInviteRequest { call_id, anchor_id, user_id, gid };
    for (request, field) in [
        (invite(0, 1, 2, SHOW_GIFT), "call_id"),
        (invite(9, 0, 2, SHOW_GIFT), "anchor_id"),
        (invite(9, 1, 0, SHOW_GIFT), "user_id"),
        (invite(9, 1, 2, 0), "gid"),
        // Not an offered gift: retired, or not in the catalogue.
        (invite(9, 1, 2, RETIRED_SHOW_GIFT), "gid"),
        (invite(9, 1, 2, 99), "gid"),
        // One account on both sides.
        (invite(9, 1, 1, SHOW_GIFT), "user_id"),
    ] {
        let status = client.anchor_invite(request).await.unwrap_err();
        assert_invalid(&status, field);
    }
    let status = client
        .user_invite(UserInviteRequest { call_id: 9, user_id: 0, anchor_id: 1, gid: SHOW_GIFT })
        .await
        .unwrap_err();
    assert_invalid(&status, "user_id");
    let status =
        client.anchor_accept(AnchorAcceptRequest { show_id: 0, anchor_id: 1 }).await.unwrap_err();
    assert_invalid(&status, "show_id");

    let payment = |txn_id: &str, outcome: i32| ReportPaymentRequest {
        show_id: 1,
        user_id: 2,
        txn_id: txn_id.into(),
        outcome,
        paid_at_ms: 1_700_000_000_000,
    };
    let success = PaymentOutcome::Success as i32;
    for (request, field) in [
        (payment("", success), "txn_id"),
        (payment("no spaces", success), "txn_id"),
        (payment(&"x".repeat(129), success), "txn_id"),
        (payment("pay-1", PaymentOutcome::Unspecified as i32), "outcome"),
        (payment("pay-1", 9), "outcome"),
        // A success says when it was charged.
        (ReportPaymentRequest { paid_at_ms: 0, ..payment("pay-1", success) }, "paid_at_ms"),
    ] {
        let status = client.report_payment(request).await.unwrap_err();
        assert_invalid(&status, field);
    }

    let rate =
        |show_id, call_id, show_rating| RateRequest { show_id, call_id, user_id: 2, show_rating };
    for (request, field) in [
        (rate(0, 0, 3), "show_id"),
        (rate(1, 9, 3), "show_id"),
        (rate(1, 0, 0), "show_rating"),
        (rate(1, 0, 6), "show_rating"),
    ] {
        let status = client.rate(request).await.unwrap_err();
        assert_invalid(&status, field);
    }

    let status =
        client.get_show_enable(GetShowEnableRequest { uid: 0, call_id: 0 }).await.unwrap_err();
    assert_invalid(&status, "uid");
    let status =
        client.set_show_enable(SetShowEnableRequest { uid: 5, show_enable: 2 }).await.unwrap_err();
    assert_invalid(&status, "show_enable");
    let ranking =
        |period: i32, page_size| GetIncomeRankingRequest { period, page_num: 0, page_size };
    let status = client.get_income_ranking(ranking(0, 0)).await.unwrap_err();
    assert_invalid(&status, "period");
    let status =
        client.get_income_ranking(ranking(RankingPeriod::Week as i32, 101)).await.unwrap_err();
    assert_invalid(&status, "page_size");

    // An unknown show is NOT_FOUND naming show_id.
    let status = client.get_show(GetShowRequest { show_id: 77 }).await.unwrap_err();
    let metadata = assert_business(&status, tonic::Code::NotFound, "403400021");
    assert_eq!(metadata.get("field").map(String::as_str), Some("show_id"));

    // The Admin additions.
    let mut admin = server.admin();
    let gift = |change: fn(&mut livepk::pb::show::ShowGift)| {
        let mut gift = show_gift(SHOW_GIFT);
        change(&mut gift);
        SetShowGiftRequest { gift: Some(gift) }
    };
    for (request, field) in [
        (SetShowGiftRequest { gift: None }, "gift"),
        (gift(|gift| gift.gid = 0), "gift.gid"),
        (gift(|gift| gift.gid = u64::MAX), "gift.gid"),
        (gift(|gift| gift.gift_type = 0), "gift.gift_type"),
        (gift(|gift| gift.name.clear()), "gift.name"),
        (gift(|gift| gift.name = "x".repeat(65)), "gift.name"),
        (gift(|gift| gift.img = "x".repeat(513)), "gift.img"),
        (gift(|gift| gift.effect_url = "x".repeat(513)), "gift.effect_url"),
        (gift(|gift| gift.price = u64::MAX), "gift.price"),
    ] {
        let status = admin.set_show_gift(request).await.unwrap_err();
        assert_invalid(&status, field);
    }
    let status = admin
        .get_show_statistics(GetShowStatisticsRequest { from_time: 10, to_time: 10 })
        .await
        .unwrap_err();
    assert_invalid(&status, "to_time");
}
