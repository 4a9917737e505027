//! GiftPk's two aggregates — [`Show`] (one per show: its gift PKs, newest last) and
//! [`GiftBattle`] (one per gift PK: the two gifts with their captions, the anchor who created it,
//! and a [`Round`]) — and the small validated values they are made of. Plain data with serde
//! derives: the adapter stores each aggregate as one encoded value.

use livepk_battle::{BattleId, BattleState, Phase, PhaseDeadline, Round, Side, Sides, TimedPhase};
use livepk_core::gift::MAX_TEXT_LEN;
use livepk_core::{GiftId, InvalidArgument, PkId, RoomSid, SingerId, UserId};
use serde::{Deserialize, Serialize};

pub(crate) use livepk_battle::MS_PER_SECOND;

livepk_core::non_zero_id!(
    /// A live show (直播场次, the seed's `showId`). Show ids are the platform's room ids (SPEC
    /// §5a: one namespace), so a show's notifications go to the room of the same id.
    ShowId
);

impl ShowId {
    /// The room the show's notifications are multicast to (the same id, SPEC §5a).
    pub fn room(self) -> RoomSid {
        RoomSid::from_trusted(self.get())
    }
}

/// One of the two gifts of a PK as the anchor set it up (seed §2.1.a, §3.1): the gift, its
/// name and logo (viewers may never have opened the gift panel, §2.3.a) and its caption
/// (`giftDesc`, "投它，我唱首浮夸").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkGift {
    /// `giftId`.
    pub gift_id: GiftId,
    /// `giftName`.
    pub gift_name: String,
    /// `giftLogo` (an URL).
    pub gift_logo: String,
    /// `giftDesc`: the caption shown with the gift.
    pub gift_desc: String,
}

impl PkGift {
    /// Parses the gift at `index` of a request's `gifts`: a non-zero id that fits the records'
    /// signed columns, texts of at most [`MAX_TEXT_LEN`] bytes. Fields are named
    /// `gifts[<index>].<field>`.
    pub fn parse(
        index: usize,
        gift_id: u64,
        gift_name: String,
        gift_logo: String,
        gift_desc: String,
    ) -> Result<PkGift, InvalidArgument> {
        let field = |name: &str| format!("gifts[{index}].{name}");
        let gift_id = GiftId::parse(&field("gift_id"), gift_id)?;
        // The gift id is the participant id of the PK record (a signed BIGINT column).
        if gift_id.get() > i64::MAX as u64 {
            return Err(InvalidArgument::new(field("gift_id"), "must be at most 2^63-1"));
        }
        for (name, value) in
            [("gift_name", &gift_name), ("gift_logo", &gift_logo), ("gift_desc", &gift_desc)]
        {
            if value.len() > MAX_TEXT_LEN {
                return Err(InvalidArgument::new(
                    field(name),
                    format!("must be at most {MAX_TEXT_LEN} bytes"),
                ));
            }
        }
        Ok(PkGift { gift_id, gift_name, gift_logo, gift_desc })
    }
}

/// One gift PK of a show, as the show's history names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowPk {
    /// Where the PK lives.
    pub battle: BattleId,
    /// Its pkid (a gift PK keeps its pkid for life).
    pub pkid: PkId,
}

/// A show (the seed's `pkInfo` vector keyed by `showId`, §3.1): its gift PKs, oldest first, at
/// most `giftpk.history_size` of them (the oldest are dropped by the Create that goes past it).
/// The last one is the show's latest PK; it is running while its battle is not over. Only
/// Create writes the show: a PK's end changes only its battle, where the history reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Show {
    /// The show.
    pub show_id: ShowId,
    /// Its gift PKs, oldest first.
    pub pks: Vec<ShowPk>,
}

impl Show {
    /// A show that never had a gift PK.
    pub fn new(show_id: ShowId) -> Show {
        Show { show_id, pks: Vec::new() }
    }

    /// The latest PK (the running one, if one runs).
    pub fn latest(&self) -> Option<ShowPk> {
        self.pks.last().copied()
    }

    /// The PK `pkid` of this show, if it is still in the history.
    pub fn find(&self, pkid: PkId) -> Option<ShowPk> {
        self.pks.iter().rev().find(|pk| pk.pkid == pkid).copied()
    }
}

impl livepk_battle::Aggregate for Show {
    type Id = ShowId;
    fn id(&self) -> ShowId {
        self.show_id
    }
}

