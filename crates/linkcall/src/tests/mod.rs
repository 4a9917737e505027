//! Tests of the state machine. [`World`] drives the real adapter on the battle engine's test kit
//! (the in-process store, a manual clock, an in-memory SQLite): commands are committed, and
//! deadlines fired, by the same engine as in the server. It reads the outcome back and renders it
//! as one line, so a table row can say in a few words what a (state, command) pair must do.
//!
//! Notifications are encoded as the domain values themselves (JSON) instead of the server's
//! protobuf messages, so a test reads back exactly what the state machine emitted.

mod cross_mode;
mod errors;
mod layout;
mod queries;
mod races;
mod split;
mod table;
mod timers;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use livepk_battle::{BattleId, PhaseDeadline, Scores};
use livepk_core::{
    BusinessError, Gift, GiftId, PkId, ReceiverId, RoomSid, SenderProfile, SingerId, TargetKind,
    UserId,
};
use livepk_engine::testkit::TestKit;
use livepk_engine::{EncodeContext, EngineError, EngineResult, ModeBinding, RouteKey};
use livepk_sql::PkRecord;

use crate::adapter::{LinkCallAdapter, LinkCallEncoder, SingerProfile};
use crate::*;

pub(super) const HOST: u64 = 1;
pub(super) const GUEST: u64 = 2;
pub(super) const OTHER: u64 = 3;
pub(super) const START_MS: u64 = livepk_engine::testkit::START_MS;

pub(super) fn singer(raw: u64) -> SingerId {
    SingerId::from_trusted(raw)
}

pub(super) fn sid_of(raw: u64) -> RoomSid {
    RoomSid::from_trusted(100 + raw)
}

pub(super) fn user(raw: u64) -> UserId {
    UserId::from_trusted(raw)
}

/// Encodes notifications as their JSON (tagged with the mode), so tests read back the domain
/// values.
struct JsonEncoder;

#[async_trait]
impl LinkCallEncoder for JsonEncoder {
    async fn encode(
        &self,
        _adapter: &LinkCallAdapter,
        notifications: &[Notification],
        _context: EncodeContext<'_, LinkCall>,
    ) -> EngineResult<Vec<Vec<u8>>> {
        Ok(notifications
            .iter()
            .map(|notification| {
                serde_json::to_vec(&("linkcall", notification)).expect("plain data")
            })
            .collect())
    }
}

/// A refused command: the error as the engine answered it.
#[derive(Debug)]
pub(super) struct Refusal(EngineError);

impl Refusal {
    /// The LinkCallPk error, when it is one.
    pub fn linkcall(&self) -> Option<&LinkCallError> {
        let business = self.0.as_business()?;
        (business as &dyn std::error::Error).downcast_ref::<LinkCallError>()
    }

    /// The business code.
    pub fn business_code(&self) -> u32 {
        self.0.as_business().map_or(0, BusinessError::business_code)
    }

    /// The refusal's metadata details.
    pub fn details(&self) -> Vec<(String, String)> {
        self.0.as_business().map(BusinessError::details).unwrap_or_default()
    }

    /// See [`LinkCallError::settled_answer`].
    pub fn settled_answer(&self) -> Option<&SettledAnswer> {
        self.linkcall().and_then(LinkCallError::settled_answer)
    }

    /// See [`LinkCallError::pk_state`].
    pub fn pk_state(&self) -> Option<PkState> {
        self.linkcall().and_then(LinkCallError::pk_state)
    }
}

pub(super) type Outcome<T> = Result<T, Refusal>;

/// Everything stored, as the adapter reads it back: to render, and to check that a refused
/// command changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct State {
    pub anchors: BTreeMap<SingerId, Anchor>,
    pub battles: BTreeMap<BattleId, Battle>,
    pub scores: BTreeMap<BattleId, Scores>,
    /// Online list: singer -> availability time.
    pub online: BTreeMap<SingerId, u64>,
    /// Applications: (host, guest).
    pub applications: Vec<(SingerId, SingerId)>,
    /// The room stage holders (as stored) of the anchors' rooms.
    pub stages: BTreeMap<RoomSid, Vec<u8>>,
}

