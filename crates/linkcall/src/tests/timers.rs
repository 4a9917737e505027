//! Timer handlers: a job fires once for the state it was scheduled for; a re-delivered, early
//! or outlived job is harmless.

use super::*;

fn open_pair() -> World {
    let mut world = World::new();
    for raw in [HOST, GUEST, OTHER] {
        world.open(raw).unwrap();
    }
    world
}

fn popup_job(world: &World) -> TimerRequest {
    *world
        .timers
        .iter()
        .find(|timer| matches!(timer, TimerRequest::PopupExpiry { .. }))
        .expect("a popup job is scheduled")
}

fn phase_job(world: &World, phase: TimedPhase) -> TimerRequest {
    *world
        .timers
        .iter()
        .rev()
        .find(|timer| matches!(timer, TimerRequest::PhaseDeadline { phase: p, .. } if *p == phase))
        .expect("a phase job is scheduled")
}

#[test]
fn a_popup_job_fires_once_and_its_redelivery_does_nothing() {
    let mut world = open_pair();
    let reply = world.link(HOST, GUEST).unwrap();
    let job = popup_job(&world);
    assert_eq!(
        job,
        TimerRequest::PopupExpiry {
            guest: singer(GUEST),
            host: singer(HOST),
            due_ms: reply.popup_expires_at_ms
        }
    );
    assert_eq!(reply.popup_expires_at_ms, START_MS + 15_000);
    world.advance_secs(15);
    assert_eq!(world.fire(job), TimerOutcome::Fired);
    assert_eq!(world.anchors[&singer(GUEST)].popup, None);
    assert_eq!(world.anchors[&singer(HOST)].outgoing_invite, None);
    let before = (world.anchors.clone(), world.timers.clone());
    assert_eq!(world.fire(job), TimerOutcome::Stale);
    assert!(world.last.is_empty());
    assert_eq!((world.anchors.clone(), world.timers.clone()), before);
}

#[test]
fn an_early_popup_job_asks_to_be_delivered_again_at_the_expiry() {
    let mut world = open_pair();
    world.link(HOST, GUEST).unwrap();
    let job = popup_job(&world);
    world.timers.clear();
    world.advance_secs(3);
    assert_eq!(world.fire(job), TimerOutcome::Rescheduled);
    assert_eq!(world.timers, vec![job]);
    assert_eq!(world.anchors[&singer(GUEST)].popup.unwrap().host, singer(HOST));
}

#[test]
fn a_popup_job_after_an_answer_or_a_new_popup_does_nothing_wrong() {
    // Refused: stale.
    let mut world = open_pair();
    world.link(HOST, GUEST).unwrap();
    let job = popup_job(&world);
    world.refuse(GUEST, HOST).unwrap();
    world.advance_secs(15);
    assert_eq!(world.fire(job), TimerOutcome::Stale);

    // Lapsed, then the same host linked again before the old job ran: the old job is pushed to
    // the new popup's expiry, where one of the two fires and the other finds nothing.
    let mut world = open_pair();
    world.link(HOST, GUEST).unwrap();
    let old_job = popup_job(&world);
    world.timers.clear();
    world.advance_secs(16);
    world.link(HOST, GUEST).unwrap();
    world.advance_secs(1);
    assert_eq!(world.fire(old_job), TimerOutcome::Rescheduled);
    assert_eq!(world.timers.len(), 2);
    world.advance_secs(15);
    assert_eq!(world.fire_due_timers(), vec![TimerOutcome::Fired, TimerOutcome::Stale]);
    assert_eq!(world.last.notifications.len(), 1, "the host hears `no` once");

    // Replaced by another host's popup: the old job is stale.
    let mut world = open_pair();
    world.link(HOST, GUEST).unwrap();
    let job = popup_job(&world);
    world.timers.clear();
    world.advance_secs(16);
    world.link(OTHER, GUEST).unwrap();
    assert_eq!(world.fire(job), TimerOutcome::Stale);
    assert_eq!(world.anchors[&singer(GUEST)].popup.unwrap().host, singer(OTHER));
}

fn scoring_world() -> World {
    let mut world = open_pair();
    world.link(HOST, GUEST).unwrap();
    world.agree(GUEST, HOST).unwrap();
    world.start(HOST, GUEST).unwrap();
    world
}

