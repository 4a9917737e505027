//! The state machine as one table: one row per (state, command) pair — one seed rule each —
//! with the expected outcome: either `err NNN` (the last three digits of the business code;
//! nothing may have changed) or the summary line of [`World::summary`]:
//! `<phase>#<pkid> <rose>:<rocket> | notifications [| settled(by) rose:rocket w<winning gift>]`.
//!
//! Show 1 (room 1) with anchor 7; PKs of rose (11) against rocket (22) for 60 s, settled 3 s
//! after the countdown (`giftpk.settle_grace_ms`' default); gift 33 is neither. Show 2 and
//! anchor 8 are the others. A progress push reads `progress#<pkid>(<gift>:<rose>/<rocket>
//! <senders> t<time_left>)`.

use super::*;

/// The state a row starts from, always reached through the real commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Given {
    /// The show never had a gift PK.
    Fresh,
    /// PK 1 runs, 1 s in: user 5 sent 3 roses, user 6 one rocket.
    Running,
    /// Running with 2 roses (user 5) against 2 rockets (user 6).
    Level,
    /// Running, and the countdown ended 1 s ago (61 s in): the settle grace, its job not yet
    /// due (at 63 s).
    Overdue,
    /// Overdue, then the grace passed and the countdown's job settled it: over, 3:1.
    Ended,
    /// Running, then closed by its anchor: over, 3:1.
    Closed,
}

async fn given(state: Given) -> World {
    let mut world = World::new().await;
    if state == Given::Fresh {
        return world;
    }
    world.create_default().await;
    world.advance_secs(1);
    if state == Given::Level {
        assert_eq!(world.gift(5, ROSE, 2).await, Some(2));
        assert_eq!(world.gift(6, ROCKET, 2).await, Some(2));
    } else {
        assert_eq!(world.gift(5, ROSE, 3).await, Some(3));
        assert_eq!(world.gift(6, ROCKET, 1).await, Some(1));
    }
    match state {
        Given::Fresh | Given::Running | Given::Level => {}
        Given::Overdue => {
            world.advance_secs(60);
            assert_eq!(world.fire_due_timers().await, 0, "the settle waits out the grace");
        }
        Given::Ended => {
            world.advance_secs(62);
            assert_eq!(world.fire_due_timers().await, 1, "the countdown's job settles it");
        }
        Given::Closed => world.close(SHOW, 1, ANCHOR).await.expect("close"),
    }
    world.last = Last::default();
    world
}

/// A command of a row.
#[derive(Debug, Clone, Copy)]
enum Cmd {
    Create {
        show: u64,
        anchor: u64,
        first: u64,
        second: u64,
        duration: u64,
    },
    Close {
        show: u64,
        pkid: u64,
        anchor: u64,
    },
    /// A gift of `count` × `gift` from `user` for `show`, sent `ago_ms` before now.
    Send {
        user: u64,
        gift: u64,
        count: u32,
        show: Option<u64>,
        ago_ms: u64,
    },
    /// Advance `secs` and run the due jobs.
    Timers {
        secs: u64,
    },
    /// An operator force-closes `pkid`.
    Admin {
        pkid: u64,
    },
}

use Cmd::*;

const CREATE: Cmd =
    Create { show: SHOW, anchor: ANCHOR, first: ROSE, second: ROCKET, duration: DURATION };
const CLOSE: Cmd = Close { show: SHOW, pkid: 1, anchor: ANCHOR };

const fn rose(user: u64, count: u32) -> Cmd {
    Send { user, gift: ROSE, count, show: Some(SHOW), ago_ms: 0 }
}

async fn execute(world: &mut World, command: Cmd) -> Result<(), Refusal> {
    match command {
        Create { show, anchor, first, second, duration } => {
            world.create(create_request(show, anchor, first, second, duration)).await.map(drop)
        }
        Close { show, pkid, anchor } => world.close(show, pkid, anchor).await,
        Send { user, gift, count, show, ago_ms } => {
            let sent_at = world.now() - ago_ms;
            let gift = show_gift(&format!("row-{user}-{gift}"), user, show, gift, count, sent_at);
            world.record(&gift).await;
            Ok(())
        }
        Timers { secs } => {
            world.advance_secs(secs);
            world.fire_due_timers().await;
            Ok(())
        }
        Admin { pkid } => world.admin_close(pkid).await.map(drop),
    }
}

