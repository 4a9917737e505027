//! GiftPk's adapter: what the battle engine needs to know of this mode (where its states live,
//! which pure functions answer its deadline, an operator's close and a score change, how it
//! claims gifts) and its commands and queries, each loading what its pure function takes.
//! Everything else — the retry loop, settling on final numbers, the commit plan, timers,
//! records, gift routing and coalesced score notifications — is the engine's.
//!
//! Layout in the store (through `livepk-engine` and `livepk-store`, which alone know Redis):
//! * tag `giftpk:show:<show>` — the show's aggregate (`show`): its PKs, newest last. One tag
//!   per show, so concurrent Creates in one show meet in one compare-and-set.
//! * tag `giftpk:<battle>` — one gift PK: the `battle` aggregate, its scoring `window`, each
//!   gift's count (`totals`, fields `first`/`second`: the side totals) and value (`values`),
//!   each gift's sender board (`senders:first`, `senders:second`: counts, ties to the first to
//!   reach the total), the board over both gifts (`senders:both`, a draw's result) and the
//!   senders' profiles (`users`). A gift touches only this tag, in one script.
//!
//! Gifts are claimed by show and gift id ([`Claim::ShowGift`]): the show says which PK is its
//! latest, the PK whether it is scoring and which two gifts it counts. The engine caches that
//! answer for 2 s; it can only be stale in the safe direction, because every end of a PK closes
//! its window in its own commit, and a new PK's window starts after the old one's ended.
//!
//! Nothing is deleted when a PK ends: its totals, boards and profiles stay (3 days, like every
//! state) for the result and ranking pulls.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use async_trait::async_trait;
use livepk_battle::{BattleId, PhaseDeadline, Scores, Settled, Side, Sides};
use livepk_core::{Gift, GiftId, Mode, PkId, UserId};
use livepk_engine::{
    AggregateId, BoardRow, Claim, Credit, EncodeContext, Engine, EngineError, EngineResult,
    GiftRoute, Located, ModeBinding, ModeParts, RouteKey, ScoreKeys, Snapshot, StoreKey,
    settled_record,
};
use livepk_sql::{Participant, PkRecord};
use livepk_store::Op;

use crate::{
    CloseRequest, CreateReply, CreateRequest, GiftBattle, GiftPk, GiftPkConfig, GiftPkError,
    LiveView, NewPk, Notification, PkView, RESULT_TOP, RankingPage, ResultView, SenderBoard,
    SenderRow, Show, ShowId, Transition,
};

/// Prefix of every GiftPk tag.
const TAG: &str = "giftpk";
/// The show aggregate's name under its tag.
const SHOW: &str = "show";
/// Each gift's count (the side totals).
const TOTALS: &str = "totals";
/// Each gift's value.
const VALUES: &str = "values";
/// The senders' profiles.
const USERS: &str = "users";
/// The board over both gifts.
const BOTH: &str = "senders:both";
/// The field of each side in [`TOTALS`] and [`VALUES`], and the suffix of its board.
const SIDE_FIELDS: Sides<&str> = Sides { first: "first", second: "second" };

fn show_tag(show: ShowId) -> String {
    format!("{TAG}:show:{show}")
}

fn board_name(board: SenderBoard) -> String {
    match board {
        SenderBoard::Gift(side) => format!("senders:{}", SIDE_FIELDS[side]),
        SenderBoard::Both => BOTH.into(),
    }
}

pub use livepk_engine::GifterProfile;

/// Encodes GiftPk's notifications for the event stream. The server's encoder builds the
/// protobuf messages with the senders' profiles; a test's may keep the domain values.
#[async_trait]
pub trait GiftPkEncoder: Send + Sync {
    /// Encoded events for `notifications` (profiles read through `adapter`).
    async fn encode(
        &self,
        adapter: &GiftPkAdapter,
        notifications: &[Notification],
        context: EncodeContext<'_, GiftPk>,
    ) -> EngineResult<Vec<Vec<u8>>>;
}

impl From<GiftPkError> for EngineError {
    fn from(error: GiftPkError) -> Self {
        EngineError::business(error)
    }
}

/// GiftPk on the engine.
pub struct GiftPkAdapter {
    engine: Arc<Engine>,
    encoder: Arc<dyn GiftPkEncoder>,
}

