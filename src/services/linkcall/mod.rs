//! The LinkCallPk adapter: loads the aggregates a command needs, runs the pure state machine of
//! `livepk-linkcall`, and commits its transition atomically with its effects (lists, score
//! keys, scoring window, notifications through the outbox), scheduling its deadlines in the
//! delay queue. The gRPC surface is in [`grpc`]; proto conversions in [`convert`].
//!
//! Layout in the store (all through `livepk-store`, which alone knows Redis):
//! * tag `lc` — every anchor's aggregate (`anchor:<id>`), the online list (`online`), the
//!   application lists (`applicants:<host>` = who applied to host, seed §B.5; `applied:<guest>`
//!   = whom guest applied to, §B.4), anchor profiles (`profile:<id>`, §B.1, 3 days) and the
//!   pkid / battle counters. One tag, so one transaction can compare-and-set two anchors.
//! * tag `lc:<battle>` — one link session: the `battle` aggregate, its scoring `window`, side
//!   totals (`score`, field = the anchor id), each anchor's top-gifter board
//!   (`board:<anchor id>`) and the gifters' profiles (`users`, §B.2). A gift touches only this
//!   tag, in one script.

pub mod convert;
pub mod grpc;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use livepk_core::{
    BusinessError, ErrorKind, Gift, InvalidArgument, Mode, PkId, RoomSid, SingerId, UserId,
};
use livepk_linkcall::{
    Anchor, Battle, BattleId, GifterRow, LinkCallConfig, LinkCallError, ListChange, Scores,
    Settled, Side, TimedPhase, TimerRequest, Transition,
};
use livepk_sql::ConfigKey;
use livepk_store::{CommitOutcome, Job, Op, Order, ScoreApply, ScoringWindow, Transaction};
use serde::{Deserialize, Serialize};

use crate::runtime::events::ScoreNotifier;
use crate::runtime::ledger::{GiftConsumer, Lookup, ScoreTarget};
use crate::runtime::timers::TimerHandler;
use crate::runtime::{Core, FeaturePlugin};
use crate::status::ServiceError;

/// Delay-queue topic of popup expiry.
pub const TOPIC_POPUP: &str = "linkcall.popup";
/// Delay-queue topic of phase deadlines (scoring end, punishment end).
pub const TOPIC_PHASE: &str = "linkcall.phase";
/// Delay-queue topic that makes sure a settled PK reaches the SQL records table.
pub const TOPIC_RECORD: &str = "linkcall.record";

/// Tag of the anchors, their lists and profiles.
const ANCHORS: &str = "lc";
/// How long anchors, lists, profiles and battles live without being touched (seed §B: 3 days).
pub const STATE_TTL: Duration = Duration::from_secs(3 * 24 * 3600);
/// How often a command is re-run after losing a compare-and-set race before answering ABORTED.
const MAX_ATTEMPTS: usize = 8;
/// Most changed gifters a score notification lists (the seed's "小人头" are the top 5; a few
/// more lets clients re-sort).
const MAX_USERS_PER_NOTIFICATION: usize = 20;
/// Most changed gifters whose totals one score notification reads to choose those it lists.
const MAX_CHANGED_READ: usize = 500;

const BATTLE: &str = "battle";
const WINDOW: &str = "window";
const SCORE: &str = "score";
const USERS: &str = "users";
const ONLINE: &str = "online";

fn battle_tag(battle: BattleId) -> String {
    format!("lc:{}", battle.get())
}
fn anchor_name(singer: SingerId) -> String {
    format!("anchor:{singer}")
}
fn profile_name(singer: SingerId) -> String {
    format!("profile:{singer}")
}
fn applicants_name(host: SingerId) -> String {
    format!("applicants:{host}")
}
fn applied_name(guest: SingerId) -> String {
    format!("applied:{guest}")
}
fn board_name(singer: SingerId) -> String {
    format!("board:{singer}")
}

/// An anchor's display profile (seed §B.1), refreshed by the gateway at every login.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SingerProfile {
    /// Nickname.
    pub nick: String,
    /// Avatar URL.
    pub icon: String,
    /// Level.
    pub level: u32,
    /// Star level (the gate of OpenFunction).
    pub star: u32,
    /// The anchor's room.
    pub sid: u64,
}

/// A gifter's display profile (seed §B.2), written with each counted gift.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GifterProfile {
    /// Nickname.
    pub nick: String,
    /// Avatar URL.
    pub icon: String,
    /// Level.
    pub level: u32,
    /// Wealth level.
    pub wealth: u32,
}

/// A LinkCall error with the extra details the seed's responses carry beside the code
/// (`pk_state` of a busy anchor, the settled result of a repeated Count).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct LinkCallFailure(#[from] pub LinkCallError);