/// A settled record as the tests compare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SettledView {
    pub pkid: PkId,
    pub ended_by: String,
    pub host_score: u64,
    pub guest_score: u64,
    pub winner: Option<SingerId>,
    pub start_ms: u64,
    pub end_ms: u64,
}

impl From<&PkRecord> for SettledView {
    fn from(record: &PkRecord) -> Self {
        SettledView {
            pkid: record.pkid,
            ended_by: record.ended_by.clone(),
            host_score: record.participants[0].score,
            guest_score: record.participants[1].score,
            winner: (record.winner_id != 0).then(|| singer(record.winner_id)),
            start_ms: record.start_ms,
            end_ms: record.end_ms,
        }
    }
}

/// What the last command (or the last timers fired) emitted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Last {
    pub notifications: Vec<Notification>,
    pub settled: Vec<SettledView>,
}

impl Last {
    pub fn is_empty(&self) -> bool {
        self.notifications.is_empty() && self.settled.is_empty()
    }
}

/// The adapter on the test kit.
pub(super) struct World {
    pub kit: TestKit,
    pub adapter: Arc<LinkCallAdapter>,
    /// What the last command emitted.
    pub last: Last,
    /// Records seen so far (to tell the new ones).
    records_seen: usize,
}

impl World {
    pub async fn new() -> World {
        let store = livepk_store::MemoryStore::new(livepk_store::StoreOptions::default());
        Self::on_store(Arc::new(store)).await
    }

    /// A world on `store` (a hooked store, to play a race in one chosen order).
    pub async fn on_store(store: Arc<dyn livepk_store::Store>) -> World {
        let mut adapter = None;
        let kit = TestKit::on_store(store, &CONFIG_KEYS, |engine| {
            let built = LinkCallAdapter::new(engine.clone(), Arc::new(JsonEncoder));
            adapter = Some(built.clone());
            vec![built.parts()]
        })
        .await;
        let adapter = adapter.expect("the kit built the adapter");
        let world = World { kit, adapter, last: Last::default(), records_seen: 0 };
        for raw in [HOST, GUEST, OTHER] {
            world.profile(raw, 5).await;
        }
        world
    }

    pub fn now(&self) -> u64 {
        self.kit.now_ms()
    }

    pub fn advance_secs(&self, secs: u64) {
        self.kit.advance_secs(secs);
    }

    pub async fn set_config(&self, key: &str, value: i64) {
        self.kit.set_config(key, value).await;
    }

    pub async fn config(&self) -> LinkCallConfig {
        self.adapter.config().await.expect("config")
    }

    /// Anchor `raw`'s profile with star level `star` (its room is `sid_of(raw)`).
    pub async fn profile(&self, raw: u64, star: u32) {
        let profile = SingerProfile {
            nick: format!("anchor {raw}"),
            icon: String::new(),
            level: 1,
            star,
            sid: sid_of(raw).get(),
        };
        self.adapter.refresh_profile(singer(raw), &profile).await.expect("profile");
    }

    /// Records what the last step emitted, and answers.
    async fn finish<R>(&mut self, outcome: EngineResult<R>) -> Outcome<R> {
        self.last = self.take_last().await;
        outcome.map_err(Refusal)
    }

    async fn take_last(&mut self) -> Last {
        let notifications = self
            .kit
            .take_events()
            .await
            .iter()
            // Other modes' events (the kit's duels, tagged with their mode) are not this world's;
            // every LinkCall one must decode.
            .filter_map(|payload| {
                let tagged: Vec<serde_json::Value> =
                    serde_json::from_slice(payload).expect("an event tagged with its mode");
                (tagged[0] == "linkcall").then(|| {
                    serde_json::from_value(tagged[1].clone()).expect("a LinkCall notification")
                })
            })
            .collect();
        let records = self.records().await;
        let settled = records[self.records_seen..].to_vec();
        self.records_seen = records.len();
        Last { notifications, settled }
    }