impl GiftPkAdapter {
    /// The adapter over `engine`, encoding notifications with `encoder`.
    pub fn new(engine: Arc<Engine>, encoder: Arc<dyn GiftPkEncoder>) -> Arc<Self> {
        Arc::new(Self { engine, encoder })
    }

    /// What GiftPk plugs into the runtime: its binding and its gift router.
    pub fn parts(self: &Arc<Self>) -> ModeParts {
        ModeParts::routed(self.clone())
    }

    // ---- reading ----------------------------------------------------------------------------

    /// The show and the battle of its latest PK, with the totals.
    pub async fn load_show(&self, show: ShowId) -> EngineResult<Snapshot<GiftPk>> {
        let mut snapshot = Snapshot::new();
        self.engine.load_aggregates(self, &mut snapshot, &[show]).await?;
        let latest = snapshot.aggregate(show).and_then(Show::latest).map(|pk| pk.battle);
        self.engine.load_battle(self, &mut snapshot, latest).await?;
        Ok(snapshot)
    }

    /// The show and the battle of its PK `pkid` (if it still remembers it), with the totals.
    async fn load_show_pk(&self, show: ShowId, pkid: PkId) -> EngineResult<Snapshot<GiftPk>> {
        let mut snapshot = Snapshot::new();
        self.engine.load_aggregates(self, &mut snapshot, &[show]).await?;
        let battle = crate::battle_of_show_pk(snapshot.aggregate(show), pkid);
        self.engine.load_battle(self, &mut snapshot, battle).await?;
        Ok(snapshot)
    }

    /// The gift PK `pkid` (through the engine's pkid index); 021 NOT_FOUND when unknown.
    pub async fn battle_of_pkid(&self, pkid: PkId) -> EngineResult<GiftBattle> {
        let unknown = || EngineError::from(GiftPkError::UnknownPk { pkid });
        let id = self.engine.battle_of_pkid(Mode::GiftPk, pkid).await?.ok_or_else(unknown)?;
        let (battle, _) = self.engine.read_battle(self, id).await?.ok_or_else(unknown)?;
        if battle.pkid() != pkid {
            return Err(unknown());
        }
        Ok(battle)
    }

    /// Each gift's count (the side totals).
    pub async fn counts(&self, battle: &GiftBattle) -> EngineResult<Scores> {
        self.engine.read_scores(self, battle).await
    }

    /// Each gift's value.
    pub async fn values(&self, battle: &GiftBattle) -> EngineResult<Sides<u64>> {
        let fields = [SIDE_FIELDS.first.to_owned(), SIDE_FIELDS.second.to_owned()];
        let tag = self.battle_tag(battle.battle_id);
        let read = self.engine.store.hash_get_fields(&tag, VALUES, &fields).await?;
        let number = |value: &Option<String>| {
            value.as_deref().and_then(|v| v.parse::<i64>().ok()).unwrap_or(0).max(0) as u64
        };
        Ok(Sides::new(number(&read[0]), number(&read[1])))
    }

    /// `user`'s own count of each gift of `battle`.
    pub async fn sender_totals(
        &self,
        battle: &GiftBattle,
        user: UserId,
    ) -> EngineResult<Sides<u64>> {
        let tag = self.battle_tag(battle.battle_id);
        let mut totals = Sides::new(0, 0);
        for side in Side::BOTH {
            let board = board_name(SenderBoard::Gift(side));
            let total = self.engine.store.board_total(&tag, &board, user.get()).await?;
            totals[side] = total.unwrap_or(0).max(0) as u64;
        }
        Ok(totals)
    }

    /// `count` senders of `board` of `battle` from position `offset`, best first.
    pub async fn board(
        &self,
        battle: BattleId,
        board: SenderBoard,
        offset: usize,
        count: usize,
    ) -> EngineResult<Vec<SenderRow>> {
        let tag = self.battle_tag(battle);
        let rows = self.engine.store.board_page(&tag, &board_name(board), offset, count).await?;
        Ok(rows
            .into_iter()
            .filter(|row| row.member != 0)
            .map(|row| SenderRow {
                user_id: UserId::from_trusted(row.member),
                total: row.total.max(0) as u64,
            })
            .collect())
    }

