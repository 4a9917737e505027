//! Timer handlers: a job fires once for the state it was scheduled for; a re-delivered, early
//! or outlived job is harmless.

use livepk_battle::TimedPhase;

use super::*;

async fn open_pair() -> World {
    let mut world = World::new().await;
    for raw in [HOST, GUEST, OTHER] {
        world.open(raw).await.unwrap();
    }
    world
}

/// The popup-expiry job of the popup `host` raised on `guest`.
fn popup_job(guest: u64, host: u64) -> PopupKey {
    PopupKey { guest: singer(guest), host: singer(host) }
}

#[tokio::test]
async fn a_popup_job_fires_once_and_its_redelivery_does_nothing() {
    let mut world = open_pair().await;
    let reply = world.link(HOST, GUEST).await.unwrap();
    assert_eq!(reply.popup_expires_at_ms, START_MS + 15_000);
    assert_eq!(world.pending_jobs().await, 1);
    assert_eq!(world.next_job_due().await, Some(reply.popup_expires_at_ms));
    world.advance_secs(14);
    assert_eq!(world.fire_due_timers().await, 0, "not due yet");
    world.advance_secs(1);
    assert_eq!(world.fire_due_timers().await, 1);
    assert_eq!(world.summary().await, "none | h:apply g:apply | state(no)>s1");
    assert_eq!(world.anchor(GUEST).await.unwrap().popup, None);
    assert_eq!(world.anchor(HOST).await.unwrap().outgoing_invite, None);
    let before = world.state().await;
    assert_eq!(world.deliver_popup(popup_job(GUEST, HOST)).await, 1);
    assert!(world.last.is_empty());
    assert_eq!(world.state().await, before);
    assert_eq!(world.pending_jobs().await, 0);
}

#[tokio::test]
async fn an_early_popup_job_asks_to_be_delivered_again_at_the_expiry() {
    let mut world = open_pair().await;
    let reply = world.link(HOST, GUEST).await.unwrap();
    world.advance_secs(3);
    // The handler's answer.
    let (guest, host) = (world.anchor(GUEST).await, world.anchor(HOST).await);
    let early =
        on_popup_expired(guest.as_ref(), host.as_ref(), singer(GUEST), singer(HOST), world.now());
    assert_eq!(early.reply, TimerOutcome::Rescheduled);
    assert!(early.aggregates.is_empty() && early.effects.notifications.is_empty());
    let again = TimerRequest::InvitationExpiry {
        invitation: popup_job(GUEST, HOST),
        due_ms: reply.popup_expires_at_ms,
    };
    assert_eq!(early.effects.timers, vec![again]);
    // Delivered early through the queue: nothing changes, and the job asked for again is the
    // one already waiting for the expiry.
    let before = world.state().await;
    assert_eq!(world.deliver_popup(popup_job(GUEST, HOST)).await, 1);
    assert!(world.last.is_empty());
    assert_eq!(world.state().await, before);
    assert_eq!(world.anchor(GUEST).await.unwrap().popup.unwrap().from, singer(HOST));
    assert_eq!(world.pending_jobs().await, 1);
    assert_eq!(world.next_job_due().await, Some(reply.popup_expires_at_ms));
    world.advance_secs(12);
    assert_eq!(world.fire_due_timers().await, 1);
    assert_eq!(world.summary().await, "none | h:apply g:apply | state(no)>s1");
}

