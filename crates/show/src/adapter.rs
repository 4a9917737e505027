//! InteractiveShow's adapter: what the battle engine needs to know of this mode (where its
//! aggregates live, which pure function answers an invitation's expiry, how its messages are
//! encoded), its commands — each loading what its pure function takes and running it through
//! `Engine::run` —, and the `tb_show` writes with their safety net.
//!
//! Layout in the store (through `livepk-engine` and `livepk-store`, which alone know Redis):
//! * tag `show:<show_id>` — the show aggregate (`show`). Every answer to a show is one
//!   compare-and-set on this one key.
//! * tag `show:call:<call_id>` — the call aggregate (`call`). An invitation writes the call
//!   first (the compare-and-set that keeps one open invitation per call), then the new show
//!   with its message in the show tag's outbox.
//!
//! No gift route: a show's gift, also recorded through `Gifts.RecordGift` with its `call_id`
//! (and `show_id`) set, is recorded once by the ledger and claimed by no mode (a paid call is
//! nobody's stage), and moves nothing here — the payment outcome
//! ([`ShowAdapter::report_payment`]) is the authoritative path (it alone knows "insufficient
//! balance" and when the charge was confirmed, and a show has no scoring window for a gift to
//! count in).
//!
//! `tb_show` (SQL) follows the store, never leads it: the store's commit is the truth of a live
//! invitation, and the row is written right after it, idempotently (a write lands only over an
//! older version). A crash between the two is healed by the show's sync job (topic
//! [`SYNC_TOPIC`], one job per show), scheduled *before* every commit that may write the show
//! (once the command's load found it: a request naming an unknown show leaves no job), and
//! again when the row write after the commit fails (the first job may have run already, on the
//! state before the commit): when it runs it reads the show, lapses it if its invitation is past
//! due (as the expiry job would), writes its row, and while the invitation is still open
//! schedules itself again for the expiry, so a lapse — which happens in the engine's expiry
//! job, outside any command — reaches SQL too.
//!
//! The live state is the store's, and the engine keeps an aggregate 3 days after its last write
//! (`livepk_engine::STATE_TTL`): past that, a show is no longer found (`GetShow`, `Finish`,
//! `Rate` and new payment reports answer NOT_FOUND) although its `tb_show` row stays. A repeat
//! of the show's successful payment report still answers as the first time, from the row.

use std::sync::Arc;

use async_trait::async_trait;
use livepk_battle::{BattleId, PhaseDeadline, Scores, Settled, Side};
use livepk_core::{GiftId, InvalidArgument, Mode, SingerId, UserId};
use livepk_engine::{
    AggregateId, BoardRow, EncodeContext, Engine, EngineError, EngineResult, ModeBinding,
    ModeParts, ScoreKeys, Snapshot, StoreKey, TimerHandler,
};
use livepk_sql::{IncomeRow, InviterType, PkRecord, ShowGiftRow, ShowRow};
use livepk_store::{Job, Op};

use crate::{
    Call, CallId, ChatType, InviteRequest, NoBattle, Party, PaymentAnswer, PaymentOutcome,
    PaymentRequest, RankingPeriod, Show, ShowConfig, ShowError, ShowExpiry, ShowGates, ShowGift,
    ShowId, ShowKey, ShowMessage, ShowRating, ShowStage, ShowState, ShowStatus, Shows, Transition,
    secs,
};

/// The delay-queue topic of the `tb_show` safety net.
pub const SYNC_TOPIC: &str = "show.sync";
/// How long after a command its show's safety net runs: long enough for the command's own
/// write to have landed, so the job usually finds nothing to do.
pub const SYNC_DELAY_MS: u64 = 2_000;

fn show_tag(show: ShowId) -> String {
    format!("show:{show}")
}

fn call_tag(call: CallId) -> String {
    format!("show:call:{call}")
}

fn sync_job_id(show: ShowId) -> String {
    format!("{SYNC_TOPIC}:{show}")
}

/// Encodes InteractiveShow's messages for the event stream. The server's encoder builds the
/// seed's protobuf message; a test's may keep the domain values.
pub trait ShowEncoder: Send + Sync {
    /// One encoded event per message, in order.
    fn encode(&self, messages: &[ShowMessage]) -> Vec<Vec<u8>>;
}