impl BusinessError for LinkCallFailure {
    fn kind(&self) -> ErrorKind {
        self.0.kind()
    }
    fn business_code(&self) -> u32 {
        self.0.business_code()
    }
    fn field(&self) -> Option<&str> {
        self.0.field()
    }
    fn details(&self) -> Vec<(String, String)> {
        let mut details = Vec::new();
        if let Some(state) = self.0.pk_state() {
            details.push(("pk_state".into(), state.number().to_string()));
        }
        if let Some(answer) = self.0.settled_answer() {
            details.push(("pkid".into(), answer.pkid.to_string()));
            details.push(("host_gift".into(), answer.result.host_score.to_string()));
            details.push(("guest_gift".into(), answer.result.guest_score.to_string()));
            let winner = answer.result.winner.map_or(0, SingerId::get);
            details.push(("winner_id".into(), winner.to_string()));
        }
        details
    }
}

impl From<LinkCallError> for ServiceError {
    fn from(error: LinkCallError) -> Self {
        ServiceError::business(LinkCallFailure(error))
    }
}

/// A lost race that kept being lost: the caller may retry.
#[derive(Debug, thiserror::Error)]
#[error("too much contention on this pk; retry")]
struct Contended;

impl BusinessError for Contended {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Aborted
    }
    fn business_code(&self) -> u32 {
        livepk_core::codes::SERVER_ERROR
    }
}

/// Aggregates as read, with the versions a commit must still find.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    anchors: HashMap<SingerId, (Option<Anchor>, u64)>,
    battle: Option<(Battle, u64)>,
}

impl Snapshot {
    /// The anchor `singer` as read (`None` if it has no aggregate).
    pub fn anchor(&self, singer: SingerId) -> Option<&Anchor> {
        self.anchors.get(&singer).and_then(|(anchor, _)| anchor.as_ref())
    }
    /// The battle as read.
    pub fn battle(&self) -> Option<&Battle> {
        self.battle.as_ref().map(|(battle, _)| battle)
    }
    fn anchor_version(&self, singer: SingerId) -> u64 {
        self.anchors.get(&singer).map_or(0, |(_, version)| *version)
    }
    fn battle_version(&self, battle: BattleId) -> u64 {
        match &self.battle {
            Some((read, version)) if read.battle_id == battle => *version,
            _ => 0,
        }
    }
}

/// What a commit did.
enum Committed {
    /// Everything was written.
    All,
    /// A compare-and-set failed. The battle half may already have landed; a re-run heals.
    Conflict,
}

/// Decodes one aggregate.
fn decode<T: for<'de> Deserialize<'de>>(what: &str, bytes: &[u8]) -> Result<T, ServiceError> {
    serde_json::from_slice(bytes)
        .map_err(|error| livepk_store::StoreError::Corrupt(format!("{what}: {error}")).into())
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs to JSON cannot fail (no maps with non-string keys).
    serde_json::to_vec(value).unwrap_or_default()
}

/// The LinkCallPk adapter.
pub struct LinkCallAdapter {
    core: Arc<Core>,
    /// Which scoring battle each anchor was last seen in (the gift hot path's cache, see
    /// [`GiftConsumer::score_targets`]).
    scoring: std::sync::Mutex<HashMap<SingerId, ScoringEntry>>,
}

/// An anchor's battle as the gift path last read it, while that battle was scoring.
#[derive(Debug, Clone, Copy)]
struct ScoringEntry {
    battle: BattleId,
    side: &'static str,
    /// The scoring window's end when read: later gifts need a fresh read (AddTime moves it).
    until_ms: u64,
    /// When it was read (the adapter's clock); entries older than [`SCORING_CACHE_MS`] are
    /// read again.
    read_at_ms: u64,
}

/// How long a cached anchor -> battle answer is used. Correctness does not depend on it (the
/// gift script checks the window); it bounds how long a stale entry costs an extra round trip.
const SCORING_CACHE_MS: u64 = 2_000;
/// Most anchors cached per replica; beyond it the cache is emptied and refilled.
const SCORING_CACHE_MAX: usize = 100_000;

impl LinkCallAdapter {
    /// An adapter over the shared machinery.
    pub fn new(core: Arc<Core>) -> Self {
        Self { core, scoring: std::sync::Mutex::new(HashMap::new()) }
    }

    /// What LinkCallPk plugs into the machinery.
    pub fn plugin(self: &Arc<Self>) -> FeaturePlugin {
        FeaturePlugin {
            gift_consumer: Some(self.clone()),
            score_notifier: Some(self.clone()),
            timer_handlers: vec![
                (TOPIC_POPUP, self.clone() as Arc<dyn TimerHandler>),
                (TOPIC_PHASE, self.clone()),
                (TOPIC_RECORD, self.clone()),
            ],
        }
    }

    fn now_ms(&self) -> u64 {
        self.core.clock.now_ms()
    }

