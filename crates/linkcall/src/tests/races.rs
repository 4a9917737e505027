//! Race-shaped sequences: two commands (or a command and a job) hitting the same state, in
//! each order. The adapter serialises them with compare-and-set, so a race is "one commits
//! first, the other runs on the state it left"; each must end in one consistent outcome.

use super::*;

/// Host and guest linked and scoring (pkid 1), `now` at the start.
fn scoring() -> World {
    let mut world = World::new();
    for raw in [HOST, GUEST, OTHER] {
        world.open(raw).unwrap();
    }
    world.link(HOST, GUEST).unwrap();
    world.agree(GUEST, HOST).unwrap();
    world.start(HOST, GUEST).unwrap();
    world
}

#[test]
fn both_anchors_count_first_wins_second_gets_024_with_the_same_result() {
    let mut world = scoring();
    world.advance_secs(1);
    world.gift(GUEST, 7);
    world.gift(HOST, 3);
    world.advance_secs(360);
    let first = world.count(HOST, GUEST).unwrap();
    let second = world.count(HOST, GUEST).unwrap_err();
    assert_eq!(short_code(&second), "024");
    let answer = second.settled_answer().unwrap();
    assert_eq!(answer.pkid, first.pkid);
    assert_eq!(answer.pk, first.pk);
    assert_eq!((answer.pk.host_gift, answer.pk.guest_gift), (3, 7));
    assert_eq!(answer.result.winner, Some(singer(GUEST)));
    assert_eq!(second.pk_state(), Some(PkState::Count));
    assert_eq!(world.settled.len(), 1, "one record per settled pkid");
    // The deadline job, arriving last, finds the PK already settled.
    assert_eq!(world.fire_due_timers(), vec![TimerOutcome::Stale, TimerOutcome::Stale]);
    assert_eq!(world.settled.len(), 1);
}

#[test]
fn the_deadline_job_first_then_a_count_answers_the_jobs_result() {
    let mut world = scoring();
    world.advance_secs(1);
    world.gift(HOST, 5);
    world.advance_secs(360);
    world.fire_due_timers();
    assert_eq!(world.settled.len(), 1);
    assert_eq!(world.settled[0].ended_by, EndedBy::Deadline);
    let error = world.count(HOST, GUEST).unwrap_err();
    let answer = error.settled_answer().unwrap();
    assert_eq!(answer.result.ended_by, EndedBy::Deadline);
    assert_eq!((answer.result.host_score, answer.result.guest_score), (5, 0));
    assert_eq!(world.settled.len(), 1);
}

#[test]
fn close_racing_the_deadline_settles_exactly_once() {
    // Close commits first: the deadline job finds a closed battle.
    let mut world = scoring();
    world.advance_secs(1);
    world.gift(HOST, 4);
    world.advance_secs(360);
    world.close(HOST, GUEST).unwrap();
    assert_eq!(world.settled.len(), 1);
    let record = world.settled[0];
    assert_eq!(record.ended_by, EndedBy::Close);
    assert_eq!(record.host_score, 4);
    // Scoring ended at the deadline even though the close came a second later.
    assert_eq!(record.end_ms, START_MS + 360_000);
    assert!(world.fire_due_timers().iter().all(|outcome| *outcome == TimerOutcome::Stale));
    assert_eq!(world.settled.len(), 1);

    // The deadline job commits first: Close closes a settled PK and records nothing more.
    let mut world = scoring();
    world.advance_secs(1);
    world.gift(HOST, 4);
    world.advance_secs(360);
    world.fire_due_timers();
    let reply = world.close(HOST, GUEST).unwrap();
    assert_eq!(reply.pk.unwrap().host_gift, 4);
    assert_eq!(world.settled.len(), 1);
    assert_eq!(world.settled[0].ended_by, EndedBy::Deadline);
    // The punishment job finds the battle closed.
    world.advance_secs(120);
    assert_eq!(world.fire_due_timers(), vec![TimerOutcome::Stale]);
}

