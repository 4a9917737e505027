//! The engine: load → decide → commit with retries, for every mode alike.
//!
//! A command is: load what it needs with versions ([`Engine::load_aggregates`],
//! [`Engine::load_battle`]), run the mode's pure function, and commit the transition as one
//! ordered plan ([`Engine::run`]). On a lost compare-and-set race the whole thing runs again on
//! fresh state (every pure function is deterministic in its inputs).
//!
//! The plan, in order:
//! 1. **Room stages** the battle takes now are claimed (SPEC §5a, see [`crate::stage`]; refused
//!    with 025 naming the holder when another battle holds one).
//! 2. **Deadlines** are scheduled, and a safety-net job for the settled record: a job whose
//!    commit then fails finds its state moved on and does nothing, while a commit whose job was
//!    never scheduled would leave a battle without an end.
//! 3. **The battle** (the truth) is written under its own tag: compare-and-set on its version,
//!    its scoring window, the score keys it resets or drops (with the gift records kept under
//!    the tag), the aggregates and changes the transition writes under that same tag, and its
//!    notifications in the same transaction's outbox — unless it is new and other writes make
//!    it real.
//! 4. **The other aggregates and changes** (the pointers), one transaction per tag,
//!    compare-and-set on each aggregate's version; a new battle's notifications go with the last
//!    of them. If one loses a race the command runs again on fresh state: an existing battle's
//!    write stands (the truth) and the re-run heals the pointers; a new battle nobody points at
//!    is closed at once as abandoned (its deadlines then find it over) and the re-run makes
//!    another.
//! 5. The outboxes written are relayed, the pkid indexed (for forced closes), the settled record
//!    written; the rooms the battle holds are taken for good and those it gave up released. A
//!    claim that did not lead to a battle is given back.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use livepk_battle::{
    BattleId, BattleState, EndedBy, Phase, PhaseDeadline, ScoreAction, Scores, Settled, TimedPhase,
    TimerRequest, Transition, Vocabulary,
};
use livepk_core::{Clock, Mode, PkId, RoomSid, UserId};
use livepk_sql::{Database, PkRecord};
use livepk_store::{CommitOutcome, Op, ScoringWindow, Store, StoreError, Transaction};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::binding::{AggregateId, BoardRow, EncodeContext, ModeBinding, Snapshot, StoreKey};
use crate::config::SCORE_GRACE_MS;
use crate::driver::ModeDriver;
use crate::error::{Contended, EngineError, EngineResult};
use crate::events::EventBus;
use crate::ids::{Counter, IdFloors};
use crate::settings::Settings;
use crate::stage;
use crate::timers::Timers;

/// How long states, lists and score keys live without being touched (seed §B: 3 days).
pub const STATE_TTL: Duration = Duration::from_secs(3 * 24 * 3600);
/// How often a command is re-run after losing a compare-and-set race before answering ABORTED.
const MAX_ATTEMPTS: usize = 8;
/// Name of the battle aggregate under its tag.
const BATTLE: &str = "battle";
/// Name of the scoring window hash under a battle's tag (what the gift script checks).
pub(crate) const WINDOW: &str = "window";
/// Delay-queue topic of the settled-record safety net.
pub const RECORD_TOPIC: &str = "records";

/// Delay-queue topic of a mode's phase deadlines.
pub fn phase_topic(mode: Mode) -> String {
    format!("{}.phase", mode.as_str())
}

/// Delay-queue topic of a mode's invitation expiries.
pub fn invitation_topic(mode: Mode) -> String {
    format!("{}.invitation", mode.as_str())
}

/// The shared machinery every mode runs on.
pub struct Engine {
    /// The source of "now".
    pub clock: Arc<dyn Clock>,
    /// Redis (or the embedded store).
    pub store: Arc<dyn Store>,
    /// SQL: config table, whitelist, settled PK records.
    pub database: Database,
    /// Hot settings from SQL.
    pub settings: Arc<Settings>,
    /// Outbox relay.
    pub events: EventBus,
    /// Delay-queue scheduling.
    pub timers: Timers,
    /// The registered modes, for what one mode asks of another (who holds a room's stage) and
    /// for operators (forced close, records). Weak: the runtime owns them.
    drivers: RwLock<HashMap<Mode, Weak<dyn ModeDriver>>>,
    /// What new ids must be above (see `crate::ids`).
    id_floors: IdFloors,
}