    /// The battle tunables from the hot settings.
    pub async fn config(&self) -> Result<LinkCallConfig, ServiceError> {
        let values = self.core.settings.snapshot().await?;
        let get = |key: ConfigKey| {
            values.get(&key).copied().unwrap_or_else(|| key.default_value()).max(0) as u64
        };
        Ok(LinkCallConfig {
            min_star: get(ConfigKey::LinkCallMinStar) as u32,
            whitelist_enabled: get(ConfigKey::LinkCallWhitelistEnabled) == 1,
            page_size: get(ConfigKey::LinkCallPageSize) as u32,
            popup_seconds: get(ConfigKey::LinkCallPopupSeconds),
            pk_seconds: get(ConfigKey::LinkCallPkSeconds),
            punish_seconds: get(ConfigKey::LinkCallPunishSeconds),
            addtime_seconds: get(ConfigKey::LinkCallAddTimeSeconds),
        })
    }

    // ---- reading ----------------------------------------------------------------------------

    /// Reads anchors into `snapshot` (one round trip).
    pub async fn load_anchors(
        &self,
        snapshot: &mut Snapshot,
        singers: &[SingerId],
    ) -> Result<(), ServiceError> {
        let wanted: Vec<SingerId> = singers
            .iter()
            .copied()
            .filter(|singer| !snapshot.anchors.contains_key(singer))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = wanted.iter().map(|singer| anchor_name(*singer)).collect();
        let keys: Vec<(&str, &str)> = names.iter().map(|name| (ANCHORS, name.as_str())).collect();
        let read = self.core.store.get_many(&keys).await?;
        for (singer, versioned) in wanted.into_iter().zip(read) {
            let entry = match versioned {
                Some(versioned) => {
                    (Some(decode::<Anchor>("anchor", &versioned.value)?), versioned.version)
                }
                None => (None, 0),
            };
            snapshot.anchors.insert(singer, entry);
        }
        Ok(())
    }

    /// Reads battle `battle` into `snapshot`.
    pub async fn load_battle(
        &self,
        snapshot: &mut Snapshot,
        battle: Option<BattleId>,
    ) -> Result<(), ServiceError> {
        let Some(battle) = battle else { return Ok(()) };
        if snapshot.battle().is_some_and(|read| read.battle_id == battle) {
            return Ok(());
        }
        snapshot.battle = match self.core.store.get(&battle_tag(battle), BATTLE).await? {
            Some(versioned) => {
                Some((decode::<Battle>("battle", &versioned.value)?, versioned.version))
            }
            None => None,
        };
        Ok(())
    }

    /// The side totals of a battle.
    pub async fn scores(&self, battle: &Battle) -> Result<Scores, ServiceError> {
        let fields = [battle.host.singer_id.to_string(), battle.guest.singer_id.to_string()];
        let values =
            self.core.store.hash_get_fields(&battle_tag(battle.battle_id), SCORE, &fields).await?;
        let number = |value: &Option<String>| {
            value.as_deref().and_then(|v| v.parse::<i64>().ok()).unwrap_or(0).max(0) as u64
        };
        Ok(Scores { host: number(&values[0]), guest: number(&values[1]) })
    }

    /// The scores of the snapshot's battle (zeros without one).
    async fn snapshot_scores(&self, snapshot: &Snapshot) -> Result<Scores, ServiceError> {
        match snapshot.battle() {
            Some(battle) => self.scores(battle).await,
            None => Ok(Scores::default()),
        }
    }

