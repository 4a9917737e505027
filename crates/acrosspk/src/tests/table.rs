//! The state machine as one table: one row per (state, command) pair with the expected outcome —
//! either `err NNN` (the last three digits of the business code; nothing may have changed) or
//! the summary line of [`World::summary`]:
//! `battle | 101:<room> 102:<room> 103:<room> | notifications [| settled(by) red:blue]`, where a
//! room shows `c` (created PK), `>N` / `<N` (challenge pending to / from room N), `pk#P`.
//!
//! Rooms 101, 102, 103; countdown 300 s, punishment 120 s (the default).

use super::*;

/// The state a row starts from, always reached through the real commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Given {
    /// Nothing happened.
    Fresh,
    /// 101 created a PK.
    Created,
    /// 101 challenged 102.
    Challenged,
    /// 101 challenged 102, then the challenge's 60 s passed without its job running.
    Lapsed,
    /// 101 created a PK and challenged 102; 103 created a PK and challenged 101.
    Crowded,
    /// 102 accepted 101's created PK (pkid 1), 1 s into scoring.
    Scoring,
    /// 102 accepted 101's challenge (pkid 1), 1 s into scoring.
    ChallengeScoring,
    /// Scoring, red 10:0, the countdown passed but its job did not run yet.
    Overdue,
    /// Overdue with the deadline job run: red won, punishment.
    Punishment,
    /// Punishment whose deadline job ran: over.
    Over,
    /// Scoring, then 101 finished it.
    Finished,
}

async fn given(state: Given) -> World {
    let mut world = World::new().await;
    let ok = "setup step must succeed";
    match state {
        Given::Fresh => {}
        Given::Created => {
            world.create(RED).await.expect(ok);
        }
        Given::Challenged | Given::Lapsed => {
            world.challenge(RED, BLUE).await.expect(ok);
            if state == Given::Lapsed {
                world.advance_secs(60);
            }
        }
        Given::Crowded => {
            world.create(RED).await.expect(ok);
            world.challenge(RED, BLUE).await.expect(ok);
            world.create(THIRD).await.expect(ok);
            world.challenge(THIRD, RED).await.expect(ok);
        }
        Given::ChallengeScoring => {
            world.challenge(RED, BLUE).await.expect(ok);
            world.accept_challenge(BLUE, RED).await.expect(ok);
            world.advance_secs(1);
        }
        Given::Scoring | Given::Overdue | Given::Punishment | Given::Over | Given::Finished => {
            world.create(RED).await.expect(ok);
            world.accept_created(BLUE, RED).await.expect(ok);
            world.advance_secs(1);
            match state {
                Given::Finished => {
                    let pkid = world.pkid_of(RED).await;
                    world.finish(RED, pkid).await.expect(ok);
                }
                Given::Overdue | Given::Punishment | Given::Over => {
                    assert!(world.gift(RED, 7, 70, 10).await);
                    world.advance_secs(300);
                    if state != Given::Overdue {
                        world.fire_due_timers().await;
                    }
                    if state == Given::Over {
                        world.advance_secs(120);
                        world.fire_due_timers().await;
                    }
                }
                _ => {}
            }
        }
    }
    world.last = Last::default();
    world
}

/// A command of a row.
#[derive(Debug, Clone, Copy)]
enum Cmd {
    Create(u64),
    /// Create with a countdown above `acrosspk.max_countdown_seconds`.
    CreateTooLong(u64),
    Cancel(u64),
    Challenge(u64, u64),
    /// Challenge with a countdown above the maximum.
    ChallengeTooLong(u64, u64),
    /// (room, challenger).
    Reject(u64, u64),
    /// (room, creator).
    AcceptCreated(u64, u64),
    /// (room, challenger).
    AcceptChallenge(u64, u64),
    /// Finish by the room (the latest PK's pkid), by its operator (the room's id times 10).
    Finish(u64),
    /// Finish by the room (first), by the operator of another room (second).
    FinishAs(u64, u64),
    /// A gift of (points) sent in the room by viewer 7 to viewer 70.
    Gift(u64, u64),
    /// Moves the clock and runs the due jobs.
    Wait(u64),
}

async fn run(world: &mut World, cmd: Cmd) -> Result<(), Refusal> {
    match cmd {
        Cmd::Create(raw) => world.create(raw).await.map(drop),
        Cmd::CreateTooLong(raw) => world.create_with(raw, terms(3601)).await.map(drop),
        Cmd::Cancel(raw) => world.cancel(raw).await.map(drop),
        Cmd::Challenge(from, to) => world.challenge(from, to).await.map(drop),
        Cmd::ChallengeTooLong(from, to) => {
            world.challenge_with(from, to, terms(3601)).await.map(drop)
        }
        Cmd::Reject(raw, challenger) => world.reject(raw, challenger).await.map(drop),
        Cmd::AcceptCreated(raw, creator) => world.accept_created(raw, creator).await.map(drop),
        Cmd::AcceptChallenge(raw, challenger) => {
            world.accept_challenge(raw, challenger).await.map(drop)
        }
        Cmd::Finish(raw) | Cmd::FinishAs(raw, _) => {
            let acting = match cmd {
                Cmd::FinishAs(_, acting) => acting,
                _ => raw,
            };
            let pkid = match world.battles().await.into_values().next_back() {
                Some((battle, _)) => battle.pkid(),
                None => PkId::from_trusted(1),
            };
            world.finish_as(raw, operator(acting), pkid).await.map(drop)
        }
        Cmd::Gift(raw, points) => {
            world.gift(raw, 7, 70, points).await;
            Ok(())
        }
        Cmd::Wait(secs) => {
            world.advance_secs(secs);
            world.fire_due_timers().await;
            Ok(())
        }
    }
}

