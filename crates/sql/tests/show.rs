//! InteractiveShow's tables (seed 003) on both dialects: `tb_show` rows that only move forward,
//! the show gift catalogue, account switches and call answers, the back office's statistics and
//! the show-income ranking.

#[macro_use]
mod support;

use livepk_sql::{
    Database, IncomeRow, InviterType, ShowGiftRow, ShowGiftType, ShowRow, ShowStatistics,
    ShowStatus, SqlError,
};

both_dialects!(
    show_rows_only_move_forward,
    the_catalogue_is_written_listed_and_retired,
    accounts_and_call_answers,
    statistics_count_a_creation_time_range,
    the_income_ranking_breaks_ties_by_who_reached_it_first,
);

/// A show invited by `inviter` at `ctime`, as first written.
fn invited(show_id: u64, anchor_id: u64, inviter: InviterType, gid: u64, ctime: u64) -> ShowRow {
    ShowRow {
        show_id,
        call_id: 500 + show_id,
        anchor_id,
        user_id: 9_000 + show_id,
        inviter_type: inviter,
        gid,
        status: ShowStatus::Invited,
        ctime,
        expire_time: ctime + 60,
        answer_time: 0,
        pay_time: 0,
        pay_txn_id: String::new(),
        finish_time: 0,
        rating: 0,
        rate_time: 0,
        version: 1,
        updated_at_ms: ctime * 1000,
    }
}

/// `row` paid at `pay_time` (the next version).
fn paid(mut row: ShowRow, pay_time: u64) -> ShowRow {
    row.status = ShowStatus::Paid;
    row.expire_time = 0;
    row.pay_time = pay_time;
    row.pay_txn_id = format!("txn-{}", row.show_id);
    row.version += 1;
    row
}

fn gift(gid: u64, price: u64) -> ShowGiftRow {
    ShowGiftRow {
        gid,
        gift_type: ShowGiftType::Show,
        name: format!("dance {gid}"),
        img: format!("https://img/{gid}.png"),
        effect_url: format!("https://fx/{gid}.svga"),
        price,
        unit_profit: 0,
        enabled: true,
        updated_at_ms: 1_000,
    }
}

async fn show_rows_only_move_forward(url: String) {
    let database = Database::connect(&url).await.unwrap();
    assert_eq!(database.get_show(1).await.unwrap(), None);
    let first = invited(1, 11, InviterType::Anchor, 7, 1_000);
    assert!(database.write_show(&first).await.unwrap());
    assert_eq!(database.get_show(1).await.unwrap(), Some(first.clone()));

    // A newer version lands; the same or an older one (a late retry) changes nothing.
    let second = paid(first.clone(), 1_010);
    assert!(database.write_show(&second).await.unwrap());
    assert!(!database.write_show(&second).await.unwrap());
    assert!(!database.write_show(&first).await.unwrap());
    assert_eq!(database.get_show(1).await.unwrap(), Some(second.clone()));

    // Versions written concurrently, in any order: the newest stays.
    let mut versions = Vec::new();
    for version in 3..=10 {
        let mut row = second.clone();
        row.version = version;
        row.rating = (version % 5 + 1) as u32;
        versions.push(row);
    }
    let writers: Vec<_> = versions
        .iter()
        .rev()
        .cloned()
        .map(|row| {
            let database = database.clone();
            tokio::spawn(async move { database.write_show(&row).await })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().expect("a write racing others is not an error");
    }
    assert_eq!(database.get_show(1).await.unwrap().as_ref(), versions.last());

    // A first write racing itself inserts once.
    let fresh = invited(2, 11, InviterType::User, 7, 1_020);
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (database, row) = (database.clone(), fresh.clone());
            tokio::spawn(async move { database.write_show(&row).await })
        })
        .collect();
    let mut landed = 0;
    for writer in writers {
        landed += usize::from(writer.await.unwrap().unwrap());
    }
    assert_eq!(landed, 1);
    assert_eq!(database.shows_of_call(502).await.unwrap(), vec![fresh]);

    // Issue 12 item 8: the same id for another show (another ctime) is an error, whatever its
    // version, and the row in place stays.
    let kept = database.get_show(1).await.unwrap();
    let mut reused = invited(1, 12, InviterType::User, 8, 5_000);
    for version in [1, 99] {
        reused.version = version;
        let error = database.write_show(&reused).await.unwrap_err();
        assert!(matches!(error, livepk_sql::SqlError::Conflict(_)), "version {version}: {error}");
        assert_eq!(database.get_show(1).await.unwrap(), kept);
    }
    assert_eq!(database.max_show_id().await.unwrap(), 2);

    // Bad rows are refused naming the field.
    let mut bad = invited(3, 11, InviterType::User, 7, 1_000);
    bad.rating = 6;
    let error = database.write_show(&bad).await.unwrap_err();
    assert!(matches!(&error, SqlError::Invalid(invalid) if invalid.field == "rating"), "{error}");
    bad.rating = 0;
    bad.pay_txn_id = "x".repeat(129);
    let error = database.write_show(&bad).await.unwrap_err();
    assert!(
        matches!(&error, SqlError::Invalid(invalid) if invalid.field == "pay_txn_id"),
        "{error}"
    );
    database.close().await;
}

