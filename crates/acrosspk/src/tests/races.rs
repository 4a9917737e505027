//! Races: two commands (or a command and a deadline) on the same rooms, in each order, and —
//! on Redis, where the round trips of concurrent commands really interleave — at once. The
//! engine serialises them with compare-and-set; each race must end in one consistent outcome.

use livepk_battle::{EndedBy, Phase};
use livepk_engine::testkit::{fresh_prefix, redis_store};

use super::*;

/// A world on Redis under a fresh prefix.
async fn on_redis() -> World {
    World::on_store(redis_store(&fresh_prefix()).await).await
}

/// The business code's last three digits of a refusal the engine answered.
fn code(error: &EngineError) -> String {
    format!("{:03}", error.as_business().map_or(0, BusinessError::business_code) % 1000)
}

/// The rooms' live battles: each room's pointer, if it names a running battle.
async fn live_pks(world: &World, rooms: &[u64]) -> BTreeMap<u64, PkId> {
    let mut live = BTreeMap::new();
    for &raw in rooms {
        if let Some(battle) = world.battle_of(raw).await.filter(|battle| !battle.is_closed()) {
            live.insert(raw, battle.pkid());
        }
    }
    live
}

// ---- crossing challenges ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_challenges_one_pends_the_other_is_refused() {
    let world = on_redis().await;
    let adapter = world.adapter.clone();
    for round in 0..20u64 {
        let (a, b) = (1_000 + 2 * round, 1_001 + 2 * round);
        let request = |from: u64, to: u64| ChallengeRequest {
            card: card(from),
            pk_room_id: room(to),
            terms: terms(300),
            operator_id: operator(from),
        };
        let (ab, ba) =
            tokio::join!(adapter.challenge(request(a, b)), adapter.challenge(request(b, a)));
        let outcomes = [ab.map_err(|e| code(&e)), ba.map_err(|e| code(&e))];
        let won: Vec<_> = outcomes.iter().filter(|outcome| outcome.is_ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: {outcomes:?}");
        let lost = outcomes.iter().find_map(|outcome| outcome.clone().err()).unwrap();
        assert_eq!(lost, "102", "round {round}: the loser sees the winner's challenge");
        // Exactly one direction pends.
        let (ra, rb) = (world.room(a).await, world.room(b).await);
        let pending = [
            pending_challenge(ra.as_ref(), rb.as_ref(), world.now()).is_some(),
            pending_challenge(rb.as_ref(), ra.as_ref(), world.now()).is_some(),
        ];
        assert_eq!(pending.iter().filter(|p| **p).count(), 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_rooms_accepting_each_others_offers_start_one_pk() {
    let mut world = on_redis().await;
    let adapter = world.adapter.clone();
    for round in 0..10u64 {
        let (a, b) = (2_000 + 2 * round, 2_001 + 2 * round);
        // Each created a PK; each accepts the other's at once.
        world.create(a).await.unwrap();
        world.create(b).await.unwrap();
        let (ab, ba) = tokio::join!(
            adapter.accept(World::accept_request(a, b, AcceptSource::Created)),
            adapter.accept(World::accept_request(b, a, AcceptSource::Created)),
        );
        let outcomes = [ab.map_err(|e| code(&e)), ba.map_err(|e| code(&e))];
        let won: Vec<&PkInfo> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: {outcomes:?}");
        let lost = outcomes.iter().find_map(|outcome| outcome.clone().err()).unwrap();
        assert!(lost == "025" || lost == "026", "round {round}: {lost}");
        let live = live_pks(&world, &[a, b]).await;
        assert_eq!(live.len(), 2, "round {round}: both rooms in the pk");
        assert!(live.values().all(|pkid| *pkid == won[0].pkid), "round {round}: {live:?}");
        assert!(world.room(a).await.unwrap().created.is_none());
        assert!(world.room(b).await.unwrap().created.is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_accepting_while_its_own_challenge_is_accepted_is_in_one_pk() {
    // 1 challenged 2, and 3 challenged 1: 2 accepts 1's challenge while 1 accepts 3's.
    let mut world = on_redis().await;
    let adapter = world.adapter.clone();
    for round in 0..10u64 {
        let (one, two, three) = (3_000 + 3 * round, 3_001 + 3 * round, 3_002 + 3 * round);
        world.challenge(one, two).await.unwrap();
        world.challenge(three, one).await.unwrap();
        let (by_two, by_one) = tokio::join!(
            adapter.accept(World::accept_request(two, one, AcceptSource::Challenge)),
            adapter.accept(World::accept_request(one, three, AcceptSource::Challenge)),
        );
        let outcomes = [by_two.map_err(|e| code(&e)), by_one.map_err(|e| code(&e))];
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "round {round}: {outcomes:?}");
        let lost = outcomes.iter().find_map(|outcome| outcome.clone().err()).unwrap();
        assert!(lost == "025" || lost == "026", "round {round}: {lost}");
        let live = live_pks(&world, &[one, two, three]).await;
        assert_eq!(live.len(), 2, "round {round}: {live:?}");
        assert!(live.contains_key(&one), "round {round}: room 1 is in the one pk");
    }
}

// ---- Accept racing the challenge's lapse ------------------------------------------------------

#[tokio::test]
async fn accept_racing_the_lapse_one_of_them_wins() {
    // The accept comes first (the last millisecond): the lapse job finds nothing.
    let mut world = World::new().await;
    world.challenge(RED, BLUE).await.unwrap();
    world.kit.advance_ms(59_999);
    world.accept_challenge(BLUE, RED).await.unwrap();
    world.kit.advance_ms(1);
    assert_eq!(world.fire_due_timers().await, 1);
    assert!(world.last.notifications.is_empty(), "no lapse after the start");
    assert_eq!(world.battle_summary().await, "scoring#1");

    // The lapse comes first, its job not run yet or run: the accept is refused, nothing moves.
    for job_ran in [false, true] {
        let mut world = World::new().await;
        world.challenge(RED, BLUE).await.unwrap();
        world.advance_secs(60);
        if job_ran {
            world.fire_due_timers().await;
            assert_eq!(world.last.notifications.len(), 2, "both rooms told");
        }
        let before = world.state().await;
        let error = world.accept_challenge(BLUE, RED).await.unwrap_err();
        assert_eq!(short_code(&error), "026", "job ran: {job_ran}");
        assert!(matches!(error.acrosspk(), Some(AcrossPkError::OfferGone { .. })));
        assert_eq!(world.state().await, before);
        assert!(world.battles().await.is_empty(), "no battle, no ids spent on one");
        if !job_ran {
            // The job, arriving after the refused accept, still tells both rooms.
            world.fire_due_timers().await;
            assert_eq!(world.last.notifications.len(), 2);
        }
    }
}

// ---- Finish racing the deadline ---------------------------------------------------------------

#[tokio::test]
async fn finish_racing_the_deadline_settles_once() {
    // Finish first (after the deadline, before its job): ended by close at the deadline's end.
    let mut world = World::new().await;
    world.create(RED).await.unwrap();
    let pk = world.accept_created(BLUE, RED).await.unwrap();
    world.advance_secs(1);
    assert!(world.gift(RED, 7, 70, 4).await);
    world.advance_secs(300);
    world.finish(BLUE, pk.pkid).await.unwrap();
    let records = world.records().await;
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].ended_by.as_str(), records[0].red), ("close", 4));
    assert_eq!(records[0].end_ms, START_MS + 300_000, "scoring ended at the deadline");
    let before = world.state().await;
    // The scoring deadline's job finds nothing to do (the record's safety net is due later).
    assert_eq!(world.fire_due_timers().await, 1);
    assert!(world.last.is_empty());
    assert_eq!(world.state().await, before);
    assert_eq!(world.records().await.len(), 1);

    // The deadline's job first: the Finish ends the punishment, the verdict stands.
    let mut world = World::new().await;
    world.create(RED).await.unwrap();
    let pk = world.accept_created(BLUE, RED).await.unwrap();
    world.advance_secs(1);
    assert!(world.gift(RED, 7, 70, 4).await);
    world.advance_secs(300);
    world.fire_due_timers().await;
    let finished = world.finish(RED, pk.pkid).await.unwrap();
    assert_eq!((finished.scores.first, finished.winner), (4, Some(livepk_battle::Side::First)));
    assert_eq!(finished.ended_by, Some(EndedBy::Close));
    let records = world.records().await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].ended_by, "deadline");
    // The punishment's job finds it over (and the record's safety net finds the record).
    world.advance_secs(120);
    let before = world.state().await;
    assert_eq!(world.fire_due_timers().await, 2);
    assert!(world.last.is_empty());
    assert_eq!(world.state().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_and_the_deadline_at_once_give_one_verdict() {
    let mut world = on_redis().await;
    let adapter = world.adapter.clone();
    for round in 0..10u64 {
        let (red, blue) = (4_000 + 2 * round, 4_001 + 2 * round);
        world.create_with(red, terms(5)).await.unwrap();
        let pk = world.accept_created(blue, red).await.unwrap();
        assert!(world.gift(blue, 8, 80, 3).await);
        world.advance_secs(5);
        let request =
            FinishRequest { room_id: room(red), operator_id: operator(red), pkid: pk.pkid };
        let (finished, fired) = tokio::join!(adapter.finish(request), world.kit.fire_due_timers());
        let records: Vec<SettledView> =
            world.records().await.into_iter().filter(|record| record.pkid == pk.pkid).collect();
        assert_eq!(records.len(), 1, "round {round}: one record ({fired} jobs ran)");
        let record = &records[0];
        assert_eq!((record.red, record.blue, record.winner), (0, 3, blue), "round {round}");
        // Whichever came first, the Finish succeeds: it settles, or it cuts the punishment of
        // the job's verdict short. The verdict is the same.
        let finished = finished.unwrap_or_else(|error| panic!("round {round}: {error}"));
        assert_eq!(finished.winner, Some(livepk_battle::Side::Second), "round {round}");
        let battle = world.battle_of(red).await.unwrap();
        assert!(
            matches!(battle.round.phase, Phase::Closed { ended_by: EndedBy::Close, .. }),
            "round {round}"
        );
        world.advance_secs(120);
        world.kit.fire_due_timers().await;
        assert_eq!(world.records().await.iter().filter(|r| r.pkid == pk.pkid).count(), 1);
    }
}

// ---- two rooms accepting one created PK -----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rooms_accepting_one_created_pk_one_gets_it() {
    let mut world = on_redis().await;
    let adapter = world.adapter.clone();
    for round in 0..10u64 {
        let (creator, b, c) = (5_000 + 3 * round, 5_001 + 3 * round, 5_002 + 3 * round);
        world.create(creator).await.unwrap();
        let (by_b, by_c) = tokio::join!(
            adapter.accept(World::accept_request(b, creator, AcceptSource::Created)),
            adapter.accept(World::accept_request(c, creator, AcceptSource::Created)),
        );
        let outcomes = [by_b.map_err(|e| code(&e)), by_c.map_err(|e| code(&e))];
        let won: Vec<&PkInfo> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: {outcomes:?}");
        let lost = outcomes.iter().find_map(|outcome| outcome.clone().err()).unwrap();
        assert!(lost == "025" || lost == "026", "round {round}: {lost}");
        let winner = won[0].rooms.second.room_id.get();
        let live = live_pks(&world, &[creator, b, c]).await;
        assert_eq!(live.keys().copied().collect::<Vec<_>>(), {
            let mut rooms = vec![creator, winner];
            rooms.sort();
            rooms
        });
        assert!(world.room(creator).await.unwrap().created.is_none());
        assert!(!world.open_list().await.contains_key(&room(creator)));
    }
}

// ---- an Accept cut short between its two rooms ------------------------------------------------

/// The first attempt of `request`, cut short as the engine leaves it when the accepting room's
/// write loses: the battle written and closed as abandoned, the lower room (`written`) written,
/// nothing else (the notifications ride the commit's last write: none went out).
async fn abandoned_attempt(world: &World, request: AcceptRequest, battle: u64, written: u64) {
    let (blue_id, red_id) = (request.card.room_id, request.pk_room_id);
    let (blue, red) = (world.room(blue_id.get()).await, world.room(red_id.get()).await);
    let ids = NewBattle { battle_id: BattleId::new(battle), pkid: PkId::from_trusted(battle) };
    let attempt = accept(
        &RoomView::new(blue_id, blue.as_ref(), None),
        &RoomView::new(red_id, red.as_ref(), None),
        request,
        Some(ids),
        world.now(),
    )
    .unwrap();
    let mut abandoned = attempt.battle.clone().unwrap();
    abandoned.round.phase = Phase::Closed { ended_by: EndedBy::Abandoned, at_ms: world.now() };
    world.put_battle(&abandoned).await;
    let half = attempt.aggregates.iter().find(|room| room.room_id.get() == written).unwrap();
    assert!(half.battle == Some(abandoned.battle_id) && half.created.is_none());
    world.put_room(half).await;
}

fn rendered(world: &World) -> Vec<String> {
    world.last.notifications.iter().map(render).collect()
}

#[tokio::test]
async fn the_rerun_of_an_accept_cut_short_tells_everyone_once() {
    // 101 created a PK, challenged 102 and 103; 104 challenged 101. 102's accept of 101's
    // challenge wrote its battle and room 101 (everything taken from it, pointer set), then lost
    // room 102 to another write; the engine closed the battle as abandoned.
    let mut world = World::new().await;
    world.create(RED).await.unwrap();
    world.challenge(RED, BLUE).await.unwrap();
    world.challenge(RED, THIRD).await.unwrap();
    world.challenge(FOURTH, RED).await.unwrap();
    let request = World::accept_request(BLUE, RED, AcceptSource::Challenge);
    abandoned_attempt(&world, request, 40, RED).await;
    // Seen from outside, nothing happened: 101's offers all pend, its PK is listed.
    assert_eq!(world.challenges(BLUE).await, vec!["101>102"]);
    assert_eq!(world.challenges(THIRD).await, vec!["101>103"]);
    assert_eq!(world.challenges(RED).await, vec!["104>101"]);
    assert_eq!(world.created_list(THIRD, 0).await, vec![RED]);
    assert!(world.room_state(RED).await.pk.is_none());
    // The accept's re-run takes the challenge up and tells every room that was waiting on one
    // of 101's offers, once.
    let pk = world.accept_challenge(BLUE, RED).await.unwrap();
    assert_eq!((pk.rooms.first.room_id, pk.terms.clone()), (room(RED), terms(300)));
    let start = |raw: u64| format!("start#{}>r{raw}", pk.pkid);
    assert_eq!(
        rendered(&world),
        vec![start(RED), start(BLUE), "cancel(101>103)>r103".into(), "cancel(104>101)>r104".into()]
    );
    assert_eq!(live_pks(&world, &[RED, BLUE]).await.len(), 2);
    assert!(world.challenges(THIRD).await.is_empty());
    assert!(world.created_list(THIRD, 0).await.is_empty());
    assert!(world.open_list().await.is_empty());
    // The withdrawn challenges' jobs later clean their leftover halves without a word.
    world.advance_secs(60);
    world.fire_due_timers().await;
    assert!(world.last.notifications.is_empty(), "{:?}", world.last);
    assert!(world.room(THIRD).await.unwrap().received.is_empty());
    assert!(world.room(FOURTH).await.unwrap().sent.is_empty());

    // Another room may take up the offer an abandoned attempt took: as far as anyone knows, the
    // attempt never happened.
    let mut world = World::new().await;
    world.create(RED).await.unwrap();
    abandoned_attempt(&world, World::accept_request(BLUE, RED, AcceptSource::Created), 41, RED)
        .await;
    let pk = world.accept_created(THIRD, RED).await.unwrap();
    assert_eq!(pk.rooms.second.room_id, room(THIRD));
    let error = world.accept_created(BLUE, RED).await.unwrap_err();
    assert_eq!(short_code(&error), "025", "101 is in 103's pk now");
}

#[tokio::test]
async fn a_refused_rerun_puts_the_rooms_back_and_tells_nobody() {
    // As above, but by the time the accept runs again room 102 is in another PK (104's): the
    // accept is refused, and room 101 gets back its created PK and its challenges for good.
    let mut world = World::new().await;
    world.create(RED).await.unwrap();
    world.challenge(RED, THIRD).await.unwrap();
    world.create(FOURTH).await.unwrap();
    let before = world.room(RED).await.unwrap();
    abandoned_attempt(&world, World::accept_request(BLUE, RED, AcceptSource::Created), 40, RED)
        .await;
    world.accept_created(BLUE, FOURTH).await.unwrap();
    let error = world.accept_created(BLUE, RED).await.unwrap_err();
    assert_eq!(short_code(&error), "025");
    assert!(world.last.notifications.is_empty(), "{:?}", world.last);
    // Stored as before the abandoned attempt (its pointer, too), and still listed.
    let restored = world.room(RED).await.unwrap();
    assert_eq!(restored.created, before.created);
    assert_eq!(restored.sent, before.sent);
    assert_eq!(restored.battle, None);
    assert_eq!(world.open_list().await.keys().copied().collect::<Vec<_>>(), vec![room(RED)]);
    assert_eq!(world.created_list(THIRD, 0).await, vec![RED]);
    assert_eq!(world.challenges(THIRD).await, vec!["101>103"]);
    // The challenge lapses and both rooms are told, as if nothing had happened.
    world.advance_secs(60);
    world.fire_due_timers().await;
    assert_eq!(rendered(&world), vec!["lapse(101>103)>r103", "lapse(101>103)>r101"]);
}

#[tokio::test]
async fn a_challenge_lapsing_while_an_accept_is_cut_short_is_told_once() {
    // 101 created a PK and challenged 103 59.9 s ago; 102's accept of the PK is cut short after
    // writing room 101 (taking its challenge) just before the challenge lapses. The challenge's
    // job, due meanwhile, must neither drop 103's half silently nor announce it twice.
    for rerun_refused in [false, true] {
        let mut world = World::new().await;
        world.create(RED).await.unwrap();
        world.challenge(RED, THIRD).await.unwrap();
        world.create(FOURTH).await.unwrap();
        world.kit.advance_ms(59_900);
        abandoned_attempt(&world, World::accept_request(BLUE, RED, AcceptSource::Created), 40, RED)
            .await;
        world.kit.advance_ms(100);
        assert_eq!(world.fire_due_timers().await, 1, "the lapse job ran");
        assert!(world.last.is_empty(), "it held off: {:?}", world.last);
        assert_eq!(world.room(THIRD).await.unwrap().received.len(), 1, "103's half is kept");
        if rerun_refused {
            world.accept_created(BLUE, FOURTH).await.unwrap();
            assert_eq!(short_code(&world.accept_created(BLUE, RED).await.unwrap_err()), "025");
        } else {
            let pk = world.accept_created(BLUE, RED).await.unwrap();
            // The lapsed challenge is not withdrawn: it is the lapse's to tell.
            let start = |raw: u64| format!("start#{}>r{raw}", pk.pkid);
            assert_eq!(rendered(&world), vec![start(RED), start(BLUE)]);
        }
        world.advance_secs(5);
        world.fire_due_timers().await;
        assert_eq!(
            rendered(&world),
            vec!["lapse(101>103)>r103", "lapse(101>103)>r101"],
            "refused: {rerun_refused}"
        );
        assert!(world.room(THIRD).await.unwrap().received.is_empty());
        assert!(world.room(RED).await.unwrap().sent.is_empty());
    }
}

#[tokio::test]
async fn a_withdrawn_challenges_job_soon_after_the_accept_waits_then_cleans_silently() {
    // 101 challenged 102 59 s ago; 102 enters 103's PK: the challenge is withdrawn (101 told).
    // Its job comes 1 s later, within SETTLE_MS of the accept: it holds off, then cleans.
    let mut world = World::new().await;
    world.challenge(RED, BLUE).await.unwrap();
    world.create(THIRD).await.unwrap();
    world.advance_secs(59);
    world.accept_created(BLUE, THIRD).await.unwrap();
    assert_eq!(rendered(&world)[2], "cancel(101>102)>r101");
    world.advance_secs(1);
    world.fire_due_timers().await;
    assert!(world.last.is_empty());
    assert_eq!(world.room(RED).await.unwrap().sent.len(), 1);
    world.kit.advance_ms(SETTLE_MS);
    world.fire_due_timers().await;
    assert!(world.last.is_empty(), "{:?}", world.last);
    assert!(world.room(RED).await.unwrap().sent.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accept_whose_second_room_changes_meanwhile_still_starts() {
    // Each round room `red` challenged `blue` and `z`; `blue` accepts while two other rooms
    // challenge `blue` at once. When one of those writes `blue` between the accept's read and its
    // write, the accept's battle and `red` are written but `blue` loses the compare-and-set: the
    // engine abandons that battle and the re-run must find the challenge again — and tell `z`
    // once that `red`'s challenge to it is withdrawn, and each of `x`, `y` whose challenge of
    // `blue` got in before the accept.
    let mut world = on_redis().await;
    let adapter = world.adapter.clone();
    for round in 0..30u64 {
        let base = 6_000 + 10 * round;
        let (red, blue, x, y, z) = (base, base + 5, base + 1, base + 2, base + 3);
        world.challenge(red, blue).await.unwrap();
        world.challenge(red, z).await.unwrap();
        let challenge = |from: u64| ChallengeRequest {
            card: card(from),
            pk_room_id: room(blue),
            terms: terms(300),
            operator_id: operator(from),
        };
        let (accepted, by_x, by_y) = tokio::join!(
            adapter.accept(World::accept_request(blue, red, AcceptSource::Challenge)),
            adapter.challenge(challenge(x)),
            adapter.challenge(challenge(y)),
        );
        let pk = accepted.unwrap_or_else(|error| panic!("round {round}: {error}"));
        let live = live_pks(&world, &[red, blue]).await;
        assert_eq!(live.len(), 2, "round {round}");
        assert!(live.values().all(|pkid| *pkid == pk.pkid), "round {round}");
        let start = |raw: u64| format!("start#{}>r{raw}", pk.pkid);
        let mut expected = vec![start(red), start(blue), format!("cancel({red}>{z})>r{z}")];
        for (from, outcome) in [(x, &by_x), (y, &by_y)] {
            match outcome {
                Ok(_) => expected.push(format!("cancel({from}>{blue})>r{from}")),
                Err(error) => assert_eq!(code(error), "025", "round {round}"),
            }
        }
        world.fire_due_timers().await;
        let mut told: Vec<String> = world
            .last
            .notifications
            .iter()
            .map(render)
            .filter(|line| !line.starts_with("challenge("))
            .collect();
        told.sort();
        expected.sort();
        assert_eq!(told, expected, "round {round}");
    }
    let abandoned =
        world.battles().await.values().filter(|(battle, _)| battle.is_abandoned()).count();
    assert!(abandoned > 0, "no accept lost its second room: the test proved nothing this time");
}
