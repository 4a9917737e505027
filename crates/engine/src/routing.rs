//! Which battles a gift scores in, for every way a mode claims gifts, with the cached-target rule
//! of the ledger.
//!
//! A mode says how it claims gifts ([`Claim`]: by receiver, by room, by seated user, by show and
//! gift id), how to find the battle scoring for one claim key now ([`GiftRoute::locate`], a read
//! of the store) and what a gift adds there ([`GiftRoute::credit`]). The [`Router`] does the rest:
//! it reads the hot points ratio, keeps the located battles in a short-lived cache and builds the
//! ledger's [`ScoreTarget`]s.
//!
//! Why a cached battle cannot miscount: the gift script checks the battle's scoring window
//! against the gift's own send time, and every move that takes a claim key out of a battle
//! closes (or moves) that battle's window in the battle's own commit. A stale entry therefore
//! only ever answers "outside", and the ledger then asks again uncached ([`Lookup::Fresh`]).
//! What the mode found beside the battle may be stale too (GiftPk's two gift ids, when a PK
//! closed early is followed at once by one over other gifts), so a cached battle whose credit
//! says "not here" is read again before the gift is judged to count nowhere.
//! Claims by seated user are never cached: a seat can change hands at any moment and nothing in
//! the window would tell. For the same reason such a mode may guard its credit
//! ([`GiftRoute::guard`]): the gift then counts only if what decided its credit (the seats) is
//! still as `locate` read it when the gift's script runs, and is located again otherwise.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use livepk_battle::{BattleId, Side};
use livepk_core::{Clock, Gift, GiftId, Mode, ReceiverId, RoomSid, UserId};
use livepk_store::{Condition, ScoreApply};

use crate::config::SCORE_VALUE_PER_POINT;
use crate::engine::{STATE_TTL, WINDOW};
use crate::error::EngineResult;
use crate::events::NotifyKey;
use crate::ledger::{GiftConsumer, GuardedTarget, Lookup, ScoreChange, ScoreTarget};
use crate::settings::Settings;

/// How long a located battle is used. Correctness does not depend on it (the gift script checks
/// the window); it bounds how long a stale entry costs an extra round trip.
pub const ROUTE_CACHE_MS: u64 = 2_000;
/// Most claim keys cached per mode and replica; beyond it the cache is emptied and refilled.
const ROUTE_CACHE_MAX: usize = 100_000;

/// Which part of a gift names the battle a mode counts it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The receiver (LinkCallPk: the anchor who received it).
    Receiver,
    /// The room it was sent in (AcrossPk: each room is one side).
    Room,
    /// The room and the seated user who received it (RoomPk: the receiver's seat decides the
    /// team). Never cached.
    SeatedUser,
    /// The show and the gift id (GiftPk: two gifts of one show). Gifts without a show id are
    /// not claimed.
    ShowGift,
}

/// The claim key of one gift, by [`Claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKey {
    /// [`Claim::Receiver`]: who received it.
    Receiver(ReceiverId),
    /// [`Claim::Room`]: the room it was sent in.
    Room(RoomSid),
    /// [`Claim::SeatedUser`]: the room and the user on a seat who received it.
    SeatedUser {
        /// The room.
        room: RoomSid,
        /// The receiver.
        user: UserId,
    },
    /// [`Claim::ShowGift`]: the show and the gift.
    ShowGift {
        /// The show.
        show: u64,
        /// The gift.
        gift: GiftId,
    },
}

impl Claim {
    /// The key `gift` is claimed by; `None` when the gift carries no such key (no show), and
    /// for every claim when it was sent in a paid 1:1 call ([`Gift::in_call`]): a call is no
    /// room's stage, and its show id is an InteractiveShow's, not a live show's.
    pub fn key(self, gift: &Gift) -> Option<RouteKey> {
        if gift.in_call() {
            return None;
        }
        Some(match self {
            Claim::Receiver => RouteKey::Receiver(gift.receiver_id),
            Claim::Room => RouteKey::Room(gift.room_sid),
            Claim::SeatedUser => {
                RouteKey::SeatedUser { room: gift.room_sid, user: gift.receiver_id.as_user() }
            }
            Claim::ShowGift => RouteKey::ShowGift {
                show: gift.show_id.filter(|show| *show != 0)?,
                gift: gift.gift_id,
            },
        })
    }