impl From<ShowError> for EngineError {
    fn from(error: ShowError) -> Self {
        EngineError::business(error)
    }
}

/// Which show `Rate` rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateTarget {
    /// That show.
    Show(ShowId),
    /// The call's latest paid show.
    Call(CallId),
}

/// A page of the show-income ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomeRanking {
    /// The period's first second (UTC).
    pub from_time: u64,
    /// The second after the period (UTC).
    pub to_time: u64,
    /// The page, best first.
    pub rows: Vec<IncomeRow>,
    /// How many anchors the ranking holds.
    pub total: u64,
}

/// InteractiveShow on the engine.
pub struct ShowAdapter {
    engine: Arc<Engine>,
    encoder: Arc<dyn ShowEncoder>,
}

impl ShowAdapter {
    /// The adapter over `engine`, encoding messages with `encoder`.
    pub fn new(engine: Arc<Engine>, encoder: Arc<dyn ShowEncoder>) -> Arc<Self> {
        Arc::new(Self { engine, encoder })
    }

    /// What InteractiveShow plugs into the runtime: its invitation expiries (the engine's) and
    /// the `tb_show` safety net. No gift route (see the module documentation).
    pub fn parts(self: &Arc<Self>) -> ModeParts {
        ModeParts::new(self.clone(), Vec::new())
            .with_timer(SYNC_TOPIC, Arc::new(SyncJob { adapter: self.clone() }))
    }

    // ---- reading ----------------------------------------------------------------------------

    async fn load(&self, keys: &[ShowKey]) -> EngineResult<Snapshot<Shows>> {
        let mut snapshot = Snapshot::new();
        self.engine.load_aggregates(self, &mut snapshot, keys).await?;
        Ok(snapshot)
    }

    /// Show `show_id` as stored.
    pub async fn show(&self, show_id: ShowId) -> EngineResult<Option<Show>> {
        let snapshot = self.load(&[ShowKey::Show(show_id)]).await?;
        Ok(show_in(&snapshot, show_id).cloned())
    }

    /// Call `call_id` as stored.
    pub async fn call(&self, call_id: CallId) -> EngineResult<Option<Call>> {
        let snapshot = self.load(&[ShowKey::Call(call_id)]).await?;
        Ok(call_in(&snapshot, call_id).cloned())
    }

    /// Whether account `uid` may use shows: the switch `show.enabled` and its own (on unless
    /// switched off). With a call, the answer is logged for the back office's statistics (the
    /// first answer per call and account counts).
    pub async fn show_enable(&self, uid: u64, call: Option<CallId>) -> EngineResult<bool> {
        let config = self.config().await?;
        let enabled = config.enabled && self.account_enabled(uid).await?;
        if let Some(call) = call {
            let ctime = secs(self.now_ms());
            self.engine.database.log_show_call(call.get(), uid, enabled, ctime).await?;
        }
        Ok(enabled)
    }

    /// Switches account `uid`'s show entry on or off.
    pub async fn set_show_enable(&self, uid: u64, enabled: bool) -> EngineResult<()> {
        self.engine.database.set_show_enable(uid, enabled, self.now_ms()).await?;
        Ok(())
    }

    async fn account_enabled(&self, uid: u64) -> EngineResult<bool> {
        Ok(self.engine.database.show_enable_of(uid).await?.unwrap_or(true))
    }

    /// The show gift catalogue: the gifts offered, or all of them with `include_retired`.
    pub async fn gifts(&self, include_retired: bool) -> EngineResult<Vec<ShowGiftRow>> {
        Ok(self.engine.database.show_gifts(include_retired).await?)
    }

    /// A page of the show-income ranking of the current `period` (in the configured zone).
    pub async fn income_ranking(
        &self,
        period: RankingPeriod,
        offset: u64,
        limit: u32,
    ) -> EngineResult<IncomeRanking> {
        let config = self.config().await?;
        let (from_time, to_time) =
            crate::ranking_window(period, self.now_ms(), config.ranking_utc_offset_minutes);
        let (rows, total) =
            self.engine.database.income_ranking(from_time, to_time, offset, limit).await?;
        Ok(IncomeRanking { from_time, to_time, rows, total })
    }

