//! Every seat rule as one table: one row per (state, command) pair with the expected outcome —
//! either `err NNN` (the last three digits of the business code; nothing may have changed) or
//! `<seats> | <notifications>` after the command (see [`World::seats`] and [`render`]).
//!
//! Room 900, operator 1, users 21.., another room 901.

use super::*;

/// The state a row starts from, always reached through the real commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Given {
    /// Nothing was ever done in the room (no operator).
    Fresh,
    /// Operator 1 named; every seat empty.
    Operated,
    /// Operated; 21 took 11 (red), 22 took 15 (blue).
    Seated,
    /// Operated; 13 locked.
    Locked,
    /// Seated; 11 disabled.
    Disabled,
    /// Operated; 14 offered to user 23 of room 901.
    Invited,
    /// Seated and a team battle running.
    InBattle,
}

async fn given(state: Given) -> World {
    let mut world = World::new().await;
    let ok = "setup step must succeed";
    if state == Given::Fresh {
        return world;
    }
    world.set_operator(OPERATOR).await;
    let operator = user(OPERATOR);
    match state {
        Given::Fresh | Given::Operated => {}
        Given::Seated | Given::Disabled | Given::InBattle => {
            world.take(21, 11).await.expect(ok);
            world.take(22, 15).await.expect(ok);
            if state == Given::Disabled {
                world.seat(11, SeatCommand::Disable { operator, disabled: true }).await.expect(ok);
            }
            if state == Given::InBattle {
                world.start(60).await.expect(ok);
            }
        }
        Given::Locked => {
            world.seat(13, SeatCommand::Lock { operator, locked: true }).await.expect(ok);
        }
        Given::Invited => {
            let invite =
                SeatCommand::Invite { operator, user: user(23), room: room_id(OTHER_ROOM) };
            world.seat(14, invite).await.expect(ok);
        }
    }
    world.last.clear();
    world
}

fn take(raw: u64) -> SeatCommand {
    SeatCommand::Take { user: user(raw) }
}

fn leave(raw: u64) -> SeatCommand {
    SeatCommand::Leave { user: user(raw) }
}

fn hold_up_by(operator: u64, raw: u64) -> SeatCommand {
    SeatCommand::HoldUp { operator: user(operator), user: user(raw) }
}

fn hold_down_by(operator: u64) -> SeatCommand {
    SeatCommand::HoldDown { operator: user(operator) }
}

fn lock_by(operator: u64, locked: bool) -> SeatCommand {
    SeatCommand::Lock { operator: user(operator), locked }
}

fn disable_by(operator: u64, disabled: bool) -> SeatCommand {
    SeatCommand::Disable { operator: user(operator), disabled }
}

fn invite_by(operator: u64, raw: u64) -> SeatCommand {
    SeatCommand::Invite { operator: user(operator), user: user(raw), room: room_id(OTHER_ROOM) }
}

fn cancel_by(operator: u64) -> SeatCommand {
    SeatCommand::CancelInvite { operator: user(operator) }
}

const OP: u64 = OPERATOR;

/// (given, seat, command, expected).
fn rows() -> Vec<(Given, u32, SeatCommand, &'static str)> {
    use Given::*;
    vec![
        // 上麦: take a seat.
        (Fresh, 11, take(21), "11:21 | take(11 by 21)>r900"),
        (Seated, 12, take(23), "11:21 12:23 15:22 | take(12 by 23)>r900"),
        (Seated, 11, take(23), "err 202"),
        (Seated, 11, take(21), "11:21 15:22 | "),
        (Seated, 12, take(21), "err 203"),
        (Locked, 13, take(21), "err 201"),
        (Invited, 14, take(24), "err 202"),
        (Invited, 14, take(23), "14:23 | take(14 by 23)>r900"),
        (Disabled, 12, take(23), "11:21D 12:23 15:22 | take(12 by 23)>r900"),
        (InBattle, 16, take(23), "11:21 15:22 16:23 | take(16 by 23)>r900"),
        // 下麦: leave it.
        (Seated, 11, leave(21), "15:22 | leave(11 by 21)>r900"),
        (Seated, 11, leave(22), "err 205"),
        (Fresh, 11, leave(21), "err 205"),
        (Disabled, 11, leave(21), "11:-D 15:22 | leave(11 by 21)>r900"),
        (InBattle, 15, leave(22), "11:21 | leave(15 by 22)>r900"),
        // 抱上麦: the operator holds a user up.
        (Seated, 12, hold_up_by(OP, 23), "11:21 12:23 15:22 | hold_up(12 by 1)>r900"),
        (Seated, 12, hold_up_by(STRANGER, 23), "err 204"),
        (Fresh, 12, hold_up_by(OP, 23), "err 204"),
        (Seated, 12, hold_up_by(OP, 21), "err 203"),
        (Seated, 11, hold_up_by(OP, 23), "err 202"),
        (Seated, 11, hold_up_by(OP, 21), "11:21 15:22 | "),
        (Locked, 13, hold_up_by(OP, 23), "err 201"),
        (Invited, 14, hold_up_by(OP, 24), "14:24 | hold_up(14 by 1)>r900"),
        // 抱下麦: the operator holds a user down.
        (Seated, 11, hold_down_by(OP), "15:22 | hold_down(11 by 1)>r900"),
        (Seated, 12, hold_down_by(OP), "err 205"),
        (Seated, 11, hold_down_by(STRANGER), "err 204"),
        (Seated, 11, hold_down_by(21), "err 204"),
        // 锁麦: lock and unlock.
        (Operated, 13, lock_by(OP, true), "13:-L | lock(13 by 1)>r900"),
        (Locked, 13, lock_by(OP, true), "13:-L | "),
        (Locked, 13, lock_by(OP, false), "empty | unlock(13 by 1)>r900"),
        (Operated, 13, lock_by(OP, false), "empty | "),
        (Seated, 11, lock_by(OP, true), "err 202"),
        (Invited, 14, lock_by(OP, true), "14:-L | lock(14 by 1)>r900"),
        (Operated, 13, lock_by(STRANGER, true), "err 204"),
        // 禁麦: disable and enable; the user stays, muted.
        (Seated, 11, disable_by(OP, true), "11:21D 15:22 | disable(11 by 1)>r900"),
        (Disabled, 11, disable_by(OP, true), "11:21D 15:22 | "),
        (Disabled, 11, disable_by(OP, false), "11:21 15:22 | enable(11 by 1)>r900"),
        (Operated, 12, disable_by(OP, true), "12:-D | disable(12 by 1)>r900"),
        (Locked, 13, disable_by(OP, true), "13:-LD | disable(13 by 1)>r900"),
        (Seated, 11, disable_by(21, true), "err 204"),
        // Invitations: offer a seat to a user (of another room), withdraw it.
        (Operated, 14, invite_by(OP, 23), "14:-+23@901 | invite(14 by 1)>r900 invite(14 by 1)>u23"),
        (Invited, 14, invite_by(OP, 23), "14:-+23@901 | "),
        (Invited, 14, invite_by(OP, 24), "14:-+24@901 | invite(14 by 1)>r900 invite(14 by 1)>u24"),
        (Seated, 14, invite_by(OP, 21), "err 203"),
        (Seated, 11, invite_by(OP, 23), "err 202"),
        (Locked, 13, invite_by(OP, 23), "err 201"),
        (Invited, 14, invite_by(STRANGER, 24), "err 204"),
        (Invited, 14, cancel_by(OP), "empty | cancel_invite(14 by 1)>r900"),
        (Operated, 14, cancel_by(OP), "empty | "),
        (Invited, 14, cancel_by(23), "err 204"),
    ]
}