#[test]
fn two_hosts_linking_the_same_guest_second_gets_030() {
    let mut world = World::new();
    for raw in [HOST, GUEST, OTHER] {
        world.open(raw).unwrap();
    }
    world.link(HOST, GUEST).unwrap();
    let second = world.link(OTHER, GUEST).unwrap_err();
    assert_eq!(short_code(&second), "030");
    assert_eq!(second.pk_state(), Some(PkState::Popup));
    // The popup holds the first host only.
    assert_eq!(world.anchors[&singer(GUEST)].popup.unwrap().host, singer(HOST));
    // Once it lapses, the second host gets through.
    world.advance_secs(15);
    world.fire_due_timers();
    world.link(OTHER, GUEST).unwrap();
    assert_eq!(world.anchors[&singer(GUEST)].popup.unwrap().host, singer(OTHER));
}

#[test]
fn confirm_after_the_popup_lapsed_fails_cleanly_whether_or_not_the_job_ran() {
    for job_ran in [false, true] {
        let mut world = World::new();
        for raw in [HOST, GUEST] {
            world.open(raw).unwrap();
        }
        world.link(HOST, GUEST).unwrap();
        world.advance_secs(15);
        if job_ran {
            world.fire_due_timers();
        }
        let before = (world.anchors.clone(), world.battles.clone());
        let error = world.agree(GUEST, HOST).unwrap_err();
        assert_eq!(short_code(&error), "026", "job ran: {job_ran}");
        assert!(matches!(error, LinkCallError::InvitationGone { .. }));
        assert_eq!((world.anchors.clone(), world.battles.clone()), before);
        // Both anchors are free: the host may link again and the guest may now agree.
        world.link(HOST, GUEST).unwrap();
        world.agree(GUEST, HOST).unwrap();
    }
}

#[test]
fn confirm_first_then_the_popup_job_does_nothing() {
    let mut world = World::new();
    for raw in [HOST, GUEST] {
        world.open(raw).unwrap();
    }
    world.link(HOST, GUEST).unwrap();
    world.advance_secs(14);
    world.agree(GUEST, HOST).unwrap();
    world.advance_secs(1);
    assert_eq!(world.fire_due_timers(), vec![TimerOutcome::Stale]);
    assert!(world.last.notifications.is_empty(), "the host must not hear `no` after `yes`");
}

#[test]
fn close_and_leave_racing_close_the_battle_once() {
    let mut world = scoring();
    world.advance_secs(10);
    world.gift(GUEST, 2);
    world.leave(GUEST);
    assert_eq!(world.settled.len(), 1);
    assert_eq!(world.settled[0].ended_by, EndedBy::Leave);
    assert_eq!(world.settled[0].winner, Some(singer(GUEST)));
    // The host's Close arrives after: nothing left to close for the pair.
    let reply = world.close(HOST, GUEST).unwrap();
    assert_eq!(reply.pkid, None);
    assert_eq!(reply.pk, None);
    assert_eq!(world.settled.len(), 1);
}

#[test]
fn a_release_that_lost_its_anchor_write_can_be_redone_alone() {
    let mut world = scoring();
    let battle = world.battle_of(HOST).unwrap().clone();
    let host = world.anchors[&singer(HOST)].clone();
    let guest = world.anchors[&singer(GUEST)].clone();
    let transition = close(
        Some(&host),
        Some(&guest),
        Some(&battle),
        PairRequest { host_id: singer(HOST), guest_id: singer(GUEST) },
        Scores::default(),
        world.now,
    )
    .unwrap();
    // The adapter wrote the battle, then the anchors' compare-and-set failed because the guest
    // changed meanwhile (here: its busy flag). It reloads the anchors and redoes the release.
    world.battles.insert(battle.battle_id, transition.battle.clone().unwrap());
    world.activity(GUEST, Activity::Game);
    for raw in [HOST, GUEST] {
        let fresh = world.anchors[&singer(raw)].clone();
        let (released, refresh) = release_anchor(&fresh, battle.battle_id, world.now).unwrap();
        assert_eq!(released.battle, None);
        assert_eq!(released.activity, fresh.activity, "the concurrent change survives");
        assert!(refresh.is_some());
        world.anchors.insert(released.singer_id, released.clone());
        // Redoing it again is a no-op.
        assert_eq!(release_anchor(&released, battle.battle_id, world.now), None);
    }
}

