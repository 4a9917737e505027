//! The pulls (seed 001 §2.1.c–e, §2.2.a) on real states: live data with its time left and the
//! extra info, the result before and after the end (winner's top 5, a draw's top 5 over both
//! gifts, the user's own totals), ranking pages with ties, a show's latest PK and its bounded
//! history, the record, and the window rule for late gifts.

use livepk_battle::Side;

use super::*;

/// `count` gifts of `gift` from each user of `users`, one gift each, in that order.
async fn gifts_from(world: &mut World, users: &[u64], gift: u64, count: u32) {
    for user in users {
        assert!(world.gift(*user, gift, count).await.is_some(), "user {user}'s gift counts");
    }
}

fn rows(top: &[SenderRow]) -> Vec<(u64, u64)> {
    top.iter().map(|row| (row.user_id.get(), row.total)).collect()
}

#[tokio::test]
async fn live_data_counts_values_and_time_left_and_the_extra_info_on_demand() {
    let mut world = World::new().await;
    assert_eq!(world.adapter.live(show(SHOW), true).await.unwrap(), None, "no pk yet");
    let created = world.create_default().await;
    world.advance_secs(1);
    gifts_from(&mut world, &[5], ROSE, 3).await;
    gifts_from(&mut world, &[6], ROCKET, 2).await;

    let live = world.adapter.live(show(SHOW), false).await.unwrap().unwrap();
    assert_eq!(live.pkid, created.pkid);
    assert_eq!(
        live.totals,
        Sides::new(
            GiftTotals { gift_id: gift_id(ROSE), count: 3, value: 30 },
            GiftTotals { gift_id: gift_id(ROCKET), count: 2, value: 20 },
        )
    );
    assert_eq!((live.time_left_secs, live.finished, live.info), (59, false, None));

    let info = world.adapter.live(show(SHOW), true).await.unwrap().unwrap().info.unwrap();
    assert_eq!(
        info,
        PkView {
            pkid: created.pkid,
            show_id: show(SHOW),
            singer_id: singer(ANCHOR),
            gifts: Sides::new(pk_gift(ROSE), pk_gift(ROCKET)),
            duration_secs: DURATION,
            interval_ms: 3_000,
            running: true,
            created_at_ms: START_MS,
            deadline_ms: START_MS + 60_000,
            ended_at_ms: None,
        }
    );
    // Rounded up while it runs; 0 past the deadline, although the settle has not run yet.
    world.advance_ms(58_500);
    assert_eq!(world.adapter.live(show(SHOW), false).await.unwrap().unwrap().time_left_secs, 1);
    world.advance_ms(500);
    let overdue = world.adapter.live(show(SHOW), false).await.unwrap().unwrap();
    assert_eq!((overdue.time_left_secs, overdue.finished), (0, false));
    // The settle grace: 0 left, not finished, until the countdown's job runs 3 s later.
    world.advance_ms(GRACE_MS - 1);
    assert_eq!(world.fire_due_timers().await, 0);
    let graced = world.adapter.live(show(SHOW), true).await.unwrap().unwrap();
    assert_eq!((graced.time_left_secs, graced.finished), (0, false));
    assert!(graced.info.unwrap().running);
    world.advance_ms(1);
    assert_eq!(world.fire_due_timers().await, 1);
    let over = world.adapter.live(show(SHOW), true).await.unwrap().unwrap();
    assert_eq!((over.time_left_secs, over.finished), (0, true));
    assert_eq!(over.totals.first.count, 3, "the final numbers stay readable");
    let info = over.info.unwrap();
    assert_eq!((info.running, info.ended_at_ms), (false, Some(START_MS + 60_000)));
}

