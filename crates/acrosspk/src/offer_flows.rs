//! Flows before a battle (seed 002 逻辑处理): Create, CancelCreate, Challenge (发起), Reject, the
//! challenge's lapse, and Accept, which starts the PK in both rooms and withdraws both rooms'
//! other offers (the seed's `clearAcrossPK`).
//!
//! Every function takes the rooms it concerns as [`RoomView`]s (the room's aggregate and the
//! battle it points at, as read) and returns the rooms it changed in ascending room order, so two
//! commands about the same pair of rooms meet on the same first write.

use std::borrow::Cow;

use livepk_battle::{BattleId, Invitation, Round, ScoreAction, Side, Sides};
use livepk_core::{PkId, RoomSid, UserId};

use crate::config::AcrossPkConfig;
use crate::effects::{
    ChallengeKey, Effects, Notification, NotificationKind, OpenListChange, TimerRequest, Transition,
};
use crate::error::AcrossPkError;
use crate::model::{
    Battle, Challenge, CreatedPk, Offer, PkInfo, Room, RoomCard, Source, Terms, Withdrawal,
};

/// How long after an Accept wrote a room the room may still be read otherwise: the Accept may
/// lose its other room and be abandoned by the engine, and its re-run (or, refused, its
/// [`restore`]) then puts back what it took, normally within milliseconds. As long as the engine
/// lets a stage claim live (`livepk_engine::stage::CLAIM_TTL`), for the same reason: a command
/// stalled past it is given up on. A challenge's expiry job holds off this long before it trusts
/// that a half such an Accept took away is gone for good (see [`on_challenge_expired`]).
pub const SETTLE_MS: u64 = 5_000;

/// A room as a command sees it: its aggregate and the battle its pointer names, as read. A room
/// pointing at a battle the engine abandoned (an Accept that wrote this room and then lost the
/// other) is seen as it was before that Accept — the battle keeps what the Accept took
/// ([`Battle::withdrawn`]) — so nothing an abandoned Accept took vanishes, and writing the room
/// puts it back for good.
#[derive(Debug, Clone)]
pub struct RoomView<'a> {
    /// The room.
    pub room_id: RoomSid,
    /// The room as commands see it (`None` for a room never seen).
    room: Option<Cow<'a, Room>>,
    /// The battle its pointer names (not the abandoned one of a restored room: that room points
    /// at its battle from before, which is over).
    battle: Option<&'a Battle>,
}

impl<'a> RoomView<'a> {
    /// Room `room_id` from its aggregate `room` (`None` for a room never seen) and `battle`, the
    /// battle read for its pointer (`None` when it has none or it vanished). An aggregate or
    /// battle that is not this room's is ignored (an adapter mix-up must not let one room act on
    /// another's state).
    pub fn new(room_id: RoomSid, room: Option<&'a Room>, battle: Option<&'a Battle>) -> Self {
        let room = room.filter(|room| room.room_id == room_id);
        let pointed = room.and_then(|room| room.battle).and_then(|pointer| {
            battle.filter(|battle| battle.battle_id == pointer && battle.side_of(room_id).is_some())
        });
        match (room, pointed) {
            (Some(room), Some(battle)) if battle.is_abandoned() => {
                let mut restored = room.clone();
                if let Some(side) = battle.side_of(room_id) {
                    battle.withdrawn[side].restore(&mut restored);
                }
                Self { room_id, room: Some(Cow::Owned(restored)), battle: None }
            }
            (room, pointed) => Self { room_id, room: room.map(Cow::Borrowed), battle: pointed },
        }
    }

    /// A room with nothing read (a room never seen, or a caller that loads no battles).
    pub fn unseen(room_id: RoomSid) -> Self {
        Self { room_id, room: None, battle: None }
    }

    /// The room as commands see it.
    pub fn room(&self) -> Option<&Room> {
        self.room.as_deref()
    }