/// One gift PK: two gifts of a show compete for `duration_secs` (seed 001). Its [`Round`] is
/// scoring from Create until it is settled, then closed; there is no punishment. Gifts count when
/// sent before the deadline (the round's scoring window ends there); the settle comes
/// `settle_grace_ms` later, so that a gift sent in the last moment and recorded a little late
/// still counts (or at an early Close, or an operator's). The side totals (each gift's count), the values, the senders' boards and the senders'
/// profiles live beside it under its tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftBattle {
    /// Its id (names its storage).
    pub battle_id: BattleId,
    /// The show it runs in.
    pub show_id: ShowId,
    /// The anchor who created it: the only one who may Close it.
    pub singer_id: SingerId,
    /// The two gifts: the first side is `gifts[0]` of the Create request.
    pub gifts: Sides<PkGift>,
    /// The countdown the anchor asked for (seconds).
    pub duration_secs: u64,
    /// The pull interval clients were told at Create (`giftpk.pull_interval_ms` then).
    pub interval_ms: u64,
    /// How long after the deadline the PK is settled (`giftpk.settle_grace_ms` at Create, kept so
    /// that a change of the setting never moves a running PK's settle).
    #[serde(default)]
    pub settle_grace_ms: u64,
    /// Its phases: scoring, then closed.
    pub round: Round,
}

impl BattleState for GiftBattle {
    fn battle_id(&self) -> BattleId {
        self.battle_id
    }
    fn round(&self) -> &Round {
        &self.round
    }
    fn round_mut(&mut self) -> &mut Round {
        &mut self.round
    }
    /// A gift PK runs alongside any other PK of the room: it takes no stage (SPEC §5a).
    fn stage(&self) -> Vec<RoomSid> {
        Vec::new()
    }
}

impl GiftBattle {
    /// Its pkid.
    pub fn pkid(&self) -> PkId {
        self.round.pkid
    }

    /// Whether it is over (closed by the deadline, by its anchor or by an operator).
    pub fn is_finished(&self) -> bool {
        self.round.is_closed()
    }

    /// The side of `gift`, if it is one of the two gifts.
    pub fn side_of(&self, gift: GiftId) -> Option<Side> {
        self.gifts.find(|pk_gift| pk_gift.gift_id == gift)
    }

    /// The two gift ids.
    pub fn gift_ids(&self) -> Sides<GiftId> {
        self.gifts.clone().map(|gift| gift.gift_id)
    }

    /// When scoring started (Create).
    pub fn created_at_ms(&self) -> u64 {
        self.round.started_at_ms
    }

    /// When the countdown ends: Create + duration. Gifts sent from then on do not count.
    pub fn deadline_ms(&self) -> u64 {
        self.round.started_at_ms.saturating_add(self.round.pk_total_ms)
    }

    /// When the countdown's job settles the PK: the deadline + the settle grace. Until then a
    /// gift sent before the deadline still counts, however late it is recorded.
    pub fn settle_at_ms(&self) -> u64 {
        self.deadline_ms().saturating_add(self.settle_grace_ms)
    }

    /// The countdown's job: the scoring phase's deadline, due at [`GiftBattle::settle_at_ms`].
    pub fn settle_job(&self) -> PhaseDeadline {
        PhaseDeadline {
            battle: self.battle_id,
            pkid: self.pkid(),
            phase: TimedPhase::Scoring,
            due_ms: self.settle_at_ms(),
        }
    }

    /// When scoring ended, once over: the deadline, or the early close if that came first.
    pub fn ended_at_ms(&self) -> Option<u64> {
        match self.round.phase {
            Phase::Closed { at_ms, .. } => Some(at_ms.min(self.deadline_ms())),
            _ => None,
        }
    }

    /// Seconds left until the deadline, rounded up (the seed's `timeLeft`, §2.3.c): 0 once over
    /// or once the deadline passed (also during the settle grace).
    pub fn time_left_secs(&self, now_ms: u64) -> u64 {
        if self.is_finished() {
            return 0;
        }
        seconds_left(self.deadline_ms(), now_ms)
    }

    /// The PK's length in seconds (the seed's 对战总时长, §2.1.d): the countdown while it runs,
    /// how long it scored once over (shorter after an early Close).
    pub fn played_secs(&self) -> u64 {
        match self.ended_at_ms() {
            Some(ended) => ended.saturating_sub(self.created_at_ms()) / MS_PER_SECOND,
            None => self.duration_secs,
        }
    }

    /// The winning side once over (`None` while running and on a draw).
    pub fn winner(&self) -> Option<Side> {
        if self.is_finished() { self.round.winner() } else { None }
    }
}

/// Seconds from `now_ms` until `deadline_ms`, rounded up; 0 once it passed. What every
/// `time_left` of GiftPk says (pulls and pushes alike).
pub fn seconds_left(deadline_ms: u64, now_ms: u64) -> u64 {
    deadline_ms.saturating_sub(now_ms).div_ceil(MS_PER_SECOND)
}

/// One sender on a gift's board: their count of that gift (or of both gifts on the combined
/// board of a draw).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderRow {
    /// The viewer.
    pub user_id: UserId,
    /// How many of the gift they sent in this PK.
    pub total: u64,
}
