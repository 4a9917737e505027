//! Tests of the state machine. [`World`] drives the real adapter on the battle engine's test kit
//! (the in-process store, a manual clock, an in-memory SQLite): commands are committed, and
//! deadlines fired, by the same engine as in the server. It reads the outcome back and renders it
//! as one line, so a table row can say in a few words what a (state, command) pair must do.
//!
//! Notifications are encoded as the domain values themselves (JSON) instead of the server's
//! protobuf messages, so a test reads back exactly what the state machine emitted.

mod bounds;
mod queries;
mod races;
mod table;
mod timers;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use livepk_battle::{BattleId, PhaseName, Scores};
use livepk_core::{BusinessError, Gift, GiftId, PkId, ReceiverId, RoomSid, SenderProfile, UserId};
use livepk_engine::testkit::TestKit;
use livepk_engine::{EncodeContext, EngineError, EngineResult, ModeBinding};
use livepk_sql::PkRecord;
use livepk_store::Store;

use crate::adapter::{AcrossPkAdapter, AcrossPkEncoder, RoomState};
use crate::*;

/// Rooms of the tests.
pub(super) const RED: u64 = 101;
pub(super) const BLUE: u64 = 102;
pub(super) const THIRD: u64 = 103;
pub(super) const FOURTH: u64 = 104;
pub(super) const START_MS: u64 = livepk_engine::testkit::START_MS;

pub(super) fn room(raw: u64) -> RoomSid {
    RoomSid::from_trusted(raw)
}

pub(super) fn operator(raw: u64) -> UserId {
    UserId::from_trusted(raw * 10)
}

pub(super) fn card(raw: u64) -> RoomCard {
    RoomCard {
        room_id: room(raw),
        room_name: format!("room {raw}"),
        user_name: format!("owner {raw}"),
        user_avatar: format!("https://img.example/{raw}.png"),
    }
}

pub(super) fn terms(countdown_secs: u64) -> Terms {
    Terms { punishment: "sing a song".into(), countdown_secs }
}

/// Encodes notifications as their JSON (tagged with the mode), so tests read back the domain
/// values.
struct JsonEncoder;

#[async_trait]
impl AcrossPkEncoder for JsonEncoder {
    async fn encode(
        &self,
        _adapter: &AcrossPkAdapter,
        notifications: &[Notification],
        _context: EncodeContext<'_, AcrossPk>,
    ) -> EngineResult<Vec<Vec<u8>>> {
        Ok(notifications
            .iter()
            .map(|notification| {
                serde_json::to_vec(&("acrosspk", notification)).expect("plain data")
            })
            .collect())
    }
}

/// A refused command: the error as the engine answered it.
#[derive(Debug)]
pub(super) struct Refusal(pub EngineError);

impl Refusal {
    /// The AcrossPk error, when it is one.
    pub fn acrosspk(&self) -> Option<&AcrossPkError> {
        let business = self.0.as_business()?;
        (business as &dyn std::error::Error).downcast_ref::<AcrossPkError>()
    }

    /// The business code.
    pub fn business_code(&self) -> u32 {
        self.0.as_business().map_or(0, BusinessError::business_code)
    }
}

pub(super) type Outcome<T> = Result<T, Refusal>;

/// Everything stored, as the adapter reads it back: to render, and to check that a refused
/// command changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct State {
    pub rooms: BTreeMap<RoomSid, Room>,
    pub battles: BTreeMap<BattleId, Battle>,
    pub scores: BTreeMap<BattleId, Scores>,
    /// The open-PK list: room -> creation time.
    pub open: BTreeMap<RoomSid, u64>,
    /// The room stage holders (as stored).
    pub stages: BTreeMap<RoomSid, Vec<u8>>,
}

/// A settled record as the tests compare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SettledView {
    pub pkid: PkId,
    pub ended_by: String,
    pub red: u64,
    pub blue: u64,
    pub winner: u64,
    pub start_ms: u64,
    pub end_ms: u64,
}