    /// Whether the room is seen as it was before an abandoned Accept (its aggregate as stored
    /// still lacks what that Accept took).
    pub fn is_restored(&self) -> bool {
        matches!(self.room, Some(Cow::Owned(_)))
    }

    /// The room's running PK (scoring or punishment), if any.
    pub fn live_battle(&self) -> Option<&'a Battle> {
        self.battle.filter(|battle| !battle.is_closed())
    }

    /// The aggregate to change: the room as seen, or a new one.
    fn editable(&self) -> Room {
        self.room().cloned().unwrap_or_else(|| Room::new(self.room_id))
    }

    /// Whether the room holds the received half of `invitation`.
    pub fn holds_received(&self, invitation: &Invitation<RoomSid>) -> bool {
        self.room().is_some_and(|room| room.received_as(invitation).is_some())
    }

    /// Refuses with 025 while the room is in a cross-room PK.
    fn check_free(&self) -> Result<(), AcrossPkError> {
        match self.live_battle() {
            Some(battle) => {
                Err(AcrossPkError::RoomInPk { room: self.room_id, pkid: battle.pkid() })
            }
            None => Ok(()),
        }
    }
}

/// The challenge from `from` to `to` pending at `now_ms`: both halves agree (the invitation in
/// `from`'s sent challenges, the same in `to`'s received ones) and it has not lapsed. The newest
/// one if several (a challenge sent again after a lapse whose job has not run yet).
pub fn pending_challenge<'a>(
    from: Option<&Room>,
    to: Option<&'a Room>,
    now_ms: u64,
) -> Option<&'a Challenge> {
    let (from, to) = (from?, to?);
    to.received
        .iter()
        .filter(|challenge| {
            challenge.invitation.from == from.room_id
                && challenge.invitation.to == to.room_id
                && challenge.invitation.is_live(now_ms)
                && from.sent.iter().any(|sent| sent.invitation == challenge.invitation)
        })
        .max_by_key(|challenge| challenge.invitation.sent_at_ms)
}

fn check_countdown(terms: &Terms, config: &AcrossPkConfig) -> Result<(), AcrossPkError> {
    if terms.countdown_secs > config.max_countdown_seconds {
        return Err(AcrossPkError::CountdownTooLong {
            countdown_secs: terms.countdown_secs,
            max_secs: config.max_countdown_seconds,
        });
    }
    Ok(())
}

/// Puts `rooms` into `transition`, in ascending room order (see the module documentation), and
/// lists again the created PK of each that holds one (unless the transition changes its entry
/// already): writing a room renews its life in the store, and this renews the open list's with
/// it, so the list lives as long as the rooms it lists.
fn write_rooms<R>(transition: &mut Transition<R>, mut rooms: Vec<Room>) {
    rooms.sort_by_key(|room| room.room_id);
    for room in &rooms {
        let Some(created) = &room.created else { continue };
        let listed = transition.effects.changes.iter().any(|change| match change {
            OpenListChange::Add { room: listed, .. } | OpenListChange::Remove { room: listed } => {
                *listed == room.room_id
            }
        });
        if !listed {
            transition.effects.changes.push(OpenListChange::Add {
                room: room.room_id,
                created_at_ms: created.created_at_ms,
            });
        }
    }
    transition.aggregates = rooms;
}

// ---------------------------------------------------------------------------------------------
// Create / CancelCreate

/// Create: a room opens one PK anyone may accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    /// The creating room.
    pub card: RoomCard,
    /// Its terms.
    pub terms: Terms,
    /// Who acts for the room.
    pub operator_id: UserId,
}

