//! Tests of the state machine. [`World`] drives the real adapter on the battle engine's test kit
//! (the in-process store, a manual clock, an in-memory SQLite): commands are committed, gifts
//! recorded through the engine's ledger and deadlines fired by the same engine as in the server.
//! It reads the outcome back and renders it as one line, so a table row can say in a few words
//! what a (state, command) pair must do.
//!
//! Notifications are encoded as the domain values themselves (JSON, tagged with the mode, with
//! the moment they were encoded, from which the server's encoder computes `time_left`) instead of
//! the server's protobuf messages, so a test reads back exactly what was emitted.

mod cross_mode;
mod notifications;
mod queries;
mod races;
mod routing;
mod table;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use livepk_battle::{BattleId, Scores, Sides};
use livepk_core::{
    BusinessError, Gift, GiftId, PkId, ReceiverId, RoomSid, SenderProfile, SingerId, TargetKind,
    UserId,
};
use livepk_engine::testkit::TestKit;
use livepk_engine::{EncodeContext, EngineError, EngineResult, GiftOutcome};
use livepk_sql::PkRecord;

use crate::adapter::{GiftPkAdapter, GiftPkEncoder};
use crate::*;

/// The show of most tests (its room has the same id).
pub(super) const SHOW: u64 = 1;
/// Another show.
pub(super) const OTHER_SHOW: u64 = 2;
/// The anchor of the show.
pub(super) const ANCHOR: u64 = 7;
/// Another anchor.
pub(super) const OTHER_ANCHOR: u64 = 8;
/// The two gifts of most PKs, and a third.
pub(super) const ROSE: u64 = 11;
pub(super) const ROCKET: u64 = 22;
pub(super) const THIRD: u64 = 33;
/// The countdown of most PKs (seconds).
pub(super) const DURATION: u64 = 60;
/// The settle grace (`giftpk.settle_grace_ms`' default): the countdown's job settles a PK this
/// long after its deadline.
pub(super) const GRACE_MS: u64 = 3_000;
pub(super) const START_MS: u64 = livepk_engine::testkit::START_MS;

pub(super) fn show(raw: u64) -> ShowId {
    ShowId::from_trusted(raw)
}

pub(super) fn singer(raw: u64) -> SingerId {
    SingerId::from_trusted(raw)
}

pub(super) fn user(raw: u64) -> UserId {
    UserId::from_trusted(raw)
}

pub(super) fn pkid(raw: u64) -> PkId {
    PkId::from_trusted(raw)
}

pub(super) fn gift_id(raw: u64) -> GiftId {
    GiftId::from_trusted(raw)
}

/// Gift `raw` as an anchor sets it up.
pub(super) fn pk_gift(raw: u64) -> PkGift {
    PkGift {
        gift_id: gift_id(raw),
        gift_name: format!("gift {raw}"),
        gift_logo: format!("https://img.example/g{raw}.png"),
        gift_desc: format!("vote {raw}"),
    }
}

/// A Create of `first` against `second` in `show` by `anchor` for `duration` seconds.
pub(super) fn create_request(
    show_raw: u64,
    anchor: u64,
    first: u64,
    second: u64,
    duration: u64,
) -> CreateRequest {
    CreateRequest {
        show_id: show(show_raw),
        singer_id: singer(anchor),
        gifts: Sides::new(pk_gift(first), pk_gift(second)),
        duration_secs: duration,
    }
}

/// Encodes notifications as their JSON tagged with the mode and the moment of encoding, so
/// tests read back the domain values.
struct JsonEncoder;

#[async_trait]
impl GiftPkEncoder for JsonEncoder {
    async fn encode(
        &self,
        _adapter: &GiftPkAdapter,
        notifications: &[Notification],
        context: EncodeContext<'_, GiftPk>,
    ) -> EngineResult<Vec<Vec<u8>>> {
        Ok(notifications
            .iter()
            .map(|notification| {
                serde_json::to_vec(&("giftpk", notification, context.now_ms)).expect("plain data")
            })
            .collect())
    }
}

