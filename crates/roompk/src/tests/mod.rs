//! Tests of the state machine. [`World`] drives the real adapter on the battle engine's test kit
//! (the in-process store, a manual clock, an in-memory SQLite): commands are committed, gifts
//! recorded through the real ledger and deadlines fired by the real delay queue. It reads the
//! outcome back and renders it as one line, so a table row says in a few words what a (state,
//! command) pair must do.
//!
//! Notifications are encoded as the domain values themselves (JSON) instead of the server's
//! protobuf messages, so a test reads back exactly what the state machine emitted.

mod battle_table;
mod cross_mode;
mod gifts;
mod ordering;
mod races;
mod seat_table;

use std::sync::Arc;

use async_trait::async_trait;
use livepk_battle::PhaseName;
use livepk_core::{
    BusinessError, Gift, GiftId, Mode, PkId, ReceiverId, RoomSid, SenderProfile, TargetKind, UserId,
};
use livepk_engine::testkit::TestKit;
use livepk_engine::{EncodeContext, Engine, EngineError, EngineResult, GiftOutcome, ModeParts};
use livepk_sql::PkRecord;
use livepk_store::{MemoryStore, Store, StoreOptions};

use crate::adapter::{RoomPkAdapter, RoomPkEncoder};
use crate::*;

/// The room of the tests.
pub(super) const ROOM: u64 = 900;
/// Another room (where invited users come from).
pub(super) const OTHER_ROOM: u64 = 901;
/// The room's operator.
pub(super) const OPERATOR: u64 = 1;
/// A user who is not the operator.
pub(super) const STRANGER: u64 = 2;
pub(super) const START_MS: u64 = livepk_engine::testkit::START_MS;

pub(super) fn user(raw: u64) -> UserId {
    UserId::from_trusted(raw)
}

pub(super) fn room_id(raw: u64) -> RoomSid {
    RoomSid::from_trusted(raw)
}

pub(super) fn location(raw: u32) -> Location {
    Location::parse("location", raw).expect("a pk seat")
}

/// Encodes notifications as their JSON (tagged with the mode), so tests read back the domain
/// values.
struct JsonEncoder;

#[async_trait]
impl RoomPkEncoder for JsonEncoder {
    async fn encode(
        &self,
        _adapter: &RoomPkAdapter,
        notifications: &[Notification],
        _context: EncodeContext<'_, RoomPk>,
    ) -> EngineResult<Vec<Vec<u8>>> {
        Ok(notifications
            .iter()
            .map(|notification| serde_json::to_vec(&("roompk", notification)).expect("plain data"))
            .collect())
    }
}

/// A refused command: the error as the engine answered it.
#[derive(Debug)]
pub(super) struct Refusal(pub EngineError);

impl Refusal {
    /// The business code.
    pub fn business_code(&self) -> u32 {
        self.0.as_business().map_or(0, BusinessError::business_code)
    }

    /// The refusal's metadata details.
    pub fn details(&self) -> Vec<(String, String)> {
        self.0.as_business().map(BusinessError::details).unwrap_or_default()
    }

    /// The field it names.
    pub fn field(&self) -> Option<String> {
        self.0.as_business().and_then(|error| error.field().map(str::to_owned))
    }
}

pub(super) type Outcome<T> = Result<T, Refusal>;

/// The last three digits of a business code (`403400201` -> `201`).
pub(super) fn short_code(error: &Refusal) -> String {
    format!("{:03}", error.business_code() % 1000)
}

/// A settled record as the tests compare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SettledView {
    pub pkid: PkId,
    pub ended_by: String,
    /// (side, score) in the record's order: the winner first.
    pub teams: Vec<(String, u64)>,
    pub winner_id: u64,
    pub start_ms: u64,
    pub end_ms: u64,
}

impl From<&PkRecord> for SettledView {
    fn from(record: &PkRecord) -> Self {
        SettledView {
            pkid: record.pkid,
            ended_by: record.ended_by.clone(),
            teams: record.participants.iter().map(|p| (p.side.clone(), p.score)).collect(),
            winner_id: record.winner_id,
            start_ms: record.start_ms,
            end_ms: record.end_ms,
        }
    }
}