#[tokio::test]
async fn every_seat_rule() {
    let mut failures = Vec::new();
    for (index, (state, at, command, expected)) in rows().into_iter().enumerate() {
        let mut world = given(state).await;
        let before = (world.room().await, world.battle().await);
        let outcome = world.seat(at, command).await;
        let actual = match &outcome {
            Err(error) => {
                let after = (world.room().await, world.battle().await);
                assert_eq!(after, before, "row {index}: a refusal changed nothing");
                assert!(world.last.is_empty(), "row {index}: a refusal emits nothing");
                format!("err {}", short_code(error))
            }
            Ok(reply) => {
                let room = world.room().await;
                assert_eq!(&reply.seat, room.seat(location(at)), "row {index}: the reply's seat");
                assert_eq!(reply.changed, !world.last.is_empty(), "row {index}: changed");
                // Seats never touch the battle.
                assert_eq!(world.battle().await, before.1, "row {index}: the battle");
                format!("{} | {}", render_seats(&room), world.nts())
            }
        };
        if actual.trim_end() != expected.trim_end() {
            failures.push(format!(
                "row {index} ({state:?}, seat {at}, {command:?}):\n  expected {expected}\n  actual   {actual}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn refusals_name_the_seat_and_who_holds_it() {
    let mut world = given(Given::Seated).await;
    let taken = world.take(23, 11).await.unwrap_err();
    let details: Vec<(String, String)> = taken.details();
    assert_eq!(details, vec![("location".into(), "11".into()), ("user_id".into(), "21".into())]);
    let seated = world.take(21, 12).await.unwrap_err();
    assert_eq!(
        seated.details(),
        vec![("location".into(), "11".into()), ("user_id".into(), "21".into())]
    );
    world.hold_up(23, 12).await.expect("the operator may");
    let error = world.seat(13, hold_up_by(STRANGER, 24)).await.unwrap_err();
    assert_eq!(error.field().as_deref(), Some("operator_id"));
    assert!(matches!(
        error.0.as_business().map(BusinessError::kind),
        Some(livepk_core::ErrorKind::PermissionDenied)
    ));
}

#[tokio::test]
async fn a_new_operator_replaces_the_old_one() {
    let mut world = given(Given::Operated).await;
    world.set_operator(STRANGER).await;
    assert!(world.last.is_empty(), "naming the operator is not broadcast");
    assert_eq!(short_code(&world.hold_up(21, 11).await.unwrap_err()), "204");
    world.seat(11, hold_up_by(STRANGER, 21)).await.unwrap();
    assert_eq!(world.seats().await, "11:21");
}

#[tokio::test]
async fn a_user_moves_by_leaving_then_taking() {
    let mut world = given(Given::Seated).await;
    assert_eq!(short_code(&world.take(21, 16).await.unwrap_err()), "203");
    world.leave(21, 11).await.unwrap();
    world.take(21, 16).await.unwrap();
    assert_eq!(world.seats().await, "15:22 16:21");
    let room = world.room().await;
    assert_eq!(room.team_of(user(21)), Some(Team::Blue));
    assert_eq!(room.location_of(user(21)), Some(location(16)));
}
