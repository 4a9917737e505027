//! What keeps a room's state bounded and its index alive: `acrosspk.max_challenges` counts only
//! challenges still pending at the other end, the open-PK list lives as long as the rooms it
//! lists, and only a room's own operator in a PK may Finish it.

use std::time::Duration;

use super::*;

#[tokio::test]
async fn max_challenges_counts_only_challenges_the_other_room_still_holds() {
    let mut world = World::new().await;
    world.set_config("acrosspk.max_challenges", 2).await;
    world.challenge(RED, BLUE).await.unwrap();
    world.challenge(RED, THIRD).await.unwrap();
    let error = world.challenge(RED, 105).await.unwrap_err();
    assert_eq!(short_code(&error), "105");
    // 102 enters 104's PK: 101's challenge to it is withdrawn (101 told); 101 still holds its
    // half until the challenge's job, but it no longer counts.
    world.create(FOURTH).await.unwrap();
    world.accept_created(BLUE, FOURTH).await.unwrap();
    assert_eq!(world.room(RED).await.unwrap().sent.len(), 2);
    world.challenge(RED, 105).await.unwrap();
    let error = world.challenge(RED, 106).await.unwrap_err();
    assert_eq!(short_code(&error), "105", "103 and 105 pend");
    // A rejected one frees its place at once.
    world.reject(THIRD, RED).await.unwrap();
    world.challenge(RED, 106).await.unwrap();
}

/// Makes the open-PK list expire `ttl` from now (re-adding `listed` at its own score), as it
/// would when nothing renewed it for three days.
async fn expire_open_list_in(world: &World, listed: u64, ttl: Duration) {
    let created_at = world.open_list().await[&room(listed)];
    let shorten = livepk_store::Op::ZAdd {
        name: "created".into(),
        member: listed.to_string(),
        score: created_at as f64,
        ttl: Some(ttl),
    };
    let transaction = livepk_store::Transaction::new("acrosspk:open").op(shorten);
    world.kit.engine().store.commit(transaction).await.expect("write");
}

#[tokio::test]
async fn writing_a_room_with_a_created_pk_renews_the_open_list() {
    // The list's life in the store is renewed whenever a room it lists is written (as the
    // room's own life is), not only by Create. Time to live is the store's real clock, not the
    // kit's: the list is made to expire in 300 ms, and the test waits 400 ms.
    let ttl = Duration::from_millis(300);
    let past_it = Duration::from_millis(400);

    // A room without a created PK is written: nothing renews the list, which goes.
    let mut world = World::new().await;
    world.create(RED).await.unwrap();
    expire_open_list_in(&world, RED, ttl).await;
    world.challenge(BLUE, THIRD).await.unwrap();
    tokio::time::sleep(past_it).await;
    assert!(world.open_list().await.is_empty(), "the shortened list expired");

    // The room holding the created PK is written (it challenges, is challenged, a challenge of
    // it lapses): each renews the list.
    let mut world = World::new().await;
    world.create(RED).await.unwrap();
    type Step = fn(&mut World) -> std::pin::Pin<Box<dyn Future<Output = ()> + '_>>;
    let steps: [(&str, Step); 3] = [
        ("it challenges", |world| {
            Box::pin(async { world.challenge(RED, BLUE).await.map(drop).unwrap() })
        }),
        ("it is challenged", |world| {
            Box::pin(async { world.challenge(THIRD, RED).await.map(drop).unwrap() })
        }),
        ("a challenge lapses", |world| {
            Box::pin(async {
                world.advance_secs(60);
                assert_eq!(world.fire_due_timers().await, 2);
            })
        }),
    ];
    for (what, step) in steps {
        expire_open_list_in(&world, RED, ttl).await;
        step(&mut world).await;
        tokio::time::sleep(past_it).await;
        assert_eq!(world.created_list(FOURTH, 0).await, vec![RED], "{what}");
    }
}

#[tokio::test]
async fn finish_by_another_operator_names_operator_id() {
    let mut world = World::new().await;
    world.create(RED).await.unwrap();
    let pk = world.accept_created(BLUE, RED).await.unwrap();
    // The blue room's operator acting for the red room, and anyone else for the blue room.
    for (raw, acting) in [(RED, operator(BLUE)), (BLUE, UserId::from_trusted(999))] {
        let error = world.finish_as(raw, acting, pk.pkid).await.unwrap_err();
        assert_eq!(
            error.acrosspk(),
            Some(&AcrossPkError::NotTheOperator { room: room(raw), operator: acting })
        );
        let business = error.0.as_business().unwrap();
        assert_eq!(
            (business.business_code(), business.field()),
            (403_400_103, Some("operator_id"))
        );
        assert_eq!(business.kind(), livepk_core::ErrorKind::PermissionDenied);
    }
    assert_eq!(world.battle_summary().await, "scoring#1");
    world.finish_as(BLUE, operator(BLUE), pk.pkid).await.unwrap();
}

#[test]
fn an_accept_settles_as_long_as_a_stage_claim_lives() {
    // SETTLE_MS is how long an expiry job trusts an Accept may still be abandoned and put back:
    // the engine's bound on a command's commit, its stage claim's life.
    assert_eq!(Duration::from_millis(SETTLE_MS), livepk_engine::stage::CLAIM_TTL);
}