#[rustfmt::skip]
const ROWS: &[(Given, Cmd, &str)] = &[
    // ---- the show never had a gift PK ------------------------------------------------------
    (Given::Fresh, CREATE, "scoring#1 0:0 | create#1>r1"),
    (Given::Fresh, Create { show: SHOW, anchor: ANCHOR, first: ROSE, second: ROSE, duration: 60 }, "err 021"),
    (Given::Fresh, Create { show: SHOW, anchor: ANCHOR, first: ROSE, second: ROCKET, duration: 9 }, "err 021"),
    (Given::Fresh, Create { show: SHOW, anchor: ANCHOR, first: ROSE, second: ROCKET, duration: 3601 }, "err 021"),
    (Given::Fresh, Create { show: SHOW, anchor: ANCHOR, first: ROSE, second: ROCKET, duration: 10 }, "scoring#1 0:0 | create#1>r1"),
    (Given::Fresh, CLOSE, "err 021"),
    (Given::Fresh, rose(5, 1), "none |"),
    (Given::Fresh, Admin { pkid: 1 }, "err 021"),
    // ---- running: one gift PK per show, only its anchor closes it --------------------------
    (Given::Running, CREATE, "err 301"),
    (Given::Running, Create { show: SHOW, anchor: OTHER_ANCHOR, first: 44, second: 55, duration: 60 }, "err 301"),
    (Given::Running, Create { show: OTHER_SHOW, anchor: OTHER_ANCHOR, first: ROSE, second: ROCKET, duration: 60 }, "scoring#2 0:0 | create#2>r2"),
    (Given::Running, CLOSE, "closed#1 3:1 | end#1>r1 | settled(close) 3:1 w11"),
    (Given::Running, Close { show: SHOW, pkid: 1, anchor: OTHER_ANCHOR }, "err 302"),
    (Given::Running, Close { show: SHOW, pkid: 2, anchor: ANCHOR }, "err 021"),
    (Given::Running, Close { show: OTHER_SHOW, pkid: 1, anchor: ANCHOR }, "err 021"),
    (Given::Running, Admin { pkid: 1 }, "closed#1 3:1 | end#1>r1 | settled(admin) 3:1 w11"),
    // ---- running: which gifts count --------------------------------------------------------
    (Given::Running, rose(5, 2), "scoring#1 5:1 | progress#1(11:5/1 u5=5 t59)>r1"),
    (Given::Running, Send { user: 9, gift: ROCKET, count: 1, show: Some(SHOW), ago_ms: 0 }, "scoring#1 3:2 | progress#1(22:3/2 u9=1 t59)>r1"),
    (Given::Running, Send { user: 5, gift: THIRD, count: 4, show: Some(SHOW), ago_ms: 0 }, "scoring#1 3:1 |"),
    (Given::Running, Send { user: 5, gift: ROSE, count: 1, show: None, ago_ms: 0 }, "scoring#1 3:1 |"),
    (Given::Running, Send { user: 5, gift: ROSE, count: 1, show: Some(OTHER_SHOW), ago_ms: 0 }, "scoring#1 3:1 |"),
    (Given::Running, Send { user: 5, gift: ROSE, count: 1, show: Some(SHOW), ago_ms: 2_000 }, "scoring#1 3:1 |"),
    // ---- running: the countdown, then the settle grace (3 s), then the settle --------------
    (Given::Running, Timers { secs: 58 }, "scoring#1 3:1 |"),
    (Given::Running, Timers { secs: 59 }, "scoring#1 3:1 |"),
    (Given::Running, Timers { secs: 61 }, "scoring#1 3:1 |"),
    (Given::Running, Timers { secs: 62 }, "closed#1 3:1 | end#1>r1 | settled(deadline) 3:1 w11"),
    (Given::Level, Timers { secs: 62 }, "closed#1 2:2 | end#1>r1 | settled(deadline) 2:2 w0"),
    (Given::Level, CLOSE, "closed#1 2:2 | end#1>r1 | settled(close) 2:2 w0"),
    // ---- the settle grace: the countdown ended, its job not yet due; sent before it counts -
    (Given::Overdue, Send { user: 5, gift: ROSE, count: 1, show: Some(SHOW), ago_ms: 1_500 }, "scoring#1 4:1 | progress#1(11:4/1 u5=4 t0)>r1"),
    (Given::Overdue, Send { user: 9, gift: ROCKET, count: 2, show: Some(SHOW), ago_ms: 1_001 }, "scoring#1 3:3 | progress#1(22:3/3 u9=2 t0)>r1"),
    (Given::Overdue, Send { user: 5, gift: ROSE, count: 1, show: Some(SHOW), ago_ms: 1_000 }, "scoring#1 3:1 |"),
    (Given::Overdue, rose(5, 1), "scoring#1 3:1 |"),
    (Given::Overdue, Timers { secs: 0 }, "scoring#1 3:1 |"),
    (Given::Overdue, Timers { secs: 1 }, "scoring#1 3:1 |"),
    (Given::Overdue, Timers { secs: 2 }, "closed#1 3:1 | end#1>r1 | settled(deadline) 3:1 w11"),
    (Given::Overdue, CLOSE, "closed#1 3:1 | end#1>r1 | settled(deadline) 3:1 w11"),
    (Given::Overdue, Close { show: SHOW, pkid: 1, anchor: OTHER_ANCHOR }, "err 302"),
    (Given::Overdue, Admin { pkid: 1 }, "closed#1 3:1 | end#1>r1 | settled(admin) 3:1 w11"),
    (Given::Overdue, CREATE, "err 301"),
    // ---- over by the countdown's settle ----------------------------------------------------
    (Given::Ended, CREATE, "scoring#2 0:0 | create#2>r1"),
    (Given::Ended, CLOSE, "err 026"),
    (Given::Ended, Close { show: SHOW, pkid: 1, anchor: OTHER_ANCHOR }, "err 302"),
    (Given::Ended, Send { user: 5, gift: ROSE, count: 1, show: Some(SHOW), ago_ms: 4_000 }, "closed#1 3:1 |"),
    (Given::Ended, Timers { secs: 60 }, "closed#1 3:1 |"),
    (Given::Ended, Admin { pkid: 1 }, "closed#1 3:1 |"),
    // ---- closed early by its anchor --------------------------------------------------------
    (Given::Closed, CLOSE, "err 026"),
    (Given::Closed, CREATE, "scoring#2 0:0 | create#2>r1"),
    (Given::Closed, rose(5, 1), "closed#1 3:1 |"),
    (Given::Closed, Timers { secs: 62 }, "closed#1 3:1 |"),
];