/// Seed "一个房间只能创建一次pk": the room's one open PK, listed (newest first) for the other
/// rooms. Refused while the room is in a cross-room PK (025), when it already has one (101), or
/// when the countdown is above `acrosspk.max_countdown_seconds` (021).
pub fn create(
    room: &RoomView<'_>,
    request: CreateRequest,
    config: &AcrossPkConfig,
    now_ms: u64,
) -> Result<Transition<Offer>, AcrossPkError> {
    check_countdown(&request.terms, config)?;
    room.check_free()?;
    let mut changed = room.editable();
    if changed.created.is_some() {
        return Err(AcrossPkError::AlreadyCreated { room: room.room_id });
    }
    let created = CreatedPk {
        card: request.card,
        terms: request.terms,
        created_at_ms: now_ms,
        operator_id: request.operator_id,
    };
    let offer = Offer::from(&created);
    changed.created = Some(created);
    let mut transition = Transition::unchanged(offer);
    write_rooms(&mut transition, vec![changed]);
    Ok(transition)
}

/// CancelCreate: the room withdraws its created PK (026 when it has none).
pub fn cancel_create(room: &RoomView<'_>) -> Result<Transition<Offer>, AcrossPkError> {
    let mut changed = room.editable();
    let created =
        changed.created.take().ok_or(AcrossPkError::NothingCreated { room: room.room_id })?;
    let mut transition = Transition::unchanged(Offer::from(&created));
    transition.effects.changes.push(OpenListChange::Remove { room: room.room_id });
    write_rooms(&mut transition, vec![changed]);
    Ok(transition)
}

// ---------------------------------------------------------------------------------------------
// Challenge / Reject / lapse

/// Challenge (发起): one room challenges another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRequest {
    /// The challenging room.
    pub card: RoomCard,
    /// `pk_room_id`: the challenged room.
    pub pk_room_id: RoomSid,
    /// The terms.
    pub terms: Terms,
    /// Who acts for the challenging room.
    pub operator_id: UserId,
}

/// The rooms `from` has challenges pending to, as far as its own half says (live, sent), but for
/// `to`: those a Challenge of `to` must read to count `from`'s pending challenges.
pub fn challenged_rooms(from: Option<&Room>, to: RoomSid, now_ms: u64) -> Vec<RoomSid> {
    let mut rooms: Vec<RoomSid> = from
        .map(|room| {
            room.sent
                .iter()
                .filter(|sent| sent.invitation.is_live(now_ms) && sent.invitation.to != to)
                .map(|sent| sent.invitation.to)
                .collect()
        })
        .unwrap_or_default();
    rooms.sort();
    rooms.dedup();
    rooms
}