    /// Profiles of senders of `battle` (missing ones are left out).
    pub async fn gifter_profiles(
        &self,
        battle: BattleId,
        users: &[UserId],
    ) -> EngineResult<HashMap<UserId, GifterProfile>> {
        self.engine.gifter_profiles(&self.battle_tag(battle), USERS, users).await
    }

    // ---- commands (seed 001 §2.1) -----------------------------------------------------------

    /// 2.1.a: the anchor starts a gift PK in the show.
    pub async fn create(&self, request: CreateRequest) -> EngineResult<CreateReply> {
        let config = self.config().await?;
        // Bad input is refused before any id is allocated.
        crate::validate_create(&request, &config)?;
        let show = request.show_id;
        let request = &request;
        self.run(
            || async move {
                let snapshot = self.load_show(show).await?;
                let new_pk = if crate::create_needs_ids(snapshot.aggregate(show), snapshot.battle())
                {
                    Some(NewPk {
                        battle_id: self.engine.next_battle_id(Mode::GiftPk).await?,
                        pkid: self.engine.next_pkid(Mode::GiftPk).await?,
                    })
                } else {
                    None
                };
                Ok((snapshot, new_pk))
            },
            |snapshot, new_pk, now_ms| {
                let (show, latest) = (snapshot.aggregate(show), snapshot.battle());
                Ok(crate::create(show, latest, request, *new_pk, &config, now_ms)?)
            },
        )
        .await
    }

    /// 2.1.b: the anchor ends the PK early.
    pub async fn close(&self, request: CloseRequest) -> EngineResult<()> {
        self.run(
            || async move { Ok((self.load_show_pk(request.show_id, request.pkid).await?, ())) },
            |snapshot, _, now_ms| {
                Ok(crate::close(snapshot.battle(), request, snapshot.scores(), now_ms)?)
            },
        )
        .await
    }

    // ---- queries (seed 001 §2.1.c-e, §2.2.a) ------------------------------------------------

    /// 2.1.c: the show's latest PK's live data (`None` when the show never had one).
    pub async fn live(
        &self,
        show: ShowId,
        need_extra_info: bool,
    ) -> EngineResult<Option<LiveView>> {
        let snapshot = self.load_show(show).await?;
        let Some(battle) = snapshot.battle() else { return Ok(None) };
        let values = self.values(battle).await?;
        Ok(Some(crate::live(battle, snapshot.scores(), values, need_extra_info, self.now_ms())))
    }

    /// 2.1.d: the result of PK `pkid` for `user`, with the listed senders' profiles.
    pub async fn result(
        &self,
        pkid: PkId,
        user: UserId,
    ) -> EngineResult<(ResultView, HashMap<UserId, GifterProfile>)> {
        let battle = self.battle_of_pkid(pkid).await?;
        let counts = self.counts(&battle).await?;
        let values = self.values(&battle).await?;
        let user_totals = self.sender_totals(&battle, user).await?;
        let plan = crate::result_plan(&battle, counts);
        let top = self.board(battle.battle_id, plan.board, 0, RESULT_TOP).await?;
        let view = crate::result(&battle, counts, values, user_totals, plan, top);
        let users: Vec<UserId> = view.top.iter().map(|row| row.user_id).collect();
        let profiles = self.gifter_profiles(battle.battle_id, &users).await?;
        Ok((view, profiles))
    }

    /// 2.1.e: a page of gift `gift`'s senders in PK `pkid` from position `index`, with their
    /// profiles.
    pub async fn ranking(
        &self,
        pkid: PkId,
        gift: GiftId,
        index: u32,
    ) -> EngineResult<(RankingPage, HashMap<UserId, GifterProfile>)> {
        let config = self.config().await?;
        let battle = self.battle_of_pkid(pkid).await?;
        let window = crate::ranking_window(&battle, gift, index, &config)?;
        // One row more than a page tells whether another page follows.
        let board = SenderBoard::Gift(window.side);
        let read = self.board(battle.battle_id, board, window.offset, window.page_size + 1).await?;
        let page = crate::ranking_page(&battle, window, &read);
        let users: Vec<UserId> = page.rows.iter().map(|row| row.user_id).collect();
        let profiles = self.gifter_profiles(battle.battle_id, &users).await?;
        Ok((page, profiles))
    }