/// A notification as the engine encoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pushed {
    /// When it was encoded: the server's encoder computes `time_left` from it.
    pub at_ms: u64,
    /// What it says.
    pub notification: Notification,
}

impl Pushed {
    /// The `time_left` the server's encoder puts in it (create and progress pushes).
    pub fn time_left(&self) -> Option<u64> {
        match self.notification.kind {
            NotificationKind::Create { deadline_ms, .. }
            | NotificationKind::Progress { deadline_ms, .. } => {
                Some(seconds_left(deadline_ms, self.at_ms))
            }
            NotificationKind::End { .. } => None,
        }
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

    /// The field named, if any.
    pub fn field(&self) -> Option<String> {
        self.0.as_business().and_then(|error| error.field().map(str::to_owned))
    }

    /// The GiftPk error, when it is one.
    pub fn giftpk(&self) -> Option<&GiftPkError> {
        let business = self.0.as_business()?;
        (business as &dyn std::error::Error).downcast_ref::<GiftPkError>()
    }
}

pub(super) type Outcome<T> = Result<T, Refusal>;

/// Everything stored, as the adapter reads it back: to check that a refused command changed
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct State {
    pub shows: BTreeMap<u64, Show>,
    pub battles: BTreeMap<BattleId, (GiftBattle, Scores)>,
}

/// A settled record as the tests compare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SettledView {
    pub pkid: PkId,
    pub ended_by: String,
    pub first: u64,
    pub second: u64,
    /// The winning gift (0 on a draw).
    pub winner_id: u64,
    pub start_ms: u64,
    pub end_ms: u64,
}

impl From<&PkRecord> for SettledView {
    fn from(record: &PkRecord) -> Self {
        SettledView {
            pkid: record.pkid,
            ended_by: record.ended_by.clone(),
            first: record.participants[0].score,
            second: record.participants[1].score,
            winner_id: record.winner_id,
            start_ms: record.start_ms,
            end_ms: record.end_ms,
        }
    }
}

/// What the last step emitted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Last {
    pub notifications: Vec<Pushed>,
    pub settled: Vec<SettledView>,
}

/// The adapter on the test kit.
pub(super) struct World {
    pub kit: TestKit,
    pub adapter: Arc<GiftPkAdapter>,
    /// What the last step emitted.
    pub last: Last,
    /// Records seen so far (to tell the new ones).
    records_seen: usize,
    /// Gifts sent with [`World::gift`] so far (each gets its own txn id).
    sent: u64,
}

impl World {
    pub async fn new() -> World {
        Self::on_store(Arc::new(livepk_store::MemoryStore::new(Default::default()))).await
    }

    /// A world on `store` (a Redis store, for tests whose commands must interleave).
    pub async fn on_store(store: Arc<dyn livepk_store::Store>) -> World {
        let mut adapter = None;
        let kit = TestKit::on_store(store, &CONFIG_KEYS, |engine| {
            let built = GiftPkAdapter::new(engine.clone(), Arc::new(JsonEncoder));
            adapter = Some(built.clone());
            vec![built.parts()]
        })
        .await;
        World::of(kit, adapter.expect("the kit built the adapter"))
    }

    /// A world over a kit built elsewhere (with other modes beside GiftPk).
    pub fn of(kit: TestKit, adapter: Arc<GiftPkAdapter>) -> World {
        World { kit, adapter, last: Last::default(), records_seen: 0, sent: 0 }
    }

    pub fn now(&self) -> u64 {
        self.kit.now_ms()
    }

    pub fn advance_secs(&self, secs: u64) {
        self.kit.advance_secs(secs);
    }

    pub fn advance_ms(&self, ms: u64) {
        self.kit.advance_ms(ms);
    }