    /// The top `count` gifters of `singer`'s side of `battle`.
    pub async fn board(
        &self,
        battle: &Battle,
        singer: SingerId,
        count: usize,
    ) -> Result<Vec<GifterRow>, ServiceError> {
        let rows = self
            .core
            .store
            .board_page(&battle_tag(battle.battle_id), &board_name(singer), 0, count)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|row| row.member != 0)
            .map(|row| GifterRow {
                user_id: UserId::from_trusted(row.member),
                user_gift: row.total.max(0) as u64,
            })
            .collect())
    }

    /// Profiles of gifters of `battle`.
    pub async fn gifter_profiles(
        &self,
        battle: BattleId,
        users: &[UserId],
    ) -> Result<HashMap<UserId, GifterProfile>, ServiceError> {
        let fields: Vec<String> = users.iter().map(|user| user.to_string()).collect();
        let values = self.core.store.hash_get_fields(&battle_tag(battle), USERS, &fields).await?;
        let mut profiles = HashMap::new();
        for (user, value) in users.iter().zip(values) {
            if let Some(value) = value {
                profiles
                    .insert(*user, decode::<GifterProfile>("gifter profile", value.as_bytes())?);
            }
        }
        Ok(profiles)
    }

    /// Profiles of anchors (missing ones are left out).
    pub async fn singer_profiles(
        &self,
        singers: &[SingerId],
    ) -> Result<HashMap<SingerId, SingerProfile>, ServiceError> {
        let mut unique = singers.to_vec();
        unique.sort();
        unique.dedup();
        let names: Vec<String> = unique.iter().map(|singer| profile_name(*singer)).collect();
        let keys: Vec<(&str, &str)> = names.iter().map(|name| (ANCHORS, name.as_str())).collect();
        let read = self.core.store.get_many(&keys).await?;
        let mut profiles = HashMap::new();
        for (singer, versioned) in unique.into_iter().zip(read) {
            if let Some(versioned) = versioned {
                profiles
                    .insert(singer, decode::<SingerProfile>("singer profile", &versioned.value)?);
            }
        }
        Ok(profiles)
    }

    /// Stores an anchor's profile (seed §B.1: refreshed at every login, kept 3 days).
    pub async fn refresh_profile(
        &self,
        singer: SingerId,
        profile: &SingerProfile,
    ) -> Result<(), ServiceError> {
        let transaction = Transaction::new(ANCHORS).op(Op::Put {
            name: profile_name(singer),
            value: encode(profile),
            ttl: Some(STATE_TTL),
        });
        self.core.store.commit(transaction).await?;
        Ok(())
    }

    /// Members of one of an anchor's application lists, most recent first.
    pub async fn list_members(
        &self,
        name: &str,
        offset: usize,
        count: usize,
    ) -> Result<Vec<SingerId>, ServiceError> {
        let rows = self.core.store.zrange(ANCHORS, name, offset, count, Order::Descending).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(member, _)| member.parse::<u64>().ok().filter(|id| *id != 0))
            .map(SingerId::from_trusted)
            .collect())
    }

    /// Everyone who applied to `host` (its link list, seed §B.5).
    pub async fn applicants(&self, host: SingerId) -> Result<Vec<SingerId>, ServiceError> {
        self.list_members(&applicants_name(host), 0, usize::MAX).await
    }

    /// Everyone `guest` applied to (seed §B.4).
    pub async fn applied_to(&self, guest: SingerId) -> Result<Vec<SingerId>, ServiceError> {
        self.list_members(&applied_name(guest), 0, usize::MAX).await
    }

    /// A page of the online list (ranks `start..=stop_inclusive`), most recent availability first.
    pub async fn online_page(
        &self,
        start: u64,
        stop_inclusive: u64,
    ) -> Result<Vec<SingerId>, ServiceError> {
        let count = stop_inclusive.saturating_sub(start) + 1;
        self.list_members(ONLINE, start as usize, count as usize).await
    }

    /// The caller's rank in the online list (most recent first).
    pub async fn online_rank(&self, caller: SingerId) -> Result<Option<u64>, ServiceError> {
        Ok(self.core.store.zrank(ANCHORS, ONLINE, &caller.to_string(), Order::Descending).await?)
    }

    /// A page of `host`'s applicants.
    pub async fn applicants_page(
        &self,
        host: SingerId,
        start: u64,
        stop_inclusive: u64,
    ) -> Result<Vec<SingerId>, ServiceError> {
        let count = stop_inclusive.saturating_sub(start) + 1;
        self.list_members(&applicants_name(host), start as usize, count as usize).await
    }

    /// Allocates the next pkid (seed §B.6: one counter from 1, kept forever).
    pub async fn next_pkid(&self) -> Result<PkId, ServiceError> {
        Ok(PkId::from_trusted(self.core.store.next_id(ANCHORS, "pkid").await?))
    }

    /// Allocates the next link-session id.
    pub async fn next_battle_id(&self) -> Result<BattleId, ServiceError> {
        Ok(BattleId::new(self.core.store.next_id(ANCHORS, "battle").await?))
    }

    // ---- running commands ------------------------------------------------------------------

    /// Runs a command: `load` fills a fresh snapshot, `decide` is the pure state machine. On a
    /// lost compare-and-set race the whole thing is re-run on fresh state (every domain
    /// function is deterministic in its inputs). A transition that settles a PK runs twice:
    /// once to learn that it settles, then — after the scoring window is closed so gifts stop
    /// moving the totals — again on the final totals.
    pub async fn run<Reply, Load, LoadFuture, Decide>(
        &self,
        mut load: Load,
        mut decide: Decide,
    ) -> Result<Reply, ServiceError>
    where
        Load: FnMut() -> LoadFuture,
        LoadFuture: std::future::Future<Output = Result<(Snapshot, Scores), ServiceError>>,
        Decide: FnMut(&Snapshot, Scores, u64) -> Result<Transition<Reply>, ServiceError>,
    {
        for _ in 0..MAX_ATTEMPTS {
            let (snapshot, scores) = load().await?;
            let now_ms = self.now_ms();
            let transition = decide(&snapshot, scores, now_ms)?;
            if transition.effects.settled.is_some()
                && let Some(battle) = snapshot.battle()
                && battle.scoring_window().is_some()
            {
                // Freeze the totals, then decide again on final numbers.
                if !self.close_window(battle, snapshot.battle_version(battle.battle_id)).await? {
                    continue;
                }
                let scores = self.scores(battle).await?;
                let transition = decide(&snapshot, scores, now_ms)?;
                if let Committed::All = self.commit(&snapshot, &transition, now_ms).await? {
                    return Ok(transition.reply);
                }
                continue;
            }
            if transition.is_noop() {
                return Ok(transition.reply);
            }
            if let Committed::All = self.commit(&snapshot, &transition, now_ms).await? {
                return Ok(transition.reply);
            }
        }
        Err(ServiceError::business(Contended))
    }

    /// Closes a battle's scoring window if the battle is still at `version`.
    async fn close_window(&self, battle: &Battle, version: u64) -> Result<bool, ServiceError> {
        let (from_ms, until_ms, pkid) = battle.scoring_window().unwrap_or((0, 0, battle.pkid));
        let window = ScoringWindow { open: false, from_ms, until_ms, epoch: pkid.get() };
        let transaction = Transaction::new(battle_tag(battle.battle_id))
            .expect_version(BATTLE, version)
            .op(Op::HSet { name: WINDOW.into(), fields: window.fields(), ttl: Some(STATE_TTL) });
        Ok(self.core.store.commit(transaction).await? == CommitOutcome::Committed)
    }

    /// Commits a transition (see the crate documentation of `livepk-linkcall`, step 4).
    async fn commit<Reply>(
        &self,
        snapshot: &Snapshot,
        transition: &Transition<Reply>,
        now_ms: u64,
    ) -> Result<Committed, ServiceError> {
        let effects = &transition.effects;
        // Deadlines first: a job whose commit then fails finds its state moved on and does
        // nothing, while a commit whose job was never scheduled would leave a PK without end.
        for timer in &effects.timers {
            self.schedule_timer(timer).await?;
        }
        if let Some(settled) = &effects.settled {
            // Safety net for the SQL record; the record is also written right after the commit.
            self.core
                .timers
                .schedule(
                    TOPIC_RECORD,
                    &format!("lc.record:{}", settled.pkid),
                    now_ms + 2_000,
                    encode(settled),
                )
                .await?;
        }

        let battle_is_new = transition
            .battle
            .as_ref()
            .is_some_and(|battle| snapshot.battle_version(battle.battle_id) == 0);
        let anchors_change = !transition.anchors.is_empty() || !effects.lists.is_empty();
        // A closed or changed battle is the truth, so its notifications go with it; a new battle
        // only becomes real when the anchors point at it, so Confirm's go with the anchors.
        let notify_with_battle = transition.battle.is_some() && (!battle_is_new || !anchors_change);
        let events = if effects.notifications.is_empty() {
            Vec::new()
        } else {
            convert::notification_events(
                self,
                &effects.notifications,
                transition.battle.as_ref().or(snapshot.battle()),
                0,
                now_ms,
            )
            .await?
        };

        let mut relay = Vec::new();
        if let Some(battle) = &transition.battle {
            let tag = battle_tag(battle.battle_id);
            let window = match battle.scoring_window() {
                Some((from_ms, until_ms, pkid)) => {
                    ScoringWindow { open: true, from_ms, until_ms, epoch: pkid.get() }
                }
                None => {
                    ScoringWindow { open: false, from_ms: 0, until_ms: 0, epoch: battle.pkid.get() }
                }
            };
            let mut ops = Vec::new();
            if matches!(
                effects.scores,
                livepk_linkcall::ScoreAction::Reset | livepk_linkcall::ScoreAction::Delete
            ) {
                ops.push(Op::DeleteKey { name: SCORE.into() });
                ops.push(Op::DeleteKey { name: USERS.into() });
                for singer in [battle.host.singer_id, battle.guest.singer_id] {
                    ops.push(Op::DeleteBoard { name: board_name(singer) });
                }
            }
            ops.push(Op::Put { name: BATTLE.into(), value: encode(battle), ttl: Some(STATE_TTL) });
            ops.push(Op::HSet {
                name: WINDOW.into(),
                fields: window.fields(),
                ttl: Some(STATE_TTL),
            });
            if notify_with_battle && !events.is_empty() {
                ops.push(Op::Outbox { events: events.clone() });
            }
            let mut transaction = Transaction::new(tag.clone())
                .expect_version(BATTLE, snapshot.battle_version(battle.battle_id));
            transaction.ops = ops;
            if self.core.store.commit(transaction).await? != CommitOutcome::Committed {
                return Ok(Committed::Conflict);
            }
            relay.push(tag);
            self.index_pkid(battle).await;
        }

        if anchors_change || (!notify_with_battle && !events.is_empty()) {
            let mut transaction = Transaction::new(ANCHORS);
            for anchor in &transition.anchors {
                transaction = transaction
                    .expect_version(
                        anchor_name(anchor.singer_id),
                        snapshot.anchor_version(anchor.singer_id),
                    )
                    .op(Op::Put {
                        name: anchor_name(anchor.singer_id),
                        value: encode(anchor),
                        ttl: Some(STATE_TTL),
                    });
            }
            for change in &effects.lists {
                transaction.ops.extend(list_ops(change));
            }
            if !notify_with_battle && !events.is_empty() {
                transaction.ops.push(Op::Outbox { events });
            }
            if self.core.store.commit(transaction).await? != CommitOutcome::Committed {
                // The battle half (if any) stands: a re-run finds it and heals the pointers.
                for tag in &relay {
                    self.core.events.relay(tag).await;
                }
                return Ok(Committed::Conflict);
            }
            relay.push(ANCHORS.to_owned());
        }
        for tag in &relay {
            self.core.events.relay(tag).await;
        }
        if let Some(settled) = &effects.settled {
            self.write_record(settled).await;
        }
        Ok(Committed::All)
    }

    /// Remembers which link session a pkid belongs to (for Admin.ForceClose).
    async fn index_pkid(&self, battle: &Battle) {
        let result = self
            .core
            .store
            .record_put(
                ANCHORS,
                &format!("pkid:{}", battle.pkid),
                battle.battle_id.get().to_string().as_bytes(),
                STATE_TTL,
            )
            .await;
        if let Err(error) = result {
            tracing::warn!(pkid = %battle.pkid, %error, "pkid index write failed");
        }
    }

    async fn schedule_timer(&self, timer: &TimerRequest) -> Result<(), ServiceError> {
        let (topic, id, due_ms) = match timer {
            TimerRequest::PopupExpiry { guest, host, due_ms } => {
                (TOPIC_POPUP, format!("lc.popup:{guest}:{host}:{due_ms}"), *due_ms)
            }
            TimerRequest::PhaseDeadline { battle, pkid, phase, due_ms } => {
                let phase = match phase {
                    TimedPhase::Scoring => "scoring",
                    TimedPhase::Punishment => "punishment",
                };
                (TOPIC_PHASE, format!("lc.phase:{}:{pkid}:{phase}:{due_ms}", battle.get()), *due_ms)
            }
        };
        self.core.timers.schedule(topic, &id, due_ms, encode(timer)).await?;
        Ok(())
    }

    /// Writes a settled PK to SQL (idempotent: one row per pkid). Failures are logged; the
    /// record job retries.
    async fn write_record(&self, settled: &Settled) -> bool {
        let record = convert::record_of(settled, self.now_ms());
        match self.core.database.insert_record(&record).await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(pkid = %settled.pkid, %error, "pk record write failed; will retry");
                false
            }
        }
    }

    /// Closes battle `pkid` on an operator's order. Returns the settled record, if the close
    /// settled a PK.
    pub async fn force_close(
        &self,
        pkid: PkId,
        reason: &str,
    ) -> Result<Option<livepk_sql::PkRecord>, ServiceError> {
        let battle_id = self
            .core
            .store
            .record_get(ANCHORS, &format!("pkid:{pkid}"))
            .await?
            .and_then(|bytes| String::from_utf8(bytes).ok()?.parse::<u64>().ok())
            .map(BattleId::new)
            .ok_or_else(|| {
                ServiceError::from(InvalidArgument::new(
                    "pkid",
                    format!("no linkcall pk {pkid} is known"),
                ))
            })?;
        tracing::warn!(%pkid, reason, "admin force-closes a linkcall pk");
        let settled = self
            .run(
                || async move {
                    let mut snapshot = Snapshot::default();
                    self.load_battle(&mut snapshot, Some(battle_id)).await?;
                    if let Some(battle) = snapshot.battle().cloned() {
                        self.load_anchors(
                            &mut snapshot,
                            &[battle.host.singer_id, battle.guest.singer_id],
                        )
                        .await?;
                    }
                    let scores = self.snapshot_scores(&snapshot).await?;
                    Ok((snapshot, scores))
                },
                |snapshot, scores, now_ms| {
                    let (host, guest) = match snapshot.battle() {
                        Some(battle) => (
                            snapshot.anchor(battle.host.singer_id),
                            snapshot.anchor(battle.guest.singer_id),
                        ),
                        None => (None, None),
                    };
                    Ok(livepk_linkcall::admin_close(snapshot.battle(), host, guest, scores, now_ms)
                        .map_reply(|_, effects| effects.settled))
                },
            )
            .await?;
        Ok(settled.map(|settled| convert::record_of(&settled, self.now_ms())))
    }
}