/// Seed "一个房间可以发起多个pk：A对B发起pk后，B不可以对A发起pk": `from` challenges `to`; the
/// challenge lapses `acrosspk.challenge_seconds` after it was sent whether or not `to` answers.
/// Refused: the same room (021), a countdown above the maximum (021), either room in a cross-room
/// PK (025), the same challenge already pending (104), the reverse one pending (102), `from`
/// at `acrosspk.max_challenges` pending challenges (105). The challenged room is told.
///
/// `challenged` are the rooms of [`challenged_rooms`]: a challenge counts towards the maximum
/// while the room on its other end still holds it (one withdrawn there — that room entered a PK,
/// or rejected it — does not count); a room missing from `challenged` counts as holding it.
pub fn challenge(
    from: &RoomView<'_>,
    to: &RoomView<'_>,
    challenged: &[RoomView<'_>],
    request: ChallengeRequest,
    config: &AcrossPkConfig,
    now_ms: u64,
) -> Result<Transition<Offer>, AcrossPkError> {
    if from.room_id == to.room_id {
        return Err(AcrossPkError::SameRoom { room: from.room_id });
    }
    check_countdown(&request.terms, config)?;
    from.check_free()?;
    to.check_free()?;
    if pending_challenge(from.room(), to.room(), now_ms).is_some() {
        return Err(AcrossPkError::ChallengePending { from: from.room_id, to: to.room_id });
    }
    if pending_challenge(to.room(), from.room(), now_ms).is_some() {
        return Err(AcrossPkError::ReverseChallengePending { from: from.room_id, to: to.room_id });
    }
    let (mut challenger, mut challenged_room) = (from.editable(), to.editable());
    let pending = challenger
        .sent
        .iter()
        .filter(|sent| sent.invitation.is_live(now_ms) && sent.invitation.to != to.room_id)
        .filter(|sent| match challenged.iter().find(|view| view.room_id == sent.invitation.to) {
            Some(view) => view.holds_received(&sent.invitation),
            None => true,
        })
        .count();
    if pending as u64 >= config.max_challenges {
        return Err(AcrossPkError::TooManyChallenges {
            room: from.room_id,
            max: config.max_challenges,
        });
    }
    let invitation = Invitation::new(from.room_id, to.room_id, now_ms, config.challenge_ms());
    let challenge = Challenge {
        invitation,
        card: request.card,
        terms: request.terms,
        operator_id: request.operator_id,
    };
    // A half left alive by an earlier challenge of the pair (the other half withdrawn) is
    // replaced; lapsed ones stay for their expiry job, which tells both rooms.
    let live_other = |entry: &Challenge| {
        entry.invitation.from == from.room_id
            && entry.invitation.to == to.room_id
            && entry.invitation.is_live(now_ms)
    };
    challenger.sent.retain(|entry| !live_other(entry));
    challenged_room.received.retain(|entry| !live_other(entry));
    challenger.sent.push(challenge.clone());
    challenged_room.received.push(challenge.clone());

    let offer = Offer::from(&challenge);
    let mut transition = Transition::unchanged(offer.clone());
    transition.effects.timers.push(TimerRequest::InvitationExpiry {
        invitation: ChallengeKey { from: from.room_id, to: to.room_id },
        due_ms: invitation.expires_at_ms,
    });
    transition
        .effects
        .notifications
        .push(Notification::to_room(to.room_id, NotificationKind::Challenged { challenge: offer }));
    write_rooms(&mut transition, vec![challenger, challenged_room]);
    Ok(transition)
}

/// Reject: the challenged room refuses a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejectRequest {
    /// The challenged room.
    pub room_id: RoomSid,
    /// `pk_room_id`: the challenging room.
    pub pk_room_id: RoomSid,
    /// Who acts for the challenged room.
    pub operator_id: UserId,
}

/// Seed "如果拒绝直接过期": the challenged room ends the pending challenge at once and the
/// challenging room is told. Only the challenged room may reject (103 for the challenger); a
/// challenge no longer pending is 026.
pub fn reject(
    room: &RoomView<'_>,
    challenger: &RoomView<'_>,
    request: RejectRequest,
    now_ms: u64,
) -> Result<Transition<Offer>, AcrossPkError> {
    if room.room_id == challenger.room_id {
        return Err(AcrossPkError::SameRoom { room: room.room_id });
    }
    let Some(pending) = pending_challenge(challenger.room(), room.room(), now_ms) else {
        if pending_challenge(room.room(), challenger.room(), now_ms).is_some() {
            return Err(AcrossPkError::NotAParty { room: room.room_id, what: "challenge" });
        }
        return Err(AcrossPkError::OfferGone {
            what: "challenge",
            from: challenger.room_id,
            to: room.room_id,
        });
    };
    let invitation = pending.invitation;
    let offer = Offer::from(pending);
    let (mut rejecting, mut challenging) = (room.editable(), challenger.editable());
    rejecting.received.retain(|entry| entry.invitation != invitation);
    challenging.sent.retain(|entry| entry.invitation != invitation);
    let mut transition = Transition::unchanged(offer.clone());
    transition.effects.notifications.push(Notification::to_room(
        challenger.room_id,
        NotificationKind::Rejected { challenge: offer, operator_id: request.operator_id },
    ));
    write_rooms(&mut transition, vec![rejecting, challenging]);
    Ok(transition)
}

