//! The seat operations of seed 002 (麦位处理): take a seat (上麦), leave it (下麦), hold a user up
//! or down (抱上/抱下麦), lock (锁麦) and disable (禁麦) a seat, invite a user to it, and name the
//! room's operator. Each touches only the [`Room`] (one aggregate under the room's tag) and is
//! broadcast to the room with its `location`; none touches the battle, so seats are arranged
//! before a Start and change during a battle without taking the room's stage.
//!
//! Rules (each a row of the crate's table tests):
//! * a locked seat cannot be taken (nor a user held up onto it, nor offered);
//! * a seat holding a user cannot be taken by another, nor locked;
//! * a seat with a pending invitation can only be taken by the invited user (the operator may
//!   still hold anyone up onto it, which withdraws the invitation);
//! * one user holds at most one PK seat of the room: moving is leave, then take;
//! * a disabled seat keeps its user, who is muted; gifts to them still count;
//! * only the room's operator holds up or down, locks, disables and invites;
//! * an operation that changes nothing (taking the seat one holds, locking a locked seat)
//!   succeeds and broadcasts nothing.

use livepk_core::{RoomSid, Target, UserId};

use crate::effects::{Notification, NotificationKind, SeatAction, Transition};
use crate::error::RoomPkError;
use crate::model::{Location, Room, Seat, SeatInvite};

/// What a seat request does (the operator is named where only the operator may do it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatCommand {
    /// 上麦: `user` takes the seat.
    Take {
        /// Who.
        user: UserId,
    },
    /// 下麦: `user` leaves the seat they hold.
    Leave {
        /// Who.
        user: UserId,
    },
    /// 抱上麦: the operator puts `user` on the seat.
    HoldUp {
        /// The caller.
        operator: UserId,
        /// Who is put on it.
        user: UserId,
    },
    /// 抱下麦: the operator takes the seat's user off.
    HoldDown {
        /// The caller.
        operator: UserId,
    },
    /// 锁麦 (`locked` true) or 解锁 (false).
    Lock {
        /// The caller.
        operator: UserId,
        /// The new state.
        locked: bool,
    },
    /// 禁麦 (`disabled` true) or 解禁 (false).
    Disable {
        /// The caller.
        operator: UserId,
        /// The new state.
        disabled: bool,
    },
    /// The operator offers the seat to `user`, who is in room `room`.
    Invite {
        /// The caller.
        operator: UserId,
        /// `invite_user_id`.
        user: UserId,
        /// `invite_room_id`.
        room: RoomSid,
    },
    /// The operator withdraws the seat's invitation.
    CancelInvite {
        /// The caller.
        operator: UserId,
    },
}

impl SeatCommand {
    /// The operator the command needs, if it needs one.
    fn operator(&self) -> Option<UserId> {
        match *self {
            SeatCommand::Take { .. } | SeatCommand::Leave { .. } => None,
            SeatCommand::HoldUp { operator, .. }
            | SeatCommand::HoldDown { operator }
            | SeatCommand::Lock { operator, .. }
            | SeatCommand::Disable { operator, .. }
            | SeatCommand::Invite { operator, .. }
            | SeatCommand::CancelInvite { operator } => Some(operator),
        }
    }

    /// Who acts: the user themself (take, leave) or the operator.
    fn actor(&self) -> UserId {
        match *self {
            SeatCommand::Take { user } | SeatCommand::Leave { user } => user,
            SeatCommand::HoldUp { operator, .. }
            | SeatCommand::HoldDown { operator }
            | SeatCommand::Lock { operator, .. }
            | SeatCommand::Disable { operator, .. }
            | SeatCommand::Invite { operator, .. }
            | SeatCommand::CancelInvite { operator } => operator,
        }
    }
}

/// One seat request: a command on seat `location` of room `room_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatRequest {
    /// `room_id`.
    pub room_id: RoomSid,
    /// `location`.
    pub location: Location,
    /// What to do.
    pub command: SeatCommand,
}

/// The answer to a seat request: the seat as it is now, and whether it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatReply {
    /// The seat after the request.
    pub seat: Seat,
    /// False when the request changed nothing (and nothing was broadcast).
    pub changed: bool,
}

/// Refuses a user who is not the room's operator (PERMISSION_DENIED, 204).
pub(crate) fn check_operator(
    room: Option<&Room>,
    room_id: RoomSid,
    user: UserId,
) -> Result<(), RoomPkError> {
    if room.is_some_and(|room| room.is_operator(user)) {
        Ok(())
    } else {
        Err(RoomPkError::NotOperator { user, room: room_id })
    }
}

/// Refuses a seat `user` cannot be put on by anyone: locked, or holding another user.
fn check_free(seat: &Seat, user: UserId) -> Result<(), RoomPkError> {
    if seat.locked {
        return Err(RoomPkError::SeatLocked { location: seat.location });
    }
    match seat.user_id {
        Some(holder) if holder != user => {
            Err(RoomPkError::SeatTaken { location: seat.location, holder })
        }
        _ => Ok(()),
    }
}