    /// 2.2.a: the show's latest PK (the seed's server-side `getPkInfo`).
    pub async fn show_pk(&self, show: ShowId) -> EngineResult<Option<PkView>> {
        let mut snapshot = Snapshot::new();
        self.engine.load_aggregates(self, &mut snapshot, &[show]).await?;
        let Some(latest) = snapshot.aggregate(show).and_then(Show::latest) else {
            return Ok(None);
        };
        let read = self.engine.read_battle(self, latest.battle).await?;
        Ok(read.map(|(battle, _)| crate::pk_view(&battle)))
    }

    /// The show's PKs, newest first (at most `giftpk.history_size`; PKs whose state expired are
    /// left out). Their battles are read concurrently.
    pub async fn show_pks(&self, show: ShowId) -> EngineResult<Vec<PkView>> {
        let mut snapshot = Snapshot::new();
        self.engine.load_aggregates(self, &mut snapshot, &[show]).await?;
        let Some(show) = snapshot.aggregate(show) else { return Ok(Vec::new()) };
        let reads = show.pks.iter().rev().map(|pk| self.engine.read_battle(self, pk.battle));
        let battles = futures::future::try_join_all(reads).await?;
        Ok(battles.into_iter().flatten().map(|(battle, _)| crate::pk_view(&battle)).collect())
    }

    /// Runs one command on the engine.
    async fn run<X, R, Load, LoadFuture, Decide>(
        &self,
        load: Load,
        decide: Decide,
    ) -> EngineResult<R>
    where
        Load: FnMut() -> LoadFuture,
        LoadFuture: std::future::Future<Output = EngineResult<(Snapshot<GiftPk>, X)>>,
        Decide: FnMut(&Snapshot<GiftPk>, &X, u64) -> EngineResult<Transition<R>>,
    {
        self.engine.run(self, load, decide).await
    }
}

#[async_trait]
impl ModeBinding for GiftPkAdapter {
    type Domain = GiftPk;
    type Config = GiftPkConfig;

    const MODE: Mode = Mode::GiftPk;
    /// The countdown's job is due `giftpk.settle_grace_ms` after the deadline already.
    const OWN_SETTLE_GRACE: bool = true;

    fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    async fn config(&self) -> EngineResult<GiftPkConfig> {
        Ok(GiftPkConfig::from_values(&*self.engine.settings.snapshot().await?))
    }

    fn battle_tag(&self, battle: BattleId) -> String {
        format!("{TAG}:{battle}")
    }

    fn aggregate_key(&self, show: AggregateId<GiftPk>) -> StoreKey {
        StoreKey::new(show_tag(show), SHOW)
    }

    fn change_ops(&self, change: &Infallible) -> Vec<(String, Op)> {
        match *change {}
    }

    fn score_keys(&self, _battle: &GiftBattle) -> ScoreKeys {
        ScoreKeys {
            totals: TOTALS.into(),
            fields: SIDE_FIELDS.map(str::to_owned),
            senders: Sides::new(Side::First, Side::Second)
                .map(|side| board_name(SenderBoard::Gift(side))),
            boards: vec![BOTH.into()],
            keys: vec![VALUES.into(), USERS.into()],
        }
    }

    async fn encode(
        &self,
        notifications: &[Notification],
        context: EncodeContext<'_, GiftPk>,
    ) -> EngineResult<Vec<Vec<u8>>> {
        self.encoder.encode(self, notifications, context).await
    }

    /// Each gift is a participant: its id, the show as its room, the gift id as its side, its
    /// count as its score; the winner id is the winning gift's.
    fn record(&self, settled: &Settled, battle: &GiftBattle, now_ms: u64) -> PkRecord {
        let participants = Sides::new(Side::First, Side::Second).map(|side| Participant {
            id: battle.gifts[side].gift_id.get(),
            sid: battle.show_id.get(),
            side: battle.gifts[side].gift_id.to_string(),
            score: settled.scores[side],
        });
        settled_record(Mode::GiftPk, settled, participants, now_ms)
    }