#[tokio::test]
async fn the_result_is_not_final_before_the_end_and_lists_the_winners_top_5_after_it() {
    let mut world = World::new().await;
    let created = world.create_default().await;
    world.advance_secs(1);
    // Six rose senders; 11 and 12 tie at 2 (12 reached 2 first), 13 to 16 send one each.
    gifts_from(&mut world, &[12], ROSE, 2).await;
    gifts_from(&mut world, &[11], ROSE, 1).await;
    gifts_from(&mut world, &[13, 14, 15, 16], ROSE, 1).await;
    gifts_from(&mut world, &[11], ROSE, 1).await;
    gifts_from(&mut world, &[21], ROCKET, 5).await;
    // User 11 also sent a rocket.
    gifts_from(&mut world, &[11], ROCKET, 1).await;

    let (early, _) = world.adapter.result(created.pkid, user(11)).await.unwrap();
    assert!(!early.finished, "the pk still runs: not final");
    assert_eq!(early.winner, Some(gift_id(ROSE)), "rose leads 8:6 for now");
    assert_eq!(early.user_totals, Sides::new(2, 1));
    assert_eq!(early.duration_secs, DURATION);

    world.advance_secs(59);
    let (overdue, _) = world.adapter.result(created.pkid, user(11)).await.unwrap();
    assert!(!overdue.finished, "past the deadline but not settled yet: still not final");
    world.advance_ms(GRACE_MS - 1);
    world.fire_due_timers().await;
    let (graced, _) = world.adapter.result(created.pkid, user(11)).await.unwrap();
    assert!(!graced.finished, "the last moment of the settle grace: still not final");
    world.advance_ms(1);
    world.fire_due_timers().await;

    let (result, profiles) = world.adapter.result(created.pkid, user(11)).await.unwrap();
    assert!(result.finished);
    assert_eq!(result.totals.first, GiftTotals { gift_id: gift_id(ROSE), count: 8, value: 80 });
    assert_eq!(result.totals.second, GiftTotals { gift_id: gift_id(ROCKET), count: 6, value: 60 });
    assert_eq!(result.winner, Some(gift_id(ROSE)));
    assert_eq!(result.duration_secs, DURATION);
    assert_eq!(result.user_totals, Sides::new(2, 1));
    assert_eq!(rows(&result.top), vec![(12, 2), (11, 2), (13, 1), (14, 1), (15, 1)]);
    assert_eq!(profiles[&user(12)].nick, "fan 12", "the listed senders' profiles");
    assert_eq!(profiles.len(), 5);
    // Someone who sent nothing has zeros.
    let (stranger, _) = world.adapter.result(created.pkid, user(99)).await.unwrap();
    assert_eq!(stranger.user_totals, Sides::new(0, 0));
}

#[tokio::test]
async fn a_draw_lists_the_top_5_over_both_gifts() {
    let mut world = World::new().await;
    let created = world.create_default().await;
    world.advance_secs(1);
    gifts_from(&mut world, &[31], ROSE, 3).await;
    gifts_from(&mut world, &[32], ROCKET, 2).await;
    gifts_from(&mut world, &[33, 34], ROSE, 1).await;
    gifts_from(&mut world, &[35], ROCKET, 1).await;
    // 32 sends a rose too: 3 over both gifts, reached after 31.
    gifts_from(&mut world, &[32], ROSE, 1).await;
    gifts_from(&mut world, &[36, 37], ROCKET, 1).await;
    gifts_from(&mut world, &[33], ROCKET, 1).await;
    // Rose 3+1+1+1 = 6, rocket 2+1+1+1+1 = 6.
    world.advance_secs(10);
    world.close(SHOW, created.pkid.get(), ANCHOR).await.unwrap();

    let (result, _) = world.adapter.result(created.pkid, user(32)).await.unwrap();
    assert!(result.finished);
    assert_eq!((result.totals.first.count, result.totals.second.count), (6, 6));
    assert_eq!(result.winner, None, "a draw");
    assert_eq!(rows(&result.top), vec![(31, 3), (32, 3), (33, 2), (34, 1), (35, 1)]);
    assert_eq!(result.user_totals, Sides::new(1, 2));
    assert_eq!(result.duration_secs, 11, "closed 11 s after the create");
}

#[tokio::test]
async fn rankings_page_through_one_gift_ties_first_come_first() {
    let mut world = World::new().await;
    world.set_config("giftpk.ranking_page_size", 2).await;
    let created = world.create_default().await;
    // 41: 3, 42: 1 then +2 = 3 (after 41), 43: 2, 44: 1, 45: 1 (after 44); rockets elsewhere.
    gifts_from(&mut world, &[41], ROSE, 3).await;
    gifts_from(&mut world, &[42], ROSE, 1).await;
    gifts_from(&mut world, &[43], ROSE, 2).await;
    gifts_from(&mut world, &[44, 45], ROSE, 1).await;
    gifts_from(&mut world, &[42], ROSE, 2).await;
    gifts_from(&mut world, &[46], ROCKET, 9).await;

    let mut seen = Vec::new();
    for (index, more) in [(0, true), (2, true), (4, false)] {
        let (page, profiles) =
            world.adapter.ranking(created.pkid, gift_id(ROSE), index).await.unwrap();
        assert_eq!((page.pkid, page.gift_id), (created.pkid, gift_id(ROSE)));
        assert_eq!(page.has_more, more, "page from {index}");
        assert_eq!(profiles.len(), page.rows.len());
        seen.extend(page.rows.iter().map(|row| (row.rank, row.user_id.get(), row.total)));
    }
    assert_eq!(seen, vec![(1, 41, 3), (2, 42, 3), (3, 43, 2), (4, 44, 1), (5, 45, 1)]);
    let (past, _) = world.adapter.ranking(created.pkid, gift_id(ROSE), 9).await.unwrap();
    assert!(past.rows.is_empty() && !past.has_more);
    let (rockets, _) = world.adapter.ranking(created.pkid, gift_id(ROCKET), 0).await.unwrap();
    assert_eq!(rockets.rows.len(), 1);

    let third = world.adapter.ranking(created.pkid, gift_id(THIRD), 0).await.unwrap_err();
    assert_eq!(Refusal(third).field().as_deref(), Some("gift_id"));
    let unknown = Refusal(world.adapter.ranking(pkid(77), gift_id(ROSE), 0).await.unwrap_err());
    assert_eq!((short_code(&unknown), unknown.field().as_deref()), ("021".into(), Some("pkid")));
}

