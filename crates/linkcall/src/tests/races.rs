//! Race-shaped sequences: two commands (or a command and a job) hitting the same state, in
//! each order. The adapter serialises them with compare-and-set, so a race is "one commits
//! first, the other runs on the state it left"; each must end in one consistent outcome.

use livepk_battle::{EndedBy, Side};

use super::*;

/// Host and guest linked and scoring (pkid 1), `now` at the start.
async fn scoring() -> World {
    let mut world = World::new().await;
    for raw in [HOST, GUEST, OTHER] {
        world.open(raw).await.unwrap();
    }
    world.link(HOST, GUEST).await.unwrap();
    world.agree(GUEST, HOST).await.unwrap();
    world.start(HOST, GUEST).await.unwrap();
    world
}

#[tokio::test]
async fn both_anchors_count_first_wins_second_gets_024_with_the_same_result() {
    let mut world = scoring().await;
    world.advance_secs(1);
    world.gift(GUEST, 7).await;
    world.gift(HOST, 3).await;
    world.advance_secs(360);
    let first = world.count(HOST, GUEST).await.unwrap();
    let second = world.count(HOST, GUEST).await.unwrap_err();
    assert_eq!(short_code(&second), "024");
    let answer = second.settled_answer().unwrap();
    assert_eq!(answer.pkid, first.pkid);
    assert_eq!(answer.pk, first.pk);
    assert_eq!((answer.pk.host_gift, answer.pk.guest_gift), (3, 7));
    assert_eq!(answer.result.winner, Some(Side::Second));
    assert_eq!(answer.pk.winner_id, Some(singer(GUEST)));
    assert_eq!(second.pk_state(), Some(PkState::Count));
    let details: BTreeMap<String, String> = second.details().into_iter().collect();
    assert_eq!(details["pkid"], first.pkid.to_string());
    assert_eq!((details["host_gift"].as_str(), details["guest_gift"].as_str()), ("3", "7"));
    assert_eq!(details["winner_id"], GUEST.to_string());
    assert_eq!(world.records().await.len(), 1, "one record per settled pkid");
    // The deadline job (and the popup's), arriving last, find the PK already settled.
    let before = world.state().await;
    assert_eq!(world.fire_due_timers().await, 2);
    assert!(world.last.is_empty());
    assert_eq!(world.state().await, before);
    assert_eq!(world.records().await.len(), 1);
}

#[tokio::test]
async fn the_deadline_job_first_then_a_count_answers_the_jobs_result() {
    let mut world = scoring().await;
    world.advance_secs(1);
    world.gift(HOST, 5).await;
    world.advance_secs(360);
    world.fire_due_timers().await;
    let records = world.records().await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].ended_by, "deadline");
    let error = world.count(HOST, GUEST).await.unwrap_err();
    let answer = error.settled_answer().unwrap();
    assert_eq!(answer.result.ended_by, EndedBy::Deadline);
    assert_eq!((answer.result.scores.first, answer.result.scores.second), (5, 0));
    assert_eq!(world.records().await.len(), 1);
}

#[tokio::test]
async fn close_racing_the_deadline_settles_exactly_once() {
    // Close commits first: the deadline job finds a closed battle.
    let mut world = scoring().await;
    world.advance_secs(1);
    world.gift(HOST, 4).await;
    world.advance_secs(360);
    world.close(HOST, GUEST).await.unwrap();
    let records = world.records().await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.ended_by, "close");
    assert_eq!(record.host_score, 4);
    // Scoring ended at the deadline even though the close came a second later.
    assert_eq!(record.end_ms, START_MS + 360_000);
    let before = world.state().await;
    assert_eq!(world.fire_due_timers().await, 2, "the scoring deadline's job and the popup's");
    assert!(world.last.is_empty(), "both find nothing to do");
    assert_eq!(world.state().await, before);
    assert_eq!(world.records().await.len(), 1);

    // The deadline job commits first: Close closes a settled PK and records nothing more.
    let mut world = scoring().await;
    world.advance_secs(1);
    world.gift(HOST, 4).await;
    world.advance_secs(360);
    world.fire_due_timers().await;
    let punishment = world.deadline_of(HOST).await.unwrap();
    assert_eq!(punishment.phase, livepk_battle::TimedPhase::Punishment);
    let reply = world.close(HOST, GUEST).await.unwrap();
    assert_eq!(reply.pk.unwrap().host_gift, 4);
    let records = world.records().await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].ended_by, "deadline");
    // The punishment job finds the battle closed.
    world.advance_secs(120);
    let before = world.state().await;
    assert!(world.fire_due_timers().await >= 1);
    assert!(world.last.is_empty());
    assert_eq!(world.state().await, before);
    assert_eq!(world.pending_jobs().await, 0, "the punishment job ran");
}