#[tokio::test]
async fn a_popup_job_after_an_answer_or_a_new_popup_does_nothing_wrong() {
    // Refused: stale.
    let mut world = open_pair().await;
    world.link(HOST, GUEST).await.unwrap();
    world.refuse(GUEST, HOST).await.unwrap();
    world.advance_secs(15);
    let before = world.state().await;
    assert_eq!(world.fire_due_timers().await, 1);
    assert!(world.last.is_empty());
    assert_eq!(world.state().await, before);

    // Lapsed, then the same host linked again before the old job ran: the old job is pushed to
    // the new popup's expiry, where it is the new popup's own job, and fires once.
    let mut world = open_pair().await;
    world.link(HOST, GUEST).await.unwrap();
    world.advance_secs(16);
    let relinked = world.link(HOST, GUEST).await.unwrap();
    world.advance_secs(1);
    assert_eq!(world.fire_due_timers().await, 1, "the old job, late");
    assert!(world.last.is_empty());
    assert_eq!(world.anchor(GUEST).await.unwrap().popup.unwrap().from, singer(HOST));
    assert_eq!(world.pending_jobs().await, 1);
    assert_eq!(world.next_job_due().await, Some(relinked.popup_expires_at_ms));
    world.advance_secs(15);
    assert_eq!(world.fire_due_timers().await, 1);
    assert_eq!(world.summary().await, "none | h:apply g:apply | state(no)>s1");
    assert_eq!(world.last.notifications.len(), 1, "the host hears `no` once");

    // Replaced by another host's popup: the old job is stale.
    let mut world = open_pair().await;
    world.link(HOST, GUEST).await.unwrap();
    world.advance_secs(16);
    world.link(OTHER, GUEST).await.unwrap();
    let before = world.state().await;
    assert_eq!(world.fire_due_timers().await, 1, "the old job");
    assert!(world.last.is_empty());
    assert_eq!(world.state().await, before);
    assert_eq!(world.anchor(GUEST).await.unwrap().popup.unwrap().from, singer(OTHER));
}

async fn scoring_world() -> World {
    let mut world = open_pair().await;
    world.link(HOST, GUEST).await.unwrap();
    world.agree(GUEST, HOST).await.unwrap();
    world.start(HOST, GUEST).await.unwrap();
    // The popup's job, stale since the agree, out of the way: 15 s into scoring.
    world.advance_secs(15);
    assert_eq!(world.fire_due_timers().await, 1);
    world
}

/// The scoring deadline job of the battle `raw` is in.
async fn scoring_job(world: &World, raw: u64) -> PhaseDeadline {
    let job = world.deadline_of(raw).await.expect("a phase deadline");
    assert_eq!(job.phase, TimedPhase::Scoring);
    job
}

#[tokio::test]
async fn a_scoring_job_fires_once_and_its_redelivery_does_nothing() {
    let mut world = scoring_world().await;
    let job = scoring_job(&world, HOST).await;
    assert_eq!(job.due_ms, START_MS + 360_000);
    assert_eq!(world.next_job_due().await, Some(job.due_ms));
    world.advance_secs(345);
    assert_eq!(world.fire_due_timers().await, 1);
    assert_eq!(world.records().await.len(), 1);
    assert_eq!(world.last.settled.len(), 1);
    let before = world.state().await;
    assert_eq!(world.deliver_phase(job).await, 1);
    assert!(world.last.is_empty());
    assert_eq!(world.state().await, before);
    assert_eq!(world.records().await.len(), 1);
}

#[tokio::test]
async fn a_scoring_job_for_a_superseded_pkid_does_nothing() {
    let mut world = scoring_world().await;
    let old_job = scoring_job(&world, HOST).await;
    world.advance_secs(85); // 100 s into scoring
    let extended = world.add_time(HOST, GUEST).await.unwrap();
    let old_due = old_job.due_ms;
    // The deadline moved by addtime_seconds; pkalltime grew with it; starttime stayed.
    assert_eq!(extended.pk.phase_deadline_ms, old_due + 180_000);
    assert_eq!(extended.pk.pkalltime_secs, 360 + 180);
    assert_eq!(extended.pk.starttime_secs, START_MS / 1000);
    world.advance_secs(260);
    let before = world.state().await;
    assert_eq!(world.fire_due_timers().await, 1, "the old job");
    assert!(world.last.is_empty());
    assert_eq!(world.state().await, before);
    assert_eq!(world.battle_summary().await, "scoring#2");
    world.advance_secs(180);
    let new_job = scoring_job(&world, HOST).await;
    assert_eq!((new_job.pkid, new_job.due_ms), (PkId::from_trusted(2), old_due + 180_000));
    assert_eq!(world.fire_due_timers().await, 1, "the new job");
    let records = world.records().await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].pkid, PkId::from_trusted(2));
    assert_eq!(records[0].start_ms, START_MS);
}