#[tokio::test]
async fn a_show_lists_its_pks_newest_first_and_remembers_only_the_latest_few() {
    let mut world = World::new().await;
    world.set_config("giftpk.history_size", 3).await;
    assert_eq!(world.adapter.show_pk(show(SHOW)).await.unwrap(), None);
    assert!(world.adapter.show_pks(show(SHOW)).await.unwrap().is_empty());
    let mut pkids = Vec::new();
    for round in 0..5u64 {
        let created =
            world.create(create_request(SHOW, ANCHOR, 100 + round, 200 + round, 30)).await.unwrap();
        pkids.push(created.pkid);
        world.advance_secs(2);
        if round < 4 {
            world.close(SHOW, created.pkid.get(), ANCHOR).await.unwrap();
        }
    }
    let latest = world.adapter.show_pk(show(SHOW)).await.unwrap().unwrap();
    assert_eq!((latest.pkid, latest.running), (pkids[4], true));
    let listed: Vec<(PkId, bool)> = world
        .adapter
        .show_pks(show(SHOW))
        .await
        .unwrap()
        .iter()
        .map(|pk| (pk.pkid, pk.running))
        .collect();
    assert_eq!(listed, vec![(pkids[4], true), (pkids[3], false), (pkids[2], false)]);
    let stored = world.show(SHOW).await.unwrap();
    assert_eq!(stored.pks.len(), 3, "the show's value stays bounded");
    // A PK dropped from the history is no longer this show's to close, but its result stays.
    let dropped = world.close(SHOW, pkids[0].get(), ANCHOR).await.unwrap_err();
    assert_eq!(short_code(&dropped), "021");
    let (result, _) = world.adapter.result(pkids[0], user(1)).await.unwrap();
    assert!(result.finished);
    // Another show is its own.
    assert!(world.adapter.show_pks(show(OTHER_SHOW)).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_record_names_the_gifts_the_winner_and_how_long_it_scored() {
    let mut world = World::new().await;
    let created = world.create_default().await;
    world.advance_secs(1);
    gifts_from(&mut world, &[5], ROCKET, 4).await;
    gifts_from(&mut world, &[6], ROSE, 1).await;
    world.advance_secs(20);
    world.close(SHOW, created.pkid.get(), ANCHOR).await.unwrap();
    let records = world.kit.records().await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!((record.mode, record.pkid), (livepk_core::Mode::GiftPk, created.pkid));
    assert_eq!(record.winner_id, ROCKET);
    let participants: Vec<(u64, u64, &str, u64)> =
        record.participants.iter().map(|p| (p.id, p.sid, p.side.as_str(), p.score)).collect();
    assert_eq!(participants, vec![(ROSE, SHOW, "11", 1), (ROCKET, SHOW, "22", 4)]);
    assert_eq!((record.start_ms, record.end_ms), (START_MS, START_MS + 21_000));
    assert_eq!(record.ended_by, "close");
}

#[tokio::test]
async fn a_gift_sent_before_the_end_and_recorded_in_the_grace_counts_and_never_after_the_settle() {
    let mut world = World::new().await;
    let created = world.create_default().await;
    let deadline = START_MS + 60_000;
    // The last millisecond of the settle grace: a gift sent before the end still counts, judged
    // by its send time; one sent at the deadline does not.
    world.advance_ms(60_000 + GRACE_MS - 1);
    let in_grace = show_gift("late-1", 5, Some(SHOW), ROSE, 2, deadline - 1);
    assert_eq!(giftpk_total(&world.record(&in_grace).await), Some(2));
    let at_deadline = show_gift("late-2", 5, Some(SHOW), ROSE, 1, deadline);
    assert_eq!(giftpk_total(&world.record(&at_deadline).await), None, "sent at the deadline");
    let live = world.adapter.live(show(SHOW), false).await.unwrap().unwrap();
    assert_eq!((live.time_left_secs, live.finished, live.totals.first.count), (0, false, 2));
    let (result, _) = world.adapter.result(created.pkid, user(5)).await.unwrap();
    assert_eq!((result.finished, result.user_totals), (false, Sides::new(2, 0)));
    assert_eq!(world.fire_due_timers().await, 0, "the settle is not due yet");

    world.advance_ms(1);
    assert_eq!(world.fire_due_timers().await, 1);
    let settled = world.last.settled[0].clone();
    assert_eq!((settled.ended_by.as_str(), settled.first), ("deadline", 2), "it counted");
    assert_eq!(settled.end_ms, deadline, "scoring ended at the deadline, not at the settle");
    let (result, _) = world.adapter.result(created.pkid, user(5)).await.unwrap();
    assert_eq!((result.finished, result.duration_secs), (true, DURATION));
    // Recorded after the settle: outside for good (the settle closed the window), however early
    // it was sent.
    let after_settle = show_gift("late-3", 5, Some(SHOW), ROSE, 1, deadline - 30_000);
    let outcome = world.record(&after_settle).await;
    assert_eq!((giftpk_total(&outcome), outcome.duplicate), (None, false));
    // A retry of the gift that counted is a duplicate with its first answer.
    let again = world.record(&in_grace).await;
    assert!(again.duplicate);
    assert_eq!(giftpk_total(&again), Some(2));
    let (_, scores) = world.latest_battle().await.unwrap();
    assert_eq!((scores[Side::First], scores[Side::Second]), (2, 0));
}

#[tokio::test]
async fn close_in_the_grace_settles_at_once_as_ended_by_the_deadline() {
    let mut world = World::new().await;
    let created = world.create_default().await;
    world.advance_secs(1);
    assert_eq!(world.gift(5, ROCKET, 1).await, Some(1));
    // The countdown ended 1 s ago; the anchor does not wait for the settle (2 s more).
    world.advance_secs(60);
    let refused = world.create(create_request(SHOW, ANCHOR, 44, 55, DURATION)).await.unwrap_err();
    assert_eq!(short_code(&refused), "301", "the next pk waits for the settle");
    world.close(SHOW, created.pkid.get(), ANCHOR).await.unwrap();
    let settled = world.last.settled[0].clone();
    assert_eq!(
        (settled.ended_by.as_str(), settled.second, settled.winner_id),
        ("deadline", 1, ROCKET)
    );
    assert_eq!((settled.start_ms, settled.end_ms), (START_MS, START_MS + 60_000));
    let (result, _) = world.adapter.result(created.pkid, user(5)).await.unwrap();
    assert_eq!((result.finished, result.duration_secs), (true, DURATION), "it ran its course");
    // The show is free at once; a gift sent before the end and recorded now no longer counts.
    let late = show_gift("late", 6, Some(SHOW), ROCKET, 1, START_MS + 59_000);
    assert_eq!(giftpk_total(&world.record(&late).await), None);
    world.create(create_request(SHOW, ANCHOR, 44, 55, DURATION)).await.unwrap();
    // The closed pk's countdown job, when it comes, does nothing.
    world.advance_secs(2);
    world.fire_due_timers().await;
    assert_eq!(world.records().await.len(), 1);
}

#[tokio::test]
async fn the_grace_is_a_hot_setting_kept_by_each_pk_from_its_create() {
    let mut world = World::new().await;
    // 0: the countdown's job settles at the deadline itself.
    world.set_config("giftpk.settle_grace_ms", 0).await;
    let first = world.create_default().await;
    world.advance_secs(DURATION);
    assert_eq!(world.fire_due_timers().await, 1);
    assert_eq!(world.last.settled.len(), 1, "settled at the deadline");
    let late = show_gift("late", 5, Some(SHOW), ROSE, 1, first.deadline_ms - 1);
    assert_eq!(giftpk_total(&world.record(&late).await), None);

    // A PK keeps the grace of its Create: a change while it runs does not move its settle.
    world.set_config("giftpk.settle_grace_ms", 10_000).await;
    let second = world.create_default().await;
    world.set_config("giftpk.settle_grace_ms", 1_000).await;
    world.advance_ms(DURATION * 1000 + 9_999);
    world.fire_due_timers().await;
    assert!(world.last.settled.is_empty(), "not settled before its own grace is over");
    let late = show_gift("late-2", 5, Some(SHOW), ROSE, 1, second.deadline_ms - 1);
    assert_eq!(giftpk_total(&world.record(&late).await), Some(1));
    world.advance_ms(1);
    world.fire_due_timers().await;
    assert_eq!(world.last.settled.len(), 1);
    assert_eq!((world.last.settled[0].pkid, world.last.settled[0].first), (second.pkid, 1));
}
