//! The two aggregates of AcrossPk — [`Room`] (one per room: its created PK, the challenges it
//! sent and received, its battle pointer) and [`Battle`] (one per cross-room PK: both rooms, the
//! terms, a [`Round`]) — and the values they are made of, in the seed's words (`AcrossPK`,
//! `RoomAcrossPK`, `createRoomId`, `pkRoomId`, `punishment`, `countdown`).

use livepk_battle::{
    BattleId, BattleState, EndedBy, Invitation, MS_PER_SECOND, Phase, PhaseName, Round, Scores,
    Side, Sides,
};
use livepk_core::{PkId, RoomSid, UserId};
use serde::{Deserialize, Serialize};

/// A room as the other room sees it (the seed's `roomName`, `userName`, `userAvater`: the room's
/// name and its owner's name and avatar), as the gateway sent it with the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomCard {
    /// The room.
    pub room_id: RoomSid,
    /// `roomName`.
    pub room_name: String,
    /// `userName`: the room owner's name.
    pub user_name: String,
    /// `userAvater`: the room owner's avatar URL.
    pub user_avatar: String,
}

impl RoomCard {
    /// A card with only the room id (names unknown).
    pub fn bare(room_id: RoomSid) -> Self {
        Self {
            room_id,
            room_name: String::new(),
            user_name: String::new(),
            user_avatar: String::new(),
        }
    }
}

/// What a PK is fought for (seed `AcrossPK.punishment`, `AcrossPK.countdown`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// `punishment`: what the losing room performs.
    pub punishment: String,
    /// `countdown`: seconds of scoring, at least 1 (validated at the edge), at most
    /// `acrosspk.max_countdown_seconds` (checked by the commands that offer a PK).
    pub countdown_secs: u64,
}

impl Terms {
    pub(crate) fn countdown_ms(&self) -> u64 {
        self.countdown_secs.saturating_mul(MS_PER_SECOND)
    }
}

/// A PK a room opened for anyone to accept (seed: the `create_across_pk` hash entry; "一个房间只能
/// 创建一次pk"). Held by the creating room until it is withdrawn or accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedPk {
    /// The creating room.
    pub card: RoomCard,
    /// Its terms.
    pub terms: Terms,
    /// `createTime` (ms): also the PK's place in the open list (newest first).
    pub created_at_ms: u64,
    /// Who created it for the room.
    pub operator_id: UserId,
}

/// A challenge (发起) from one room to another: the invitation (who, to whom, when, lapse time)
/// and what the challenged room is asked to accept. Both rooms hold it: the challenged room among
/// its received challenges (seed: `sponsored_across_pk:<room>`), the challenging room among the
/// challenges it sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// From the challenging room to the challenged one, lapsing `acrosspk.challenge_seconds`
    /// after it was sent.
    pub invitation: Invitation<RoomSid>,
    /// The challenging room.
    pub card: RoomCard,
    /// Its terms.
    pub terms: Terms,
    /// Who sent it for the room.
    pub operator_id: UserId,
}

/// What was accepted to start a battle: a created PK or a challenge. A battle remembers it so that
/// an Accept whose commit was cut short between the two rooms recognises its own offer on the
/// re-run (see [`crate::accept`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// The red room's created PK, by its creation time.
    Created {
        /// `createTime` of the created PK (ms).
        created_at_ms: u64,
    },
    /// The red room's challenge to the blue room.
    Challenge(Invitation<RoomSid>),
}

/// One room's AcrossPk state. Each room has its own hash tag; a command that concerns two rooms
/// writes both, in ascending room order, so two commands about the same pair meet on the same
/// first write.
///
/// A challenge is pending only while *both* halves agree — the invitation in the challenging
/// room's [`Room::sent`] and the challenge in the challenged room's [`Room::received`] — and it
/// has not lapsed. Withdrawing one half withdraws it, so a command needs to write only the rooms
/// it names, and a write cut short between the two rooms never leaves half a challenge alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// The room.
    pub room_id: RoomSid,
    /// Its open created PK (at most one).
    pub created: Option<CreatedPk>,
    /// Challenges this room sent.
    pub sent: Vec<Challenge>,
    /// Challenges this room received, whole.
    pub received: Vec<Challenge>,
    /// The room's current or latest battle. A pointer only: the [`Battle`] is the truth, and a
    /// pointer to a closed battle is free. A pointer to an *abandoned* battle (an Accept that
    /// wrote this room and then lost the other one) means the room is as it was before that
    /// Accept: see [`Battle::withdrawn`] and [`crate::RoomView`].
    pub battle: Option<BattleId>,
    /// When an Accept last put the room into a PK (ms; 0 never). A challenge's expiry job holds
    /// off for [`crate::SETTLE_MS`] after it before it trusts a half this Accept took away (see
    /// [`crate::on_challenge_expired`]).
    #[serde(default)]
    pub entered_at_ms: u64,
}