#[tokio::test]
async fn two_hosts_linking_the_same_guest_second_gets_030() {
    let mut world = World::new().await;
    for raw in [HOST, GUEST, OTHER] {
        world.open(raw).await.unwrap();
    }
    world.link(HOST, GUEST).await.unwrap();
    let second = world.link(OTHER, GUEST).await.unwrap_err();
    assert_eq!(short_code(&second), "030");
    assert_eq!(second.pk_state(), Some(PkState::Popup));
    // The popup holds the first host only.
    assert_eq!(world.anchor(GUEST).await.unwrap().popup.unwrap().from, singer(HOST));
    // Once it lapses, the second host gets through.
    world.advance_secs(15);
    world.fire_due_timers().await;
    world.link(OTHER, GUEST).await.unwrap();
    assert_eq!(world.anchor(GUEST).await.unwrap().popup.unwrap().from, singer(OTHER));
}

#[tokio::test]
async fn confirm_after_the_popup_lapsed_fails_cleanly_whether_or_not_the_job_ran() {
    for job_ran in [false, true] {
        let mut world = World::new().await;
        for raw in [HOST, GUEST] {
            world.open(raw).await.unwrap();
        }
        world.link(HOST, GUEST).await.unwrap();
        world.advance_secs(15);
        if job_ran {
            world.fire_due_timers().await;
        }
        let before = world.state().await;
        let error = world.agree(GUEST, HOST).await.unwrap_err();
        assert_eq!(short_code(&error), "026", "job ran: {job_ran}");
        assert!(matches!(error.linkcall(), Some(LinkCallError::InvitationGone { .. })));
        assert_eq!(world.state().await, before);
        // Both anchors are free: the host may link again and the guest may now agree.
        world.link(HOST, GUEST).await.unwrap();
        world.agree(GUEST, HOST).await.unwrap();
    }
}

#[tokio::test]
async fn confirm_first_then_the_popup_job_does_nothing() {
    let mut world = World::new().await;
    for raw in [HOST, GUEST] {
        world.open(raw).await.unwrap();
    }
    world.link(HOST, GUEST).await.unwrap();
    world.advance_secs(14);
    world.agree(GUEST, HOST).await.unwrap();
    world.advance_secs(1);
    let before = world.state().await;
    assert_eq!(world.fire_due_timers().await, 1, "the popup job ran");
    assert!(world.last.notifications.is_empty(), "the host must not hear `no` after `yes`");
    assert_eq!(world.state().await, before);
}

#[tokio::test]
async fn close_and_leave_racing_close_the_battle_once() {
    let mut world = scoring().await;
    world.advance_secs(10);
    world.gift(GUEST, 2).await;
    world.leave(GUEST).await;
    let records = world.records().await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].ended_by, "leave");
    assert_eq!(records[0].winner, Some(singer(GUEST)));
    // The host's Close arrives after: nothing left to close for the pair.
    let reply = world.close(HOST, GUEST).await.unwrap();
    assert_eq!(reply.pkid, None);
    assert_eq!(reply.pk, None);
    assert_eq!(world.records().await.len(), 1);
}

#[tokio::test]
async fn a_release_that_lost_its_anchor_write_can_be_redone_alone() {
    let mut world = scoring().await;
    let battle = world.battle_of(HOST).await.unwrap();
    let host = world.anchor(HOST).await.unwrap();
    let guest = world.anchor(GUEST).await.unwrap();
    let transition = close(
        Some(&host),
        Some(&guest),
        Some(&battle),
        PairRequest { host_id: singer(HOST), guest_id: singer(GUEST) },
        Scores::default(),
        world.now(),
    )
    .unwrap();
    // The adapter wrote the battle, then the anchors' compare-and-set failed because the guest
    // changed meanwhile (here: its busy flag). It reloads the anchors and redoes the release.
    world.put_battle_only(transition.battle.as_ref().unwrap()).await;
    world.activity(GUEST, Activity::Game).await;
    for raw in [HOST, GUEST] {
        let fresh = world.anchor(raw).await.unwrap();
        let (released, refresh) = release_anchor(&fresh, battle.battle_id, world.now()).unwrap();
        assert_eq!(released.battle, None);
        assert_eq!(released.activity, fresh.activity, "the concurrent change survives");
        assert!(refresh.is_some());
        // Redoing it again is a no-op.
        assert_eq!(release_anchor(&released, battle.battle_id, world.now()), None);
    }
    // The re-run of the Close finds the closed battle and heals both pointers.
    let reply = world.close(HOST, GUEST).await.unwrap();
    assert_eq!(reply.pkid, None);
    let state = world.state().await;
    assert_eq!(state.anchors[&singer(HOST)].battle, None);
    assert_eq!(state.anchors[&singer(GUEST)].battle, None);
    assert_eq!(state.anchors[&singer(GUEST)].activity, Activity::Game);
}

