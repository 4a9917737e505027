//! Tests of the state machine. [`World`] drives the real adapter on the battle engine's test kit
//! (the in-process store or Redis, a manual clock, an in-memory SQLite): commands are committed,
//! invitation expiries and the `tb_show` safety net fired, by the same engine as in the server.
//! It reads the outcome back and renders it as one line, so a table row can say in a few words
//! what a (state, command) pair must do; after every step it checks that each show's `tb_show`
//! row is the show as stored.
//!
//! Messages are encoded as the domain values themselves (JSON) instead of the server's protobuf
//! messages, so a test reads back exactly what the state machine emitted.

mod races;
mod sync;
mod table;

use std::sync::Arc;

use livepk_core::{BusinessError, ErrorKind, GiftId, SingerId, UserId};
use livepk_engine::testkit::{TestKit, fresh_prefix, redis_store};
use livepk_engine::{EngineError, EngineResult};
use livepk_sql::{ShowGiftRow, ShowGiftType};

use crate::adapter::{RateTarget, ShowAdapter, ShowEncoder, show_row};
use crate::*;

/// The call's anchor and user, another anchor and another user.
pub(super) const ANCHOR: u64 = 10;
pub(super) const OTHER_ANCHOR: u64 = 11;
pub(super) const USER: u64 = 20;
pub(super) const OTHER_USER: u64 = 21;
/// The call, and another one.
pub(super) const CALL: u64 = 500;
pub(super) const OTHER_CALL: u64 = 501;
/// Catalogue gifts: a `show` of 100 coins, a `show_vip` of 300, a retired one.
pub(super) const GIFT: u64 = 7;
pub(super) const VIP_GIFT: u64 = 8;
pub(super) const RETIRED_GIFT: u64 = 9;

pub(super) fn anchor(raw: u64) -> SingerId {
    SingerId::from_trusted(raw)
}

pub(super) fn user(raw: u64) -> UserId {
    UserId::from_trusted(raw)
}

pub(super) fn call(raw: u64) -> CallId {
    CallId::from_trusted(raw)
}

pub(super) fn show_id(raw: u64) -> ShowId {
    ShowId::from_trusted(raw)
}

pub(super) fn txn(raw: &str) -> TxnId {
    TxnId::parse("txn_id", raw).expect("a valid txn id")
}

/// A payment report.
pub(super) fn payment(
    show: u64,
    user_raw: u64,
    txn_id: &str,
    outcome: PaymentOutcome,
    paid_at_ms: Option<u64>,
) -> PaymentRequest {
    PaymentRequest {
        show_id: show_id(show),
        user_id: user(user_raw),
        txn_id: txn(txn_id),
        outcome,
        paid_at_ms,
    }
}

/// How many jobs the delay queue holds (scheduled or claimed).
pub(super) async fn job_count(world: &World) -> u64 {
    world.kit.engine().store.job_count().await.expect("the in-process store")
}

pub(super) fn catalogue_gift(gid: u64) -> ShowGiftRow {
    ShowGiftRow {
        gid,
        gift_type: if gid == VIP_GIFT { ShowGiftType::ShowVip } else { ShowGiftType::Show },
        name: format!("show {gid}"),
        img: format!("https://img.example/{gid}.png"),
        effect_url: format!("https://fx.example/{gid}.svga"),
        price: if gid == VIP_GIFT { 300 } else { 100 },
        unit_profit: 0,
        enabled: gid != RETIRED_GIFT,
        updated_at_ms: 1,
    }
}

/// Encodes messages as their JSON.
struct JsonEncoder;

impl ShowEncoder for JsonEncoder {
    fn encode(&self, messages: &[ShowMessage]) -> Vec<Vec<u8>> {
        messages.iter().map(|message| serde_json::to_vec(message).expect("plain data")).collect()
    }
}

/// A refused command: the error as the engine answered it.
#[derive(Debug)]
pub(super) struct Refusal(EngineError);

impl Refusal {
    /// The InteractiveShow error, when it is one.
    pub fn show(&self) -> Option<&ShowError> {
        let business = self.0.as_business()?;
        (business as &dyn std::error::Error).downcast_ref::<ShowError>()
    }

    pub fn business_code(&self) -> u32 {
        self.0.as_business().map_or(0, BusinessError::business_code)
    }

    pub fn kind(&self) -> Option<ErrorKind> {
        self.0.as_business().map(BusinessError::kind)
    }

