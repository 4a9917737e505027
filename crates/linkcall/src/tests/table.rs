//! The state machine as one table: one row per (state, command) pair with the expected
//! outcome — either `err NNN` (the last three digits of the business code; nothing may have
//! changed) or the summary line of [`World::summary`]:
//! `battle | h:<host's listed state> g:<guest's listed state> | notifications [| settled]`.
//!
//! Anchors: host 1 (room 101), guest 2 (room 102), a third anchor 3 (room 103).

use super::*;

/// The state a row starts from, always reached through the real commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Given {
    /// Nobody opened the function.
    Fresh,
    /// Anchors 1, 2 and 3 opened the function.
    Open,
    /// Open, and 2 applied to 1.
    Applied,
    /// Open, and 1 linked 2 (popup on 2).
    Invited,
    /// Invited, then the popup's 15 s passed without its job running.
    InviteLapsed,
    /// Open, and 3 linked 2.
    InvitedByOther,
    /// Open, and 2 is in a game / a chainsaw session.
    GuestGaming,
    GuestSawing,
    /// Open, and 1 is in a game.
    HostGaming,
    /// Open, and 2 left the room.
    GuestLeft,
    /// Invited and agreed: battle 1 with placeholder pkid 1.
    Linked,
    /// Linked and started (pkid 1), 1 s into scoring.
    Scoring,
    /// Scoring, host leads 10:0, the deadline passed but its job did not run yet.
    ScoringOverdue,
    /// Scoring with host 10:0 settled by the deadline job: punishment.
    Punishment,
    /// Scoring settled 0:0 by the deadline job: linked with a result.
    Draw,
    /// Punishment whose deadline job ran: linked with a result.
    PunishmentOver,
    /// Linked, then closed: the anchors are free, the battle is closed.
    Closed,
}

async fn given(state: Given) -> World {
    let mut world = World::new().await;
    let ok = "setup step must succeed";
    if state == Given::Fresh {
        return world;
    }
    for raw in [HOST, GUEST, OTHER] {
        world.open(raw).await.expect(ok);
    }
    match state {
        Given::Fresh | Given::Open => {}
        Given::Applied => {
            world.apply(GUEST, HOST).await.expect(ok);
        }
        Given::Invited => {
            world.link(HOST, GUEST).await.expect(ok);
        }
        Given::InviteLapsed => {
            world.link(HOST, GUEST).await.expect(ok);
            world.advance_secs(16);
        }
        Given::InvitedByOther => {
            world.link(OTHER, GUEST).await.expect(ok);
        }
        Given::GuestGaming => world.activity(GUEST, Activity::Game).await,
        Given::GuestSawing => world.activity(GUEST, Activity::Saw).await,
        Given::HostGaming => world.activity(HOST, Activity::Game).await,
        Given::GuestLeft => world.leave(GUEST).await,
        Given::Linked
        | Given::Scoring
        | Given::ScoringOverdue
        | Given::Punishment
        | Given::Draw
        | Given::PunishmentOver
        | Given::Closed => {
            world.link(HOST, GUEST).await.expect(ok);
            world.agree(GUEST, HOST).await.expect(ok);
            match state {
                Given::Linked => {}
                Given::Closed => {
                    world.close(HOST, GUEST).await.expect(ok);
                }
                _ => {
                    world.start(HOST, GUEST).await.expect(ok);
                    world.advance_secs(1);
                    if matches!(
                        state,
                        Given::ScoringOverdue | Given::Punishment | Given::PunishmentOver
                    ) {
                        assert!(world.gift(HOST, 10).await);
                    }
                    if state != Given::Scoring {
                        world.advance_secs(360);
                    }
                    if matches!(state, Given::Punishment | Given::Draw | Given::PunishmentOver) {
                        world.fire_due_timers().await;
                    }
                    if state == Given::PunishmentOver {
                        world.advance_secs(120);
                        world.fire_due_timers().await;
                    }
                }
            }
        }
    }
    world.last = Last::default();
    world
}