#[tokio::test]
async fn a_pointer_left_to_a_closed_battle_is_healed_by_close_and_by_coming_in() {
    let mut world = scoring().await;
    let battle = world.battle_of(HOST).await.unwrap();
    let battle_id = battle.battle_id;
    // The battle was closed but the anchors' write never happened (crash between the steps).
    let closed = admin_close(Some(&battle), None, None, Scores::default(), world.now());
    assert!(closed.aggregates.is_empty());
    world.put_battle_only(closed.battle.as_ref().unwrap()).await;
    assert_eq!(world.anchor(HOST).await.unwrap().battle, Some(battle_id));
    // The pair's Close answers pkid 0 and frees both.
    let reply = world.close(HOST, GUEST).await.unwrap();
    assert_eq!(reply.pkid, None);
    assert_eq!(world.anchor(HOST).await.unwrap().battle, None);
    assert_eq!(world.anchor(GUEST).await.unwrap().battle, None);

    let mut world = scoring().await;
    let battle_id = world.battle_of(HOST).await.unwrap().battle_id;
    world.drop_battle(battle_id).await; // the battle expired
    let reply = world.come_in(HOST).await;
    assert_eq!(reply.pkid, None);
    assert_eq!(world.anchor(HOST).await.unwrap().battle, None);
}

#[tokio::test]
async fn admin_close_settles_and_releases_both() {
    let mut world = scoring().await;
    world.advance_secs(5);
    world.gift(HOST, 1).await;
    let pkid = world.battle_of(HOST).await.unwrap().pkid();
    let record = world.admin_close(pkid).await.unwrap().expect("the close settled the pk");
    assert_eq!(record.ended_by, "admin");
    let records = world.records().await;
    assert_eq!(records[0].ended_by, "admin");
    assert_eq!(records[0].end_ms, START_MS + 5_000);
    assert_eq!(world.anchor_state(HOST).await, "apply");
    assert_eq!(world.anchor_state(GUEST).await, "apply");
    assert_eq!(
        world.summary().await,
        "closed#1 | h:apply g:apply | state(over)>s1 state(over)>s2 info>r101 info>r102 | settled(admin) 1:0"
    );
    // Again: nothing to close.
    assert_eq!(world.admin_close(pkid).await.unwrap(), None);
    assert!(world.last.is_empty());
    assert_eq!(world.records().await.len(), 1);
}

#[tokio::test]
async fn an_invitation_the_guest_sent_dies_when_it_agrees_to_another() {
    let mut world = World::new().await;
    for raw in [HOST, GUEST, OTHER] {
        world.open(raw).await.unwrap();
    }
    world.link(GUEST, OTHER).await.unwrap(); // 2 waits on 3
    world.link(HOST, GUEST).await.unwrap(); // 1 invites 2 (2 holds no popup, so it can be invited)
    world.agree(GUEST, HOST).await.unwrap();
    assert_eq!(world.anchor(GUEST).await.unwrap().outgoing_invite, None);
    // 3 answers 2's invitation too late: 2 is in a PK scene now.
    let error = world.agree(OTHER, GUEST).await.unwrap_err();
    assert_eq!(short_code(&error), "025");
    assert_eq!(error.pk_state(), Some(PkState::Pking));
}

#[tokio::test]
async fn withdrawing_writes_each_neighbour_once() {
    // Hand-built (the commands never let two anchors invite each other): 1 and 2 each hold
    // the other's popup. When 1 leaves, 2 loses both its popup and its wait, in one write.
    let mut world = World::new().await;
    for raw in [HOST, GUEST] {
        world.open(raw).await.unwrap();
    }
    let now = world.now();
    for (me, other) in [(HOST, GUEST), (GUEST, HOST)] {
        let mut anchor = world.anchor(me).await.unwrap();
        anchor.popup = Some(Popup::new(singer(other), singer(me), now, 15_000));
        anchor.outgoing_invite = Some(Popup::new(singer(me), singer(other), now, 15_000));
        world.put_anchor(&anchor).await;
    }
    // The transition the leave commits writes each anchor once.
    let (host, guest) = (world.anchor(HOST).await.unwrap(), world.anchor(GUEST).await.unwrap());
    let context = LeaveContext {
        withdrawal: Withdrawal {
            invited_guest: Some(&guest),
            inviting_host: Some(&guest),
            ..Withdrawal::default()
        },
        ..LeaveContext::default()
    };
    let transition = singer_leave(Some(&host), singer(HOST), context, now);
    let written: Vec<SingerId> = transition.aggregates.iter().map(|a| a.singer_id).collect();
    // The neighbour first, the leaver last (a lost race on the neighbour leaves the leave to the
    // re-run, tests/split.rs).
    assert_eq!(written, vec![singer(GUEST), singer(HOST)], "no anchor written twice");

    world.leave(HOST).await;
    let guest = world.anchor(GUEST).await.unwrap();
    assert_eq!((guest.popup, guest.outgoing_invite), (None, None));
    assert_eq!(world.summary().await, "none | h:offline g:apply | state(offline)>s2");
}