impl From<&PkRecord> for SettledView {
    fn from(record: &PkRecord) -> Self {
        SettledView {
            pkid: record.pkid,
            ended_by: record.ended_by.clone(),
            red: record.participants[0].score,
            blue: record.participants[1].score,
            winner: record.winner_id,
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
    pub adapter: Arc<AcrossPkAdapter>,
    /// What the last command emitted.
    pub last: Last,
    /// Records seen so far (to tell the new ones).
    records_seen: usize,
}

impl World {
    pub async fn new() -> World {
        Self::on_store(Arc::new(livepk_store::MemoryStore::new(Default::default()))).await
    }

    /// A world on `store` (Redis, for races whose round trips must interleave).
    pub async fn on_store(store: Arc<dyn Store>) -> World {
        let mut adapter = None;
        let kit = TestKit::on_store(store, &CONFIG_KEYS, |engine| {
            let built = AcrossPkAdapter::new(engine.clone(), Arc::new(JsonEncoder));
            adapter = Some(built.clone());
            vec![built.parts()]
        })
        .await;
        let adapter = adapter.expect("the kit built the adapter");
        World { kit, adapter, last: Last::default(), records_seen: 0 }
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

    /// Records what the last step emitted, and answers.
    async fn finish_step<R>(&mut self, outcome: EngineResult<R>) -> Outcome<R> {
        self.last = self.take_last().await;
        outcome.map_err(Refusal)
    }

    async fn take_last(&mut self) -> Last {
        let notifications = self
            .kit
            .take_events()
            .await
            .iter()
            .map(|payload| {
                let (mode, notification): (String, Notification) =
                    serde_json::from_slice(payload).expect("an AcrossPk notification");
                assert_eq!(mode, "acrosspk");
                notification
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

    pub async fn room(&self, raw: u64) -> Option<Room> {
        let snapshot = self.adapter.load_rooms(&[room(raw)]).await.expect("read");
        snapshot.aggregate(room(raw)).cloned()
    }

    /// Every battle that exists, by id (ids are allocated from 1; no test makes more than a
    /// few hundred).
    pub async fn battles(&self) -> BTreeMap<BattleId, (Battle, Scores)> {
        let engine = self.kit.engine();
        let mut battles = BTreeMap::new();
        for id in 1..=256 {
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

    /// The battle `raw` points at.
    pub async fn battle_of(&self, raw: u64) -> Option<Battle> {
        let snapshot = self.adapter.load_with_battle(room(raw)).await.expect("read");
        snapshot.battle().cloned()
    }

    /// The pkid of the battle `raw` points at.
    pub async fn pkid_of(&self, raw: u64) -> PkId {
        self.battle_of(raw).await.expect("a battle").pkid()
    }

    /// The open-PK list, room -> creation time.
    pub async fn open_list(&self) -> BTreeMap<RoomSid, u64> {
        self.kit
            .engine()
            .store
            .zrange("acrosspk:open", "created", 0, usize::MAX, livepk_store::Order::Descending)
            .await
            .expect("read")
            .into_iter()
            .map(|(member, score)| (room(member.parse().expect("a room id")), score as u64))
            .collect()
    }

    pub async fn state(&self) -> State {
        let ids: Vec<RoomSid> = [RED, BLUE, THIRD, FOURTH].into_iter().map(room).collect();
        let snapshot = self.adapter.load_rooms(&ids).await.expect("read");
        let rooms = ids
            .iter()
            .filter_map(|id| snapshot.aggregate(*id).map(|room| (*id, room.clone())))
            .collect();
        let battles = self.battles().await;
        let engine = self.kit.engine();
        let mut stages = BTreeMap::new();
        for id in &ids {
            let holder = engine.store.get(&format!("stage:{id}"), "holder").await.expect("read");
            if let Some(holder) = holder {
                stages.insert(*id, holder.value);
            }
        }
        State {
            rooms,
            scores: battles.iter().map(|(id, (_, scores))| (*id, *scores)).collect(),
            battles: battles.into_iter().map(|(id, (battle, _))| (id, battle)).collect(),
            open: self.open_list().await,
            stages,
        }
    }

    /// `GetState` of room `raw`.
    pub async fn room_state(&self, raw: u64) -> RoomState {
        self.adapter.state(room(raw)).await.expect("read")
    }

    /// The challenges room `raw` received that are pending, as `challenger>challenged`.
    pub async fn challenges(&self, raw: u64) -> Vec<String> {
        let offers = self.adapter.challenges(room(raw)).await.expect("read");
        offers.iter().map(|offer| format!("{}>{raw}", offer.from.room_id)).collect()
    }

    /// Page `page` of the open PKs as `room_id`s, for `caller`.
    pub async fn created_list(&self, caller: u64, page: u32) -> Vec<u64> {
        let offers = self.adapter.created(room(caller), page).await.expect("read");
        offers.iter().map(|offer| offer.from.room_id.get()).collect()
    }

    // -- writing behind the adapter's back ----------------------------------------------------

    /// Writes `battle` as it is, where the engine keeps it (a step of a commit cut short).
    pub async fn put_battle(&self, battle: &Battle) {
        let tag = self.adapter.battle_tag(battle.battle_id);
        let value = serde_json::to_vec(battle).expect("plain data");
        // "battle" is the name the engine stores a battle aggregate under.
        let put = livepk_store::Op::Put { name: "battle".into(), value, ttl: None };
        let transaction = livepk_store::Transaction::new(tag).op(put);
        self.kit.engine().store.commit(transaction).await.expect("write");
        let read = self.kit.engine().read_battle(&*self.adapter, battle.battle_id).await;
        assert_eq!(read.expect("read").map(|(read, _)| read).as_ref(), Some(battle));
    }

    /// Writes `aggregate` as it is (a step of a commit cut short).
    pub async fn put_room(&self, aggregate: &Room) {
        let key = self.adapter.aggregate_key(aggregate.room_id);
        let value = serde_json::to_vec(aggregate).expect("plain data");
        let put = livepk_store::Op::Put { name: key.name, value, ttl: None };
        let transaction = livepk_store::Transaction::new(key.tag).op(put);
        self.kit.engine().store.commit(transaction).await.expect("write");
        assert_eq!(self.room(aggregate.room_id.get()).await.as_ref(), Some(aggregate));
    }

    // -- commands ----------------------------------------------------------------------------

    pub async fn create(&mut self, raw: u64) -> Outcome<Offer> {
        self.create_with(raw, terms(300)).await
    }

    pub async fn create_with(&mut self, raw: u64, terms: Terms) -> Outcome<Offer> {
        let request = CreateRequest { card: card(raw), terms, operator_id: operator(raw) };
        let outcome = self.adapter.create(request).await;
        self.finish_step(outcome).await
    }

    pub async fn cancel(&mut self, raw: u64) -> Outcome<Offer> {
        let outcome = self.adapter.cancel_create(room(raw)).await;
        self.finish_step(outcome).await
    }

    pub async fn challenge(&mut self, from: u64, to: u64) -> Outcome<Offer> {
        self.challenge_with(from, to, terms(300)).await
    }

    pub async fn challenge_with(&mut self, from: u64, to: u64, terms: Terms) -> Outcome<Offer> {
        let request = ChallengeRequest {
            card: card(from),
            pk_room_id: room(to),
            terms,
            operator_id: operator(from),
        };
        let outcome = self.adapter.challenge(request).await;
        self.finish_step(outcome).await
    }

    pub async fn reject(&mut self, raw: u64, challenger: u64) -> Outcome<Offer> {
        let request = RejectRequest {
            room_id: room(raw),
            pk_room_id: room(challenger),
            operator_id: operator(raw),
        };
        let outcome = self.adapter.reject(request).await;
        self.finish_step(outcome).await
    }

    pub fn accept_request(raw: u64, other: u64, source: AcceptSource) -> AcceptRequest {
        AcceptRequest {
            card: card(raw),
            pk_room_id: room(other),
            source,
            operator_id: operator(raw),
        }
    }

    /// `raw` accepts `creator`'s created PK.
    pub async fn accept_created(&mut self, raw: u64, creator: u64) -> Outcome<PkInfo> {
        let request = Self::accept_request(raw, creator, AcceptSource::Created);
        let outcome = self.adapter.accept(request).await;
        self.finish_step(outcome).await
    }

    /// `raw` accepts `challenger`'s challenge.
    pub async fn accept_challenge(&mut self, raw: u64, challenger: u64) -> Outcome<PkInfo> {
        let request = Self::accept_request(raw, challenger, AcceptSource::Challenge);
        let outcome = self.adapter.accept(request).await;
        self.finish_step(outcome).await
    }

    pub async fn finish(&mut self, raw: u64, pkid: PkId) -> Outcome<PkInfo> {
        self.finish_as(raw, operator(raw), pkid).await
    }

    /// Room `raw` finishes PK `pkid`, `operator_id` acting for it.
    pub async fn finish_as(
        &mut self,
        raw: u64,
        operator_id: UserId,
        pkid: PkId,
    ) -> Outcome<PkInfo> {
        let request = FinishRequest { room_id: room(raw), operator_id, pkid };
        let outcome = self.adapter.finish(request).await;
        self.finish_step(outcome).await
    }

    /// An operator closes PK `pkid`.
    pub async fn admin_close(&mut self, pkid: PkId) -> Outcome<Option<PkRecord>> {
        let outcome =
            self.kit.engine().force_close(livepk_core::Mode::AcrossPk, pkid, "test").await;
        self.finish_step(outcome).await
    }

    /// A gift worth `points` sent now in room `raw` by viewer `sender` to `receiver`, through the
    /// engine's gift ledger with its own txn id: true when this call counted it in an AcrossPk
    /// battle (false for a replay).
    pub async fn gift(&mut self, raw: u64, sender: u64, receiver: u64, points: u64) -> bool {
        let txn = format!("t{}-{raw}-{sender}-{receiver}-{points}", self.now());
        self.gift_txn(&txn, raw, sender, receiver, points, self.now()).await
    }

    /// A gift with its own id and send time.
    pub async fn gift_txn(
        &mut self,
        txn: &str,
        raw: u64,
        sender: u64,
        receiver: u64,
        points: u64,
        sent_at_ms: u64,
    ) -> bool {
        let gift = Gift {
            gift_txn_id: txn.into(),
            sender: SenderProfile {
                user_id: UserId::from_trusted(sender),
                user_nick: format!("fan {sender}"),
                user_icon: String::new(),
                user_level: 1,
                user_wealth: 2,
            },
            receiver_id: ReceiverId::from_trusted(receiver),
            room_sid: room(raw),
            gift_id: GiftId::from_trusted(7),
            gift_count: 1,
            unit_value: points,
            sent_at_ms,
            show_id: None,
            call_id: None,
        };
        let outcome = self.kit.runtime.ledger.record(&gift).await.expect("the ledger");
        self.kit.flush_score_notifications().await;
        self.last = self.take_last().await;
        !outcome.duplicate
            && outcome.changes.iter().any(|change| change.mode == livepk_core::Mode::AcrossPk)
    }

    /// Runs every job due now through the engine's delay queue. Returns how many ran.
    pub async fn fire_due_timers(&mut self) -> usize {
        let fired = self.kit.fire_due_timers().await;
        self.last = self.take_last().await;
        fired
    }

    /// How many jobs wait in the delay queue.
    pub async fn pending_jobs(&self) -> u64 {
        self.kit.engine().store.job_count().await.expect("read")
    }

    // -- rendering ---------------------------------------------------------------------------

    /// `phase#pkid` of the latest battle, or `none`.
    pub async fn battle_summary(&self) -> String {
        match self.battles().await.into_values().next_back() {
            None => "none".to_string(),
            Some((battle, _)) => {
                let phase = match battle.round.phase.name() {
                    PhaseName::Closed => "over",
                    other => other.as_str(),
                };
                format!("{phase}#{}", battle.pkid())
            }
        }
    }

    /// A room in a few characters: `c` for a created PK, `>103` for a pending challenge sent,
    /// `<103` for one received, `pk#1` for a running PK; `-` for nothing.
    pub async fn room_summary(&self, raw: u64) -> String {
        let Some(aggregate) = self.room(raw).await else { return "-".into() };
        let now = self.now();
        let mut parts = Vec::new();
        if aggregate.created.is_some() {
            parts.push("c".to_string());
        }
        let mut sent: Vec<u64> = Vec::new();
        let mut received: Vec<u64> = Vec::new();
        for other in [RED, BLUE, THIRD, FOURTH] {
            let other_room = self.room(other).await;
            if pending_challenge(Some(&aggregate), other_room.as_ref(), now).is_some() {
                sent.push(other);
            }
            if pending_challenge(other_room.as_ref(), Some(&aggregate), now).is_some() {
                received.push(other);
            }
        }
        parts.extend(sent.iter().map(|other| format!(">{other}")));
        parts.extend(received.iter().map(|other| format!("<{other}")));
        if let Some(battle) = self.battle_of(raw).await.filter(|battle| !battle.is_closed()) {
            parts.push(format!("pk#{}", battle.pkid()));
        }
        if parts.is_empty() { "-".into() } else { parts.join(" ") }
    }

    /// `battle | 101:… 102:… 103:… | nts [| settled(by) red:blue]` after the last command.
    pub async fn summary(&self) -> String {
        let nts = self.last.notifications.iter().map(render).collect::<Vec<_>>().join(" ");
        let mut rooms = Vec::new();
        for raw in [RED, BLUE, THIRD] {
            rooms.push(format!("{raw}:{}", self.room_summary(raw).await));
        }
        let mut line = format!("{} | {} | {}", self.battle_summary().await, rooms.join(" "), nts);
        for settled in &self.last.settled {
            line.push_str(&format!(
                " | settled({}) {}:{}",
                settled.ended_by, settled.red, settled.blue
            ));
        }
        line.trim_end().to_string()
    }
}

/// One notification in a few characters: `challenge(101>102)>r102`, `reject(101>102)>r101`,
/// `lapse(101>102)>r101`, `cancel(103>101)>r103`, `start#1>r101`, `score#1(3:0)>r101`,
/// `result#1(red)>r101`, `over#1(close)>r101`.
pub(super) fn render(notification: &Notification) -> String {
    let target = format!("r{}", notification.target.id);
    let pair =
        |offer: &Offer| format!("{}>{}", offer.from.room_id, offer.to.map_or(0, RoomSid::get));
    let what = match &notification.kind {
        NotificationKind::Challenged { challenge } => format!("challenge({})", pair(challenge)),
        NotificationKind::Rejected { challenge, .. } => format!("reject({})", pair(challenge)),
        NotificationKind::Lapsed { challenge } => format!("lapse({})", pair(challenge)),
        NotificationKind::Withdrawn { challenge, .. } => format!("cancel({})", pair(challenge)),
        NotificationKind::Started { pk } => format!("start#{}", pk.pkid),
        NotificationKind::Score { pkid, scores, .. } => {
            format!("score#{pkid}({}:{})", scores.first, scores.second)
        }
        NotificationKind::Result { pk } => {
            let winner = match pk.winner {
                Some(livepk_battle::Side::First) => "red",
                Some(livepk_battle::Side::Second) => "blue",
                None => "draw",
            };
            format!("result#{}({winner})", pk.pkid)
        }
        NotificationKind::Over { pk, ended_by } => {
            format!("over#{}({})", pk.pkid, ended_by.as_str())
        }
    };
    format!("{what}>{target}")
}

/// The last three digits of a business code (`403400025` -> `025`).
pub(super) fn short_code(error: &Refusal) -> String {
    format!("{:03}", error.business_code() % 1000)
}
