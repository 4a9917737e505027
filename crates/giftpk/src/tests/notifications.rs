//! Every push of one gift PK, field for field (seed 001 §2.3): the create push with both gifts,
//! one progress push per counted gift (the gift whose senders moved, both counts, those senders
//! with their totals, the deadline and the moment it was encoded, from which the server computes
//! `time_left`), a coalesced push listing each changed sender once, best first, a push with
//! `time_left` 0 for a gift recorded in the settle grace, and the end push; nothing for gifts
//! that do not count, replays, or gifts after the end.

use livepk_core::Target;

use super::*;

/// The deadline of the PK of these tests (created at the kit's start).
const DEADLINE_MS: u64 = START_MS + DURATION * 1000;

/// A push of `kind` to the show's room, encoded at `at_ms` after the kit's start.
fn pushed(at_ms: u64, kind: NotificationKind) -> Pushed {
    Pushed {
        at_ms: START_MS + at_ms,
        notification: Notification { target: Target::room(SHOW), kind },
    }
}

/// `giftpk_progress_nt` of PK 1 (rose against rocket): `gift`'s senders `users` moved, the
/// counts are now `rose`:`rocket`.
fn progress(at_ms: u64, rose: u64, rocket: u64, gift: u64, users: &[(u64, u64)]) -> Pushed {
    pushed(
        at_ms,
        NotificationKind::Progress {
            pkid: pkid(1),
            counts: Scores::new(rose, rocket),
            gift_ids: Sides::new(gift_id(ROSE), gift_id(ROCKET)),
            deadline_ms: DEADLINE_MS,
            gift_id: gift_id(gift),
            users: users
                .iter()
                .map(|&(sender, total)| SenderRow { user_id: user(sender), total })
                .collect(),
        },
    )
}

fn time_lefts(world: &World) -> Vec<Option<u64>> {
    world.last.notifications.iter().map(Pushed::time_left).collect()
}

#[tokio::test]
async fn every_push_of_a_gift_pk_field_for_field() {
    let mut world = World::new().await;
    let created = world.create_default().await;
    assert_eq!(created.pkid, pkid(1));
    let create = NotificationKind::Create {
        pkid: pkid(1),
        duration_secs: DURATION,
        interval_ms: 3_000,
        deadline_ms: DEADLINE_MS,
        gifts: Sides::new(pk_gift(ROSE), pk_gift(ROCKET)),
    };
    assert_eq!(world.last.notifications, vec![pushed(0, create)]);
    assert_eq!(time_lefts(&world), vec![Some(DURATION)]);

    // One push per counted gift, at once (the kit does not coalesce by default).
    world.advance_ms(1_500);
    assert_eq!(world.gift(5, ROSE, 3).await, Some(3));
    assert_eq!(world.last.notifications, vec![progress(1_500, 3, 0, ROSE, &[(5, 3)])]);
    assert_eq!(time_lefts(&world), vec![Some(59)], "58.5 s rounded up");
    world.advance_ms(1_000);
    assert_eq!(world.gift(6, ROCKET, 2).await, Some(2));
    assert_eq!(world.last.notifications, vec![progress(2_500, 3, 2, ROCKET, &[(6, 2)])]);
    assert_eq!(time_lefts(&world), vec![Some(58)]);
    // A third gift id pushes nothing; a gift pushes once, its replay nothing.
    assert_eq!(world.gift(7, THIRD, 4).await, None);
    assert_eq!(world.last.notifications, vec![]);
    let once = show_gift("once", 9, Some(SHOW), ROCKET, 1, world.now());
    assert_eq!(giftpk_total(&world.record(&once).await), Some(3));
    assert_eq!(world.last.notifications, vec![progress(2_500, 3, 3, ROCKET, &[(9, 1)])]);
    assert!(world.record(&once).await.duplicate);
    assert_eq!(world.last.notifications, vec![]);

    // Coalesced: nothing until the flush, then one push for the gift with the latest counts and
    // each changed sender once, best first.
    world.set_config("events.score_coalesce_ms", 500).await;
    world.advance_ms(27_500);
    assert_eq!(world.gift(8, ROSE, 1).await, Some(4));
    assert_eq!(world.gift(5, ROSE, 1).await, Some(5));
    assert_eq!(world.gift(8, ROSE, 2).await, Some(7));
    assert_eq!(world.last.notifications, vec![]);
    world.kit.flush_score_notifications().await;
    world.last = world.take_last().await;
    assert_eq!(world.last.notifications, vec![progress(30_000, 7, 3, ROSE, &[(5, 4), (8, 3)])]);
    assert_eq!(time_lefts(&world), vec![Some(30)]);
    world.set_config("events.score_coalesce_ms", 0).await;

    // The settle grace: a gift sent before the end and recorded after it is pushed with 0 left.
    world.advance_ms(31_000);
    let late = show_gift("late", 10, Some(SHOW), ROCKET, 2, DEADLINE_MS - 100);
    assert_eq!(giftpk_total(&world.record(&late).await), Some(5));
    assert_eq!(world.last.notifications, vec![progress(61_000, 7, 5, ROCKET, &[(10, 2)])]);
    assert_eq!(time_lefts(&world), vec![Some(0)]);

    // The settle pushes the end; nothing follows it.
    world.advance_ms(GRACE_MS - 1_000);
    world.fire_due_timers().await;
    assert_eq!(
        world.last.notifications,
        vec![pushed(60_000 + GRACE_MS, NotificationKind::End { pkid: pkid(1) })]
    );
    assert_eq!(time_lefts(&world), vec![None]);
    assert_eq!((world.last.settled[0].first, world.last.settled[0].second), (7, 5));
    assert_eq!(world.gift(5, ROSE, 1).await, None);
    assert_eq!(world.last.notifications, vec![]);
}
