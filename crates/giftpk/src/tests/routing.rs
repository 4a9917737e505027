//! How gifts reach a gift PK through the engine's router, where a cached lookup could go wrong:
//! a gift of the show whose gift id the cached PK does not count is looked up again (the anchor
//! may have just started a PK that counts it), and a gift worth no points (free, or cheaper than
//! `score.value_per_point`) still counts one vote — GiftPk counts gifts, not points.

use livepk_engine::routing::ROUTE_CACHE_MS;

use super::*;

/// A gift of neither PK 1 gift, one of PK 2's.
const LILY: u64 = 44;

/// The GiftPk change of a gift's answer: (pkid, side total).
fn counted_in(outcome: &GiftOutcome) -> Option<(u64, i64)> {
    outcome
        .changes
        .iter()
        .find(|change| change.mode == livepk_core::Mode::GiftPk)
        .map(|change| (change.pkid, change.side_total))
}

#[tokio::test]
async fn a_gift_the_cached_pk_does_not_count_is_looked_up_again_and_counts_in_the_new_pk() {
    let mut world = World::new().await;
    let first = world.create_default().await;
    world.advance_secs(1);
    let lookups_at = world.now();
    // PK 1 is rose against rocket: a lily counts nothing, a rose counts (both lookups cached).
    assert_eq!(world.gift(5, LILY, 1).await, None, "lily is not one of pk 1's gifts");
    assert_eq!(world.gift(5, ROSE, 1).await, Some(1));
    // The anchor ends PK 1 early and at once starts PK 2, rose against lily.
    world.advance_ms(500);
    world.close(SHOW, first.pkid.get(), ANCHOR).await.unwrap();
    world.advance_ms(500);
    let second = world.create(create_request(SHOW, ANCHOR, ROSE, LILY, DURATION)).await.unwrap();
    world.advance_ms(500);
    assert!(world.now() - lookups_at < ROUTE_CACHE_MS, "the cached lookups are still fresh");

    // The next lily counts in PK 2, as does the next rose.
    let lily = show_gift("lily-2", 6, Some(SHOW), LILY, 2, world.now());
    assert_eq!(counted_in(&world.record(&lily).await), Some((second.pkid.get(), 2)));
    let rose = show_gift("rose-2", 6, Some(SHOW), ROSE, 1, world.now());
    assert_eq!(counted_in(&world.record(&rose).await), Some((second.pkid.get(), 1)));
    let (battle, scores) = world.latest_battle().await.unwrap();
    assert_eq!((battle.pkid(), scores), (second.pkid, Scores::new(1, 2)));
    assert_eq!(world.records().await[0].first, 1, "pk 1 kept its own rose");
}

#[tokio::test]
async fn a_gift_worth_no_points_still_counts_one_vote() {
    let mut world = World::new().await;
    world.set_config("score.value_per_point", 10).await;
    let created = world.create_default().await;
    world.advance_secs(1);
    // A free rose (0 points) and a rocket of 5 coins (below 10 coins a point: 0 points).
    let mut free = show_gift("free", 5, Some(SHOW), ROSE, 1, world.now());
    free.unit_value = 0;
    assert_eq!(counted_in(&world.record(&free).await), Some((created.pkid.get(), 1)));
    let mut cheap = show_gift("cheap", 6, Some(SHOW), ROCKET, 1, world.now());
    cheap.unit_value = 5;
    assert_eq!(counted_in(&world.record(&cheap).await), Some((created.pkid.get(), 1)));

    let live = world.adapter.live(show(SHOW), false).await.unwrap().unwrap();
    assert_eq!(
        live.totals,
        Sides::new(
            GiftTotals { gift_id: gift_id(ROSE), count: 1, value: 0 },
            GiftTotals { gift_id: gift_id(ROCKET), count: 1, value: 5 },
        )
    );
    let (board, _) = world.adapter.ranking(created.pkid, gift_id(ROSE), 0).await.unwrap();
    assert_eq!(
        board.rows.iter().map(|row| (row.user_id.get(), row.total)).collect::<Vec<_>>(),
        vec![(5, 1)]
    );
}