/// The store ops of one list change.
fn list_ops(change: &ListChange) -> Vec<Op> {
    let ttl = Some(STATE_TTL);
    match *change {
        ListChange::OnlineUpsert { singer, score_ms } => {
            vec![Op::ZAdd {
                name: ONLINE.into(),
                member: singer.to_string(),
                score: score_ms as f64,
                ttl,
            }]
        }
        ListChange::OnlineRemove { singer } => {
            vec![Op::ZRem { name: ONLINE.into(), member: singer.to_string() }]
        }
        ListChange::ApplicantAdd { host, guest, at_ms } => vec![
            Op::ZAdd {
                name: applicants_name(host),
                member: guest.to_string(),
                score: at_ms as f64,
                ttl,
            },
            Op::ZAdd {
                name: applied_name(guest),
                member: host.to_string(),
                score: at_ms as f64,
                ttl,
            },
        ],
        ListChange::ApplicantRemove { host, guest } => vec![
            Op::ZRem { name: applicants_name(host), member: guest.to_string() },
            Op::ZRem { name: applied_name(guest), member: host.to_string() },
        ],
        ListChange::ClearApplicantsOf { singer } => vec![
            Op::DeleteKey { name: applicants_name(singer) },
            Op::DeleteKey { name: applied_name(singer) },
        ],
    }
}