/// What a commit did.
enum Committed {
    /// Everything was written.
    All,
    /// A compare-and-set failed. The battle half may already have landed; a re-run heals.
    Conflict,
}

/// The safety-net job of a settled record: written right after the commit, and again by this job
/// if that write failed (insertion is idempotent per (mode, pkid)).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RecordJob {
    pub battle: BattleId,
    pub record: PkRecord,
}

impl Engine {
    /// An engine over these parts (modes are registered by the runtime).
    pub fn new(
        clock: Arc<dyn Clock>,
        store: Arc<dyn Store>,
        database: Database,
        settings: Arc<Settings>,
    ) -> Engine {
        Engine {
            events: EventBus::new(store.clone()),
            timers: Timers::new(store.clone()),
            clock,
            store,
            database,
            settings,
            drivers: RwLock::new(HashMap::new()),
            id_floors: IdFloors::default(),
        }
    }

    /// Now, from the injected clock.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    pub(crate) fn register(&self, mode: Mode, driver: Weak<dyn ModeDriver>) {
        self.drivers.write().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(mode, driver);
    }

    pub(crate) fn driver(&self, mode: Mode) -> Option<Arc<dyn ModeDriver>> {
        let drivers = self.drivers.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        drivers.get(&mode).and_then(Weak::upgrade)
    }

    // ---- ids ---------------------------------------------------------------------------------

    /// Allocates the next pkid of `mode` (seed §B.6: one counter from 1, kept forever), above
    /// every pkid known to be used, so that it never repeats (see `crate::ids`).
    pub async fn next_pkid(&self, mode: Mode) -> EngineResult<PkId> {
        Ok(PkId::from_trusted(self.next_id(mode, Counter::Pkid, "pkid").await?))
    }

    /// Allocates the next battle id of `mode`.
    pub async fn next_battle_id(&self, mode: Mode) -> EngineResult<BattleId> {
        Ok(BattleId::new(self.next_id(mode, Counter::Battle, "battle").await?))
    }

    async fn next_id(&self, mode: Mode, counter: Counter, name: &str) -> EngineResult<u64> {
        let floor = self.id_floors.floor(mode, counter, &self.database, self.now_ms()).await?;
        let id = self.store.next_id_above(&ids_tag(mode), name, floor).await?;
        self.id_floors.used(mode, counter, id);
        Ok(id)
    }

    // ---- reading -----------------------------------------------------------------------------

    /// Reads aggregates into `snapshot` (one round trip; ones already there are kept).
    pub async fn load_aggregates<M: ModeBinding>(
        &self,
        binding: &M,
        snapshot: &mut Snapshot<M::Domain>,
        ids: &[AggregateId<M::Domain>],
    ) -> EngineResult<()> {
        let mut wanted: Vec<AggregateId<M::Domain>> =
            ids.iter().copied().filter(|id| !snapshot.has_loaded(*id)).collect();
        wanted.sort();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        let keys: Vec<StoreKey> = wanted.iter().map(|id| binding.aggregate_key(*id)).collect();
        let pairs: Vec<(&str, &str)> =
            keys.iter().map(|key| (key.tag.as_str(), key.name.as_str())).collect();
        let read = self.store.get_many(&pairs).await?;
        for (id, versioned) in wanted.into_iter().zip(read) {
            match versioned {
                Some(versioned) => {
                    let aggregate = decode("aggregate", &versioned.value)?;
                    snapshot.put_aggregate(id, Some(aggregate), versioned.version);
                }
                None => snapshot.put_aggregate(id, None, 0),
            }
        }
        Ok(())
    }

    /// Reads battle `battle` and its side totals into `snapshot` (nothing for `None`).
    pub async fn load_battle<M: ModeBinding>(
        &self,
        binding: &M,
        snapshot: &mut Snapshot<M::Domain>,
        battle: Option<BattleId>,
    ) -> EngineResult<()> {
        let Some(id) = battle else { return Ok(()) };
        if snapshot.battle().is_some_and(|read| read.battle_id() == id) {
            return Ok(());
        }
        match self.read_battle(binding, id).await? {
            Some((read, version)) => {
                let scores = self.read_scores(binding, &read).await?;
                snapshot.put_battle(Some((read, version)), scores);
            }
            None => snapshot.put_battle(None, Scores::default()),
        }
        Ok(())
    }

    /// Battle `id` with its version, if it exists.
    pub async fn read_battle<M: ModeBinding>(
        &self,
        binding: &M,
        id: BattleId,
    ) -> EngineResult<Option<(<M::Domain as Vocabulary>::Battle, u64)>> {
        match self.store.get(&binding.battle_tag(id), BATTLE).await? {
            Some(versioned) => Ok(Some((decode("battle", &versioned.value)?, versioned.version))),
            None => Ok(None),
        }
    }

    /// The side totals of `battle`.
    pub async fn read_scores<M: ModeBinding>(
        &self,
        binding: &M,
        battle: &<M::Domain as Vocabulary>::Battle,
    ) -> EngineResult<Scores> {
        let keys = binding.score_keys(battle);
        let fields = [keys.fields.first, keys.fields.second];
        let values = self
            .store
            .hash_get_fields(&binding.battle_tag(battle.battle_id()), &keys.totals, &fields)
            .await?;
        let number = |value: &Option<String>| {
            value.as_deref().and_then(|v| v.parse::<i64>().ok()).unwrap_or(0).max(0) as u64
        };
        Ok(Scores::new(number(&values[0]), number(&values[1])))
    }

    /// The top `count` rows of board `board` of `battle`, best first.
    pub async fn board<M: ModeBinding>(
        &self,
        binding: &M,
        battle: BattleId,
        board: &str,
        count: usize,
    ) -> EngineResult<Vec<BoardRow>> {
        let rows = self.store.board_page(&binding.battle_tag(battle), board, 0, count).await?;
        Ok(rows
            .into_iter()
            .filter(|row| row.member != 0)
            .map(|row| BoardRow {
                user_id: UserId::from_trusted(row.member),
                total: row.total.max(0) as u64,
            })
            .collect())
    }

    // ---- running commands --------------------------------------------------------------------

    /// Runs a command of `binding`'s mode: `load` fills a fresh snapshot (and whatever else the
    /// decision needs, `X`: list members, ids allocated for a creation), `decide` is the pure
    /// function. See the module documentation.
    ///
    /// A transition that settles a scoring round runs twice: once to learn that it settles,
    /// then — after the scoring window is closed so gifts stop moving the totals — again on the
    /// final totals.
    pub async fn run<M, X, R, Load, LoadFuture, Decide>(
        &self,
        binding: &M,
        mut load: Load,
        mut decide: Decide,
    ) -> EngineResult<R>
    where
        M: ModeBinding,
        Load: FnMut() -> LoadFuture,
        LoadFuture: Future<Output = EngineResult<(Snapshot<M::Domain>, X)>>,
        Decide: FnMut(&Snapshot<M::Domain>, &X, u64) -> EngineResult<Transition<M::Domain, R>>,
    {
        for _ in 0..MAX_ATTEMPTS {
            let (mut snapshot, extra) = load().await?;
            let now_ms = self.now_ms();
            let mut transition = decide(&snapshot, &extra, now_ms)?;
            if transition.effects.settled.is_some()
                && let Some(battle) = snapshot.battle().cloned()
                && battle.round().scoring_window().is_some()
            {
                // Freeze the totals, then decide again on final numbers.
                let version = snapshot.battle_version(battle.battle_id());
                if !self.close_window(binding, &battle, version).await? {
                    continue;
                }
                snapshot.set_scores(self.read_scores(binding, &battle).await?);
                transition = decide(&snapshot, &extra, now_ms)?;
            }
            if transition.is_noop() {
                return Ok(transition.reply);
            }
            if let Committed::All = self.commit(binding, &snapshot, &transition, now_ms).await? {
                return Ok(transition.reply);
            }
        }
        Err(EngineError::business(Contended))
    }

    /// Closes a battle's scoring window if the battle is still at `version`.
    async fn close_window<M: ModeBinding>(
        &self,
        binding: &M,
        battle: &<M::Domain as Vocabulary>::Battle,
        version: u64,
    ) -> EngineResult<bool> {
        let round = battle.round();
        let (from_ms, until_ms) = round.scoring_window().unwrap_or((0, 0));
        let window = ScoringWindow { open: false, from_ms, until_ms, epoch: round.pkid.get() };
        let transaction = Transaction::new(binding.battle_tag(battle.battle_id()))
            .expect_version(BATTLE, version)
            .op(Op::HSet { name: WINDOW.into(), fields: window.fields(), ttl: Some(STATE_TTL) });
        Ok(self.store.commit(transaction).await? == CommitOutcome::Committed)
    }

    /// Commits a transition (see the module documentation).
    async fn commit<M: ModeBinding, R>(
        &self,
        binding: &M,
        snapshot: &Snapshot<M::Domain>,
        transition: &Transition<M::Domain, R>,
        now_ms: u64,
    ) -> EngineResult<Committed> {
        let Some(battle) = &transition.battle else {
            let mut battle_written = false;
            return self.write(binding, snapshot, transition, now_ms, &mut battle_written).await;
        };
        let id = battle.battle_id();
        let holder = (id, battle.round().pkid);
        let stages = StageMove::of(snapshot, Some(battle));
        if !stages.claims.is_empty() {
            stage::claim(self, M::MODE, holder, &stages.claims).await?;
        }
        let mut battle_written = false;
        let outcome = self.write(binding, snapshot, transition, now_ms, &mut battle_written).await;
        let is_new = snapshot.battle_version(id) == 0;
        if !battle_written {
            // Nothing of this attempt stands: its claims go (a re-run claims again).
            stage::release(self, M::MODE, id, &stages.claims).await;
            return outcome;
        }
        if is_new && !matches!(outcome, Ok(Committed::All)) {
            // A new battle whose pointers were not written is never taken up: close it before
            // its deadlines fire, and give its rooms back. The re-run makes a new one.
            self.abandon(binding, battle, now_ms).await;
            stage::release(self, M::MODE, id, &stages.claims).await;
            return outcome;
        }
        // The battle as written is the truth: the rooms it holds are taken (again, to heal a
        // holder a crash lost), those it gave up released.
        if let Err(taken) = stage::take(self, M::MODE, holder, &battle.stage()).await {
            if matches!(outcome, Ok(Committed::All)) {
                tracing::error!(mode = M::MODE.as_str(), battle = %id, error = %taken, "a battle lost a room it claimed; closing it");
                self.give_up(M::MODE, id).await;
            }
            return Err(taken);
        }
        if matches!(outcome, Ok(Committed::All)) && !stages.releases.is_empty() {
            stage::release(self, M::MODE, id, &stages.releases).await;
        }
        outcome
    }

    /// Closes a new battle whose creating command did not go through (its pointers lost a race
    /// or failed): nobody points at it, and its deadlines must find it over.
    async fn abandon<M: ModeBinding>(
        &self,
        binding: &M,
        battle: &<M::Domain as Vocabulary>::Battle,
        now_ms: u64,
    ) {
        let mut abandoned = battle.clone();
        abandoned.round_mut().phase = Phase::Closed { ended_by: EndedBy::Abandoned, at_ms: now_ms };
        let transaction = Transaction::new(binding.battle_tag(battle.battle_id()))
            .expect_version(BATTLE, 1)
            .op(Op::Put { name: BATTLE.into(), value: encode(&abandoned), ttl: Some(STATE_TTL) })
            .op(Op::HSet {
                name: WINDOW.into(),
                fields: ScoringWindow { open: false, from_ms: 0, until_ms: 0, epoch: 0 }.fields(),
                ttl: Some(STATE_TTL),
            });
        if let Err(error) = self.store.commit(transaction).await {
            tracing::warn!(mode = M::MODE.as_str(), battle = %battle.battle_id(), %error, "closing an abandoned battle failed");
        }
    }

    /// Closes a battle that lost one of its rooms to another battle (its command stalled past
    /// its claim's life): two live battles never share a room.
    async fn give_up(&self, mode: Mode, battle: BattleId) {
        let closed = match self.driver(mode) {
            Some(driver) => driver.force_close(battle, None).await.map(drop),
            None => Ok(()),
        };
        if let Err(error) = closed {
            tracing::error!(mode = mode.as_str(), %battle, %error, "closing a battle that lost its room failed");
        }
    }

    /// Everything of a commit after the stage claims: deadlines, the record's safety net, the
    /// writes in order, relays, the pkid index, the record. Sets `battle_written` once the
    /// battle's own transaction landed.
    async fn write<M: ModeBinding, R>(
        &self,
        binding: &M,
        snapshot: &Snapshot<M::Domain>,
        transition: &Transition<M::Domain, R>,
        now_ms: u64,
        battle_written: &mut bool,
    ) -> EngineResult<Committed> {
        let effects = &transition.effects;
        self.schedule_timers::<M>(&effects.timers).await?;
        let record = match (&effects.settled, transition.battle.as_ref().or(snapshot.battle())) {
            (Some(settled), Some(battle)) => {
                let record = binding.record(settled, battle, now_ms);
                self.schedule_record(settled, &record, now_ms).await?;
                Some(record)
            }
            _ => None,
        };
        let events = if effects.notifications.is_empty() {
            Vec::new()
        } else {
            let context = EncodeContext {
                battle: transition.battle.as_ref().or(snapshot.battle()),
                board: None,
                now_ms,
            };
            binding.encode(&effects.notifications, context).await?
        };

        let battle_tag =
            transition.battle.as_ref().map(|battle| binding.battle_tag(battle.battle_id()));
        let transactions = write_plan(binding, snapshot, transition, events);
        let mut written: Vec<String> = Vec::new();
        for transaction in transactions {
            let tag = transaction.tag.clone();
            let committed = self.store.commit(transaction).await?;
            if committed == CommitOutcome::Committed && Some(&tag) == battle_tag.as_ref() {
                *battle_written = true;
            }
            if committed != CommitOutcome::Committed {
                // What was written stands (the battle is the truth): its events still go out,
                // and a re-run finds it and heals the rest.
                self.relay(&written).await;
                return Ok(Committed::Conflict);
            }
            written.push(tag);
        }
        self.relay(&written).await;
        if let Some(battle) = &transition.battle {
            self.index_pkid(M::MODE, battle.round().pkid, battle.battle_id()).await;
        }
        if let Some(record) = &record {
            // A failure is logged; the record job scheduled with the commit writes it again.
            let _ = self.write_record(record).await;
        }
        Ok(Committed::All)
    }

    async fn relay(&self, tags: &[String]) {
        for tag in tags {
            self.events.relay(tag).await;
        }
    }

    /// Schedules each deadline (a job id names its state, so scheduling it twice is one job).
    async fn schedule_timers<M: ModeBinding>(
        &self,
        timers: &[TimerRequest<<M::Domain as Vocabulary>::InvitationKey>],
    ) -> EngineResult<()> {
        let mode = M::MODE.as_str();
        for timer in timers {
            let (topic, id, body, fire_ms) = match timer {
                TimerRequest::Phase(deadline) => {
                    let PhaseDeadline { battle, pkid, phase, due_ms } = deadline;
                    // The job keeps the deadline's id; only its firing waits out the grace.
                    let id = format!("{mode}.phase:{battle}:{pkid}:{}:{due_ms}", phase.as_str());
                    let fire_ms = match phase {
                        TimedPhase::Scoring if !M::OWN_SETTLE_GRACE => {
                            due_ms.saturating_add(self.settle_grace_ms().await?)
                        }
                        _ => *due_ms,
                    };
                    (phase_topic(M::MODE), id, encode(deadline), fire_ms)
                }
                TimerRequest::InvitationExpiry { invitation, due_ms } => {
                    let key = encode(invitation);
                    let id =
                        format!("{mode}.invitation:{}:{due_ms}", String::from_utf8_lossy(&key));
                    (invitation_topic(M::MODE), id, key, *due_ms)
                }
            };
            self.timers.schedule(&topic, &id, fire_ms, body).await?;
        }
        Ok(())
    }

    /// `score.grace_ms` now.
    async fn settle_grace_ms(&self) -> EngineResult<u64> {
        Ok(self.settings.get(&SCORE_GRACE_MS).await?.max(0) as u64)
    }

    async fn schedule_record(
        &self,
        settled: &Settled,
        record: &PkRecord,
        now_ms: u64,
    ) -> EngineResult<()> {
        let job = RecordJob { battle: settled.battle, record: record.clone() };
        let id = format!("record:{}:{}", record.mode.as_str(), record.pkid);
        self.timers.schedule(RECORD_TOPIC, &id, now_ms + 2_000, encode(&job)).await?;
        Ok(())
    }

    /// Writes a settled record to SQL (idempotent: one row per (mode, pkid)). Failures are
    /// logged; the record job retries (an unavailable database), or gives the job up to the
    /// dead letters (another record under the pkid: `SqlError::Conflict`).
    pub(crate) async fn write_record(&self, record: &PkRecord) -> Result<(), livepk_sql::SqlError> {
        match self.database.insert_record(record).await {
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::warn!(mode = record.mode.as_str(), pkid = %record.pkid, %error, "pk record write failed; will retry");
                Err(error)
            }
        }
    }

    // ---- operators ---------------------------------------------------------------------------

    /// Remembers which battle a pkid belongs to (for `Admin.ForcePkClose`).
    async fn index_pkid(&self, mode: Mode, pkid: PkId, battle: BattleId) {
        let result = self
            .store
            .record_put(
                &pkid_tag(mode, pkid),
                BATTLE,
                battle.get().to_string().as_bytes(),
                STATE_TTL,
            )
            .await;
        if let Err(error) = result {
            tracing::warn!(mode = mode.as_str(), %pkid, %error, "pkid index write failed");
        }
    }

    /// The battle pkid `pkid` of `mode` belongs to, if known.
    pub async fn battle_of_pkid(&self, mode: Mode, pkid: PkId) -> EngineResult<Option<BattleId>> {
        Ok(self
            .store
            .record_get(&pkid_tag(mode, pkid), BATTLE, STATE_TTL)
            .await?
            .and_then(|bytes| String::from_utf8(bytes).ok()?.parse::<u64>().ok())
            .map(BattleId::new))
    }

    /// Closes battle `pkid` of `mode` on an operator's order; the settled record if the close
    /// settled a round.
    pub async fn force_close(
        &self,
        mode: Mode,
        pkid: PkId,
        reason: &str,
    ) -> EngineResult<Option<PkRecord>> {
        let unknown = || {
            EngineError::from(livepk_core::InvalidArgument::new(
                "pkid",
                format!("no {} pk {pkid} is known", mode.as_str()),
            ))
        };
        let driver = self.driver(mode).ok_or_else(|| {
            EngineError::from(livepk_core::InvalidArgument::new(
                "mode",
                format!("{} battles are not served by this version", mode.as_str()),
            ))
        })?;
        let battle = self.battle_of_pkid(mode, pkid).await?.ok_or_else(unknown)?;
        tracing::warn!(mode = mode.as_str(), %pkid, reason, "admin force-closes a pk");
        driver.force_close(battle, Some(pkid)).await
    }
}