/// The expiry job of the challenges `key.from` sent `key.to` (the rooms as stored): every
/// challenge of the pair that has lapsed by `now_ms` is removed from both rooms, and each one
/// that was still pending until then (both halves there) is announced to both rooms. A challenge
/// answered, withdrawn or sent again since leaves nothing to do.
///
/// A lapsed challenge with one half gone, taken by an Accept of that half's room less than
/// [`SETTLE_MS`] ago, is left alone and the job asked for again once that time is up: the Accept
/// may still be abandoned and its room restored with the half (then both halves are there and
/// the lapse is announced), or it stands (the other room was told with the PK's start, and the
/// job removes the remaining half silently).
pub fn on_challenge_expired(
    from: Option<&Room>,
    to: Option<&Room>,
    key: ChallengeKey,
    now_ms: u64,
) -> Transition<()> {
    let from = from.filter(|room| room.room_id == key.from);
    let to = to.filter(|room| room.room_id == key.to);
    let lapsed = |entry: &Challenge| {
        entry.invitation.from == key.from
            && entry.invitation.to == key.to
            && !entry.invitation.is_live(now_ms)
    };
    let lapsed_in = |list: &[Challenge]| -> Vec<Challenge> {
        list.iter().filter(|entry| lapsed(entry)).cloned().collect()
    };
    let sent = from.map(|room| lapsed_in(&room.sent)).unwrap_or_default();
    let received = to.map(|room| lapsed_in(&room.received)).unwrap_or_default();
    let has = |list: &[Challenge], entry: &Challenge| {
        list.iter().any(|held| held.invitation == entry.invitation)
    };
    // A half whose other half a recent Accept may yet put back: when to look again.
    let settles_at = |other_room: Option<&Room>, entry: &Challenge| {
        let entered_at_ms = other_room.map_or(0, |room| room.entered_at_ms);
        let settled_at_ms = entered_at_ms.saturating_add(SETTLE_MS);
        (entered_at_ms >= entry.invitation.sent_at_ms && now_ms < settled_at_ms)
            .then_some(settled_at_ms)
    };
    let mut unsettled: Vec<(Challenge, u64)> = Vec::new();
    for entry in &sent {
        if !has(&received, entry)
            && let Some(at_ms) = settles_at(to, entry)
        {
            unsettled.push((entry.clone(), at_ms));
        }
    }
    for entry in &received {
        if !has(&sent, entry)
            && let Some(at_ms) = settles_at(from, entry)
        {
            unsettled.push((entry.clone(), at_ms));
        }
    }
    let removed = |entry: &Challenge| {
        lapsed(entry) && !unsettled.iter().any(|(held, _)| held.invitation == entry.invitation)
    };

    let mut transition = Transition::unchanged(());
    for challenge in received.iter().filter(|entry| has(&sent, entry)) {
        let offer = Offer::from(challenge);
        for room in [key.to, key.from] {
            transition.effects.notifications.push(Notification::to_room(
                room,
                NotificationKind::Lapsed { challenge: offer.clone() },
            ));
        }
    }
    if let Some(at_ms) = unsettled.iter().map(|(_, at_ms)| *at_ms).max() {
        transition
            .effects
            .timers
            .push(TimerRequest::InvitationExpiry { invitation: key, due_ms: at_ms });
    }
    let mut changed = Vec::new();
    if let Some(room) = from.filter(|room| room.sent.iter().any(removed)) {
        let mut room = room.clone();
        room.sent.retain(|entry| !removed(entry));
        changed.push(room);
    }
    if let Some(room) = to.filter(|room| room.received.iter().any(removed)) {
        let mut room = room.clone();
        room.received.retain(|entry| !removed(entry));
        changed.push(room);
    }
    write_rooms(&mut transition, changed);
    transition
}

// ---------------------------------------------------------------------------------------------
// Accept

/// Which offer an Accept takes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptSource {
    /// The other room's created PK.
    Created,
    /// The other room's challenge to this room.
    Challenge,
}

/// Accept: a room takes up another room's created PK or its challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptRequest {
    /// The accepting room (blue).
    pub card: RoomCard,
    /// `pk_room_id`: the creating or challenging room (red).
    pub pk_room_id: RoomSid,
    /// Which of its offers.
    pub source: AcceptSource,
    /// Who acts for the accepting room.
    pub operator_id: UserId,
}