#[test]
fn a_scoring_job_fires_once_and_its_redelivery_does_nothing() {
    let mut world = scoring_world();
    let job = phase_job(&world, TimedPhase::Scoring);
    world.advance_secs(360);
    assert_eq!(world.fire(job), TimerOutcome::Fired);
    assert_eq!(world.settled.len(), 1);
    let before = world.battles.clone();
    assert_eq!(world.fire(job), TimerOutcome::Stale);
    assert!(world.last.is_empty());
    assert_eq!(world.battles, before);
    assert_eq!(world.settled.len(), 1);
}

#[test]
fn a_scoring_job_for_a_superseded_pkid_does_nothing() {
    let mut world = scoring_world();
    let old_job = phase_job(&world, TimedPhase::Scoring);
    world.advance_secs(100);
    let extended = world.add_time(HOST, GUEST).unwrap();
    let TimerRequest::PhaseDeadline { due_ms: old_due, .. } = old_job else { unreachable!() };
    // The deadline moved by addtime_seconds; pkalltime grew with it; starttime stayed.
    assert_eq!(extended.pk.phase_deadline_ms, old_due + 60_000);
    assert_eq!(extended.pk.pkalltime_secs, 360 + 60);
    assert_eq!(extended.pk.starttime_secs, START_MS / 1000);
    world.advance_secs(260);
    assert_eq!(world.fire(old_job), TimerOutcome::Stale);
    assert_eq!(world.battle_summary(), "scoring#2");
    world.advance_secs(60);
    let new_job = phase_job(&world, TimedPhase::Scoring);
    assert_eq!(world.fire(new_job), TimerOutcome::Fired);
    assert_eq!(world.settled.len(), 1);
    assert_eq!(world.settled[0].pkid, PkId::from_trusted(2));
    assert_eq!(world.settled[0].start_ms, START_MS);
}

#[test]
fn a_phase_job_for_another_phase_or_a_gone_battle_does_nothing() {
    let mut world = scoring_world();
    let TimerRequest::PhaseDeadline { battle, pkid, .. } = phase_job(&world, TimedPhase::Scoring)
    else {
        unreachable!()
    };
    world.advance_secs(400);
    let wrong_phase = TimerRequest::PhaseDeadline {
        battle,
        pkid,
        phase: TimedPhase::Punishment,
        due_ms: world.now,
    };
    assert_eq!(world.fire(wrong_phase), TimerOutcome::Stale);
    let unknown = TimerRequest::PhaseDeadline {
        battle: BattleId::new(99),
        pkid,
        phase: TimedPhase::Scoring,
        due_ms: world.now,
    };
    assert_eq!(world.fire(unknown), TimerOutcome::Stale);
    world.close(HOST, GUEST).unwrap();
    let scoring =
        TimerRequest::PhaseDeadline { battle, pkid, phase: TimedPhase::Scoring, due_ms: world.now };
    assert_eq!(world.fire(scoring), TimerOutcome::Stale);
}

#[test]
fn an_early_phase_job_asks_to_be_delivered_again_at_the_deadline() {
    let mut world = scoring_world();
    let job = phase_job(&world, TimedPhase::Scoring);
    world.timers.clear();
    world.advance_secs(10);
    assert_eq!(world.fire(job), TimerOutcome::Rescheduled);
    assert_eq!(world.timers, vec![job]);
    assert_eq!(world.battle_summary(), "scoring#1");
}

#[test]
fn a_punishment_job_fires_once() {
    let mut world = scoring_world();
    world.advance_secs(1);
    world.gift(GUEST, 1);
    world.advance_secs(359);
    world.fire_due_timers();
    let job = phase_job(&world, TimedPhase::Punishment);
    world.advance_secs(120);
    assert_eq!(world.fire(job), TimerOutcome::Fired);
    assert_eq!(world.battle_summary(), "linked#1");
    assert_eq!(world.fire(job), TimerOutcome::Stale);
}

#[test]
fn with_punishment_set_to_zero_a_win_goes_straight_back_to_linked() {
    let mut world = scoring_world();
    world.config.punish_seconds = 0;
    world.advance_secs(1);
    world.gift(HOST, 1);
    world.advance_secs(359);
    world.fire_due_timers();
    assert_eq!(world.battle_summary(), "linked#1");
    assert_eq!(world.settled[0].winner, Some(singer(HOST)));
    assert!(!world.timers.iter().any(|timer| matches!(
        timer,
        TimerRequest::PhaseDeadline { phase: TimedPhase::Punishment, .. }
    )));
}