    // ---- commands ---------------------------------------------------------------------------

    /// `AnchorInvite` / `UserInvite`: a new show in the call with the catalogue's gift `gid`
    /// (INVALID_ARGUMENT naming `gid` when it is not offered).
    pub async fn invite(
        &self,
        inviter: Party,
        call_id: CallId,
        anchor_id: SingerId,
        user_id: UserId,
        gid: GiftId,
    ) -> EngineResult<Show> {
        let config = self.config().await?;
        let gift = self
            .engine
            .database
            .show_gift(gid.get())
            .await?
            .filter(|gift| gift.enabled)
            .ok_or_else(|| InvalidArgument::new("gid", "is not a gift of the show catalogue"))?;
        let gates = ShowGates {
            anchor_enabled: self.account_enabled(anchor_id.get()).await?,
            user_enabled: self.account_enabled(user_id.get()).await?,
        };
        let request = InviteRequest {
            inviter,
            call_id,
            anchor_id,
            user_id,
            gift: ShowGift {
                gid,
                name: gift.name,
                img: gift.img,
                effect_url: gift.effect_url,
                price: gift.price,
                unit_profit: gift.unit_profit,
            },
        };
        let (request, config) = (&request, &config);
        let (show, written) = self
            .engine
            .run(
                self,
                || async move {
                    let mut snapshot = self.load(&[ShowKey::Call(call_id)]).await?;
                    let open = call_in(&snapshot, call_id)
                        .and_then(|call| call.open)
                        .map(|open| open.show);
                    if let Some(open) = open {
                        self.engine
                            .load_aggregates(self, &mut snapshot, &[ShowKey::Show(open)])
                            .await?;
                    }
                    // Refused before an id is spent on it (decide checks again, on its own now).
                    let (call, open) = open_of(&snapshot, call_id);
                    crate::check_invite(call, open, request, gates, config, self.now_ms())?;
                    // A fresh id per attempt; its safety net before the commit that may use it.
                    let pkid = self.engine.next_pkid(Mode::InteractiveShow).await?;
                    let new_show = ShowId::from_trusted(pkid.get());
                    self.schedule_sync(new_show).await?;
                    Ok((snapshot, new_show))
                },
                |snapshot, new_show, now_ms| {
                    let (call, open) = open_of(snapshot, call_id);
                    let transition = crate::invite(
                        call,
                        open,
                        request.clone(),
                        *new_show,
                        gates,
                        config,
                        now_ms,
                    )?;
                    Ok(with_written(transition))
                },
            )
            .await?;
        self.written(written.as_ref()).await;
        Ok(show)
    }

    /// `AnchorAccept`.
    pub async fn anchor_accept(&self, show_id: ShowId, anchor: SingerId) -> EngineResult<Show> {
        let config = self.config().await?;
        self.answer(show_id, |show, now_ms| {
            crate::anchor_accept(show, show_id, anchor, &config, now_ms)
        })
        .await
    }

    /// `AnchorReject`.
    pub async fn anchor_reject(&self, show_id: ShowId, anchor: SingerId) -> EngineResult<Show> {
        self.answer(show_id, |show, now_ms| crate::anchor_reject(show, show_id, anchor, now_ms))
            .await
    }

    /// `UserReject`.
    pub async fn user_reject(&self, show_id: ShowId, user: UserId) -> EngineResult<Show> {
        self.answer(show_id, |show, now_ms| crate::user_reject(show, show_id, user, now_ms)).await
    }

    /// The payment's outcome (see [`crate::report_payment`]). A repeat of the successful report
    /// of a show the store no longer holds (3 days after its last change) answers from its
    /// `tb_show` row, as the first time.
    pub async fn report_payment(&self, request: PaymentRequest) -> EngineResult<PaymentAnswer> {
        let show_id = request.show_id;
        let outcome = self
            .answer(show_id, |show, now_ms| crate::report_payment(show, request.clone(), now_ms))
            .await;
        match outcome {
            Err(error) if is_unknown_show(&error) => {
                let row = self.engine.database.get_show(show_id.get()).await?;
                row.and_then(|row| repeated_payment(&row, &request)).ok_or(error)
            }
            outcome => outcome,
        }
    }

