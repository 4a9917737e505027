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
//! Claims by seated user are never cached: a seat can change hands at any moment and nothing in
//! the window would tell.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use livepk_battle::{BattleId, Side};
use livepk_core::{Clock, Gift, GiftId, Mode, ReceiverId, RoomSid, UserId};
use livepk_store::ScoreApply;

use crate::config::SCORE_VALUE_PER_POINT;
use crate::engine::{STATE_TTL, WINDOW};
use crate::error::EngineResult;
use crate::events::NotifyKey;
use crate::ledger::{GiftConsumer, Lookup, ScoreChange, ScoreTarget};
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
    /// The show and the gift id (GiftPk: two gifts of one show; InteractiveShow: the show's
    /// gift). Gifts without a show id are not claimed.
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
    /// The key `gift` is claimed by; `None` when the gift carries no such key (no show).
    pub fn key(self, gift: &Gift) -> Option<RouteKey> {
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

    /// The battle that scores gifts of `key` now, if any (a read of the store; the router
    /// caches it).
    async fn locate(&self, key: RouteKey) -> EngineResult<Option<Located<Self::Found>>>;

    /// What `gift`, worth `points`, adds to the located battle; `None` when it does not count
    /// there (another gift id, a receiver on no side).
    fn credit(&self, gift: &Gift, located: &Located<Self::Found>, points: i64) -> Option<Credit>;

    /// See [`GiftConsumer::after_scored`].
    async fn after_scored(&self, _gift: &Gift, _change: &ScoreChange) -> EngineResult<()> {
        Ok(())
    }
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

#[async_trait]
impl<R: GiftRoute> GiftConsumer for Router<R> {
    fn mode(&self) -> Mode {
        R::MODE
    }

    async fn score_targets(&self, gift: &Gift, lookup: Lookup) -> EngineResult<Vec<ScoreTarget>> {
        let Some(key) = R::CLAIM.key(gift) else { return Ok(Vec::new()) };
        let now_ms = self.clock.now_ms();
        let cached = match lookup {
            Lookup::Cached if R::CLAIM.cacheable() => self.cached(key, gift.sent_at_ms, now_ms),
            _ => None,
        };
        let (located, from_cache) = match cached {
            Some(located) => (located, true),
            None => match self.locate(key, now_ms).await? {
                Some(located) => (located, false),
                None => return Ok(Vec::new()),
            },
        };
        let value_per_point = self.settings.get(&SCORE_VALUE_PER_POINT).await?.max(1) as u64;
        let points = gift.points(value_per_point);
        if points == 0 {
            return Ok(Vec::new());
        }
        let points = i64::try_from(points).unwrap_or(i64::MAX);
        let Some(credit) = self.route.credit(gift, &located, points) else {
            return Ok(Vec::new());
        };
        Ok(vec![ScoreTarget {
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
            },
            cached: from_cache,
        }])
    }

    async fn after_scored(&self, gift: &Gift, change: &ScoreChange) -> EngineResult<()> {
        self.route.after_scored(gift, change).await
    }
}