async fn the_catalogue_is_written_listed_and_retired(url: String) {
    let database = Database::connect(&url).await.unwrap();
    assert_eq!(database.show_gift(7).await.unwrap(), None);
    database.put_show_gift(&gift(8, 300)).await.unwrap();
    database.put_show_gift(&gift(7, 100)).await.unwrap();
    let mut vip = gift(7, 150);
    vip.gift_type = ShowGiftType::ShowVip;
    vip.name = "舞蹈表演".into();
    vip.updated_at_ms = 2_000;
    database.put_show_gift(&vip).await.unwrap();
    assert_eq!(database.show_gift(7).await.unwrap(), Some(vip.clone()));
    assert_eq!(database.show_gifts(false).await.unwrap(), vec![vip.clone(), gift(8, 300)]);

    // Retired: kept (past shows join to it), not offered.
    let mut retired = gift(8, 300);
    retired.enabled = false;
    database.put_show_gift(&retired).await.unwrap();
    assert_eq!(database.show_gifts(false).await.unwrap(), vec![vip.clone()]);
    assert_eq!(database.show_gifts(true).await.unwrap(), vec![vip, retired]);

    for (field, broken) in [
        ("gid", ShowGiftRow { gid: 0, ..gift(1, 1) }),
        ("name", ShowGiftRow { name: String::new(), ..gift(1, 1) }),
        ("name", ShowGiftRow { name: "x".repeat(65), ..gift(1, 1) }),
        ("img", ShowGiftRow { img: "x".repeat(513), ..gift(1, 1) }),
        ("price", ShowGiftRow { price: u64::MAX, ..gift(1, 1) }),
    ] {
        let error = database.put_show_gift(&broken).await.unwrap_err();
        assert!(matches!(&error, SqlError::Invalid(invalid) if invalid.field == field), "{error}");
    }
    assert_eq!(database.show_gift(1).await.unwrap(), None);
    database.close().await;
}

async fn accounts_and_call_answers(url: String) {
    let database = Database::connect(&url).await.unwrap();
    assert_eq!(database.show_enable_of(5).await.unwrap(), None);
    database.set_show_enable(5, false, 1_000).await.unwrap();
    assert_eq!(database.show_enable_of(5).await.unwrap(), Some(false));
    database.set_show_enable(5, true, 2_000).await.unwrap();
    assert_eq!(database.show_enable_of(5).await.unwrap(), Some(true));

    // The first answer per (call, account) is kept.
    assert!(database.log_show_call(77, 5, true, 100).await.unwrap());
    assert!(!database.log_show_call(77, 5, false, 101).await.unwrap());
    assert!(database.log_show_call(77, 6, true, 102).await.unwrap());
    let statistics = database.show_statistics(0, 1_000).await.unwrap();
    assert_eq!(statistics.calls_show_enabled, 1);
    database.close().await;
}