/// The rooms a transition makes its battle claim and release.
struct StageMove {
    claims: Vec<RoomSid>,
    releases: Vec<RoomSid>,
}

impl StageMove {
    fn of<D: Vocabulary>(snapshot: &Snapshot<D>, after: Option<&D::Battle>) -> StageMove {
        let Some(after) = after else {
            return StageMove { claims: Vec::new(), releases: Vec::new() };
        };
        let before: BTreeSet<RoomSid> = snapshot
            .battle()
            .filter(|read| read.battle_id() == after.battle_id())
            .map(|read| read.stage().into_iter().collect())
            .unwrap_or_default();
        let now: BTreeSet<RoomSid> = after.stage().into_iter().collect();
        StageMove {
            claims: now.difference(&before).copied().collect(),
            releases: before.difference(&now).copied().collect(),
        }
    }
}

/// The transactions of a commit, truth first (see the module documentation).
fn write_plan<M: ModeBinding, R>(
    binding: &M,
    snapshot: &Snapshot<M::Domain>,
    transition: &Transition<M::Domain, R>,
    events: Vec<Vec<u8>>,
) -> Vec<Transaction> {
    let effects = &transition.effects;
    // The pointers: aggregates and changes grouped by tag, in order of first appearance.
    let mut pointers: Vec<Transaction> = Vec::new();
    let mut group = |tag: String| -> usize {
        match pointers.iter().position(|transaction| transaction.tag == tag) {
            Some(index) => index,
            None => {
                pointers.push(Transaction::new(tag));
                pointers.len() - 1
            }
        }
    };
    let mut placed = Vec::new();
    for aggregate in &transition.aggregates {
        let id = livepk_battle::Aggregate::id(aggregate);
        let key = binding.aggregate_key(id);
        placed.push((group(key.tag.clone()), key, id, aggregate));
    }
    let mut change_ops = Vec::new();
    for change in &effects.changes {
        for (tag, op) in binding.change_ops(change) {
            change_ops.push((group(tag), op));
        }
    }
    for (index, key, id, aggregate) in placed {
        let transaction = std::mem::take(&mut pointers[index]);
        pointers[index] = transaction
            .expect_version(key.name.clone(), snapshot.aggregate_version(id))
            .op(Op::Put { name: key.name, value: encode(aggregate), ttl: Some(STATE_TTL) });
    }
    for (index, op) in change_ops {
        pointers[index].ops.push(op);
    }

    // Aggregates and changes under the battle's own tag (RoomPk's room beside its battle) go in
    // the battle's transaction: written together or not at all, so a lost race on them leaves
    // no battle behind that the re-run would find already moved on.
    let battle_tag =
        transition.battle.as_ref().map(|battle| binding.battle_tag(battle.battle_id()));
    let same_tag = battle_tag
        .as_ref()
        .and_then(|tag| pointers.iter().position(|transaction| &transaction.tag == tag))
        .map(|index| pointers.remove(index));

    let mut plan = Vec::with_capacity(pointers.len() + 1);
    let battle_is_new = transition
        .battle
        .as_ref()
        .is_some_and(|battle| snapshot.battle_version(battle.battle_id()) == 0);
    // A changed or closed battle is the truth, so its notifications go with it; a new battle
    // only becomes real when the pointers point at it, so its notifications go with them.
    let notify_with_battle = transition.battle.is_some() && (!battle_is_new || pointers.is_empty());
    let mut events = Some(events).filter(|events| !events.is_empty());
    if let Some(battle) = &transition.battle {
        let mut transaction = Transaction::new(binding.battle_tag(battle.battle_id()))
            .expect_version(BATTLE, snapshot.battle_version(battle.battle_id()));
        transaction.ops = score_ops(binding, battle, effects.scores);
        transaction.ops.push(Op::Put {
            name: BATTLE.into(),
            value: encode(battle),
            ttl: Some(STATE_TTL),
        });
        let round = battle.round();
        let window = match round.scoring_window() {
            Some((from_ms, until_ms)) => {
                ScoringWindow { open: true, from_ms, until_ms, epoch: round.pkid.get() }
            }
            None => ScoringWindow { open: false, from_ms: 0, until_ms: 0, epoch: round.pkid.get() },
        };
        transaction.ops.push(Op::HSet {
            name: WINDOW.into(),
            fields: window.fields(),
            ttl: Some(STATE_TTL),
        });
        if let Some(same_tag) = same_tag {
            transaction.conditions.extend(same_tag.conditions);
            transaction.ops.extend(same_tag.ops);
        }
        if notify_with_battle && let Some(events) = events.take() {
            transaction.ops.push(Op::Outbox { events });
        }
        plan.push(transaction);
    }
    if let Some(events) = events.take() {
        match pointers.last_mut() {
            Some(last) => last.ops.push(Op::Outbox { events }),
            // Only notifications: they still go through an outbox, on a tag of what they are
            // about (never one tag per mode, which would put a mode's notes on one slot).
            None => pointers.push(
                Transaction::new(notes_tag(binding, snapshot, &events)).op(Op::Outbox { events }),
            ),
        }
    }
    plan.extend(pointers);
    plan
}