    /// `Finish`.
    pub async fn finish(&self, show_id: ShowId, anchor: SingerId) -> EngineResult<Show> {
        self.answer(show_id, |show, now_ms| crate::finish(show, show_id, anchor, now_ms)).await
    }

    /// `Rate`: the show named, or the call's latest paid show.
    pub async fn rate(
        &self,
        target: RateTarget,
        user: UserId,
        rating: ShowRating,
    ) -> EngineResult<Show> {
        let show_id = match target {
            RateTarget::Show(show_id) => show_id,
            RateTarget::Call(call_id) => {
                let mut snapshot = self.load(&[ShowKey::Call(call_id)]).await?;
                let shows: Vec<ShowKey> = call_in(&snapshot, call_id)
                    .map(|call| call.shows.iter().copied().map(ShowKey::Show).collect())
                    .unwrap_or_default();
                self.engine.load_aggregates(self, &mut snapshot, &shows).await?;
                let read: Vec<&Show> = shows
                    .iter()
                    .filter_map(|key| snapshot.aggregate(*key).and_then(ShowState::as_show))
                    .collect();
                crate::show_to_rate(call_in(&snapshot, call_id), call_id, user, &read)?
            }
        };
        self.answer(show_id, |show, now_ms| crate::rate(show, show_id, user, rating, now_ms)).await
    }

    /// Runs a command on one show (load it, decide, commit), with its safety net scheduled
    /// before the commit once the show is found (an unknown show, which every command refuses,
    /// leaves nothing in the queue) and its row written after.
    async fn answer<R: Send>(
        &self,
        show_id: ShowId,
        decide: impl Fn(Option<&Show>, u64) -> Result<Transition<R>, ShowError>,
    ) -> EngineResult<R> {
        let (reply, written) = self
            .engine
            .run(
                self,
                || async move {
                    let snapshot = self.load(&[ShowKey::Show(show_id)]).await?;
                    if show_in(&snapshot, show_id).is_some() {
                        self.schedule_sync(show_id).await?;
                    }
                    Ok((snapshot, ()))
                },
                |snapshot, _, now_ms| Ok(with_written(decide(show_in(snapshot, show_id), now_ms)?)),
            )
            .await?;
        self.written(written.as_ref()).await;
        Ok(reply)
    }

    // ---- tb_show ------------------------------------------------------------------------------

    /// Schedules (or moves) show `show`'s safety net to [`SYNC_DELAY_MS`] from now.
    async fn schedule_sync(&self, show: ShowId) -> EngineResult<()> {
        let due_ms = self.now_ms() + SYNC_DELAY_MS;
        self.schedule_sync_at(show, due_ms).await
    }

    async fn schedule_sync_at(&self, show: ShowId, due_ms: u64) -> EngineResult<()> {
        let body = show.get().to_string().into_bytes();
        self.engine.timers.schedule(SYNC_TOPIC, &sync_job_id(show), due_ms, body).await?;
        Ok(())
    }

    /// Writes the row of a show a command just committed. On failure the show's sync job is
    /// scheduled again to write it: the one scheduled before the commit may have run already
    /// (the commit took longer than [`SYNC_DELAY_MS`]) and written the state before it.
    pub(crate) async fn written(&self, show: Option<&Show>) {
        let Some(show) = show else { return };
        tracing::info!(show_id = %show.show_id, call_id = %show.call_id, status = ?show.status(), version = show.version, "show changed");
        if let Err(error) = self.write_row(show).await {
            match self.schedule_sync(show.show_id).await {
                Ok(()) => {
                    tracing::warn!(show_id = %show.show_id, %error, "tb_show write failed; the sync job will retry");
                }
                Err(schedule_error) => {
                    tracing::error!(show_id = %show.show_id, %error, %schedule_error, "tb_show write failed and its sync job could not be scheduled");
                }
            }
        }
    }

    async fn write_row(&self, show: &Show) -> EngineResult<()> {
        self.engine.database.write_show(&show_row(show, self.now_ms())).await?;
        Ok(())
    }