// ---- plugged into the machinery -------------------------------------------------------------

#[async_trait]
impl GiftConsumer for LinkCallAdapter {
    async fn score_targets(
        &self,
        gift: &Gift,
        lookup: Lookup,
    ) -> Result<Vec<ScoreTarget>, ServiceError> {
        // Which battle the receiver scores in: from the cache when it allows, else two reads
        // (the anchor says which session it is in, the session whether it is scoring). A
        // cached battle can only be stale in the safe direction: every path that takes an
        // anchor out of a battle closes that battle's scoring window first (in the battle's own
        // commit), and the gift script checks the window by the gift's own time, so a stale
        // entry answers "outside" and the ledger asks again with `Lookup::Fresh`.
        let now_ms = self.now_ms();
        let cached = match lookup {
            Lookup::Cached => self.cached_scoring(gift.receiver_id, gift.sent_at_ms, now_ms),
            Lookup::Fresh => None,
        };
        let (entry, from_cache) = match cached {
            Some(entry) => (entry, true),
            None => match self.read_scoring(gift.receiver_id, now_ms).await? {
                Some(entry) => (entry, false),
                None => return Ok(Vec::new()),
            },
        };
        let battle = entry.battle;
        let side = entry.side;
        let value_per_point =
            self.core.settings.get(ConfigKey::ScoreValuePerPoint).await?.max(1) as u64;
        let points = gift.points(value_per_point);
        if points == 0 {
            return Ok(Vec::new());
        }
        let points = i64::try_from(points).unwrap_or(i64::MAX);
        let tag = battle_tag(battle);
        let receiver = gift.receiver_id.to_string();
        let sender = &gift.sender;
        let profile = GifterProfile {
            nick: sender.user_nick.clone(),
            icon: sender.user_icon.clone(),
            level: sender.user_level,
            wealth: sender.user_wealth,
        };
        Ok(vec![ScoreTarget {
            mode: Mode::LinkCall,
            receiver_id: gift.receiver_id.get(),
            side: side.into(),
            notify_key: format!("{}|{}", battle.get(), gift.receiver_id),
            apply: ScoreApply {
                tag,
                txn_id: gift.gift_txn_id.clone(),
                window: WINDOW.into(),
                sent_at_ms: gift.sent_at_ms,
                counters: vec![(SCORE.into(), receiver, points)],
                boards: vec![(board_name(gift.receiver_id), sender.user_id.get(), points)],
                fields: vec![(
                    USERS.into(),
                    sender.user_id.to_string(),
                    String::from_utf8(encode(&profile)).unwrap_or_default(),
                )],
                ttl: STATE_TTL,
            },
            cached: from_cache,
        }])
    }
}