    // -- reading -----------------------------------------------------------------------------

    /// Every settled record, oldest first.
    pub async fn records(&self) -> Vec<SettledView> {
        let mut records = self.kit.records().await;
        records.reverse();
        records.iter().map(SettledView::from).collect()
    }

    pub async fn anchor(&self, raw: u64) -> Option<Anchor> {
        let snapshot = self.adapter.load_anchors(&[singer(raw)]).await.expect("read");
        snapshot.aggregate(singer(raw)).cloned()
    }

    /// Every battle that exists, by id (ids are allocated from 1; a refused creation may skip
    /// one, and no test makes more than a few).
    async fn battles(&self) -> BTreeMap<BattleId, (Battle, Scores)> {
        let engine = self.kit.engine();
        let mut battles = BTreeMap::new();
        for id in 1..=32 {
            let Some((battle, _)) =
                engine.read_battle(&*self.adapter, BattleId::new(id)).await.expect("read")
            else {
                continue;
            };
            let scores = engine.read_scores(&*self.adapter, &battle).await.expect("read");
            battles.insert(battle.battle_id, (battle, scores));
        }
        battles
    }

    /// The battle `raw` points at, if it exists.
    pub async fn battle_of(&self, raw: u64) -> Option<Battle> {
        let snapshot = self.adapter.load_with_battle(singer(raw)).await.expect("read");
        snapshot.battle().cloned()
    }

    /// The side totals of the battle `raw` points at.
    pub async fn scores_of(&self, raw: u64) -> Scores {
        let snapshot = self.adapter.load_with_battle(singer(raw)).await.expect("read");
        snapshot.scores()
    }

    pub async fn latest_battle(&self) -> Option<Battle> {
        self.battles().await.into_values().next_back().map(|(battle, _)| battle)
    }

    /// The current phase deadline of the battle `raw` points at, as its job names it.
    pub async fn deadline_of(&self, raw: u64) -> Option<PhaseDeadline> {
        let battle = self.battle_of(raw).await?;
        let (phase, due_ms) = battle.round.phase.deadline()?;
        Some(PhaseDeadline { battle: battle.battle_id, pkid: battle.pkid(), phase, due_ms })
    }

    pub async fn state(&self) -> State {
        let ids: Vec<SingerId> = [HOST, GUEST, OTHER, 7, 8, 9].into_iter().map(singer).collect();
        let snapshot = self.adapter.load_anchors(&ids).await.expect("read");
        let anchors = ids
            .iter()
            .filter_map(|id| snapshot.aggregate(*id).map(|anchor| (*id, anchor.clone())))
            .collect();
        let battles = self.battles().await;
        let engine = self.kit.engine();
        let online = engine
            .store
            .zrange(
                crate::adapter::ONLINE_TAG,
                crate::adapter::ONLINE,
                0,
                usize::MAX,
                livepk_store::Order::Ascending,
            )
            .await
            .expect("read")
            .into_iter()
            .map(|(member, score)| (singer(member.parse().expect("an id")), score as u64))
            .collect();
        let mut applications = Vec::new();
        for host in &ids {
            for guest in self.adapter.applicants(*host).await.expect("read") {
                applications.push((*host, guest));
            }
        }
        applications.sort();
        let mut stages = BTreeMap::new();
        for id in &ids {
            let room = sid_of(id.get());
            let holder = engine.store.get(&format!("stage:{room}"), "holder").await.expect("read");
            if let Some(holder) = holder {
                stages.insert(room, holder.value);
            }
        }
        State {
            anchors,
            scores: battles.iter().map(|(id, (_, scores))| (*id, *scores)).collect(),
            battles: battles.into_iter().map(|(id, (battle, _))| (id, battle)).collect(),
            online,
            applications,
            stages,
        }
    }