    /// The safety net of show `show_id` (see the module documentation): brings the store to the
    /// truth (a past-due invitation lapsed), writes the row, and comes back at the expiry of an
    /// invitation still open. An error leaves the job to be delivered again.
    pub async fn sync(&self, show_id: ShowId) -> EngineResult<()> {
        let Some(mut show) = self.show(show_id).await? else { return Ok(()) };
        if let Some(expiry) = crate::pending_expiry(&show)
            && self.now_ms() >= expiry.expires_at_ms
        {
            self.engine
                .run(
                    self,
                    || async move { Ok((self.load(&[ShowKey::Show(show_id)]).await?, ())) },
                    |snapshot, _, now_ms| {
                        let read = snapshot.aggregate(ShowKey::Show(show_id));
                        Ok(crate::on_invitation_expired(read, &expiry, now_ms))
                    },
                )
                .await?;
            show = self.show(show_id).await?.unwrap_or(show);
        }
        self.write_row(&show).await?;
        if let Some(expiry) = crate::pending_expiry(&show) {
            self.schedule_sync_at(show_id, expiry.expires_at_ms).await?;
        }
        Ok(())
    }
}

/// Whether `error` is "no show `show_id` is known".
fn is_unknown_show(error: &EngineError) -> bool {
    error.as_business().is_some_and(|business| {
        let business: &dyn std::error::Error = business;
        matches!(business.downcast_ref::<ShowError>(), Some(ShowError::UnknownShow(_)))
    })
}

/// The answer `row` gives a repeat of its show's successful payment report, if `request` is
/// one (same user, same transaction id, a success).
fn repeated_payment(row: &ShowRow, request: &PaymentRequest) -> Option<PaymentAnswer> {
    let repeat = row.status == livepk_sql::ShowStatus::Paid
        && row.user_id == request.user_id.get()
        && row.pay_txn_id == request.txn_id.as_str()
        && request.outcome == PaymentOutcome::Success;
    let inviter = match row.inviter_type {
        InviterType::Anchor => Party::Anchor,
        InviterType::User => Party::User,
    };
    repeat.then(|| PaymentAnswer { chat_type: ChatType::paid(inviter), status: ShowStatus::Paid })
}

/// The show a transition writes, next to its reply.
fn with_written<R>(transition: Transition<R>) -> Transition<(R, Option<Show>)> {
    let written = transition.aggregates.iter().rev().find_map(ShowState::as_show).cloned();
    transition.map_reply(|reply, _| (reply, written))
}

fn show_in(snapshot: &Snapshot<Shows>, show_id: ShowId) -> Option<&Show> {
    snapshot.aggregate(ShowKey::Show(show_id)).and_then(ShowState::as_show)
}

fn call_in(snapshot: &Snapshot<Shows>, call_id: CallId) -> Option<&Call> {
    snapshot.aggregate(ShowKey::Call(call_id)).and_then(ShowState::as_call)
}

/// Call `call_id` and the show of its latest invitation, as read.
fn open_of(snapshot: &Snapshot<Shows>, call_id: CallId) -> (Option<&Call>, Option<&Show>) {
    let call = call_in(snapshot, call_id);
    let open = call.and_then(|call| call.open).and_then(|open| show_in(snapshot, open.show));
    (call, open)
}

/// The `tb_show` row of `show`, written at `now_ms`.
pub fn show_row(show: &Show, now_ms: u64) -> ShowRow {
    let status = match show.status() {
        ShowStatus::Invited => livepk_sql::ShowStatus::Invited,
        ShowStatus::Accepted => livepk_sql::ShowStatus::Accepted,
        ShowStatus::Paid => livepk_sql::ShowStatus::Paid,
        ShowStatus::UserRejected => livepk_sql::ShowStatus::UserRejected,
        ShowStatus::AnchorRejected => livepk_sql::ShowStatus::AnchorRejected,
        ShowStatus::Lapsed => livepk_sql::ShowStatus::Lapsed,
    };
    let (pay_time, pay_txn_id) = match &show.stage {
        ShowStage::Paid { at_ms, txn_id } => (secs(*at_ms), txn_id.as_str().to_owned()),
        _ => (0, String::new()),
    };
    ShowRow {
        show_id: show.show_id.get(),
        call_id: show.call_id.get(),
        anchor_id: show.anchor_id.get(),
        user_id: show.user_id.get(),
        inviter_type: match show.inviter {
            Party::Anchor => InviterType::Anchor,
            Party::User => InviterType::User,
        },
        gid: show.gift.gid.get(),
        status,
        ctime: secs(show.created_at_ms),
        // When the invitation lapses, or lapsed: 0 once it was answered.
        expire_time: match &show.stage {
            ShowStage::Lapsed { invitation } => secs(invitation.expires_at_ms),
            stage => stage.pending().map_or(0, |invitation| secs(invitation.expires_at_ms)),
        },
        answer_time: show.answered_at_ms.map_or(0, secs),
        pay_time,
        pay_txn_id,
        finish_time: show.finished_at_ms.map_or(0, secs),
        rating: show.rating.map_or(0, |rating| u32::from(rating.get())),
        rate_time: show.rated_at_ms.map_or(0, secs),
        version: show.version,
        updated_at_ms: now_ms,
    }
}