impl LinkCallAdapter {
    /// The cached scoring battle of `singer`, if a gift sent at `sent_at_ms` may use it.
    fn cached_scoring(
        &self,
        singer: SingerId,
        sent_at_ms: u64,
        now_ms: u64,
    ) -> Option<ScoringEntry> {
        let cache = self.scoring.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(&singer).copied().filter(|entry| {
            sent_at_ms < entry.until_ms
                && now_ms >= entry.read_at_ms
                && now_ms - entry.read_at_ms < SCORING_CACHE_MS
        })
    }

    /// Reads which battle `singer` scores in now (two round trips) and caches the answer.
    async fn read_scoring(
        &self,
        singer: SingerId,
        now_ms: u64,
    ) -> Result<Option<ScoringEntry>, ServiceError> {
        let entry = self.read_scoring_uncached(singer, now_ms).await?;
        let mut cache = self.scoring.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match entry {
            Some(entry) => {
                if cache.len() >= SCORING_CACHE_MAX && !cache.contains_key(&singer) {
                    cache.clear();
                }
                cache.insert(singer, entry);
            }
            None => {
                cache.remove(&singer);
            }
        }
        Ok(entry)
    }

    async fn read_scoring_uncached(
        &self,
        singer: SingerId,
        now_ms: u64,
    ) -> Result<Option<ScoringEntry>, ServiceError> {
        let mut snapshot = Snapshot::default();
        self.load_anchors(&mut snapshot, &[singer]).await?;
        let Some(battle_id) = snapshot.anchor(singer).and_then(|anchor| anchor.battle) else {
            return Ok(None);
        };
        self.load_battle(&mut snapshot, Some(battle_id)).await?;
        let Some(battle) = snapshot.battle() else { return Ok(None) };
        let Some((_, until_ms, _)) = battle.scoring_window() else { return Ok(None) };
        Ok(Some(ScoringEntry {
            battle: battle_id,
            side: side_word(battle, singer),
            until_ms,
            read_at_ms: now_ms,
        }))
    }
}