    // -- writing behind the adapter's back ----------------------------------------------------

    /// Writes `battle` alone, as if a commit stopped after its first step (the battle written,
    /// the anchors not).
    pub async fn put_battle_only(&self, battle: &Battle) {
        let tag = self.adapter.battle_tag(battle.battle_id);
        let value = serde_json::to_vec(battle).expect("plain data");
        // "battle" is the name the engine stores a battle aggregate under.
        let put = livepk_store::Op::Put { name: "battle".into(), value, ttl: None };
        let outcome = self
            .kit
            .engine()
            .store
            .commit(livepk_store::Transaction::new(tag).op(put))
            .await
            .expect("write");
        assert_eq!(outcome, livepk_store::CommitOutcome::Committed);
        let engine = self.kit.engine();
        let (read, _) = engine
            .read_battle(&*self.adapter, battle.battle_id)
            .await
            .expect("read")
            .expect("written");
        assert_eq!(&read, battle, "written where the engine reads it");
    }

    /// Deletes battle `id`, as if it expired.
    pub async fn drop_battle(&self, id: BattleId) {
        let delete = livepk_store::Op::Delete { name: "battle".into() };
        let tag = self.adapter.battle_tag(id);
        let engine = self.kit.engine();
        engine.store.commit(livepk_store::Transaction::new(tag).op(delete)).await.expect("write");
        assert!(engine.read_battle(&*self.adapter, id).await.expect("read").is_none());
    }

    /// Writes `anchor` as it is (a hand-built state no command sequence reaches).
    pub async fn put_anchor(&self, anchor: &Anchor) {
        let key = self.adapter.aggregate_key(anchor.singer_id);
        let value = serde_json::to_vec(anchor).expect("plain data");
        let put = livepk_store::Op::Put { name: key.name, value, ttl: None };
        let transaction = livepk_store::Transaction::new(key.tag).op(put);
        self.kit.engine().store.commit(transaction).await.expect("write");
        assert_eq!(self.anchor(anchor.singer_id.get()).await.as_ref(), Some(anchor));
    }

    // -- commands ----------------------------------------------------------------------------

    pub async fn open(&mut self, raw: u64) -> Outcome<OpenFunctionReply> {
        let request = OpenFunctionRequest { singer_id: singer(raw), singer_sid: sid_of(raw) };
        let outcome = self.adapter.open_function(request).await;
        self.finish(outcome).await
    }

    pub async fn close_function(&mut self, raw: u64) -> Outcome<OpenFunctionReply> {
        let outcome = self.adapter.close_function(singer(raw)).await;
        self.finish(outcome).await
    }

    pub async fn activity(&mut self, raw: u64, activity: Activity) {
        let outcome = self.adapter.set_singer_activity(singer(raw), activity).await;
        self.finish(outcome).await.expect("activity is never refused");
    }

    pub async fn apply(&mut self, guest: u64, host: u64) -> Outcome<StateReply> {
        let request = ApplyRequest { guest_id: singer(guest), host_id: singer(host) };
        let outcome = self.adapter.apply(request).await;
        self.finish(outcome).await
    }

    pub async fn link(&mut self, host: u64, guest: u64) -> Outcome<LinkReply> {
        let request = LinkRequest { host_id: singer(host), guest_id: singer(guest) };
        let outcome = self.adapter.link(request).await;
        self.finish(outcome).await
    }

    pub async fn agree(&mut self, guest: u64, host: u64) -> Outcome<ConfirmReply> {
        let outcome = self.adapter.confirm(singer(guest), singer(host), true).await;
        self.finish(outcome).await
    }

    pub async fn refuse(&mut self, guest: u64, host: u64) -> Outcome<ConfirmReply> {
        let outcome = self.adapter.confirm(singer(guest), singer(host), false).await;
        self.finish(outcome).await
    }

    pub fn pair(host: u64, guest: u64) -> PairRequest {
        PairRequest { host_id: singer(host), guest_id: singer(guest) }
    }