#[tokio::test]
async fn a_phase_job_for_another_phase_or_a_gone_battle_does_nothing() {
    let mut world = scoring_world().await;
    let PhaseDeadline { battle, pkid, .. } = scoring_job(&world, HOST).await;
    let wrong_phase =
        |now| PhaseDeadline { battle, pkid, phase: TimedPhase::Punishment, due_ms: now };
    let unknown = |now| PhaseDeadline {
        battle: BattleId::new(99),
        pkid,
        phase: TimedPhase::Scoring,
        due_ms: now,
    };
    // Delivered through the queue while the battle is scoring: nothing changes, nothing is
    // asked for again.
    let before = world.state().await;
    let pending = world.pending_jobs().await;
    assert_eq!(world.deliver_phase(wrong_phase(world.now())).await, 1);
    assert!(world.last.is_empty());
    assert_eq!(world.deliver_phase(unknown(world.now())).await, 1);
    assert!(world.last.is_empty());
    assert_eq!(world.state().await, before);
    assert_eq!(world.pending_jobs().await, pending);
    // Past the scoring deadline too (the handler's answer; the queue would run the real
    // scoring job with them).
    world.advance_secs(385); // 400 s into scoring
    let config = world.config().await;
    let current = world.battle_of(HOST).await;
    let scores = world.scores_of(HOST).await;
    for job in [wrong_phase(world.now()), unknown(world.now())] {
        let read = current.as_ref().filter(|read| read.battle_id == job.battle);
        let answer = on_phase_deadline(read, &job, scores, &config, world.now());
        assert_eq!(answer.reply, TimerOutcome::Stale, "{job:?}");
        assert!(answer.is_noop(), "{job:?}");
    }
    world.close(HOST, GUEST).await.unwrap();
    assert_eq!(world.records().await.len(), 1);
    let before = world.state().await;
    let scoring = PhaseDeadline { battle, pkid, phase: TimedPhase::Scoring, due_ms: world.now() };
    assert_eq!(world.deliver_phase(scoring).await, 2, "it and the real scoring job");
    assert!(world.last.is_empty());
    assert_eq!(world.state().await, before);
    assert_eq!(world.records().await.len(), 1);
}

#[tokio::test]
async fn an_early_phase_job_asks_to_be_delivered_again_at_the_deadline() {
    let mut world = scoring_world().await;
    let job = scoring_job(&world, HOST).await;
    // The handler's answer.
    let battle = world.battle_of(HOST).await;
    let config = world.config().await;
    let early = on_phase_deadline(battle.as_ref(), &job, Scores::default(), &config, world.now());
    assert_eq!(early.reply, TimerOutcome::Rescheduled);
    assert_eq!(early.battle, None);
    assert_eq!(early.effects.timers, vec![TimerRequest::Phase(job)]);
    // Delivered early through the queue: nothing changes, and the job asked for again is the
    // one already waiting for the deadline.
    let before = world.state().await;
    assert_eq!(world.deliver_phase(job).await, 1);
    assert!(world.last.is_empty());
    assert_eq!(world.state().await, before);
    assert_eq!(world.battle_summary().await, "scoring#1");
    assert_eq!(world.pending_jobs().await, 1);
    assert_eq!(world.next_job_due().await, Some(job.due_ms));
    world.advance_secs(345);
    assert_eq!(world.fire_due_timers().await, 1);
    assert_eq!(world.battle_summary().await, "linked#1");
    assert_eq!(world.records().await.len(), 1);
}

#[tokio::test]
async fn a_punishment_job_fires_once() {
    let mut world = scoring_world().await;
    world.gift(GUEST, 1).await;
    world.advance_secs(345);
    world.fire_due_timers().await;
    let job = world.deadline_of(HOST).await.unwrap();
    assert_eq!(job.phase, TimedPhase::Punishment);
    world.advance_secs(120);
    world.fire_due_timers().await;
    assert_eq!(world.summary().await, "linked#1 | h:pking g:pking | info>r101 info>r102");
    let before = world.state().await;
    assert_eq!(world.deliver_phase(job).await, 1);
    assert!(world.last.is_empty());
    assert_eq!(world.state().await, before);
    assert_eq!(world.battle_summary().await, "linked#1");
}