/// Runs the `tb_show` safety net of one show.
struct SyncJob {
    adapter: Arc<ShowAdapter>,
}

#[async_trait]
impl TimerHandler for SyncJob {
    async fn fire(&self, job: &Job) -> EngineResult<()> {
        let show = std::str::from_utf8(&job.body)
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
            .filter(|raw| *raw != 0)
            .ok_or_else(|| EngineError::corrupt(format!("show sync job {}", job.id)))?;
        self.adapter.sync(ShowId::from_trusted(show)).await
    }
}

#[async_trait]
impl ModeBinding for ShowAdapter {
    type Domain = Shows;
    type Config = ShowConfig;

    const MODE: Mode = Mode::InteractiveShow;

    fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    async fn config(&self) -> EngineResult<ShowConfig> {
        Ok(ShowConfig::from_values(&*self.engine.settings.snapshot().await?))
    }

    /// Never asked: a show has no battle.
    fn battle_tag(&self, battle: BattleId) -> String {
        format!("show:battle:{battle}")
    }

    fn aggregate_key(&self, key: AggregateId<Shows>) -> StoreKey {
        match key {
            ShowKey::Call(call) => StoreKey::new(call_tag(call), "call"),
            ShowKey::Show(show) => StoreKey::new(show_tag(show), "show"),
        }
    }

    fn change_ops(&self, change: &std::convert::Infallible) -> Vec<(String, Op)> {
        match *change {}
    }

    fn score_keys(&self, battle: &NoBattle) -> ScoreKeys {
        match *battle {}
    }

    async fn encode(
        &self,
        notifications: &[ShowMessage],
        _context: EncodeContext<'_, Shows>,
    ) -> EngineResult<Vec<Vec<u8>>> {
        Ok(self.encoder.encode(notifications))
    }

    fn record(&self, _settled: &Settled, battle: &NoBattle, _now_ms: u64) -> PkRecord {
        match *battle {}
    }

    fn on_phase_deadline(
        &self,
        _battle: Option<&NoBattle>,
        _deadline: &PhaseDeadline,
        _scores: Scores,
        _config: &ShowConfig,
        _now_ms: u64,
    ) -> Transition<()> {
        Transition::unchanged(())
    }

    fn invitation_parties(&self, expiry: &ShowExpiry) -> Vec<ShowKey> {
        vec![ShowKey::Show(expiry.show)]
    }

    fn on_invitation_expired(
        &self,
        snapshot: &Snapshot<Shows>,
        expiry: &ShowExpiry,
        _config: &ShowConfig,
        now_ms: u64,
    ) -> Transition<()> {
        crate::on_invitation_expired(snapshot.aggregate(ShowKey::Show(expiry.show)), expiry, now_ms)
    }

    fn battle_parties(&self, battle: &NoBattle) -> Vec<ShowKey> {
        match *battle {}
    }

    fn admin_close(&self, _snapshot: &Snapshot<Shows>, _now_ms: u64) -> Transition<()> {
        Transition::unchanged(())
    }

    fn score_progress(
        &self,
        battle: &NoBattle,
        _scores: Scores,
        _side: Side,
        _rows: &[BoardRow],
    ) -> Vec<ShowMessage> {
        match *battle {}
    }
}