/// The adapter on the test kit, with what the last step emitted.
pub(super) struct World {
    pub kit: TestKit,
    pub adapter: Arc<RoomPkAdapter>,
    /// Notifications of the last step.
    pub last: Vec<Notification>,
    /// Records seen so far (to tell the new ones).
    records_seen: usize,
    /// Numbers gift txn ids.
    gifts_sent: u64,
}

impl World {
    /// A world on the in-process store.
    pub async fn new() -> World {
        Self::build(Arc::new(MemoryStore::new(StoreOptions::default())), |_| Vec::new()).await
    }

    /// A world on `store` (a Redis store under a fresh prefix, for real interleavings).
    pub async fn on_store(store: Arc<dyn Store>) -> World {
        Self::build(store, |_| Vec::new()).await
    }

    /// A world on `store` with the modes `others` builds beside RoomPk (the kit's duels).
    pub async fn build(
        store: Arc<dyn Store>,
        others: impl FnOnce(&Arc<Engine>) -> Vec<ModeParts>,
    ) -> World {
        let mut adapter = None;
        let kit = TestKit::on_store(store, &CONFIG_KEYS, |engine| {
            let built = RoomPkAdapter::new(engine.clone(), Arc::new(JsonEncoder));
            adapter = Some(built.clone());
            let mut parts = vec![built.parts()];
            parts.extend(others(engine));
            parts
        })
        .await;
        let adapter = adapter.expect("the kit built the adapter");
        World { kit, adapter, last: Vec::new(), records_seen: 0, gifts_sent: 0 }
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
        self.last = self.take_events().await;
        outcome.map_err(Refusal)
    }

    async fn take_events(&mut self) -> Vec<Notification> {
        self.kit
            .take_events()
            .await
            .iter()
            // Other modes' events (the kit's duels, tagged with their mode) are not this world's;
            // every RoomPk one must decode.
            .filter_map(|payload| {
                let tagged: Vec<serde_json::Value> =
                    serde_json::from_slice(payload).expect("an event tagged with its mode");
                (tagged[0] == "roompk").then(|| {
                    serde_json::from_value(tagged[1].clone()).expect("a RoomPk notification")
                })
            })
            .collect()
    }

    /// Records written since the last call, oldest first.
    pub async fn new_records(&mut self) -> Vec<SettledView> {
        let records = self.records().await;
        let fresh = records[self.records_seen..].to_vec();
        self.records_seen = records.len();
        fresh
    }

    /// Every settled record, oldest first.
    pub async fn records(&self) -> Vec<SettledView> {
        let mut records = self.kit.records().await;
        records.reverse();
        records.iter().map(SettledView::from).collect()
    }

    // -- reading -----------------------------------------------------------------------------

    pub async fn room(&self) -> Room {
        let snapshot = self.adapter.load(room_id(ROOM)).await.expect("read");
        snapshot.aggregate(room_id(ROOM)).cloned().unwrap_or_else(|| Room::new(room_id(ROOM)))
    }

    pub async fn battle(&self) -> Option<TeamBattle> {
        let snapshot = self.adapter.load(room_id(ROOM)).await.expect("read");
        snapshot.battle().cloned()
    }

    pub async fn state(&self) -> RoomState {
        self.adapter.state(room_id(ROOM), None).await.expect("read")
    }

    pub async fn user_totals(&self, raw: u64) -> UserTotals {
        let state = self.adapter.state(room_id(ROOM), Some(user(raw))).await.expect("read");
        state.user.expect("asked for")
    }

    // -- commands ----------------------------------------------------------------------------

    pub async fn set_operator(&mut self, raw: u64) {
        let outcome = self.adapter.set_operator(room_id(ROOM), user(raw)).await;
        self.finish_step(outcome).await.expect("naming the operator is never refused");
    }

    pub async fn seat(&mut self, at: u32, command: SeatCommand) -> Outcome<SeatReply> {
        let request = SeatRequest { room_id: room_id(ROOM), location: location(at), command };
        let outcome = self.adapter.operate_seat(request).await;
        self.finish_step(outcome).await
    }

