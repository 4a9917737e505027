//! The team battle's phases as one table: one row per (state, command) pair — either `err NNN`
//! (nothing may have changed) or `<battle> | <notifications> [| settled(<by>) <team>:<total>
//! ...]` after the command (see [`World::battle_line`]; a record lists the winning team
//! first).
//!
//! Room 900, operator 1; 21 on red seat 11, 22 on blue seat 15; battles of 60 s, punishment
//! 120 s (the default).

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Given {
    /// No operator named.
    Unoperated,
    /// Operator named, 21 on 11, 22 on 15: no battle yet.
    Arranged,
    /// Arranged and started (pkid 1), 1 s into scoring.
    Scoring,
    /// Scoring, red 10 (a gift to 21), the deadline passed but its job did not run.
    ScoringOverdue,
    /// Scoring without a gift, the deadline passed, its job not run.
    DrawOverdue,
    /// Scoring, the clock exactly at the deadline, its job not run.
    AtDeadline,
    /// ScoringOverdue settled by its job: red won, punishment.
    Punishment,
    /// Punishment whose deadline passed, its job not run.
    PunishmentOverdue,
    /// The punishment ended: the battle is over.
    Over,
    /// Scoring, then finished early: over.
    Finished,
}

async fn given(state: Given) -> World {
    use Given::*;
    let mut world = World::new().await;
    let ok = "setup step must succeed";
    if state != Unoperated {
        world.set_operator(OPERATOR).await;
    }
    world.take(21, 11).await.expect(ok);
    world.take(22, 15).await.expect(ok);
    if !matches!(state, Unoperated | Arranged) {
        world.start(60).await.expect(ok);
        world.advance_secs(1);
        if matches!(state, ScoringOverdue | Punishment | PunishmentOverdue | Over) {
            assert_eq!(world.gift(31, 21, 10).await.as_deref(), Some("red"));
        }
        if state == Finished {
            world.finish().await.expect(ok);
        }
        if matches!(state, ScoringOverdue | DrawOverdue | Punishment | PunishmentOverdue | Over) {
            world.advance_secs(60);
        }
        if state == AtDeadline {
            world.advance_secs(59);
        }
        if matches!(state, Punishment | PunishmentOverdue | Over) {
            world.fire_due_timers().await;
        }
        if matches!(state, PunishmentOverdue | Over) {
            world.advance_secs(120);
        }
        if state == Over {
            world.fire_due_timers().await;
        }
    }
    world.last.clear();
    world.new_records().await;
    world
}

#[derive(Debug, Clone, Copy)]
enum Cmd {
    Start,
    StartBy(u64),
    StartCountdown(u64),
    AddTime(u64),
    AddTimeBy(u64),
    Finish,
    FinishBy(u64),
    /// The delay queue runs what is due.
    Deadline,
}

async fn run(world: &mut World, command: Cmd) -> Outcome<()> {
    match command {
        Cmd::Start => world.start(60).await.map(drop),
        Cmd::StartBy(operator) => world.start_by(operator, 60).await.map(drop),
        Cmd::StartCountdown(countdown) => world.start(countdown).await.map(drop),
        Cmd::AddTime(seconds) => world.add_time(seconds).await.map(drop),
        Cmd::AddTimeBy(operator) => world.add_time_by(operator, 30).await.map(drop),
        Cmd::Finish => world.finish().await.map(drop),
        Cmd::FinishBy(operator) => world.finish_by(operator).await.map(drop),
        Cmd::Deadline => {
            world.fire_due_timers().await;
            Ok(())
        }
    }
}

fn rows() -> Vec<(Given, Cmd, &'static str)> {
    use Cmd::*;
    use Given::*;
    vec![
        // Start.
        (Unoperated, Start, "err 204"),
        (Arranged, Start, "scoring#1 r:0 b:0 | start>r900"),
        (Arranged, StartBy(STRANGER), "err 204"),
        (Arranged, StartCountdown(0), "err 021"),
        (Arranged, StartCountdown(3601), "err 021"),
        (Arranged, StartCountdown(3600), "scoring#1 r:0 b:0 | start>r900"),
        (Scoring, Start, "err 025"),
        (Punishment, Start, "err 025"),
        // A second battle in the same room starts from zero.
        (Over, Start, "scoring#2 r:0 b:0 | start>r900"),
        (Finished, Start, "scoring#2 r:0 b:0 | start>r900"),
        // AddTime: only while scoring, same pkid.
        (Scoring, AddTime(30), "scoring#1 r:0 b:0 | addtime(+30)>r900"),
        // Past the deadline, before its job took the verdict: too late (gifts sent since were
        // judged outside for good), 026.
        (AtDeadline, AddTime(30), "err 026"),
        (ScoringOverdue, AddTime(30), "err 026"),
        (DrawOverdue, AddTime(30), "err 026"),
        (Scoring, AddTimeBy(STRANGER), "err 204"),
        (Scoring, AddTime(0), "err 021"),
        (Scoring, AddTime(601), "err 021"),
        (Arranged, AddTime(30), "err 026"),
        (Punishment, AddTime(30), "err 024"),
        (Over, AddTime(30), "err 026"),
        (Finished, AddTime(30), "err 026"),
        // Finish: the verdict on the totals now, no punishment.
        (
            Scoring,
            Finish,
            "closed#1 r:0 b:0 won:draw | result(draw r:0 b:0)>r900 over>r900 | settled(close) red:0 blue:0",
        ),
        (
            ScoringOverdue,
            Finish,
            "closed#1 r:10 b:0 won:red | result(red r:10 b:0)>r900 over>r900 | settled(close) red:10 blue:0",
        ),
        (Punishment, Finish, "closed#1 r:10 b:0 won:red | over>r900"),
        (Scoring, FinishBy(STRANGER), "err 204"),
        (Arranged, Finish, "err 026"),
        (Over, Finish, "err 026"),
        (Finished, Finish, "err 026"),
        // The deadlines.
        (Scoring, Deadline, "scoring#1 r:0 b:0 | "),
        (
            AtDeadline,
            Deadline,
            "closed#1 r:0 b:0 won:draw | result(draw r:0 b:0)>r900 over>r900 | settled(deadline) red:0 blue:0",
        ),
        (
            ScoringOverdue,
            Deadline,
            "punishment#1 r:10 b:0 won:red | result(red r:10 b:0)>r900 | settled(deadline) red:10 blue:0",
        ),
        (
            DrawOverdue,
            Deadline,
            "closed#1 r:0 b:0 won:draw | result(draw r:0 b:0)>r900 over>r900 | settled(deadline) red:0 blue:0",
        ),
        (PunishmentOverdue, Deadline, "closed#1 r:10 b:0 won:red | over>r900"),
        (Over, Deadline, "closed#1 r:10 b:0 won:red | "),
        (Finished, Deadline, "closed#1 r:0 b:0 won:draw | "),
    ]
}