/// The ids a new battle needs, allocated by the adapter (fresh for every attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewBattle {
    /// The battle's id.
    pub battle_id: BattleId,
    /// Its pkid.
    pub pkid: PkId,
}

/// The offer an Accept takes up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedOffer {
    /// The offering room.
    pub card: RoomCard,
    /// The terms.
    pub terms: Terms,
    /// Which offer.
    pub source: Source,
    /// Who made it for the offering room (the red room's operator in the PK).
    pub operator_id: UserId,
}

/// The offer `request` would take up, or why there is none: the created PK of the red room, or
/// its challenge to the blue room pending at `now_ms` (the rooms as [`RoomView`]s see them, so an
/// Accept whose earlier attempt was abandoned finds its offer again).
pub fn offer_to_accept(
    red: &RoomView<'_>,
    blue: &RoomView<'_>,
    source: AcceptSource,
    now_ms: u64,
) -> Result<AcceptedOffer, AcrossPkError> {
    match source {
        AcceptSource::Created => {
            let created = red.room().and_then(|room| room.created.as_ref()).ok_or(
                AcrossPkError::OfferGone {
                    what: "created pk",
                    from: red.room_id,
                    to: blue.room_id,
                },
            )?;
            Ok(AcceptedOffer {
                card: created.card.clone(),
                terms: created.terms.clone(),
                source: Source::Created { created_at_ms: created.created_at_ms },
                operator_id: created.operator_id,
            })
        }
        AcceptSource::Challenge => {
            if let Some(challenge) = pending_challenge(red.room(), blue.room(), now_ms) {
                return Ok(AcceptedOffer {
                    card: challenge.card.clone(),
                    terms: challenge.terms.clone(),
                    source: Source::Challenge(challenge.invitation),
                    operator_id: challenge.operator_id,
                });
            }
            // The accepting room is the one that challenged: only the challenged room accepts.
            if pending_challenge(blue.room(), red.room(), now_ms).is_some() {
                return Err(AcrossPkError::NotAParty { room: blue.room_id, what: "challenge" });
            }
            Err(AcrossPkError::OfferGone { what: "challenge", from: red.room_id, to: blue.room_id })
        }
    }
}

/// Seed "一个房间接受pk…通知另一个房间pk开始": `blue` takes up `red`'s created PK or its pending
/// challenge, and the PK starts in both rooms at once, the offering room red. Scoring runs for
/// the offer's countdown; both rooms' other offers are withdrawn (their created PKs leave the
/// list, their pending challenges both ways end, and each room on the other end is told — lapsed
/// challenges are left to their expiry jobs). What each room gave up is kept in the battle
/// ([`Battle::withdrawn`]): if the engine abandons it, the rooms read as before. Refused: the
/// same room (021), either room in a cross-room PK (025; a room held by another mode is the
/// engine's 025), the offer gone (026), the challenging room trying to accept its own challenge
/// (103). `new_battle` holds the ids of the battle to create (the adapter allocates them when
/// [`offer_to_accept`] finds an offer; missing is the internal 014).
pub fn accept(
    blue: &RoomView<'_>,
    red: &RoomView<'_>,
    request: AcceptRequest,
    new_battle: Option<NewBattle>,
    now_ms: u64,
) -> Result<Transition<PkInfo>, AcrossPkError> {
    if blue.room_id == red.room_id {
        return Err(AcrossPkError::SameRoom { room: blue.room_id });
    }
    blue.check_free()?;
    red.check_free()?;
    let offer = offer_to_accept(red, blue, request.source, now_ms)?;
    let NewBattle { battle_id, pkid } = new_battle.ok_or(AcrossPkError::BattleIdsMissing)?;
    let timed = Round::new(pkid)
        .start(battle_id, None, offer.terms.countdown_ms(), now_ms)
        // A new round is neither closed nor timed and keeps its own pkid: start cannot refuse.
        .expect("a new round always starts");
    let room_ids = Sides::new(red.room_id, blue.room_id);
    let mut changed = Vec::new();
    let mut withdrawn = Sides::<Withdrawal>::default();
    for (side, view) in [(Side::First, red), (Side::Second, blue)] {
        let mut room = view.editable();
        withdrawn[side] = withdraw_offers(&mut room, now_ms);
        room.battle = Some(battle_id);
        room.entered_at_ms = now_ms;
        changed.push(room);
    }
    let battle = Battle {
        battle_id,
        rooms: Sides::new(offer.card, request.card),
        terms: offer.terms,
        source: offer.source,
        operators: Sides::new(offer.operator_id, request.operator_id),
        withdrawn,
        finished_by: None,
        round: timed.round,
    };
    let pk = battle.pk_info(livepk_battle::Scores::default());
    let mut effects = Effects { scores: ScoreAction::Reset, ..Effects::default() };
    effects.deadline(timed.deadline);
    effects
        .notifications
        .extend(Notification::to_both_rooms(&battle, NotificationKind::Started { pk: pk.clone() }));
    effects.notifications.extend(withdrawal_notices(&battle, room_ids));
    for room in room_ids.both() {
        effects.changes.push(OpenListChange::Remove { room: *room });
    }
    let mut transition =
        Transition { aggregates: Vec::new(), battle: Some(battle), effects, reply: pk };
    write_rooms(&mut transition, changed);
    Ok(transition)
}