    pub async fn take(&mut self, raw: u64, at: u32) -> Outcome<SeatReply> {
        self.seat(at, SeatCommand::Take { user: user(raw) }).await
    }

    pub async fn leave(&mut self, raw: u64, at: u32) -> Outcome<SeatReply> {
        self.seat(at, SeatCommand::Leave { user: user(raw) }).await
    }

    pub async fn hold_up(&mut self, raw: u64, at: u32) -> Outcome<SeatReply> {
        self.seat(at, SeatCommand::HoldUp { operator: user(OPERATOR), user: user(raw) }).await
    }

    pub async fn start_by(&mut self, operator: u64, countdown_secs: u64) -> Outcome<BattleInfo> {
        let request = StartRequest {
            room_id: room_id(ROOM),
            operator_id: user(operator),
            punishment: "sing a song".into(),
            countdown_secs,
        };
        let outcome = self.adapter.start(request).await;
        self.finish_step(outcome).await
    }

    pub async fn start(&mut self, countdown_secs: u64) -> Outcome<BattleInfo> {
        self.start_by(OPERATOR, countdown_secs).await
    }

    pub async fn add_time_by(&mut self, operator: u64, seconds: u64) -> Outcome<BattleInfo> {
        let request =
            AddTimeRequest { room_id: room_id(ROOM), operator_id: user(operator), seconds };
        let outcome = self.adapter.add_time(request).await;
        self.finish_step(outcome).await
    }

    pub async fn add_time(&mut self, seconds: u64) -> Outcome<BattleInfo> {
        self.add_time_by(OPERATOR, seconds).await
    }

    pub async fn finish_by(&mut self, operator: u64) -> Outcome<BattleInfo> {
        let request = FinishRequest { room_id: room_id(ROOM), operator_id: user(operator) };
        let outcome = self.adapter.finish(request).await;
        self.finish_step(outcome).await
    }

    pub async fn finish(&mut self) -> Outcome<BattleInfo> {
        self.finish_by(OPERATOR).await
    }

    /// An operator closes pk `pkid` (`Admin.ForceClose`).
    pub async fn force_close(&mut self, pkid: PkId) -> Outcome<Option<PkRecord>> {
        let outcome = self.kit.engine().force_close(Mode::RoomPk, pkid, "test").await;
        self.finish_step(outcome).await
    }

    /// Runs every job due now through the engine's delay queue. Returns how many ran.
    pub async fn fire_due_timers(&mut self) -> usize {
        let fired = self.kit.fire_due_timers().await;
        self.last = self.take_events().await;
        fired
    }

    /// A gift from `sender` to `receiver` in the room, worth `points`, sent now, with txn id
    /// `txn`.
    pub async fn gift_txn(
        &mut self,
        txn: &str,
        sender: u64,
        receiver: u64,
        points: u64,
    ) -> GiftOutcome {
        let sent_at_ms = self.now();
        self.gift_at(txn, sender, receiver, points, sent_at_ms).await
    }

    /// The same with its own send time.
    pub async fn gift_at(
        &mut self,
        txn: &str,
        sender: u64,
        receiver: u64,
        points: u64,
        sent_at_ms: u64,
    ) -> GiftOutcome {
        let gift = Gift {
            gift_txn_id: txn.into(),
            sender: SenderProfile {
                user_id: user(sender),
                user_nick: format!("fan {sender}"),
                user_icon: format!("https://img.example/{sender}.png"),
                user_level: 3,
                user_wealth: 4,
            },
            receiver_id: ReceiverId::from_trusted(receiver),
            room_sid: room_id(ROOM),
            gift_id: GiftId::from_trusted(7),
            gift_count: 1,
            unit_value: points,
            sent_at_ms,
            show_id: None,
            call_id: None,
        };
        let outcome = self.kit.runtime.ledger.record(&gift).await.expect("the ledger");
        self.last = self.take_events().await;
        outcome
    }

    /// A gift with a fresh txn id; the team it counted for (`None`: no team).
    pub async fn gift(&mut self, sender: u64, receiver: u64, points: u64) -> Option<String> {
        self.gifts_sent += 1;
        let txn = format!("g{}", self.gifts_sent);
        let outcome = self.gift_txn(&txn, sender, receiver, points).await;
        assert!(!outcome.duplicate, "a fresh txn id");
        team_of(&outcome)
    }