use Cmd::*;
use Given::*;

/// (given, command, expected): one seed rule per row.
const ROWS: &[(Given, Cmd, &str)] = &[
    // ---- Create / CancelCreate: "一个房间只能创建一次pk" --------------------------------------
    (Fresh, Create(RED), "none | 101:c 102:- 103:- |"),
    (Created, Create(RED), "err 101"),
    (Created, Create(BLUE), "none | 101:c 102:c 103:- |"),
    (Fresh, CreateTooLong(RED), "err 021"),
    (Created, Cancel(RED), "none | 101:- 102:- 103:- |"),
    (Fresh, Cancel(RED), "err 026"),
    (Created, Cancel(BLUE), "err 026"),
    // ---- Challenge (发起): many at once; A -> B blocks B -> A ---------------------------------
    (Fresh, Challenge(RED, BLUE), "none | 101:>102 102:<101 103:- | challenge(101>102)>r102"),
    (
        Challenged,
        Challenge(RED, THIRD),
        "none | 101:>102 >103 102:<101 103:<101 | challenge(101>103)>r103",
    ),
    (
        Challenged,
        Challenge(THIRD, BLUE),
        "none | 101:>102 102:<101 <103 103:>102 | challenge(103>102)>r102",
    ),
    (Challenged, Challenge(BLUE, RED), "err 102"),
    (Challenged, Challenge(RED, BLUE), "err 104"),
    (Fresh, Challenge(RED, RED), "err 021"),
    (Fresh, ChallengeTooLong(RED, BLUE), "err 021"),
    // A lapsed challenge no longer blocks either way (its job has not run yet).
    (Lapsed, Challenge(BLUE, RED), "none | 101:<102 102:>101 103:- | challenge(102>101)>r101"),
    (Lapsed, Challenge(RED, BLUE), "none | 101:>102 102:<101 103:- | challenge(101>102)>r102"),
    // ---- Reject: "如果拒绝直接过期" ------------------------------------------------------------
    (Challenged, Reject(BLUE, RED), "none | 101:- 102:- 103:- | reject(101>102)>r101"),
    (Challenged, Reject(RED, BLUE), "err 103"),
    (Challenged, Reject(THIRD, RED), "err 026"),
    (Fresh, Reject(BLUE, RED), "err 026"),
    (Lapsed, Reject(BLUE, RED), "err 026"),
    // ---- the lapse: "1分钟后过期", told to both rooms ------------------------------------------
    (Challenged, Wait(59), "none | 101:>102 102:<101 103:- |"),
    (Challenged, Wait(60), "none | 101:- 102:- 103:- | lapse(101>102)>r102 lapse(101>102)>r101"),
    (Lapsed, Wait(0), "none | 101:- 102:- 103:- | lapse(101>102)>r102 lapse(101>102)>r101"),
    // ---- Accept: the PK starts in both rooms, the offering room red ----------------------------
    (
        Created,
        AcceptCreated(BLUE, RED),
        "scoring#1 | 101:pk#1 102:pk#1 103:- | start#1>r101 start#1>r102",
    ),
    (
        Challenged,
        AcceptChallenge(BLUE, RED),
        "scoring#1 | 101:pk#1 102:pk#1 103:- | start#1>r101 start#1>r102",
    ),
    (Challenged, AcceptChallenge(RED, BLUE), "err 103"),
    (Challenged, AcceptChallenge(THIRD, RED), "err 026"),
    (Challenged, AcceptCreated(BLUE, RED), "err 026"),
    (Created, AcceptChallenge(BLUE, RED), "err 026"),
    (Fresh, AcceptCreated(BLUE, RED), "err 026"),
    (Created, AcceptCreated(RED, RED), "err 021"),
    (Lapsed, AcceptChallenge(BLUE, RED), "err 026"),
    // clearAcrossPK: both rooms' other offers end; the room on the other end is told.
    (
        Crowded,
        AcceptCreated(BLUE, RED),
        "scoring#1 | 101:pk#1 102:pk#1 103:c | start#1>r101 start#1>r102 cancel(103>101)>r103",
    ),
    (
        Crowded,
        AcceptChallenge(RED, THIRD),
        "scoring#1 | 101:pk#1 102:- 103:pk#1 | start#1>r103 start#1>r101 cancel(101>102)>r102",
    ),
    (
        Crowded,
        AcceptCreated(BLUE, THIRD),
        "scoring#1 | 101:c 102:pk#1 103:pk#1 | start#1>r103 start#1>r102 cancel(103>101)>r101 cancel(101>102)>r101",
    ),
    // ---- a room in a PK is busy (025) --------------------------------------------------------
    (Scoring, Challenge(RED, THIRD), "err 025"),
    (Scoring, Challenge(THIRD, BLUE), "err 025"),
    (Scoring, Create(RED), "err 025"),
    (Scoring, AcceptChallenge(RED, THIRD), "err 025"),
    (Scoring, Create(THIRD), "scoring#1 | 101:pk#1 102:pk#1 103:c |"),
    // ---- gifts: the room decides the side; both rooms see the same numbers --------------------
    (
        Scoring,
        Gift(RED, 5),
        "scoring#1 | 101:pk#1 102:pk#1 103:- | score#1(5:0)>r101 score#1(5:0)>r102",
    ),
    (
        Scoring,
        Gift(BLUE, 4),
        "scoring#1 | 101:pk#1 102:pk#1 103:- | score#1(0:4)>r101 score#1(0:4)>r102",
    ),
    (Scoring, Gift(THIRD, 4), "scoring#1 | 101:pk#1 102:pk#1 103:- |"),
    (Punishment, Gift(RED, 5), "punishment#1 | 101:pk#1 102:pk#1 103:- |"),
    (Finished, Gift(BLUE, 5), "over#1 | 101:- 102:- 103:- |"),
    // ---- the countdown's end: verdict, punishment when not a draw, then over ------------------
    (Scoring, Wait(298), "scoring#1 | 101:pk#1 102:pk#1 103:- |"),
    (
        Scoring,
        Wait(299),
        "over#1 | 101:- 102:- 103:- | result#1(draw)>r101 result#1(draw)>r102 over#1(deadline)>r101 over#1(deadline)>r102 | settled(deadline) 0:0",
    ),
    (
        Overdue,
        Wait(0),
        "punishment#1 | 101:pk#1 102:pk#1 103:- | result#1(red)>r101 result#1(red)>r102 | settled(deadline) 10:0",
    ),
    (
        Punishment,
        Wait(120),
        "over#1 | 101:- 102:- 103:- | over#1(deadline)>r101 over#1(deadline)>r102",
    ),
    // ---- Finish: either room, early; no gift counts after it -----------------------------------
    (
        Scoring,
        Finish(BLUE),
        "over#1 | 101:- 102:- 103:- | result#1(draw)>r101 result#1(draw)>r102 over#1(close)>r101 over#1(close)>r102 | settled(close) 0:0",
    ),
    (
        Overdue,
        Finish(RED),
        "over#1 | 101:- 102:- 103:- | result#1(red)>r101 result#1(red)>r102 over#1(close)>r101 over#1(close)>r102 | settled(close) 10:0",
    ),
    (
        Punishment,
        Finish(BLUE),
        "over#1 | 101:- 102:- 103:- | over#1(close)>r101 over#1(close)>r102",
    ),
    (Scoring, Finish(THIRD), "err 103"),
    // "only the two rooms' operators can Finish": each room's own, from the offer and the accept.
    (Scoring, FinishAs(RED, BLUE), "err 103"),
    (Scoring, FinishAs(BLUE, RED), "err 103"),
    (Scoring, FinishAs(BLUE, THIRD), "err 103"),
    (
        ChallengeScoring,
        Finish(RED),
        "over#1 | 101:- 102:- 103:- | result#1(draw)>r101 result#1(draw)>r102 over#1(close)>r101 over#1(close)>r102 | settled(close) 0:0",
    ),
    (ChallengeScoring, FinishAs(RED, BLUE), "err 103"),
    (Punishment, FinishAs(RED, BLUE), "err 103"),
    (Finished, Finish(BLUE), "err 026"),
    (Over, Finish(RED), "err 026"),
    (Fresh, Finish(RED), "err 026"),
    // ---- over: the rooms are free again --------------------------------------------------------
    (Over, Challenge(BLUE, RED), "over#1 | 101:<102 102:>101 103:- | challenge(102>101)>r101"),
    (Finished, Create(RED), "over#1 | 101:c 102:- 103:- |"),
    (Finished, AcceptChallenge(RED, BLUE), "err 026"),
];

#[tokio::test]
async fn every_row_of_the_table() {
    let mut failures = Vec::new();
    for (index, &(state, cmd, expected)) in ROWS.iter().enumerate() {
        let mut world = given(state).await;
        let before = world.state().await;
        let got = match run(&mut world, cmd).await {
            Ok(()) => world.summary().await,
            Err(refusal) => {
                let after = world.state().await;
                assert_eq!(
                    after, before,
                    "row {index} ({state:?}, {cmd:?}): a refusal changed state"
                );
                assert!(world.last.is_empty(), "row {index}: a refusal emitted {:?}", world.last);
                format!("err {}", short_code(&refusal))
            }
        };
        if got != expected {
            failures.push(format!(
                "row {index} ({state:?}, {cmd:?}):\n  expected {expected}\n  got      {got}"
            ));
        }
    }
    assert!(failures.is_empty(), "{} rows differ:\n{}", failures.len(), failures.join("\n"));
}