/// The seed's `clearAcrossPK` for one room entering a PK: its created PK and its pending
/// challenges both ways are taken from it, and returned with its battle pointer from before.
/// Lapsed challenges stay for their expiry jobs.
fn withdraw_offers(room: &mut Room, now_ms: u64) -> Withdrawal {
    let live = |challenge: &Challenge| challenge.invitation.is_live(now_ms);
    let withdrawal = Withdrawal {
        created: room.created.take(),
        sent: room.sent.iter().filter(|challenge| live(challenge)).cloned().collect(),
        received: room.received.iter().filter(|challenge| live(challenge)).cloned().collect(),
        previous: room.battle,
    };
    room.sent.retain(|challenge| !live(challenge));
    room.received.retain(|challenge| !live(challenge));
    withdrawal
}

/// Who is told that `battle` withdrew their challenge: the room on the other end of each
/// challenge a room of the battle gave up, apart from the accepted one and those between the
/// battle's two rooms (both are told the PK started).
fn withdrawal_notices(battle: &Battle, rooms: Sides<RoomSid>) -> Vec<Notification> {
    let accepted = match battle.source {
        Source::Challenge(invitation) => Some(invitation),
        Source::Created { .. } => None,
    };
    let in_battle = |room: RoomSid| battle.side_of(room).is_some();
    let mut notices = Vec::new();
    for side in Side::BOTH {
        let busy_room = rooms[side];
        let withdrawal = &battle.withdrawn[side];
        let others =
            withdrawal.sent.iter().map(|challenge| (challenge, challenge.invitation.to)).chain(
                withdrawal.received.iter().map(|challenge| (challenge, challenge.invitation.from)),
            );
        for (challenge, other) in others {
            if Some(challenge.invitation) != accepted && !in_battle(other) {
                notices.push(Notification::to_room(
                    other,
                    NotificationKind::Withdrawn {
                        challenge: Offer::from(challenge),
                        busy_room,
                        pkid: battle.pkid(),
                    },
                ));
            }
        }
    }
    notices
}

/// Writes back, for good, the rooms seen as they were before an abandoned Accept (see
/// [`RoomView`]): what a refused Accept does after its abandoned attempt, so that the rooms as
/// stored — what a challenge's expiry job reads — are right again. Nothing is told: as far as
/// anyone knows, nothing happened. Nothing to do for rooms that are not restored.
pub fn restore(rooms: &[RoomView<'_>]) -> Transition<()> {
    let mut transition = Transition::unchanged(());
    let restored = rooms.iter().filter(|view| view.is_restored()).map(|view| view.editable());
    write_rooms(&mut transition, restored.collect());
    transition
}