    // -- rendering ---------------------------------------------------------------------------

    /// The seats that are not empty and open: `11:21` (user 21 on 11), `13:-L` (locked),
    /// `15:22D` (disabled), `14:-+23@901` (invited user 23 of room 901); `empty` when none.
    pub async fn seats(&self) -> String {
        render_seats(&self.room().await)
    }

    /// `phase#pkid r:<red> b:<blue>` of the room's battle, `none` without one.
    pub async fn battle_line(&self) -> String {
        let snapshot = self.adapter.load(room_id(ROOM)).await.expect("read");
        match snapshot.battle() {
            None => "none".into(),
            Some(battle) => {
                let info = battle.info(snapshot.scores());
                let mut line = format!(
                    "{}#{} r:{} b:{}",
                    phase_word(info.phase),
                    info.pkid,
                    info.scores.first,
                    info.scores.second
                );
                if info.settled {
                    let winner = info.winner.map_or("draw", Team::as_str);
                    line.push_str(&format!(" won:{winner}"));
                }
                line
            }
        }
    }

    /// The last step's notifications in a few words each.
    pub fn nts(&self) -> String {
        self.last.iter().map(render).collect::<Vec<_>>().join(" ")
    }
}

/// The team a gift counted for, from its outcome.
pub(super) fn team_of(outcome: &GiftOutcome) -> Option<String> {
    let mut changes = outcome.changes.iter().filter(|change| change.mode == Mode::RoomPk);
    let change = changes.next()?;
    assert!(changes.next().is_none(), "one RoomPk battle per gift: {outcome:?}");
    Some(change.side.clone())
}

pub(super) fn phase_word(phase: PhaseName) -> &'static str {
    phase.as_str()
}

pub(super) fn render_seats(room: &Room) -> String {
    let seats: Vec<String> = room
        .seats
        .iter()
        .filter(|seat| {
            seat.user_id.is_some() || seat.locked || seat.disabled || seat.invite.is_some()
        })
        .map(|seat| {
            let mut text = format!("{}:", seat.location);
            text.push_str(&seat.user_id.map_or("-".into(), |user| user.to_string()));
            if seat.locked {
                text.push('L');
            }
            if seat.disabled {
                text.push('D');
            }
            if let Some(invite) = seat.invite {
                text.push_str(&format!("+{}@{}", invite.user_id, invite.room_id));
            }
            text
        })
        .collect();
    if seats.is_empty() { "empty".into() } else { seats.join(" ") }
}

/// One notification in a few words: `take(11 by 21)>r900`, `invite(14 by 1)>u23`, `start>r900`,
/// `score(red r:5 b:0 31=5)>r900`, `result(red r:5 b:0)>r900`, `over>r900`.
pub(super) fn render(notification: &Notification) -> String {
    let target = match notification.target.kind {
        TargetKind::Singer => format!("s{}", notification.target.id),
        TargetKind::Room => format!("r{}", notification.target.id),
        TargetKind::User => format!("u{}", notification.target.id),
    };
    let what = match &notification.kind {
        NotificationKind::Seat { action, seat, by, .. } => {
            format!("{}({} by {by})", action.as_str(), seat.location)
        }
        NotificationKind::Invite { location, by, .. } => format!("invite({location} by {by})"),
        NotificationKind::Start { .. } => "start".into(),
        NotificationKind::AddTime { added_secs, .. } => format!("addtime(+{added_secs})"),
        NotificationKind::Score { battle, team, rows } => {
            let rows: Vec<String> =
                rows.iter().map(|row| format!("{}={}", row.user_id, row.value)).collect();
            format!(
                "score({} r:{} b:{} {})",
                team.as_str(),
                battle.scores.first,
                battle.scores.second,
                rows.join(",")
            )
        }
        NotificationKind::Result { battle } => format!(
            "result({} r:{} b:{})",
            battle.winner.map_or("draw", Team::as_str),
            battle.scores.first,
            battle.scores.second
        ),
        NotificationKind::Over { .. } => "over".into(),
    };
    format!("{what}>{target}")
}