    fn cacheable(self) -> bool {
        !matches!(self, Claim::SeatedUser)
    }
}

/// The battle scoring for one claim key, as [`GiftRoute::locate`] read it.
#[derive(Debug, Clone)]
pub struct Located<T> {
    /// The battle.
    pub battle: BattleId,
    /// Its tag (where its window and score keys live).
    pub tag: String,
    /// The end of its scoring window when read: later gifts need a fresh read (add time moves
    /// it).
    pub until_ms: u64,
    /// What else the mode read (the side of an anchor, the two gift ids, ...).
    pub found: T,
}

/// What one gift adds to the located battle.
#[derive(Debug, Clone, PartialEq)]
pub struct Credit {
    /// The side credited.
    pub side: Side,
    /// Its name in the mode's words ("host", "red", the gift id, ...), for the gift's answer.
    pub side_word: String,
    /// Who is credited (echoes the receiver, or the side's id).
    pub receiver_id: u64,
    /// Hash counters to increment: (hash name, field, delta). The first is the side's total.
    pub counters: Vec<(String, String, i64)>,
    /// Boards to add to: (board name, member, delta). The first is the sender's total on the
    /// side's sender board.
    pub boards: Vec<(String, u64, i64)>,
    /// Hash fields written when the gift counts: (hash, field, value).
    pub fields: Vec<(String, String, String)>,
}

/// How a mode claims gifts.
#[async_trait]
pub trait GiftRoute: Send + Sync + 'static {
    /// What [`GiftRoute::locate`] reads besides the battle.
    type Found: Clone + Send + Sync;
    /// The mode.
    const MODE: Mode;
    /// How it claims gifts.
    const CLAIM: Claim;

    /// Whether a gift worth no points (free, or cheaper than `score.value_per_point`) can
    /// count: no by default, the router drops it before locating anything; GiftPk, which counts
    /// gifts rather than points, says yes.
    const COUNTS_ZERO_POINTS: bool = false;

    /// The battle that scores gifts of `key` now, if any (a read of the store; the router
    /// caches it).
    async fn locate(&self, key: RouteKey) -> EngineResult<Option<Located<Self::Found>>>;

    /// What `gift`, worth `points`, adds to the located battle; `None` when it does not count
    /// there (another gift id, a receiver on no side). It may depend on what `locate` found
    /// beside the battle: a `None` from a cached battle is checked again on a fresh read.
    fn credit(&self, gift: &Gift, located: &Located<Self::Found>, points: i64) -> Option<Credit>;

    /// The condition under which the credit of the located battle holds: an aggregate of the
    /// battle's tag at the version `locate` read it at (RoomPk: the room's seats decide the
    /// team). The gift's script counts it only while that holds, atomically with the count;
    /// otherwise the ledger locates it again. `None` (the default): the credit holds whatever
    /// changed since, the window alone decides. The aggregate must never be deleted while its
    /// battle's tag lives: its version only grows, so a version names one state (a recreated
    /// aggregate would start again at 1 and a stale credit could pass).
    fn guard(&self, _located: &Located<Self::Found>) -> Option<Condition> {
        None
    }

    /// See [`GiftConsumer::after_scored`]; a route that overrides it sets
    /// [`GiftRoute::HAS_AFTER_SCORED`].
    async fn after_scored(&self, _gift: &Gift, _change: &ScoreChange) -> EngineResult<()> {
        Ok(())
    }

    /// Whether [`GiftRoute::after_scored`] does anything (see [`GiftConsumer::has_after_scored`]:
    /// a gift of a route without the hook skips it). No default, so that every route says.
    const HAS_AFTER_SCORED: bool;
}

/// A located battle as cached.
struct Entry<T> {
    located: Located<T>,
    read_at_ms: u64,
}

/// The ledger's consumer for one [`GiftRoute`].
pub struct Router<R: GiftRoute> {
    route: Arc<R>,
    settings: Arc<Settings>,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<RouteKey, Entry<R::Found>>>,
}

impl<R: GiftRoute> Router<R> {
    /// A router for `route`, reading the points ratio from `settings`.
    pub fn new(route: Arc<R>, settings: Arc<Settings>, clock: Arc<dyn Clock>) -> Self {
        Self { route, settings, clock, cache: Mutex::new(HashMap::new()) }
    }