/// The tag of an outbox that holds only notifications (nothing else is written): the battle's
/// own tag when the command read one, else the tag of the first aggregate it read, else one of
/// [`NOTES_BUCKETS`] tags of the mode picked by the events' bytes. Any tag will do for
/// exactly-once (the outbox is committed whole and relayed per tag, and the sweeper finds
/// every marked tag); this spreads the notes over the slots.
fn notes_tag<M: ModeBinding>(
    binding: &M,
    snapshot: &Snapshot<M::Domain>,
    events: &[Vec<u8>],
) -> String {
    if let Some(battle) = snapshot.battle() {
        return binding.battle_tag(battle.battle_id());
    }
    if let Some(id) = snapshot.loaded_ids().next() {
        return binding.aggregate_key(id).tag;
    }
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    events.hash(&mut hasher);
    format!("{}:notes:{}", M::MODE.as_str(), hasher.finish() % NOTES_BUCKETS)
}

/// How many notes-only outbox tags a mode spreads over when nothing names a better one.
const NOTES_BUCKETS: u64 = 64;

/// The ops that reset or drop a battle's score keys and its gift records.
fn score_ops<M: ModeBinding>(
    binding: &M,
    battle: &<M::Domain as Vocabulary>::Battle,
    action: ScoreAction,
) -> Vec<Op> {
    if !matches!(action, ScoreAction::Reset | ScoreAction::Delete) {
        return Vec::new();
    }
    let keys = binding.score_keys(battle);
    // The gift records are set aside as the previous battle's: a tag that holds one battle after
    // another (RoomPk's room) would otherwise keep every txn id it ever judged. The previous
    // battle's answers still stand (a retry whose send time a skewed clock put in the new
    // window answers as before); older ones go (such gifts were sent long before the window).
    let mut ops = vec![Op::RotateScoreRecords, Op::DeleteKey { name: keys.totals }];
    ops.extend(keys.keys.into_iter().map(|name| Op::DeleteKey { name }));
    let boards = [keys.senders.first, keys.senders.second].into_iter().chain(keys.boards);
    ops.extend(boards.map(|name| Op::DeleteBoard { name }));
    ops
}