#[tokio::test]
async fn with_punishment_set_to_zero_a_win_goes_straight_back_to_linked() {
    // The config table refuses `linkcall.punish_seconds = 0` (durations are 1 s..1 day), so a
    // punishment of 0 is only reachable through LinkCallConfig itself: the deadline and the
    // count are judged here by the pure functions, on the state the world reached.
    let mut world = scoring_world().await;
    world.gift(HOST, 1).await;
    world.advance_secs(345);
    let config = LinkCallConfig { punish_seconds: 0, ..world.config().await };
    let battle = world.battle_of(HOST).await.unwrap();
    let scores = world.scores_of(HOST).await;
    assert_eq!(scores, Scores::new(1, 0));
    let job = scoring_job(&world, HOST).await;
    let fired = on_phase_deadline(Some(&battle), &job, scores, &config, world.now());
    assert_eq!(fired.reply, TimerOutcome::Fired);
    let pair = PairRequest { host_id: singer(HOST), guest_id: singer(GUEST) };
    let counted = count(Some(&battle), pair, scores, &config, world.now()).unwrap();
    for (settled, effects) in
        [(fired.battle.unwrap(), &fired.effects), (counted.battle.unwrap(), &counted.effects)]
    {
        assert_eq!(settled.round.phase, livepk_battle::Phase::Idle, "linked");
        assert_eq!(settled.round.last_result.unwrap().winner, Some(livepk_battle::Side::First));
        assert_eq!(effects.settled.unwrap().winner, Some(livepk_battle::Side::First));
        assert!(effects.timers.is_empty(), "no punishment job");
    }
    assert_eq!(counted.reply.pk.winner_id, Some(singer(HOST)));
}

/// Issue 12, item 7: the scoring deadline's settle waits `score.grace_ms` for gifts sent before
/// the deadline and recorded late (a payment confirmed just after it). Both sides of both
/// boundaries: sent a millisecond before the deadline counts, sent at it does not; the job does
/// not settle a millisecond before the grace is over, and does at its end, on those gifts; after
/// the settle a late gift is out for good.
#[tokio::test]
async fn item7_the_deadline_settle_waits_the_grace_for_gifts_sent_before_it() {
    const GRACE_MS: u64 = 3_000;
    let mut world = open_pair().await;
    world.set_config("score.grace_ms", GRACE_MS as i64).await;
    world.link(HOST, GUEST).await.unwrap();
    world.agree(GUEST, HOST).await.unwrap();
    world.start(HOST, GUEST).await.unwrap();
    let deadline_ms = scoring_job(&world, HOST).await.due_ms;
    // The popup's stale job is due first; then the deadline's, a grace after the deadline.
    world.advance_secs(15);
    assert_eq!(world.fire_due_timers().await, 1);
    assert_eq!(world.next_job_due().await, Some(deadline_ms + GRACE_MS));

    world.kit.advance_ms(deadline_ms - world.now());
    assert_eq!(world.fire_due_timers().await, 0, "the settle waits out the grace");
    assert!(world.gift_txn("late-1", HOST, 10, deadline_ms - 1).await, "sent before the end");
    assert!(!world.gift_txn("at-end", GUEST, 1_000, deadline_ms).await, "sent at the end");
    world.kit.advance_ms(GRACE_MS - 1);
    assert!(world.gift_txn("late-2", GUEST, 4, deadline_ms - 500).await, "recorded in the grace");
    assert_eq!(world.fire_due_timers().await, 0, "a millisecond before the grace is over");
    assert_eq!(world.battle_summary().await, "scoring#1");

    world.kit.advance_ms(1);
    assert_eq!(world.fire_due_timers().await, 1);
    let records = world.records().await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!((record.host_score, record.guest_score), (10, 4));
    assert_eq!((record.ended_by.as_str(), record.end_ms), ("deadline", deadline_ms));
    assert!(
        !world.gift_txn("too-late", GUEST, 100, deadline_ms - 1).await,
        "after the settle a gift is out for good, whenever it was sent"
    );
}

/// Item 7: the grace is read when the deadline is scheduled, so changing it never moves the
/// settle of a running PK.
#[tokio::test]
async fn item7_a_changed_grace_leaves_running_pks_alone() {
    let mut world = open_pair().await;
    world.set_config("score.grace_ms", 2_000).await;
    world.link(HOST, GUEST).await.unwrap();
    world.agree(GUEST, HOST).await.unwrap();
    world.start(HOST, GUEST).await.unwrap();
    let deadline_ms = scoring_job(&world, HOST).await.due_ms;
    world.set_config("score.grace_ms", 9_000).await;
    world.advance_secs(15);
    assert_eq!(world.fire_due_timers().await, 1, "the popup's stale job");
    assert_eq!(world.next_job_due().await, Some(deadline_ms + 2_000));
}