    fn cached(&self, key: RouteKey, sent_at_ms: u64, now_ms: u64) -> Option<Located<R::Found>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(&key)
            .filter(|entry| {
                sent_at_ms < entry.located.until_ms
                    && now_ms >= entry.read_at_ms
                    && now_ms - entry.read_at_ms < ROUTE_CACHE_MS
            })
            .map(|entry| entry.located.clone())
    }

    async fn locate(&self, key: RouteKey, now_ms: u64) -> EngineResult<Option<Located<R::Found>>> {
        let located = self.route.locate(key).await?;
        if R::CLAIM.cacheable() {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            match &located {
                Some(located) => {
                    if cache.len() >= ROUTE_CACHE_MAX && !cache.contains_key(&key) {
                        cache.clear();
                    }
                    cache.insert(key, Entry { located: located.clone(), read_at_ms: now_ms });
                }
                None => {
                    cache.remove(&key);
                }
            }
        }
        Ok(located)
    }
}

impl<R: GiftRoute> Router<R> {
    /// Locates `key` afresh and asks what `gift` adds there.
    async fn credit_fresh(
        &self,
        gift: &Gift,
        key: RouteKey,
        points: i64,
        now_ms: u64,
    ) -> EngineResult<Option<(Located<R::Found>, Credit, bool)>> {
        let Some(located) = self.locate(key, now_ms).await? else { return Ok(None) };
        Ok(self.route.credit(gift, &located, points).map(|credit| (located, credit, false)))
    }
}

#[async_trait]
impl<R: GiftRoute> GiftConsumer for Router<R> {
    fn mode(&self) -> Mode {
        R::MODE
    }

    /// The targets without their guards (the ledger asks [`GiftConsumer::guarded_targets`]).
    async fn score_targets(&self, gift: &Gift, lookup: Lookup) -> EngineResult<Vec<ScoreTarget>> {
        let targets = self.guarded_targets(gift, lookup).await?;
        Ok(targets.into_iter().map(|guarded| guarded.target).collect())
    }

    async fn guarded_targets(
        &self,
        gift: &Gift,
        lookup: Lookup,
    ) -> EngineResult<Vec<GuardedTarget>> {
        let Some(key) = R::CLAIM.key(gift) else { return Ok(Vec::new()) };
        let value_per_point = self.settings.get(&SCORE_VALUE_PER_POINT).await?.max(1) as u64;
        let points = gift.points(value_per_point);
        if points == 0 && !R::COUNTS_ZERO_POINTS {
            return Ok(Vec::new());
        }
        let points = i64::try_from(points).unwrap_or(i64::MAX);
        let now_ms = self.clock.now_ms();
        let cached = match lookup {
            Lookup::Cached if R::CLAIM.cacheable() => self.cached(key, gift.sent_at_ms, now_ms),
            _ => None,
        };
        let credited = match cached {
            Some(located) => match self.route.credit(gift, &located, points) {
                Some(credit) => Some((located, credit, true)),
                // The cached read may be stale in what decides the credit (a gift PK closed
                // early and followed by one over other gifts): its window would not tell, so
                // read again before saying the gift counts nowhere.
                None => self.credit_fresh(gift, key, points, now_ms).await?,
            },
            None => self.credit_fresh(gift, key, points, now_ms).await?,
        };
        let Some((located, credit, from_cache)) = credited else { return Ok(Vec::new()) };
        let guard = self.route.guard(&located);
        let target = ScoreTarget {
            mode: R::MODE,
            receiver_id: credit.receiver_id,
            side: credit.side_word,
            notify: NotifyKey { mode: R::MODE, battle: located.battle, side: credit.side },
            apply: ScoreApply {
                tag: located.tag,
                txn_id: gift.gift_txn_id.clone(),
                window: WINDOW.into(),
                sent_at_ms: gift.sent_at_ms,
                counters: credit.counters,
                boards: credit.boards,
                fields: credit.fields,
                ttl: STATE_TTL,
                fingerprint: gift.fingerprint(),
            },
            cached: from_cache,
        };
        Ok(vec![GuardedTarget { target, guard }])
    }

    async fn after_scored(&self, gift: &Gift, change: &ScoreChange) -> EngineResult<()> {
        self.route.after_scored(gift, change).await
    }

    fn has_after_scored(&self) -> bool {
        R::HAS_AFTER_SCORED
    }
}