/// Refuses `user` when they hold a seat other than `location`.
fn check_not_seated_elsewhere(
    room: &Room,
    user: UserId,
    location: Location,
) -> Result<(), RoomPkError> {
    match room.location_of(user) {
        Some(held) if held != location => {
            Err(RoomPkError::UserAlreadySeated { user, location: held })
        }
        _ => Ok(()),
    }
}

/// Runs one seat request on the room as read (`None`: never seen, every seat empty).
pub fn operate_seat(
    room: Option<&Room>,
    request: SeatRequest,
    now_ms: u64,
) -> Result<Transition<SeatReply>, RoomPkError> {
    let SeatRequest { room_id, location, command } = request;
    if let Some(operator) = command.operator() {
        check_operator(room, room_id, operator)?;
    }
    let before = room.cloned().unwrap_or_else(|| Room::new(room_id));
    let mut after = before.clone();
    let seat = *before.seat(location);
    let action = match command {
        SeatCommand::Take { user } => {
            if seat.user_id == Some(user) {
                return Ok(unchanged(seat));
            }
            check_free(&seat, user)?;
            if let Some(invite) = seat.invite.filter(|invite| invite.user_id != user) {
                return Err(RoomPkError::SeatTaken { location, holder: invite.user_id });
            }
            check_not_seated_elsewhere(&before, user, location)?;
            let taken = after.seat_mut(location);
            taken.user_id = Some(user);
            taken.invite = None;
            SeatAction::Take
        }
        SeatCommand::Leave { user } => {
            if seat.user_id != Some(user) {
                return Err(RoomPkError::NotOnSeat { location, user: Some(user) });
            }
            after.seat_mut(location).user_id = None;
            SeatAction::Leave
        }
        SeatCommand::HoldUp { user, .. } => {
            if seat.user_id == Some(user) {
                return Ok(unchanged(seat));
            }
            check_free(&seat, user)?;
            check_not_seated_elsewhere(&before, user, location)?;
            let held = after.seat_mut(location);
            held.user_id = Some(user);
            held.invite = None;
            SeatAction::HoldUp
        }
        SeatCommand::HoldDown { .. } => {
            if seat.user_id.is_none() {
                return Err(RoomPkError::NotOnSeat { location, user: None });
            }
            after.seat_mut(location).user_id = None;
            SeatAction::HoldDown
        }
        SeatCommand::Lock { locked, .. } => {
            if seat.locked == locked {
                return Ok(unchanged(seat));
            }
            if locked && let Some(holder) = seat.user_id {
                return Err(RoomPkError::SeatTaken { location, holder });
            }
            let changed = after.seat_mut(location);
            changed.locked = locked;
            if locked {
                // Nobody may take a locked seat: its invitation is void.
                changed.invite = None;
            }
            if locked { SeatAction::Lock } else { SeatAction::Unlock }
        }
        SeatCommand::Disable { disabled, .. } => {
            if seat.disabled == disabled {
                return Ok(unchanged(seat));
            }
            after.seat_mut(location).disabled = disabled;
            if disabled { SeatAction::Disable } else { SeatAction::Enable }
        }
        SeatCommand::Invite { user, room: invite_room, .. } => {
            if seat.locked {
                return Err(RoomPkError::SeatLocked { location });
            }
            if let Some(holder) = seat.user_id {
                return Err(RoomPkError::SeatTaken { location, holder });
            }
            check_not_seated_elsewhere(&before, user, location)?;
            if seat
                .invite
                .is_some_and(|invite| invite.user_id == user && invite.room_id == invite_room)
            {
                return Ok(unchanged(seat));
            }
            after.seat_mut(location).invite =
                Some(SeatInvite { user_id: user, room_id: invite_room, at_ms: now_ms });
            SeatAction::Invite
        }
        SeatCommand::CancelInvite { .. } => {
            if seat.invite.is_none() {
                return Ok(unchanged(seat));
            }
            after.seat_mut(location).invite = None;
            SeatAction::CancelInvite
        }
    };
    let seat = *after.seat(location);
    let by = command.actor();
    let mut transition = Transition::unchanged(SeatReply { seat, changed: true });
    transition
        .effects
        .notifications
        .push(Notification::to_room(room_id, NotificationKind::Seat { room_id, action, seat, by }));
    if let (SeatAction::Invite, Some(invite)) = (action, seat.invite) {
        transition.effects.notifications.push(Notification {
            target: Target::user(invite.user_id.get()),
            kind: NotificationKind::Invite { room_id, location, invite, by },
        });
    }
    transition.aggregates.push(after);
    Ok(transition)
}

fn unchanged(seat: Seat) -> Transition<SeatReply> {
    Transition::unchanged(SeatReply { seat, changed: false })
}

/// Names `operator` the room's operator (the gateway calls it when the party room's host opens
/// the room or hands it over). Nothing is broadcast: the room's clients know their host. The
/// room is written even when the operator is the same: that renews the life of the room's
/// seats and operator (3 days from their last write).
pub fn set_operator(room: Option<&Room>, room_id: RoomSid, operator: UserId) -> Transition<()> {
    let mut after = room.cloned().unwrap_or_else(|| Room::new(room_id));
    after.operator_id = Some(operator);
    let mut transition = Transition::unchanged(());
    transition.aggregates.push(after);
    transition
}