    pub async fn start(&mut self, host: u64, guest: u64) -> Outcome<BattleReply> {
        let outcome = self.adapter.start(Self::pair(host, guest)).await;
        self.finish(outcome).await
    }

    pub async fn switch(&mut self, raw: u64) -> Outcome<SwitchSceneReply> {
        let outcome = self.adapter.switch_scene(singer(raw)).await;
        self.finish(outcome).await
    }

    pub async fn count(&mut self, host: u64, guest: u64) -> Outcome<BattleReply> {
        let outcome = self.adapter.count(Self::pair(host, guest)).await;
        self.finish(outcome).await
    }

    pub async fn add_time(&mut self, host: u64, guest: u64) -> Outcome<BattleReply> {
        let outcome = self.adapter.add_time(Self::pair(host, guest)).await;
        self.finish(outcome).await
    }

    pub async fn close(&mut self, host: u64, guest: u64) -> Outcome<CloseReply> {
        let outcome = self.adapter.close(Self::pair(host, guest)).await;
        self.finish(outcome).await
    }

    /// An operator closes the battle of pkid `pkid`.
    pub async fn admin_close(&mut self, pkid: PkId) -> Outcome<Option<PkRecord>> {
        let outcome =
            self.kit.engine().force_close(livepk_core::Mode::LinkCall, pkid, "test").await;
        self.finish(outcome).await
    }

    pub async fn leave(&mut self, raw: u64) {
        let outcome = self.adapter.singer_leave(singer(raw)).await;
        self.finish(outcome).await.expect("the leave event is never refused");
    }

    pub async fn come_in(&mut self, raw: u64) -> SingerComeInRoomReply {
        let request = SingerComeInRoomRequest { singer_id: singer(raw), singer_sid: sid_of(raw) };
        let outcome = self.adapter.singer_come_in_room(request).await;
        self.finish(outcome).await.expect("coming in is never refused").0
    }

    /// A gift worth `points` to `receiver`, sent now, through the engine's gift ledger: true when
    /// it counted in a LinkCall battle.
    pub async fn gift(&mut self, receiver: u64, points: u64) -> bool {
        let txn = format!("t{}", self.kit.now_ms() + points * 7 + receiver * 1_000_003);
        self.gift_txn(&txn, receiver, points, self.now()).await
    }

    /// A gift with its own id and send time.
    pub async fn gift_txn(
        &mut self,
        txn: &str,
        receiver: u64,
        points: u64,
        sent_at_ms: u64,
    ) -> bool {
        let gift = Gift {
            gift_txn_id: txn.into(),
            sender: SenderProfile {
                user_id: user(50 + receiver),
                user_nick: "fan".into(),
                user_icon: String::new(),
                user_level: 1,
                user_wealth: 1,
            },
            receiver_id: ReceiverId::from(singer(receiver)),
            room_sid: sid_of(receiver),
            gift_id: GiftId::from_trusted(7),
            gift_count: 1,
            unit_value: points,
            sent_at_ms,
            show_id: None,
            call_id: None,
        };
        let outcome = self.kit.runtime.ledger.record(&gift).await.expect("the ledger");
        self.last = self.take_last().await;
        outcome.changes.iter().any(|change| change.mode == livepk_core::Mode::LinkCall)
    }

    /// Runs every job due now through the engine's delay queue. Returns how many ran.
    pub async fn fire_due_timers(&mut self) -> usize {
        let fired = self.kit.fire_due_timers().await;
        self.last = self.take_last().await;
        fired
    }

    /// Delivers a phase-deadline job now, whatever its due time (a re-delivery, an early or a
    /// stale delivery), and everything else due.
    pub async fn deliver_phase(&mut self, deadline: PhaseDeadline) -> usize {
        let body = serde_json::to_vec(&deadline).expect("plain data");
        let id = format!("test.phase:{}:{}", deadline.pkid, self.now());
        self.deliver(&livepk_engine::phase_topic(livepk_core::Mode::LinkCall), &id, body).await
    }