    pub async fn set_config(&self, key: &str, value: i64) {
        self.kit.set_config(key, value).await;
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
            // every GiftPk one must decode.
            .filter_map(|payload| {
                let tagged: Vec<serde_json::Value> =
                    serde_json::from_slice(payload).expect("an event tagged with its mode");
                (tagged[0] == "giftpk").then(|| Pushed {
                    notification: serde_json::from_value(tagged[1].clone())
                        .expect("a GiftPk notification"),
                    at_ms: tagged[2].as_u64().expect("when it was encoded"),
                })
            })
            .collect();
        let records = self.records().await;
        let settled = records[self.records_seen..].to_vec();
        self.records_seen = records.len();
        Last { notifications, settled }
    }

    // -- reading -----------------------------------------------------------------------------

    /// Every GiftPk settled record, oldest first.
    pub async fn records(&self) -> Vec<SettledView> {
        let mut records = self.kit.records().await;
        records.retain(|record| record.mode == livepk_core::Mode::GiftPk);
        records.reverse();
        records.iter().map(SettledView::from).collect()
    }

    /// Every battle (ids are allocated from 1) with its counts.
    pub async fn battles(&self) -> BTreeMap<BattleId, (GiftBattle, Scores)> {
        let engine = self.kit.engine();
        let mut battles = BTreeMap::new();
        for id in 1..=64 {
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

    pub async fn latest_battle(&self) -> Option<(GiftBattle, Scores)> {
        self.battles().await.into_values().next_back()
    }

    /// The show as stored.
    pub async fn show(&self, raw: u64) -> Option<Show> {
        let snapshot = self.adapter.load_show(show(raw)).await.expect("read");
        snapshot.aggregate(show(raw)).cloned()
    }

    pub async fn state(&self) -> State {
        let mut shows = BTreeMap::new();
        for raw in [SHOW, OTHER_SHOW] {
            if let Some(stored) = self.show(raw).await {
                shows.insert(raw, stored);
            }
        }
        State { shows, battles: self.battles().await }
    }

    // -- commands ----------------------------------------------------------------------------

    pub async fn create(&mut self, request: CreateRequest) -> Outcome<CreateReply> {
        let outcome = self.adapter.create(request).await;
        self.finish(outcome).await
    }

    /// The usual PK: rose against rocket in the show, by its anchor, for a minute.
    pub async fn create_default(&mut self) -> CreateReply {
        self.create(create_request(SHOW, ANCHOR, ROSE, ROCKET, DURATION)).await.expect("create")
    }

    pub async fn close(&mut self, show_raw: u64, pkid_raw: u64, anchor: u64) -> Outcome<()> {
        let request = CloseRequest {
            show_id: show(show_raw),
            pkid: pkid(pkid_raw),
            singer_id: singer(anchor),
        };
        let outcome = self.adapter.close(request).await;
        self.finish(outcome).await
    }

    /// An operator closes PK `pkid`.
    pub async fn admin_close(&mut self, pkid_raw: u64) -> Outcome<Option<PkRecord>> {
        let engine = self.kit.engine().clone();
        let outcome = engine.force_close(livepk_core::Mode::GiftPk, pkid(pkid_raw), "test").await;
        self.finish(outcome).await
    }

    /// A gift through the engine's ledger, as the gateway records it.
    pub async fn record(&mut self, gift: &Gift) -> GiftOutcome {
        let outcome = self.kit.runtime.ledger.record(gift).await.expect("the ledger");
        self.last = self.take_last().await;
        outcome
    }

    /// `count` of gift `gift_raw` from `user_raw` in the show, sent now: the GiftPk count it
    /// made (`None` when it did not count here).
    pub async fn gift(&mut self, user_raw: u64, gift_raw: u64, count: u32) -> Option<i64> {
        self.sent += 1;
        let txn = format!("gift-{}", self.sent);
        let gift = show_gift(&txn, user_raw, Some(SHOW), gift_raw, count, self.now());
        giftpk_total(&self.record(&gift).await)
    }

    /// Runs every job due now through the engine's delay queue. Returns how many ran.
    pub async fn fire_due_timers(&mut self) -> usize {
        let fired = self.kit.fire_due_timers().await;
        self.last = self.take_last().await;
        fired
    }

    // -- rendering ---------------------------------------------------------------------------

    /// `<phase>#<pkid> <first>:<second>` of the latest battle, `none` without one.
    pub async fn battle_summary(&self) -> String {
        match self.latest_battle().await {
            None => "none".into(),
            Some((battle, scores)) => format!(
                "{}#{} {}:{}",
                battle.round.phase.name().as_str(),
                battle.pkid(),
                scores.first,
                scores.second
            ),
        }
    }

    /// `battle | nts [| settled(by) first:second winner]` after the last step.
    pub async fn summary(&self) -> String {
        let nts = self.last.notifications.iter().map(render).collect::<Vec<_>>().join(" ");
        let mut line = format!("{} | {nts}", self.battle_summary().await);
        for settled in &self.last.settled {
            line.push_str(&format!(
                " | settled({}) {}:{} w{}",
                settled.ended_by, settled.first, settled.second, settled.winner_id
            ));
        }
        line.trim_end().to_string()
    }
}

/// A gift of `count` × gift `gift_raw` (10 coins each) from user `user_raw` to the anchor, in
/// room `SHOW`, for `show_raw`, sent at `sent_at_ms`.
pub(super) fn show_gift(
    txn: &str,
    user_raw: u64,
    show_raw: Option<u64>,
    gift_raw: u64,
    count: u32,
    sent_at_ms: u64,
) -> Gift {
    Gift {
        gift_txn_id: txn.into(),
        sender: SenderProfile {
            user_id: user(user_raw),
            user_nick: format!("fan {user_raw}"),
            user_icon: format!("https://img.example/u{user_raw}.png"),
            user_level: 3,
            user_wealth: 2,
        },
        receiver_id: ReceiverId::from(singer(ANCHOR)),
        room_sid: RoomSid::from_trusted(show_raw.unwrap_or(SHOW)),
        gift_id: gift_id(gift_raw),
        gift_count: count,
        unit_value: 10,
        sent_at_ms,
        show_id: show_raw,
        call_id: None,
    }
}

/// The GiftPk side total a gift's outcome reports, if it counted in a gift PK.
pub(super) fn giftpk_total(outcome: &GiftOutcome) -> Option<i64> {
    outcome
        .changes
        .iter()
        .find(|change| change.mode == livepk_core::Mode::GiftPk)
        .map(|change| change.side_total)
}

/// One notification in a few characters: `create#1>r1`, `progress#1(11:3/0 u5=3 t59)>r1` (the
/// gift whose senders are listed, both counts, the senders, `time_left`), `end#1>r1`.
pub(super) fn render(pushed: &Pushed) -> String {
    let notification = &pushed.notification;
    let target = match notification.target.kind {
        TargetKind::Room => format!("r{}", notification.target.id),
        TargetKind::Singer => format!("s{}", notification.target.id),
        TargetKind::User => format!("u{}", notification.target.id),
    };
    let what = match &notification.kind {
        NotificationKind::Create { pkid, .. } => format!("create#{pkid}"),
        NotificationKind::Progress { pkid, counts, gift_id, users, .. } => {
            let users: Vec<String> =
                users.iter().map(|row| format!("u{}={}", row.user_id, row.total)).collect();
            format!(
                "progress#{pkid}({gift_id}:{}/{} {} t{})",
                counts.first,
                counts.second,
                users.join(","),
                pushed.time_left().unwrap_or_default()
            )
        }
        NotificationKind::End { pkid } => format!("end#{pkid}"),
    };
    format!("{what}>{target}")
}

/// The last three digits of a business code (`403400301` -> `301`).
pub(super) fn short_code(error: &Refusal) -> String {
    format!("{:03}", error.business_code() % 1000)
}