#[tokio::test]
async fn every_battle_rule() {
    let mut failures = Vec::new();
    for (index, (state, command, expected)) in rows().into_iter().enumerate() {
        let mut world = given(state).await;
        let before = (world.room().await, world.battle().await);
        let outcome = run(&mut world, command).await;
        let actual = match &outcome {
            Err(error) => {
                let after = (world.room().await, world.battle().await);
                assert_eq!(after, before, "row {index}: a refusal changed nothing");
                assert!(world.last.is_empty(), "row {index}: a refusal emits nothing");
                format!("err {}", short_code(error))
            }
            Ok(()) => {
                assert_eq!(world.room().await, before.0, "row {index}: the seats");
                let mut line = format!("{} | {}", world.battle_line().await, world.nts());
                for record in world.new_records().await {
                    let teams: Vec<String> = record
                        .teams
                        .iter()
                        .map(|(side, score)| format!("{side}:{score}"))
                        .collect();
                    line.push_str(&format!(" | settled({}) {}", record.ended_by, teams.join(" ")));
                }
                line
            }
        };
        if actual.trim_end() != expected.trim_end() {
            failures.push(format!(
                "row {index} ({state:?}, {command:?}):\n  expected {expected}\n  actual   {actual}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn running_battle_refusals_name_it() {
    let mut world = given(Given::Scoring).await;
    let error = world.start(60).await.unwrap_err();
    let details: std::collections::BTreeMap<String, String> = error.details().into_iter().collect();
    assert_eq!(details["holding_mode"], "roompk");
    assert_eq!(details["holding_pkid"], "1");
    assert_eq!(details["room_id"], ROOM.to_string());
    let error = world.start(0).await.unwrap_err();
    assert_eq!(error.field().as_deref(), Some("countdown"));
    let error = world.add_time(601).await.unwrap_err();
    assert_eq!(error.field().as_deref(), Some("seconds"));

    let mut world = given(Given::ScoringOverdue).await;
    let error = world.add_time(30).await.unwrap_err();
    let details: std::collections::BTreeMap<String, String> = error.details().into_iter().collect();
    assert_eq!(
        (details["pkid"].as_str(), details["phase_deadline_ms"].clone()),
        ("1", (START_MS + 60_000).to_string())
    );

    let mut world = given(Given::Punishment).await;
    let error = world.add_time(30).await.unwrap_err();
    let details: std::collections::BTreeMap<String, String> = error.details().into_iter().collect();
    assert_eq!(
        (details["pkid"].as_str(), details["red_total"].as_str(), details["winner"].as_str()),
        ("1", "10", "red")
    );
}

#[tokio::test]
async fn the_start_reply_and_notification_carry_the_battle() {
    let mut world = given(Given::Arranged).await;
    let info = world.start(90).await.unwrap();
    assert_eq!(info.pkid, PkId::from_trusted(1));
    assert_eq!((info.start_time_ms, info.countdown_ms), (START_MS, 90_000));
    assert_eq!(info.phase_deadline_ms, START_MS + 90_000);
    assert_eq!(info.punishment, "sing a song");
    assert_eq!(info.operator_id, user(OPERATOR));
    assert_eq!(info.time_left_secs(START_MS + 500), 90);
    assert!(!info.settled);
    let [notification] = world.last.as_slice() else { panic!("{:?}", world.last) };
    assert_eq!(notification.kind, NotificationKind::Start { battle: info.clone() });
    // The stage is the room's while the battle runs.
    assert_eq!(
        livepk_battle::BattleState::stage(&world.battle().await.unwrap()),
        vec![room_id(ROOM)]
    );
}