#[async_trait]
impl ScoreNotifier for LinkCallAdapter {
    async fn score_events(&self, key: &str, users: &[u64]) -> Result<Vec<Vec<u8>>, ServiceError> {
        let Some((battle, receiver)) = key.split_once('|') else { return Ok(Vec::new()) };
        let (Ok(battle), Ok(receiver)) = (battle.parse::<u64>(), receiver.parse::<u64>()) else {
            return Ok(Vec::new());
        };
        let mut snapshot = Snapshot::default();
        self.load_battle(&mut snapshot, Some(BattleId::new(battle))).await?;
        let Some(battle) = snapshot.battle() else { return Ok(Vec::new()) };
        let receiver = SingerId::from_trusted(receiver.max(1));
        if battle.is_closed() || battle.side_of(receiver).is_none() {
            return Ok(Vec::new());
        }
        let scores = self.scores(battle).await?;
        let tag = battle_tag(battle.battle_id);
        let board = board_name(receiver);
        let mut rows = Vec::new();
        // The changed gifters with the highest totals (one read for all of them; beyond
        // MAX_CHANGED_READ, the latest to start giving).
        let changed = &users[users.len().saturating_sub(MAX_CHANGED_READ)..];
        let totals = self.core.store.board_totals(&tag, &board, changed).await?;
        for (&user, total) in changed.iter().zip(totals) {
            if let Some(total) = total {
                rows.push(GifterRow {
                    user_id: UserId::from_trusted(user.max(1)),
                    user_gift: total.max(0) as u64,
                });
            }
        }
        rows.sort_by_key(|row| std::cmp::Reverse(row.user_gift));
        rows.truncate(MAX_USERS_PER_NOTIFICATION);
        let notifications = livepk_linkcall::gift_progress(battle, scores, &rows);
        convert::score_events(self, battle, receiver, &notifications, self.now_ms()).await
    }
}

/// The body of a phase or popup job (the domain's timer request, as scheduled).
#[async_trait]
impl TimerHandler for LinkCallAdapter {
    async fn fire(&self, job: &Job) -> Result<(), ServiceError> {
        match job.topic.as_str() {
            TOPIC_RECORD => {
                let settled: Settled = decode("settled record", &job.body)?;
                let mut snapshot = Snapshot::default();
                self.load_battle(&mut snapshot, Some(settled.battle)).await?;
                // Only a settlement that was committed is recorded.
                let committed = snapshot
                    .battle()
                    .and_then(|battle| battle.last_result)
                    .is_some_and(|result| result.pkid == settled.pkid);
                if committed && !self.write_record(&settled).await {
                    return Err(ServiceError::Store(livepk_store::StoreError::Unavailable(
                        "sql record write failed".into(),
                    )));
                }
                Ok(())
            }
            _ => {
                let timer: TimerRequest = decode("timer", &job.body)?;
                let config = self.config().await?;
                match timer {
                    TimerRequest::PopupExpiry { guest, host, .. } => {
                        self.run(
                            || async move {
                                let mut snapshot = Snapshot::default();
                                self.load_anchors(&mut snapshot, &[guest, host]).await?;
                                Ok((snapshot, Scores::default()))
                            },
                            |snapshot, _, now_ms| {
                                Ok(livepk_linkcall::on_popup_expired(
                                    snapshot.anchor(guest),
                                    snapshot.anchor(host),
                                    guest,
                                    host,
                                    now_ms,
                                ))
                            },
                        )
                        .await?;
                    }
                    TimerRequest::PhaseDeadline { battle, pkid, phase, .. } => {
                        self.run(
                            || async move {
                                let mut snapshot = Snapshot::default();
                                self.load_battle(&mut snapshot, Some(battle)).await?;
                                let scores = self.snapshot_scores(&snapshot).await?;
                                Ok((snapshot, scores))
                            },
                            |snapshot, scores, now_ms| {
                                Ok(livepk_linkcall::on_phase_deadline(
                                    snapshot.battle(),
                                    pkid,
                                    phase,
                                    scores,
                                    &config,
                                    now_ms,
                                ))
                            },
                        )
                        .await?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Which side of `battle` anchor `singer` is on, as the seed's words.
pub fn side_word(battle: &Battle, singer: SingerId) -> &'static str {
    match battle.side_of(singer) {
        Some(Side::Host) => "host",
        Some(Side::Guest) => "guest",
        None => "",
    }
}

/// Parses a room id where the seed sends one.
pub fn parse_sid(field: &str, raw: u64) -> Result<RoomSid, ServiceError> {
    Ok(RoomSid::parse(field, raw)?)
}