async fn statistics_count_a_creation_time_range(url: String) {
    let database = Database::connect(&url).await.unwrap();
    database.put_show_gift(&gift(7, 100)).await.unwrap();
    database.put_show_gift(&gift(8, 300)).await.unwrap();
    let in_range = [
        // Anchor invitations: one paid and performed (rated 5), one paid only (rated 4), one
        // never answered.
        {
            let mut row = paid(invited(1, 11, InviterType::Anchor, 7, 1_000), 1_010);
            (row.finish_time, row.rating, row.rate_time, row.version) = (1_100, 5, 1_200, 4);
            row
        },
        {
            let mut row = paid(invited(2, 12, InviterType::Anchor, 8, 1_001), 1_020);
            (row.rating, row.rate_time, row.version) = (4, 1_300, 3);
            row
        },
        invited(3, 11, InviterType::Anchor, 7, 1_002),
        // A user invitation the anchor rejected.
        {
            let mut row = invited(4, 12, InviterType::User, 8, 1_003);
            (row.status, row.answer_time, row.version) = (ShowStatus::AnchorRejected, 1_004, 2);
            row
        },
    ];
    // Created outside the range: not counted, even though paid inside it.
    let before = paid(invited(5, 11, InviterType::User, 8, 999), 1_005);
    let after = invited(6, 11, InviterType::User, 8, 2_000);
    for row in in_range.iter().chain([&before, &after]) {
        assert!(database.write_show(row).await.unwrap());
    }
    // Calls: 70 enabled on both sides, 71 on one side only, 72 outside the range.
    for (call, uid, enable, ctime) in [
        (70, 11, true, 1_000),
        (70, 901, true, 1_001),
        (71, 12, true, 1_000),
        (71, 902, false, 1_001),
        (72, 11, true, 2_500),
    ] {
        database.log_show_call(call, uid, enable, ctime).await.unwrap();
    }
    let statistics = database.show_statistics(1_000, 2_000).await.unwrap();
    assert_eq!(
        statistics,
        ShowStatistics {
            anchor_invites: 3,
            user_invites: 1,
            calls_show_enabled: 1,
            paid_shows: 2,
            successful_shows: 1,
            coins: 400,
            ratings: [0, 0, 0, 1, 1],
        }
    );
    assert_eq!(statistics.average_rating(), 4.5);
    assert_eq!(database.show_statistics(5_000, 6_000).await.unwrap(), ShowStatistics::default());
    database.close().await;
}

async fn the_income_ranking_breaks_ties_by_who_reached_it_first(url: String) {
    let database = Database::connect(&url).await.unwrap();
    database.put_show_gift(&gift(7, 100)).await.unwrap();
    database.put_show_gift(&gift(8, 300)).await.unwrap();
    // Anchor 11: 100 + 300 = 400, last paid at 1_050. Anchor 12: 300 + 100 = 400, last paid at
    // 1_040 (reached 400 first). Anchor 13: 300. Anchor 14: 100. Anchor 15: paid outside the
    // period. Anchor 16: invited, never paid.
    let payments = [
        (1, 11, 7, 1_010),
        (2, 11, 8, 1_050),
        (3, 12, 8, 1_020),
        (4, 12, 7, 1_040),
        (5, 13, 8, 1_030),
        (6, 14, 7, 1_060),
        (7, 15, 8, 3_000),
    ];
    for (show, anchor, gid, pay_time) in payments {
        let row = paid(invited(show, anchor, InviterType::Anchor, gid, 1_000), pay_time);
        database.write_show(&row).await.unwrap();
    }
    database.write_show(&invited(8, 16, InviterType::User, 8, 1_000)).await.unwrap();

    let row = |anchor_id, income, shows, last_pay_time| IncomeRow {
        anchor_id,
        income,
        shows,
        last_pay_time,
    };
    let all = vec![
        row(12, 400, 2, 1_040),
        row(11, 400, 2, 1_050),
        row(13, 300, 1, 1_030),
        row(14, 100, 1, 1_060),
    ];
    assert_eq!(database.income_ranking(1_000, 2_000, 0, 20).await.unwrap(), (all.clone(), 4));
    let mut paged = Vec::new();
    for offset in [0, 3] {
        let (page, total) = database.income_ranking(1_000, 2_000, offset, 3).await.unwrap();
        assert_eq!(total, 4);
        paged.extend(page);
    }
    assert_eq!(paged, all);
    assert_eq!(
        database.income_ranking(2_000, 4_000, 0, 20).await.unwrap(),
        (vec![row(15, 300, 1, 3_000)], 1)
    );
    let error = database.income_ranking(0, 1, 0, 0).await.unwrap_err();
    assert!(matches!(&error, SqlError::Invalid(invalid) if invalid.field == "limit"), "{error}");
    database.close().await;
}