impl Room {
    /// A room seen for the first time.
    pub fn new(room_id: RoomSid) -> Self {
        Self {
            room_id,
            created: None,
            sent: Vec::new(),
            received: Vec::new(),
            battle: None,
            entered_at_ms: 0,
        }
    }

    /// The received challenge whose invitation is `invitation`.
    pub(crate) fn received_as(&self, invitation: &Invitation<RoomSid>) -> Option<&Challenge> {
        self.received.iter().find(|challenge| challenge.invitation == *invitation)
    }
}

impl livepk_battle::Aggregate for Room {
    type Id = RoomSid;
    fn id(&self) -> RoomSid {
        self.room_id
    }
}

/// What an Accept took from one of its two rooms (the seed's `clearAcrossPK`): the room's created
/// PK and its pending challenges both ways (the accepted offer among them), and the battle the
/// room pointed at before. Kept in the [`Battle`], so that both facts derive from it: while the
/// battle stands, these offers are withdrawn (the rooms on their other ends were told with the
/// PK's start); if the engine abandoned it (the Accept lost its other room), the room is read as
/// if the Accept never happened ([`Withdrawal::restore`]), and nothing was told.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// The room's created PK.
    pub created: Option<CreatedPk>,
    /// The pending challenges the room had sent.
    pub sent: Vec<Challenge>,
    /// The pending challenges the room had received.
    pub received: Vec<Challenge>,
    /// The room's battle pointer before the Accept.
    pub previous: Option<BattleId>,
}

impl Withdrawal {
    /// Puts back into `room`, as the abandoned Accept wrote it, what that Accept took: the room
    /// as it was before. (Nothing else writes a room pointing at an abandoned battle without
    /// restoring it first, except expiry jobs removing lapsed halves, which this never holds.)
    pub fn restore(&self, room: &mut Room) {
        if room.created.is_none() {
            room.created.clone_from(&self.created);
        }
        let put_back = |list: &mut Vec<Challenge>, taken: &[Challenge]| {
            for challenge in taken {
                if !list.iter().any(|held| held.invitation == challenge.invitation) {
                    list.push(challenge.clone());
                }
            }
        };
        put_back(&mut room.sent, &self.sent);
        put_back(&mut room.received, &self.received);
        room.battle = self.previous;
    }
}

/// Who ended a battle early (Finish).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finisher {
    /// The room whose operator finished it.
    pub room_id: RoomSid,
    /// The operator.
    pub operator_id: UserId,
}

/// One cross-room PK (the seed's `RoomAcrossPK` of both rooms as one value): both rooms (the
/// creator's or challenger's room first, red — seed: "默认创建pk的房间视为红队"), the terms, and a
/// [`Round`]: scoring for `countdown` seconds, the verdict, the punishment when not a draw, then
/// over. Its side totals and boards live beside it under its tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Battle {
    /// Its id (names its tag).
    pub battle_id: BattleId,
    /// The two rooms: first red (created or challenged), second blue (accepted).
    pub rooms: Sides<RoomCard>,
    /// The terms accepted.
    pub terms: Terms,
    /// What was accepted.
    pub source: Source,
    /// Each room's operator in this PK, red first: who created the PK or sent the challenge for
    /// the red room, who accepted it for the blue room. Only they may Finish it.
    pub operators: Sides<UserId>,
    /// What the Accept took from each room, red first (see [`Withdrawal`]).
    pub withdrawn: Sides<Withdrawal>,
    /// Who finished it early, if anyone did.
    pub finished_by: Option<Finisher>,
    /// Its phases.
    pub round: Round,
}

impl Battle {
    /// The current pkid.
    pub fn pkid(&self) -> PkId {
        self.round.pkid
    }

    /// Whether it is over.
    pub fn is_closed(&self) -> bool {
        self.round.is_closed()
    }