fn ids_tag(mode: Mode) -> String {
    format!("ids:{}", mode.as_str())
}

fn pkid_tag(mode: Mode, pkid: PkId) -> String {
    format!("pkid:{}:{pkid}", mode.as_str())
}

/// Encodes a stored value. Serializing these plain structs to JSON cannot fail (no maps with
/// non-string keys).
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Decodes a stored value; `what` names it in the error.
pub(crate) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> EngineResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|error| EngineError::Store(StoreError::Corrupt(format!("{what}: {error}"))))
}

#[cfg(all(test, feature = "testkit"))]
mod notes_tests {
    //! Where an outbox of notifications alone goes (issue 13: never one tag per mode).

    use std::sync::Arc;

    use livepk_battle::{BattleId, Round, Scores, Sides, Transition};
    use livepk_core::{GiftId, PkId, RoomSid};
    use livepk_store::Op;

    use super::write_plan;
    use crate::binding::{ModeBinding, Snapshot};
    use crate::testkit::TestKit;
    use crate::testkit::duel::{Duel, DuelAdapter, DuelBattle, DuelRoom, StageDuel};

    async fn duel() -> (TestKit, Arc<DuelAdapter<StageDuel>>) {
        let mut adapter = None;
        let kit = TestKit::new(&[], |engine| {
            let built = DuelAdapter::<StageDuel>::new(engine.clone());
            adapter = Some(built.clone());
            vec![built.parts()]
        })
        .await;
        (kit, adapter.expect("built"))
    }

