//! The two aggregates of RoomPk — [`Room`] (one per room: its eight PK seats and its operator)
//! and [`TeamBattle`] (the room's team battle, one at a time) — and the small value types they are
//! made of. Plain data with serde derives: the adapter stores each aggregate as one encoded value.

use livepk_battle::{BattleId, BattleState, EndedBy, PhaseName, Round, Scores, Side};
use livepk_core::{InvalidArgument, PkId, RoomSid, UserId};
use serde::{Deserialize, Serialize};

pub(crate) use livepk_battle::MS_PER_SECOND;

/// A PK seat (坑位) by the seed's number: 11 to 14 are the red team's, 15 to 18 the blue team's
/// (seed 002: "pk坑位 11/12/13/14/15/16/17/18 红队：11/12/13/14 蓝队：15/16/17/18"). Every seat
/// request names its seat by this number only ("协议上...只需求传location").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Location(u32);

impl Location {
    /// Every PK seat, red ones first.
    pub const ALL: [Location; 8] = [
        Location(11),
        Location(12),
        Location(13),
        Location(14),
        Location(15),
        Location(16),
        Location(17),
        Location(18),
    ];

    /// Parses a request's `location`; anything but 11..=18 is refused naming `field`.
    pub fn parse(field: &str, raw: u32) -> Result<Location, InvalidArgument> {
        Location::ALL
            .into_iter()
            .find(|location| location.0 == raw)
            .ok_or_else(|| InvalidArgument::new(field, "must be a pk seat from 11 to 18"))
    }

    /// The seed's number, for the wire.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The team the seat belongs to.
    pub fn team(self) -> Team {
        if self.0 <= 14 { Team::Red } else { Team::Blue }
    }

    /// Its place in [`Location::ALL`] (and in [`Room::seats`]).
    fn index(self) -> usize {
        (self.0 - Location::ALL[0].0) as usize
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One of the two teams. The red team is the battle's first side, the blue team its second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Team {
    /// 红队: seats 11 to 14.
    Red,
    /// 蓝队: seats 15 to 18.
    Blue,
}

impl Team {
    /// Both teams, red first.
    pub const BOTH: [Team; 2] = [Team::Red, Team::Blue];

    /// The battle side the team is (red first).
    pub fn side(self) -> Side {
        match self {
            Team::Red => Side::First,
            Team::Blue => Side::Second,
        }
    }

    /// The team of a battle side.
    pub fn of(side: Side) -> Team {
        match side {
            Side::First => Team::Red,
            Side::Second => Team::Blue,
        }
    }

    /// `red` / `blue`: gift answers, records, logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Team::Red => "red",
            Team::Blue => "blue",
        }
    }

    /// The team's seats (`red_location_ids` / `blue_location_ids`).
    pub fn locations(self) -> [Location; 4] {
        let all = Location::ALL;
        match self {
            Team::Red => [all[0], all[1], all[2], all[3]],
            Team::Blue => [all[4], all[5], all[6], all[7]],
        }
    }
}

/// An invitation to a seat (`inviteUserId`, `inviteRoomId`): the operator offered the seat to a
/// user, who may be in another room. Until it is taken or withdrawn, only that user may take the
/// seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatInvite {
    /// `invite_user_id`.
    pub user_id: UserId,
    /// `invite_room_id`: the room the invited user is in.
    pub room_id: RoomSid,
    /// When it was made.
    pub at_ms: u64,
}

/// One PK seat (the seed's `RoomPKLocation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seat {
    /// Which seat.
    pub location: Location,
    /// Who sits on it (the seed's `roomMic` present), if anyone.
    pub user_id: Option<UserId>,
    /// 锁麦: nobody may take it. A locked seat is always empty (locking an occupied seat is
    /// refused; hold the user down first).
    pub locked: bool,
    /// 禁麦: its user stays on it but is muted; gifts to them still count for the team.
    pub disabled: bool,
    /// The pending invitation to it, if any.
    pub invite: Option<SeatInvite>,
}

impl Seat {
    /// An empty, open seat.
    pub fn empty(location: Location) -> Seat {
        Seat { location, user_id: None, locked: false, disabled: false, invite: None }
    }
}

/// One room's RoomPk state outside any battle: the eight PK seats and the room's operator. It
/// lives under the room's hash tag beside the battle, so the gift script that credits a seated
/// user's team and the seats it was located by share one shard. Seats are arranged before a
/// battle and change during it; arranging them never takes the room's stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// `room_id`.
    pub room_id: RoomSid,
    /// The room's operator (the party room's host), named by the gateway with `SetOperator`:
    /// the only user who may hold users up or down, lock, disable, invite, and start, extend or
    /// finish a battle. `None` until named.
    pub operator_id: Option<UserId>,
    /// Seats 11 to 18, in that order.
    pub seats: [Seat; 8],
}

impl Room {
    /// A room seen for the first time: no operator, every seat empty and open.
    pub fn new(room_id: RoomSid) -> Room {
        Room { room_id, operator_id: None, seats: Location::ALL.map(Seat::empty) }
    }

    /// Seat `location`.
    pub fn seat(&self, location: Location) -> &Seat {
        &self.seats[location.index()]
    }

    pub(crate) fn seat_mut(&mut self, location: Location) -> &mut Seat {
        &mut self.seats[location.index()]
    }