    fn on_phase_deadline(
        &self,
        battle: Option<&GiftBattle>,
        deadline: &PhaseDeadline,
        scores: Scores,
        _config: &GiftPkConfig,
        now_ms: u64,
    ) -> Transition<()> {
        crate::on_phase_deadline(battle, deadline, scores, now_ms)
    }

    fn invitation_parties(&self, _invitation: &()) -> Vec<ShowId> {
        Vec::new()
    }

    fn on_invitation_expired(
        &self,
        _snapshot: &Snapshot<GiftPk>,
        _invitation: &(),
        _config: &GiftPkConfig,
        _now_ms: u64,
    ) -> Transition<()> {
        Transition::unchanged(())
    }

    /// A forced close writes only the battle (the show's pointer to a closed PK is free).
    fn battle_parties(&self, _battle: &GiftBattle) -> Vec<ShowId> {
        Vec::new()
    }

    fn admin_close(&self, snapshot: &Snapshot<GiftPk>, now_ms: u64) -> Transition<()> {
        crate::admin_close(snapshot.battle(), snapshot.scores(), now_ms)
    }

    fn score_progress(
        &self,
        battle: &GiftBattle,
        scores: Scores,
        side: Side,
        rows: &[BoardRow],
    ) -> Vec<Notification> {
        let rows: Vec<SenderRow> =
            rows.iter().map(|row| SenderRow { user_id: row.user_id, total: row.total }).collect();
        crate::progress(battle, scores, side, &rows)
    }
}

#[async_trait]
impl GiftRoute for GiftPkAdapter {
    type Found = Sides<GiftId>;

    const MODE: Mode = Mode::GiftPk;
    const CLAIM: Claim = Claim::ShowGift;
    const HAS_AFTER_SCORED: bool = false;
    /// A vote is a gift, whatever it is worth.
    const COUNTS_ZERO_POINTS: bool = true;

    /// The show's latest PK with its two gifts, while it is scoring (two reads: the show, the
    /// battle). A PK past its deadline whose settle has not run (the settle grace,
    /// `giftpk.settle_grace_ms`) is still scoring: its window, which ends at the deadline, then
    /// judges the gift by its send time.
    async fn locate(&self, key: RouteKey) -> EngineResult<Option<Located<Sides<GiftId>>>> {
        let RouteKey::ShowGift { show, .. } = key else { return Ok(None) };
        // Claim::key only makes a ShowGift key from a non-zero show id.
        let show = ShowId::from_trusted(show);
        let mut snapshot = Snapshot::new();
        self.engine.load_aggregates(self, &mut snapshot, &[show]).await?;
        let Some(latest) = snapshot.aggregate(show).and_then(Show::latest) else {
            return Ok(None);
        };
        let Some((battle, _)) = self.engine.read_battle(self, latest.battle).await? else {
            return Ok(None);
        };
        let Some((_, until_ms)) = battle.round.scoring_window() else { return Ok(None) };
        Ok(Some(Located {
            battle: battle.battle_id,
            tag: self.battle_tag(battle.battle_id),
            until_ms,
            found: battle.gift_ids(),
        }))
    }

    /// One of the two gifts adds its count (the side total) and value to its side, the count to
    /// the sender's entry on that gift's board and on the board over both gifts, and the
    /// sender's profile. Any other gift id counts nothing here.
    fn credit(
        &self,
        gift: &Gift,
        located: &Located<Sides<GiftId>>,
        _points: i64,
    ) -> Option<Credit> {
        let side = located.found.find(|id| *id == gift.gift_id)?;
        let field = SIDE_FIELDS[side];
        let sender = &gift.sender;
        let count = i64::from(gift.gift_count);
        let value = i64::try_from(gift.total_value()).unwrap_or(i64::MAX);
        Some(Credit {
            side,
            side_word: gift.gift_id.to_string(),
            receiver_id: gift.receiver_id.get(),
            counters: vec![
                (TOTALS.into(), field.into(), count),
                (VALUES.into(), field.into(), value),
            ],
            boards: vec![
                (board_name(SenderBoard::Gift(side)), sender.user_id.get(), count),
                (BOTH.into(), sender.user_id.get(), count),
            ],
            fields: vec![GifterProfile::credit_field(USERS, sender)],
        })
    }
}