    /// Whether it was never taken up: its Accept lost a race after writing it, and the engine
    /// closed it (see [`EndedBy::Abandoned`]).
    pub fn is_abandoned(&self) -> bool {
        matches!(self.round.phase, Phase::Closed { ended_by: EndedBy::Abandoned, .. })
    }

    /// The two room ids, red first.
    pub fn room_ids(&self) -> Sides<RoomSid> {
        self.rooms.clone().map(|card| card.room_id)
    }

    /// The side of `room`, if it is one of the two.
    pub fn side_of(&self, room: RoomSid) -> Option<Side> {
        self.room_ids().find(|id| *id == room)
    }

    /// The PK as both rooms see it, with the side totals `scores`.
    pub fn pk_info(&self, scores: Scores) -> PkInfo {
        let verdict = self.round.last_result.filter(|verdict| verdict.pkid == self.round.pkid);
        let ended_by = match self.round.phase {
            Phase::Closed { ended_by, .. } => Some(ended_by),
            _ => verdict.map(|verdict| verdict.ended_by),
        };
        PkInfo {
            pkid: self.round.pkid,
            rooms: self.rooms.clone(),
            terms: self.terms.clone(),
            start_ms: self.round.started_at_ms,
            phase: self.round.phase.name(),
            phase_deadline_ms: self.round.phase_deadline_ms(),
            // Once settled the verdict's totals are final (gifts after the window do not count).
            scores: verdict.map_or(scores, |verdict| verdict.scores),
            settled: verdict.is_some(),
            winner: verdict.and_then(|verdict| verdict.winner),
            ended_by,
        }
    }
}

impl BattleState for Battle {
    fn battle_id(&self) -> BattleId {
        self.battle_id
    }

    fn round(&self) -> &Round {
        &self.round
    }

    fn round_mut(&mut self) -> &mut Round {
        &mut self.round
    }

    /// Both rooms from Accept until the PK is over (scoring and punishment): a room in a
    /// cross-room PK is busy for every stage-taking mode (SPEC §5a).
    fn stage(&self) -> Vec<RoomSid> {
        if self.is_closed() {
            Vec::new()
        } else {
            let rooms = self.room_ids();
            vec![rooms.first, rooms.second]
        }
    }
}

/// A cross-room PK as replies, notifications and GetState show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkInfo {
    /// The pkid.
    pub pkid: PkId,
    /// Both rooms, red first.
    pub rooms: Sides<RoomCard>,
    /// The terms.
    pub terms: Terms,
    /// `startTime` (ms).
    pub start_ms: u64,
    /// The phase.
    pub phase: PhaseName,
    /// When the phase ends (ms); 0 once over.
    pub phase_deadline_ms: u64,
    /// Both rooms' PK values (side totals): the final ones once settled.
    pub scores: Scores,
    /// Whether the verdict was made.
    pub settled: bool,
    /// The room ahead once settled; `None` before, or on a draw.
    pub winner: Option<Side>,
    /// What settled or ended it, once it was.
    pub ended_by: Option<EndedBy>,
}

/// A created PK or a challenge as lists, replies and notifications show it (the seed's
/// `AcrossPK` object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The creating or challenging room (`createRoomId`, `roomName`, `userName`, `userAvater`).
    pub from: RoomCard,
    /// `pkRoomId`: the challenged room; `None` for a created PK (open to any room).
    pub to: Option<RoomSid>,
    /// `punishment`, `countdown`.
    pub terms: Terms,
    /// `createTime` (ms).
    pub created_at_ms: u64,
    /// When a challenge lapses (ms); `None` for a created PK.
    pub expires_at_ms: Option<u64>,
}

impl From<&CreatedPk> for Offer {
    fn from(created: &CreatedPk) -> Self {
        Offer {
            from: created.card.clone(),
            to: None,
            terms: created.terms.clone(),
            created_at_ms: created.created_at_ms,
            expires_at_ms: None,
        }
    }
}

impl From<&Challenge> for Offer {
    fn from(challenge: &Challenge) -> Self {
        Offer {
            from: challenge.card.clone(),
            to: Some(challenge.invitation.to),
            terms: challenge.terms.clone(),
            created_at_ms: challenge.invitation.sent_at_ms,
            expires_at_ms: Some(challenge.invitation.expires_at_ms),
        }
    }
}

/// One row of a board: a viewer and their total (贡献值 on a contribution board, pk值 on a
/// PK-value board). Profiles are added by the adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardRow {
    /// The viewer.
    pub user_id: UserId,
    /// Their total in points.
    pub total: u64,
}