/// A command of a row.
#[derive(Debug, Clone, Copy)]
enum Cmd {
    Link {
        host: u64,
        guest: u64,
    },
    Apply {
        guest: u64,
        host: u64,
    },
    Agree {
        guest: u64,
        host: u64,
    },
    Refuse {
        guest: u64,
        host: u64,
    },
    Start {
        host: u64,
        guest: u64,
    },
    Switch(u64),
    Count {
        host: u64,
        guest: u64,
    },
    AddTime {
        host: u64,
        guest: u64,
    },
    Close {
        host: u64,
        guest: u64,
    },
    Leave(u64),
    CloseFunction(u64),
    OpenFunction(u64),
    ComeIn(u64),
    /// Advance `secs` and run the due jobs.
    Timers {
        secs: u64,
    },
}

use Cmd::*;

const LINK: Cmd = Link { host: HOST, guest: GUEST };
const APPLY: Cmd = Apply { guest: GUEST, host: HOST };
const AGREE: Cmd = Agree { guest: GUEST, host: HOST };
const REFUSE: Cmd = Refuse { guest: GUEST, host: HOST };
const START: Cmd = Start { host: HOST, guest: GUEST };
const COUNT: Cmd = Count { host: HOST, guest: GUEST };
const ADD_TIME: Cmd = AddTime { host: HOST, guest: GUEST };
const CLOSE: Cmd = Close { host: HOST, guest: GUEST };

async fn execute(world: &mut World, command: Cmd) -> Result<(), Refusal> {
    match command {
        Link { host, guest } => world.link(host, guest).await.map(drop),
        Apply { guest, host } => world.apply(guest, host).await.map(drop),
        Agree { guest, host } => world.agree(guest, host).await.map(drop),
        Refuse { guest, host } => world.refuse(guest, host).await.map(drop),
        Start { host, guest } => world.start(host, guest).await.map(drop),
        Switch(raw) => world.switch(raw).await.map(drop),
        Count { host, guest } => world.count(host, guest).await.map(drop),
        AddTime { host, guest } => world.add_time(host, guest).await.map(drop),
        Close { host, guest } => world.close(host, guest).await.map(drop),
        Leave(raw) => {
            world.leave(raw).await;
            Ok(())
        }
        CloseFunction(raw) => world.close_function(raw).await.map(drop),
        OpenFunction(raw) => world.open(raw).await.map(drop),
        ComeIn(raw) => {
            world.come_in(raw).await;
            Ok(())
        }
        Timers { secs } => {
            world.advance_secs(secs);
            world.fire_due_timers().await;
            Ok(())
        }
    }
}

const G: Given = Given::Open;