    pub fn field(&self) -> Option<String> {
        self.0.as_business().and_then(|error| error.field().map(str::to_owned))
    }

    /// `err <last three digits> <kind>`, as the table writes it.
    pub fn short(&self) -> String {
        let kind = self.kind().map_or("Store".to_owned(), |kind| format!("{kind:?}"));
        format!("err {:03} {kind}", self.business_code() % 1000)
    }
}

pub(super) type Outcome<T> = Result<T, Refusal>;

/// The adapter on the test kit.
pub(super) struct World {
    pub kit: TestKit,
    pub adapter: Arc<ShowAdapter>,
    /// What the last step emitted.
    pub last: Vec<ShowMessage>,
}

impl World {
    /// On the in-process store.
    pub async fn new() -> World {
        Self::build(None).await
    }

    /// On Redis under a fresh prefix (real round trips, so concurrent commands interleave).
    pub async fn on_redis() -> World {
        Self::build(Some(redis_store(&fresh_prefix()).await)).await
    }

    async fn build(store: Option<Arc<dyn livepk_store::Store>>) -> World {
        let mut adapter = None;
        let build = |engine: &Arc<livepk_engine::Engine>| {
            let built = ShowAdapter::new(engine.clone(), Arc::new(JsonEncoder));
            adapter = Some(built.clone());
            vec![built.parts()]
        };
        let kit = match store {
            Some(store) => TestKit::on_store(store, &CONFIG_KEYS, build).await,
            None => TestKit::new(&CONFIG_KEYS, build).await,
        };
        let adapter = adapter.expect("the kit built the adapter");
        for gid in [GIFT, VIP_GIFT, RETIRED_GIFT] {
            kit.engine().database.put_show_gift(&catalogue_gift(gid)).await.expect("catalogue");
        }
        World { kit, adapter, last: Vec::new() }
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

    /// Records what the step emitted, checks the `tb_show` rows, and answers.
    async fn step<R>(&mut self, outcome: EngineResult<R>) -> Outcome<R> {
        self.last = self.take_messages().await;
        self.assert_rows_follow_the_store().await;
        outcome.map_err(Refusal)
    }

    /// The messages appended since the last call.
    pub async fn take_messages(&mut self) -> Vec<ShowMessage> {
        self.kit
            .take_events()
            .await
            .iter()
            .map(|payload| serde_json::from_slice(payload).expect("a show message"))
            .collect()
    }

    // -- commands ------------------------------------------------------------------------------

    pub async fn anchor_invite(
        &mut self,
        call_raw: u64,
        anchor_raw: u64,
        user_raw: u64,
        gid: u64,
    ) -> Outcome<Show> {
        let outcome = self
            .adapter
            .invite(
                Party::Anchor,
                call(call_raw),
                anchor(anchor_raw),
                user(user_raw),
                GiftId::from_trusted(gid),
            )
            .await;
        self.step(outcome).await
    }

    pub async fn user_invite(
        &mut self,
        call_raw: u64,
        user_raw: u64,
        anchor_raw: u64,
        gid: u64,
    ) -> Outcome<Show> {
        let outcome = self
            .adapter
            .invite(
                Party::User,
                call(call_raw),
                anchor(anchor_raw),
                user(user_raw),
                GiftId::from_trusted(gid),
            )
            .await;
        self.step(outcome).await
    }

    pub async fn anchor_accept(&mut self, show: u64, anchor_raw: u64) -> Outcome<Show> {
        let outcome = self.adapter.anchor_accept(show_id(show), anchor(anchor_raw)).await;
        self.step(outcome).await
    }

    pub async fn anchor_reject(&mut self, show: u64, anchor_raw: u64) -> Outcome<Show> {
        let outcome = self.adapter.anchor_reject(show_id(show), anchor(anchor_raw)).await;
        self.step(outcome).await
    }

    pub async fn user_reject(&mut self, show: u64, user_raw: u64) -> Outcome<Show> {
        let outcome = self.adapter.user_reject(show_id(show), user(user_raw)).await;
        self.step(outcome).await
    }

    /// Reports a payment as the gateway does right after it: a success charged now.
    pub async fn pay(
        &mut self,
        show: u64,
        user_raw: u64,
        txn_id: &str,
        outcome: PaymentOutcome,
    ) -> Outcome<PaymentAnswer> {
        let paid_at_ms = (outcome == PaymentOutcome::Success).then(|| self.now());
        self.report(payment(show, user_raw, txn_id, outcome, paid_at_ms)).await
    }

    /// Reports a success whose charge was confirmed at `paid_at_ms`.
    pub async fn pay_at(
        &mut self,
        show: u64,
        user_raw: u64,
        txn_id: &str,
        paid_at_ms: u64,
    ) -> Outcome<PaymentAnswer> {
        let success = PaymentOutcome::Success;
        self.report(payment(show, user_raw, txn_id, success, Some(paid_at_ms))).await
    }

    pub async fn report(&mut self, request: PaymentRequest) -> Outcome<PaymentAnswer> {
        let outcome = self.adapter.report_payment(request).await;
        self.step(outcome).await
    }

    pub async fn finish(&mut self, show: u64, anchor_raw: u64) -> Outcome<Show> {
        let outcome = self.adapter.finish(show_id(show), anchor(anchor_raw)).await;
        self.step(outcome).await
    }

    pub async fn rate(&mut self, target: RateTarget, user_raw: u64, rating: u32) -> Outcome<Show> {
        let rating = ShowRating::parse("show_rating", rating).expect("a valid rating");
        let outcome = self.adapter.rate(target, user(user_raw), rating).await;
        self.step(outcome).await
    }

    /// Moves the clock and runs every job that is due (expiries, the safety net).
    pub async fn expire(&mut self, secs: u64) -> usize {
        self.advance_secs(secs);
        let fired = self.kit.fire_due_timers().await;
        self.step(Ok(())).await.expect("timers");
        fired
    }

    // -- reading -------------------------------------------------------------------------------

    /// Every show that exists, by id (ids are allocated from 1; no test makes more than a few).
    pub async fn shows(&self) -> Vec<Show> {
        let mut shows = Vec::new();
        for id in 1..=16 {
            if let Some(show) = self.adapter.show(show_id(id)).await.expect("read") {
                shows.push(show);
            }
        }
        shows
    }

    pub async fn show(&self, id: u64) -> Show {
        self.adapter.show(show_id(id)).await.expect("read").expect("the show exists")
    }

    /// Each show's `tb_show` row is the show as stored (the command wrote it right after its
    /// commit; an expiry's lapse is written by the safety net, which the same step fired).
    pub async fn assert_rows_follow_the_store(&self) {
        for show in self.shows().await {
            let row = self.kit.engine().database.get_show(show.show_id.get()).await.expect("sql");
            let mut expected = show_row(&show, 0);
            let mut row = row.unwrap_or_else(|| panic!("no tb_show row for {show:?}"));
            (expected.updated_at_ms, row.updated_at_ms) = (0, 0);
            assert_eq!(row, expected, "the tb_show row of show {}", show.show_id);
        }
    }

    /// The shows and the last step's messages in one line:
    /// `#<id> <status>[>waiting party][ fin][ r<rating>] ... | <chat_type>><a|u><id> ...`.
    pub async fn summary(&self) -> String {
        let shows: Vec<String> = self.shows().await.iter().map(describe).collect();
        let messages: Vec<String> = self.last.iter().map(describe_message).collect();
        format!("{} | {}", shows.join(" "), messages.join(" ")).trim_end().to_owned()
    }
}

/// A show in a few words.
pub(super) fn describe(show: &Show) -> String {
    let status = match show.status() {
        ShowStatus::Invited => "invited",
        ShowStatus::Accepted => "accepted",
        ShowStatus::Paid => "paid",
        ShowStatus::UserRejected => "user_rejected",
        ShowStatus::AnchorRejected => "anchor_rejected",
        ShowStatus::Lapsed => "lapsed",
    };
    let mut text = format!("#{} {status}", show.show_id);
    if let Some(invitation) = show.stage.pending() {
        text.push_str(if invitation.to == Party::User { ">user" } else { ">anchor" });
    }
    if show.finished_at_ms.is_some() {
        text.push_str(" fin");
    }
    if let Some(rating) = show.rating {
        text.push_str(&format!(" r{}", rating.get()));
    }
    text
}

/// A message in a few words: its chat type and its addressee.
pub(super) fn describe_message(message: &ShowMessage) -> String {
    let to = match message.target.kind {
        livepk_core::TargetKind::Singer => "a",
        livepk_core::TargetKind::User => "u",
        livepk_core::TargetKind::Room => "room",
    };
    format!("{}>{to}{}", message.chat_type.number(), message.target.id)
}