#[tokio::test]
async fn every_state_and_command_pair_behaves_as_the_table_says() {
    let mut failures = Vec::new();
    for (index, &(state, command, expected)) in ROWS.iter().enumerate() {
        let mut world = given(state).await;
        let before = world.state().await;
        let actual = match execute(&mut world, command).await {
            Ok(()) => world.summary().await,
            Err(error) => {
                let after = world.state().await;
                assert_eq!(before, after, "row {index}: an error must change nothing");
                format!("err {}", short_code(&error))
            }
        };
        if actual != expected {
            failures.push(format!(
                "row {index} {state:?} {command:?}\n  expected: {expected}\n  actual:   {actual}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows differ:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n")
    );
}

#[test]
fn the_table_covers_every_giftpk_error_code() {
    // 014 (no ids for a new PK) cannot be reached through the adapter; see flows' own test.
    for code in ["021", "026", "301", "302"] {
        let expected = format!("err {code}");
        assert!(ROWS.iter().any(|(_, _, outcome)| *outcome == expected), "no row answers {code}");
    }
}

#[tokio::test]
async fn refusals_name_the_field_and_the_pk() {
    let mut world = World::new().await;
    let same = create_request(SHOW, ANCHOR, ROSE, ROSE, DURATION);
    assert_eq!(world.create(same).await.unwrap_err().field().as_deref(), Some("gifts[1].gift_id"));
    let short = create_request(SHOW, ANCHOR, ROSE, ROCKET, 9);
    assert_eq!(world.create(short).await.unwrap_err().field().as_deref(), Some("duration"));
    let created = world.create_default().await;
    let running = world.create(create_request(SHOW, ANCHOR, 44, 55, DURATION)).await.unwrap_err();
    assert_eq!(
        running.giftpk(),
        Some(&GiftPkError::AlreadyRunning { show: show(SHOW), pkid: created.pkid })
    );
    let details = running.0.as_business().unwrap().details();
    assert_eq!(details, vec![("pkid".to_string(), created.pkid.to_string())]);
    let stranger = world.close(SHOW, created.pkid.get(), OTHER_ANCHOR).await.unwrap_err();
    assert_eq!(stranger.field().as_deref(), Some("singer_id"));
    let unknown = world.close(SHOW, 99, ANCHOR).await.unwrap_err();
    assert_eq!(unknown.field().as_deref(), Some("pkid"));
    assert_eq!(
        unknown.0.as_business().unwrap().kind(),
        livepk_core::ErrorKind::NotFound,
        "an unknown pkid is NOT_FOUND"
    );
}

#[test]
fn create_without_ids_for_a_new_pk_is_an_internal_error() {
    let request = create_request(SHOW, ANCHOR, ROSE, ROCKET, DURATION);
    let error =
        crate::create(None, None, &request, None, &GiftPkConfig::default(), START_MS).unwrap_err();
    assert_eq!(error, GiftPkError::IdsMissing);
    assert_eq!(error.business_code(), livepk_core::codes::INTERNAL_PKID_FAILED);
}

#[tokio::test]
async fn the_duration_bounds_are_hot_settings() {
    let mut world = World::new().await;
    world.set_config("giftpk.min_duration_seconds", 1).await;
    world.set_config("giftpk.max_duration_seconds", 5).await;
    let too_long = world.create(create_request(SHOW, ANCHOR, ROSE, ROCKET, 6)).await.unwrap_err();
    assert_eq!(short_code(&too_long), "021");
    let reply = world.create(create_request(SHOW, ANCHOR, ROSE, ROCKET, 1)).await.unwrap();
    assert_eq!(reply.deadline_ms, START_MS + 1_000);
    assert_eq!(reply.interval_ms, 3_000, "giftpk.pull_interval_ms' default");
}

#[test]
fn the_countdowns_job_is_due_after_the_grace_and_one_that_comes_early_asks_again_then() {
    use livepk_battle::{BattleId, EndedBy, PhaseDeadline, TimedPhase, TimerRequest};
    let request = create_request(SHOW, ANCHOR, ROSE, ROCKET, DURATION);
    let new_pk = NewPk { battle_id: BattleId::new(1), pkid: pkid(1) };
    let config = GiftPkConfig::default();
    let created = crate::create(None, None, &request, Some(new_pk), &config, START_MS).unwrap();
    let battle = created.battle.unwrap();
    let deadline = START_MS + DURATION * 1000;
    assert_eq!(
        battle.round.scoring_window(),
        Some((START_MS, deadline)),
        "gifts end at the deadline"
    );
    let job = PhaseDeadline {
        battle: BattleId::new(1),
        pkid: pkid(1),
        phase: TimedPhase::Scoring,
        due_ms: deadline + GRACE_MS,
    };
    assert_eq!(created.effects.timers, vec![TimerRequest::Phase(job)]);
    let scores = Scores::new(2, 1);
    // Before the deadline, at it, and in the grace's last millisecond: asked again at the settle.
    for now in [deadline - 1, deadline, deadline + GRACE_MS - 1] {
        let early = crate::on_phase_deadline(Some(&battle), &job, scores, now);
        assert_eq!((early.battle, early.effects.settled), (None, None), "at {now}");
        assert_eq!(early.effects.timers, vec![TimerRequest::Phase(job)], "at {now}");
        assert!(early.effects.notifications.is_empty());
    }
    let due = crate::on_phase_deadline(Some(&battle), &job, scores, deadline + GRACE_MS);
    assert!(due.battle.unwrap().is_finished());
    let settled = due.effects.settled.unwrap();
    assert_eq!((settled.ended_by, settled.end_ms), (EndedBy::Deadline, deadline));
    assert!(due.effects.timers.is_empty());
}