#[rustfmt::skip]
const ROWS: &[(Given, Cmd, &str)] = &[
    // ---- nobody opened ---------------------------------------------------------------------
    (Given::Fresh, LINK, "err 022"),
    (Given::Fresh, APPLY, "err 022"),
    (Given::Fresh, AGREE, "err 026"),
    (Given::Fresh, START, "err 026"),
    (Given::Fresh, COUNT, "err 026"),
    (Given::Fresh, ADD_TIME, "err 026"),
    (Given::Fresh, Switch(HOST), "err 026"),
    (Given::Fresh, CLOSE, "none | h:- g:- |"),
    (Given::Fresh, Leave(GUEST), "none | h:- g:- |"),
    (Given::Fresh, CloseFunction(GUEST), "none | h:- g:- |"),
    (Given::Fresh, OpenFunction(GUEST), "none | h:- g:apply |"),
    // ---- all open --------------------------------------------------------------------------
    (G, LINK, "none | h:apply g:popup | state(popup)>s2"),
    (G, Link { host: HOST, guest: HOST }, "err 021"),
    (G, APPLY, "none | h:apply g:apply | state(apply)>s1"),
    (G, Apply { guest: GUEST, host: GUEST }, "err 021"),
    (G, AGREE, "err 026"),
    (G, REFUSE, "err 026"),
    (G, START, "err 026"),
    (G, COUNT, "err 026"),
    (G, ADD_TIME, "err 026"),
    (G, Switch(HOST), "err 026"),
    (G, CLOSE, "none | h:apply g:apply |"),
    (G, Leave(GUEST), "none | h:apply g:offline |"),
    (G, CloseFunction(GUEST), "none | h:apply g:offline |"),
    (G, OpenFunction(GUEST), "none | h:apply g:apply |"),
    (G, ComeIn(GUEST), "none | h:apply g:apply |"),
    // ---- 2 applied to 1 --------------------------------------------------------------------
    (Given::Applied, APPLY, "none | h:apply g:apply | state(apply)>s1"),
    (Given::Applied, LINK, "none | h:apply g:popup | state(popup)>s2"),
    (Given::Applied, AGREE, "err 026"),
    (Given::Applied, Leave(GUEST), "none | h:apply g:offline | state(offline)>s1"),
    (Given::Applied, Leave(HOST), "none | h:offline g:apply | state(offline)>s2"),
    (Given::Applied, CloseFunction(GUEST), "none | h:apply g:offline | state(offline)>s1"),
    // ---- 1 invited 2 -----------------------------------------------------------------------
    (Given::Invited, LINK, "err 030"),
    (Given::Invited, Link { host: HOST, guest: OTHER }, "err 030"),
    (Given::Invited, Link { host: OTHER, guest: GUEST }, "err 030"),
    (Given::Invited, Link { host: GUEST, guest: OTHER }, "err 030"),
    (Given::Invited, AGREE, "linked#1 | h:pking g:pking | scene0>r101 scene0>r102 singers>r101 singers>r102 state(yes)>s1"),
    (Given::Invited, REFUSE, "none | h:apply g:apply | state(no)>s1"),
    (Given::Invited, Agree { guest: GUEST, host: OTHER }, "err 021"),
    (Given::Invited, Agree { guest: OTHER, host: HOST }, "err 026"),
    (Given::Invited, START, "err 026"),
    (Given::Invited, APPLY, "none | h:apply g:popup | state(apply)>s1"),
    (Given::Invited, Leave(GUEST), "none | h:apply g:offline | state(offline)>s1"),
    (Given::Invited, Leave(HOST), "none | h:offline g:apply | state(offline)>s2"),
    (Given::Invited, CloseFunction(GUEST), "none | h:apply g:offline | state(offline)>s1"),
    (Given::Invited, Timers { secs: 14 }, "none | h:apply g:popup |"),
    (Given::Invited, Timers { secs: 15 }, "none | h:apply g:apply | state(no)>s1"),
    // ---- the popup lapsed, its job has not run ---------------------------------------------
    (Given::InviteLapsed, AGREE, "err 026"),
    (Given::InviteLapsed, REFUSE, "err 026"),
    (Given::InviteLapsed, LINK, "none | h:apply g:popup | state(popup)>s2"),
    (Given::InviteLapsed, Link { host: OTHER, guest: GUEST }, "none | h:apply g:popup | state(no)>s1 state(popup)>s2"),
    (Given::InviteLapsed, Timers { secs: 0 }, "none | h:apply g:apply | state(no)>s1"),
    // ---- 3 invited 2 -----------------------------------------------------------------------
    (Given::InvitedByOther, LINK, "err 030"),
    (Given::InvitedByOther, AGREE, "err 021"),
    (Given::InvitedByOther, Agree { guest: GUEST, host: OTHER }, "linked#1 | h:apply g:pking | scene0>r103 scene0>r102 singers>r103 singers>r102 state(yes)>s3"),
    // ---- busy or gone targets, in the seed's order -----------------------------------------
    (Given::GuestGaming, LINK, "err 028"),
    (Given::GuestGaming, APPLY, "err 028"),
    (Given::GuestGaming, Apply { guest: HOST, host: GUEST }, "err 028"),
    (Given::GuestSawing, LINK, "err 029"),
    (Given::GuestSawing, Apply { guest: HOST, host: GUEST }, "err 029"),
    (Given::HostGaming, LINK, "err 028"),
    (Given::GuestLeft, LINK, "err 031"),
    (Given::GuestLeft, APPLY, "err 022"),
    (Given::GuestLeft, Apply { guest: HOST, host: GUEST }, "err 031"),
    (Given::GuestLeft, ComeIn(GUEST), "none | h:apply g:apply |"),
    (Given::GuestLeft, OpenFunction(GUEST), "none | h:apply g:apply |"),
    // ---- linked, placeholder pkid ----------------------------------------------------------
    (Given::Linked, LINK, "err 025"),
    (Given::Linked, Link { host: OTHER, guest: GUEST }, "err 025"),
    (Given::Linked, Link { host: GUEST, guest: OTHER }, "err 025"),
    (Given::Linked, Apply { guest: OTHER, host: HOST }, "err 025"),
    (Given::Linked, AGREE, "err 026"),
    (Given::Linked, START, "scoring#1 | h:pking g:pking | state(start)>s2 info>r101 info>r102 scene0>r101 scene0>r102"),
    (Given::Linked, Start { host: GUEST, guest: HOST }, "err 021"),
    (Given::Linked, COUNT, "err 027"),
    (Given::Linked, ADD_TIME, "err 027"),
    (Given::Linked, Switch(HOST), "linked#1 | h:pking g:pking | scene1>r101"),
    (Given::Linked, Switch(GUEST), "linked#1 | h:pking g:pking | scene1>r102"),
    (Given::Linked, Switch(OTHER), "err 026"),
    (Given::Linked, CLOSE, "closed#1 | h:apply g:apply | state(over)>s1 state(over)>s2 info>r101 info>r102"),
    (Given::Linked, Close { host: HOST, guest: OTHER }, "err 021"),
    (Given::Linked, Close { host: OTHER, guest: GUEST }, "err 021"),
    (Given::Linked, Leave(GUEST), "closed#1 | h:apply g:offline | state(over)>s1 info>r101 info>r102"),
    (Given::Linked, CloseFunction(GUEST), "err 025"),
    (Given::Linked, Timers { secs: 3600 }, "linked#1 | h:pking g:pking |"),
    // ---- scoring, before the deadline ------------------------------------------------------
    (Given::Scoring, START, "err 023"),
    (Given::Scoring, COUNT, "err 023"),
    (Given::Scoring, Count { host: GUEST, guest: HOST }, "err 021"),
    (Given::Scoring, ADD_TIME, "scoring#2 | h:pking g:pking | state(addtime)>s1 state(addtime)>s2 pklist>s2 info>r101 info>r102 scene0>r101 scene0>r102"),
    (Given::Scoring, AddTime { host: HOST, guest: OTHER }, "err 021"),
    (Given::Scoring, Switch(GUEST), "scoring#1 | h:pking g:pking | scene1>r102"),
    (Given::Scoring, CLOSE, "closed#1 | h:apply g:apply | state(over)>s1 state(over)>s2 info>r101 info>r102 | settled(close) 0:0"),
    (Given::Scoring, Leave(HOST), "closed#1 | h:offline g:apply | state(over)>s2 info>r101 info>r102 | settled(leave) 0:0"),
    (Given::Scoring, Link { host: OTHER, guest: HOST }, "err 025"),
    (Given::Scoring, Timers { secs: 358 }, "scoring#1 | h:pking g:pking |"),
    (Given::Scoring, Timers { secs: 359 }, "linked#1 | h:pking g:pking | state(count)>s1 state(count)>s2 pklist>s1 pklist>s2 info>r101 info>r102 scene0>r101 scene0>r102 | settled(deadline) 0:0"),
    // ---- scoring, deadline passed, job not yet run ------------------------------------------
    (Given::ScoringOverdue, COUNT, "punishment#1 | h:pking g:pking | state(count)>s1 state(count)>s2 pklist>s1 pklist>s2 info>r101 info>r102 scene0>r101 scene0>r102 | settled(count) 10:0"),
    (Given::ScoringOverdue, START, "err 023"),
    (Given::ScoringOverdue, ADD_TIME, "scoring#2 | h:pking g:pking | state(addtime)>s1 state(addtime)>s2 pklist>s2 info>r101 info>r102 scene0>r101 scene0>r102"),
    (Given::ScoringOverdue, CLOSE, "closed#1 | h:apply g:apply | state(over)>s1 state(over)>s2 info>r101 info>r102 | settled(close) 10:0"),
    (Given::ScoringOverdue, Timers { secs: 0 }, "punishment#1 | h:pking g:pking | state(count)>s1 state(count)>s2 pklist>s1 pklist>s2 info>r101 info>r102 scene0>r101 scene0>r102 | settled(deadline) 10:0"),
    // ---- punishment ------------------------------------------------------------------------
    (Given::Punishment, COUNT, "err 024"),
    (Given::Punishment, START, "err 023"),
    (Given::Punishment, ADD_TIME, "scoring#2 | h:pking g:pking | state(addtime)>s1 state(addtime)>s2 pklist>s2 info>r101 info>r102 scene0>r101 scene0>r102"),
    (Given::Punishment, Switch(HOST), "punishment#1 | h:pking g:pking | scene1>r101"),
    (Given::Punishment, CLOSE, "closed#1 | h:apply g:apply | state(over)>s1 state(over)>s2 info>r101 info>r102"),
    (Given::Punishment, Leave(GUEST), "closed#1 | h:apply g:offline | state(over)>s1 info>r101 info>r102"),
    (Given::Punishment, Timers { secs: 119 }, "punishment#1 | h:pking g:pking |"),
    (Given::Punishment, Timers { secs: 120 }, "linked#1 | h:pking g:pking | info>r101 info>r102"),
    // ---- settled as a draw -----------------------------------------------------------------
    (Given::Draw, COUNT, "err 024"),
    (Given::Draw, START, "scoring#2 | h:pking g:pking | state(start)>s2 info>r101 info>r102 scene0>r101 scene0>r102"),
    (Given::Draw, ADD_TIME, "scoring#2 | h:pking g:pking | state(addtime)>s1 state(addtime)>s2 pklist>s2 info>r101 info>r102 scene0>r101 scene0>r102"),
    (Given::Draw, CLOSE, "closed#1 | h:apply g:apply | state(over)>s1 state(over)>s2 info>r101 info>r102"),
    (Given::Draw, LINK, "err 025"),
    // ---- punishment over -------------------------------------------------------------------
    (Given::PunishmentOver, COUNT, "err 024"),
    (Given::PunishmentOver, START, "scoring#2 | h:pking g:pking | state(start)>s2 info>r101 info>r102 scene0>r101 scene0>r102"),
    (Given::PunishmentOver, ADD_TIME, "scoring#2 | h:pking g:pking | state(addtime)>s1 state(addtime)>s2 pklist>s2 info>r101 info>r102 scene0>r101 scene0>r102"),
    // ---- closed ----------------------------------------------------------------------------
    (Given::Closed, START, "err 026"),
    (Given::Closed, COUNT, "err 026"),
    (Given::Closed, ADD_TIME, "err 026"),
    (Given::Closed, Switch(HOST), "err 026"),
    (Given::Closed, CLOSE, "closed#1 | h:apply g:apply |"),
    (Given::Closed, LINK, "closed#1 | h:apply g:popup | state(popup)>s2"),
    (Given::Closed, CloseFunction(GUEST), "closed#1 | h:apply g:offline |"),
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
fn the_table_covers_every_linkcall_error_code_of_seed_section_a() {
    // 020 and the internal 011-016 are the adapter's; 014 (no fresh pkid) is tested in errors.rs.
    for code in ["021", "022", "023", "024", "025", "026", "027", "028", "029", "030", "031"] {
        let expected = format!("err {code}");
        assert!(ROWS.iter().any(|(_, _, outcome)| *outcome == expected), "no row answers {code}");
    }
}

#[tokio::test]
async fn the_open_gate_checks_star_level_then_whitelist() {
    let rows: &[(u32, bool, u32, bool, &str)] = &[
        // (min_star, whitelist_enabled, star, whitelisted, outcome)
        (3, false, 2, false, "err 022"),
        (3, false, 3, false, "ok"),
        (0, true, 9, false, "err 022"),
        (0, true, 9, true, "ok"),
        (3, true, 2, true, "err 022"),
    ];
    for &(min_star, whitelist_enabled, star, whitelisted, expected) in rows {
        let mut world = World::new().await;
        world.set_config("linkcall.min_star", i64::from(min_star)).await;
        world.set_config("linkcall.whitelist_enabled", i64::from(whitelist_enabled)).await;
        world.profile(HOST, star).await;
        if whitelisted {
            let now = world.now();
            world.kit.engine().database.whitelist_add(singer(HOST), "note", now).await.unwrap();
        }
        let outcome = world.open(HOST).await;
        let actual = match outcome {
            Ok(reply) => {
                assert!(reply.open_state);
                assert_eq!(reply.functiontime_secs, START_MS / 1000);
                assert_eq!(world.state().await.online.get(&singer(HOST)), Some(&START_MS));
                "ok".to_string()
            }
            Err(error) => {
                assert_eq!(world.anchor(HOST).await, None, "a refused open stores nothing");
                format!("err {}", short_code(&error))
            }
        };
        assert_eq!(
            actual, expected,
            "min_star {min_star} whitelist {whitelist_enabled} star {star} listed {whitelisted}"
        );
    }
}