    /// The tag of the one transaction a notes-only transition writes.
    fn notes_tag(
        adapter: &DuelAdapter<StageDuel>,
        snapshot: &Snapshot<Duel>,
        events: Vec<Vec<u8>>,
    ) -> String {
        let transition: Transition<Duel, ()> = Transition::unchanged(());
        let plan = write_plan(adapter, snapshot, &transition, events);
        assert_eq!(plan.len(), 1);
        assert!(matches!(plan[0].ops.as_slice(), [Op::Outbox { .. }]));
        plan[0].tag.clone()
    }

    #[tokio::test]
    async fn notes_alone_go_to_the_battle_or_the_aggregate_read_else_spread_over_buckets() {
        let (_kit, adapter) = duel().await;
        let room = RoomSid::from_trusted(7);
        let battle = DuelBattle {
            battle_id: BattleId::new(42),
            room,
            gifts: Sides::new(GiftId::from_trusted(1), GiftId::from_trusted(2)),
            takes_stage: true,
            finish_at: None,
            round: Round::new(PkId::from_trusted(9)),
        };
        let mut snapshot = Snapshot::new();
        snapshot.put_aggregate(room, Some(DuelRoom { room, battle: None }), 1);
        let aggregate_tag = adapter.aggregate_key(room).tag;
        assert_eq!(notes_tag(&adapter, &snapshot, vec![b"a".to_vec()]), aggregate_tag);
        snapshot.put_battle(Some((battle, 3)), Scores::default());
        let battle_tag = adapter.battle_tag(BattleId::new(42));
        assert_eq!(notes_tag(&adapter, &snapshot, vec![b"a".to_vec()]), battle_tag);

        // Nothing read: the events pick one of the mode's buckets, not one tag for the mode.
        let empty = Snapshot::new();
        let tags: std::collections::BTreeSet<String> = (0..32u32)
            .map(|n| notes_tag(&adapter, &empty, vec![n.to_be_bytes().to_vec()]))
            .collect();
        assert!(tags.len() > 1, "{tags:?}");
        let prefix = format!("{}:notes:", <DuelAdapter<StageDuel> as ModeBinding>::MODE.as_str());
        assert!(tags.iter().all(|tag| tag.starts_with(&prefix)), "{tags:?}");
    }
}