#[test]
fn a_pointer_left_to_a_closed_battle_is_healed_by_close_and_by_coming_in() {
    let mut world = scoring();
    let battle_id = world.battle_of(HOST).unwrap().battle_id;
    // The battle was closed but the anchors' write never happened (crash between the steps).
    let closed =
        admin_close(world.battles.get(&battle_id), None, None, Scores::default(), world.now);
    assert!(closed.anchors.is_empty());
    world.commit(closed);
    assert_eq!(world.anchors[&singer(HOST)].battle, Some(battle_id));
    // The pair's Close answers pkid 0 and frees both.
    let reply = world.close(HOST, GUEST).unwrap();
    assert_eq!(reply.pkid, None);
    assert_eq!(world.anchors[&singer(HOST)].battle, None);
    assert_eq!(world.anchors[&singer(GUEST)].battle, None);

    let mut world = scoring();
    let battle_id = world.battle_of(HOST).unwrap().battle_id;
    world.battles.remove(&battle_id); // the battle expired
    let reply = world.come_in(HOST);
    assert_eq!(reply.pkid, None);
    assert_eq!(world.anchors[&singer(HOST)].battle, None);
}

#[test]
fn admin_close_settles_and_releases_both() {
    let mut world = scoring();
    world.advance_secs(5);
    world.gift(HOST, 1);
    let battle_id = world.battle_of(HOST).unwrap().battle_id;
    let reply = world.admin_close(battle_id);
    assert_eq!(reply.pk_state, PkState::Over);
    assert_eq!(world.settled[0].ended_by, EndedBy::Admin);
    assert_eq!(world.settled[0].end_ms, START_MS + 5_000);
    assert_eq!(world.anchor_state(HOST), "apply");
    assert_eq!(world.anchor_state(GUEST), "apply");
    assert_eq!(
        world.summary(),
        "closed#1 | h:apply g:apply | state(over)>s1 state(over)>s2 info>r101 info>r102 | settled(admin) 1:0"
    );
    // Again: nothing to close.
    assert_eq!(world.admin_close(battle_id).pkid, None);
}

#[test]
fn an_invitation_the_guest_sent_dies_when_it_agrees_to_another() {
    let mut world = World::new();
    for raw in [HOST, GUEST, OTHER] {
        world.open(raw).unwrap();
    }
    world.link(GUEST, OTHER).unwrap(); // 2 waits on 3
    world.link(HOST, GUEST).unwrap(); // 1 invites 2 (2 holds no popup, so it can be invited)
    world.agree(GUEST, HOST).unwrap();
    assert_eq!(world.anchors[&singer(GUEST)].outgoing_invite, None);
    // 3 answers 2's invitation too late: 2 is in a PK scene now.
    let error = world.agree(OTHER, GUEST).unwrap_err();
    assert_eq!(short_code(&error), "025");
    assert_eq!(error.pk_state(), Some(PkState::Pking));
}

#[test]
fn withdrawing_writes_each_neighbour_once() {
    // Hand-built (the commands never let two anchors invite each other): 1 and 2 each hold
    // the other's popup. When 1 leaves, 2 loses both its popup and its wait, in one write.
    let mut world = World::new();
    for raw in [HOST, GUEST] {
        world.open(raw).unwrap();
    }
    let expires_at_ms = world.now + 15_000;
    for (me, other) in [(HOST, GUEST), (GUEST, HOST)] {
        let anchor = world.anchors.get_mut(&singer(me)).unwrap();
        anchor.popup = Some(Popup {
            host: singer(other),
            host_sid: sid_of(other),
            popped_at_ms: world.now,
            expires_at_ms,
        });
        anchor.outgoing_invite = Some(OutgoingInvite { guest: singer(other), expires_at_ms });
    }
    world.leave(HOST); // World::commit asserts no anchor is written twice
    let guest = &world.anchors[&singer(GUEST)];
    assert_eq!((guest.popup, guest.outgoing_invite), (None, None));
    assert_eq!(world.summary(), "none | h:offline g:apply | state(offline)>s2");
}