    /// Delivers a popup-expiry job now, whatever its due time.
    pub async fn deliver_popup(&mut self, popup: PopupKey) -> usize {
        let body = serde_json::to_vec(&popup).expect("plain data");
        let id = format!("test.popup:{}:{}:{}", popup.guest, popup.host, self.now());
        self.deliver(&livepk_engine::invitation_topic(livepk_core::Mode::LinkCall), &id, body).await
    }

    async fn deliver(&mut self, topic: &str, id: &str, body: Vec<u8>) -> usize {
        let now = self.now();
        self.kit.engine().timers.schedule(topic, id, now, body).await.expect("schedule");
        self.fire_due_timers().await
    }

    /// How many jobs wait in the delay queue.
    pub async fn pending_jobs(&self) -> u64 {
        self.kit.engine().store.job_count().await.expect("read")
    }

    /// When the earliest pending job is due.
    pub async fn next_job_due(&self) -> Option<u64> {
        self.kit.engine().store.next_job_due().await.expect("read")
    }

    // -- rendering ---------------------------------------------------------------------------

    pub async fn anchor_state(&self, raw: u64) -> &'static str {
        match self.anchor(raw).await {
            Some(anchor) => anchor.listed_state(self.now(), PkState::Apply).as_str(),
            None => "-",
        }
    }

    pub async fn battle_summary(&self) -> String {
        match self.latest_battle().await {
            None => "none".to_string(),
            Some(battle) => {
                let phase = match battle.round.phase.name() {
                    // LinkCallPk calls its idle phase "linked".
                    livepk_battle::PhaseName::Idle => "linked",
                    other => other.as_str(),
                };
                format!("{phase}#{}", battle.pkid())
            }
        }
    }

    /// `battle | h:state g:state | nts [| settled(by) h:g]` after the last command.
    pub async fn summary(&self) -> String {
        let nts = self.last.notifications.iter().map(render).collect::<Vec<_>>().join(" ");
        let mut line = format!(
            "{} | h:{} g:{} | {}",
            self.battle_summary().await,
            self.anchor_state(HOST).await,
            self.anchor_state(GUEST).await,
            nts
        );
        for settled in &self.last.settled {
            line.push_str(&format!(
                " | settled({}) {}:{}",
                settled.ended_by, settled.host_score, settled.guest_score
            ));
        }
        line.trim_end().to_string()
    }

    /// The routing of a gift to `receiver`, as the engine's router would locate it.
    pub async fn located(&self, receiver: u64) -> Option<BattleId> {
        let key = RouteKey::Receiver(ReceiverId::from_trusted(receiver));
        let located = livepk_engine::GiftRoute::locate(&*self.adapter, key).await.expect("read");
        located.map(|located| located.battle)
    }
}

/// One notification in a few characters: `state(yes)>s1`, `scene0>r101`, `info>r102`,
/// `singers>r101`, `pklist>s2`.
pub(super) fn render(notification: &Notification) -> String {
    let target = match notification.target.kind {
        TargetKind::Singer => format!("s{}", notification.target.id),
        TargetKind::Room => format!("r{}", notification.target.id),
        TargetKind::User => format!("u{}", notification.target.id),
    };
    let what = match &notification.kind {
        NotificationKind::SingerState { pk_state, .. } => format!("state({})", pk_state.as_str()),
        NotificationKind::RoomPkScene { pk_scene, .. } => format!("scene{}", pk_scene.number()),
        NotificationKind::RoomPkInfo { .. } => "info".to_string(),
        NotificationKind::RoomPkSingerInfo { .. } => "singers".to_string(),
        NotificationKind::SingerPkList { .. } => "pklist".to_string(),
    };
    format!("{what}>{target}")
}

/// The last three digits of a business code (`403400025` -> `025`).
pub(super) fn short_code(error: &Refusal) -> String {
    format!("{:03}", error.business_code() % 1000)
}