    /// The seat `user` holds (one user holds at most one PK seat).
    pub fn location_of(&self, user: UserId) -> Option<Location> {
        self.seats.iter().find(|seat| seat.user_id == Some(user)).map(|seat| seat.location)
    }

    /// The team of the seat `user` holds: the team a gift to them counts for.
    pub fn team_of(&self, user: UserId) -> Option<Team> {
        self.location_of(user).map(Location::team)
    }

    /// Whether `user` is the room's operator.
    pub fn is_operator(&self, user: UserId) -> bool {
        self.operator_id == Some(user)
    }
}

impl livepk_battle::Aggregate for Room {
    type Id = RoomSid;
    fn id(&self) -> RoomSid {
        self.room_id
    }
}

/// The battle id of `room`'s team battles. A room holds one team battle at a time, and every
/// one of them lives under the room's hash tag (with the seats and each user's running totals,
/// so one gift script adds to all of them): the battle id is the room's id, and each battle of
/// the room is told apart by its pkid (AddTime keeps it, a new Start takes a fresh one).
pub fn battle_id_of(room: RoomSid) -> BattleId {
    BattleId::new(room.get())
}

/// The room a RoomPk battle id names (see [`battle_id_of`]).
pub fn room_of(battle: BattleId) -> RoomSid {
    RoomSid::from_trusted(battle.get())
}

/// The room's team battle (the seed's `RoomPK`): from Start, scoring for the countdown, then red,
/// blue or a draw, the punishment when not a draw, then over. A later Start replaces a battle
/// that is over with a new one (fresh pkid, totals and boards from zero).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamBattle {
    /// Its id: the room's (see [`battle_id_of`]).
    pub battle_id: BattleId,
    /// `room_id`.
    pub room_id: RoomSid,
    /// Who started it (`operator_id`).
    pub operator_id: UserId,
    /// 惩罚描述: what the losing team must do (`punishment`).
    pub punishment: String,
    /// Its phases. The pkid is the battle's for its whole life (AddTime keeps it); `starttime`
    /// is when it started and `pkalltime` its whole scoring length (`countdown` plus every
    /// AddTime).
    #[serde(flatten)]
    pub round: Round,
}

impl TeamBattle {
    /// The battle's pkid.
    pub fn pkid(&self) -> PkId {
        self.round.pkid
    }

    /// Whether it is over.
    pub fn is_closed(&self) -> bool {
        self.round.is_closed()
    }

    /// What the wire shows of it with the team totals `scores`.
    pub fn info(&self, scores: Scores) -> BattleInfo {
        let verdict = self.round.last_result.filter(|verdict| verdict.pkid == self.round.pkid);
        BattleInfo {
            pkid: self.round.pkid,
            room_id: self.room_id,
            operator_id: self.operator_id,
            punishment: self.punishment.clone(),
            start_time_ms: self.round.started_at_ms,
            countdown_ms: self.round.pk_total_ms,
            phase: self.round.phase.name(),
            phase_deadline_ms: self.round.phase_deadline_ms(),
            scores: verdict.map_or(scores, |verdict| verdict.scores),
            settled: verdict.is_some(),
            winner: verdict.and_then(|verdict| verdict.winner).map(Team::of),
            ended_by: verdict.map(|verdict| verdict.ended_by),
        }
    }
}

impl BattleState for TeamBattle {
    fn battle_id(&self) -> BattleId {
        self.battle_id
    }

    fn round(&self) -> &Round {
        &self.round
    }

    fn round_mut(&mut self) -> &mut Round {
        &mut self.round
    }

    /// The room, from Start until the battle is over (scoring and punishment): a room in a team
    /// battle is busy for LinkCallPk and AcrossPk (SPEC §5a). Arranging seats takes nothing.
    fn stage(&self) -> Vec<RoomSid> {
        if self.is_closed() { Vec::new() } else { vec![self.room_id] }
    }
}

/// A team battle as the wire shows it (the seed's `RoomPK` fields plus the phase and verdict).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BattleInfo {
    /// The battle's pkid.
    pub pkid: PkId,
    /// `room_id`.
    pub room_id: RoomSid,
    /// Who started it.
    pub operator_id: UserId,
    /// `punishment`.
    pub punishment: String,
    /// `start_time` (ms).
    pub start_time_ms: u64,
    /// `countdown`: the whole scoring length (ms), AddTime included.
    pub countdown_ms: u64,
    /// The phase now.
    pub phase: PhaseName,
    /// When the phase ends (ms); 0 once over.
    pub phase_deadline_ms: u64,
    /// Team totals (red first): the settled ones once settled.
    pub scores: Scores,
    /// Whether the verdict was taken.
    pub settled: bool,
    /// The winning team once settled; `None` before, or on a draw.
    pub winner: Option<Team>,
    /// What took the verdict, once settled.
    pub ended_by: Option<EndedBy>,
}

impl BattleInfo {
    /// Whole seconds left in the current phase at `now_ms`, rounded up (0 without a deadline).
    pub fn time_left_secs(&self, now_ms: u64) -> u64 {
        self.phase_deadline_ms.saturating_sub(now_ms).div_ceil(MS_PER_SECOND)
    }
}

/// One row of a board: a contribution board (senders, 贡献值) or a PK-value board (receivers,
/// pk值) of one team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamRow {
    /// The user.
    pub user_id: UserId,
    /// Their total on the board (points).
    pub value: u64,
}
