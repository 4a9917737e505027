//! The pulls of seed 001 §2.1.c–e and §2.2.a, as pure functions of what the adapter read: the
//! live data with its time left (and the full PK info for a viewer who missed the create push),
//! the result with its `finished` flag, ranking pages, and a show's PKs.

use livepk_battle::{Scores, Side, Sides};
use livepk_core::{GiftId, PkId, SingerId, UserId};

use crate::config::{GiftPkConfig, RESULT_TOP};
use crate::error::GiftPkError;
use crate::model::{GiftBattle, PkGift, SenderRow, ShowId};

/// One gift's totals in a PK (the seed's `statInfo`, §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GiftTotals {
    /// The gift.
    pub gift_id: GiftId,
    /// How many of it were sent (the seed's 送礼总数; the side total that decides the winner).
    pub count: u64,
    /// Their total value in coin units (the seed's 送礼总KB数).
    pub value: u64,
}

/// Both gifts' totals from the counts and values read.
pub fn totals(battle: &GiftBattle, counts: Scores, values: Sides<u64>) -> Sides<GiftTotals> {
    Sides::new(Side::First, Side::Second).map(|side| GiftTotals {
        gift_id: battle.gifts[side].gift_id,
        count: counts[side],
        value: values[side],
    })
}

/// A gift PK as a show lists it (the seed's `pkInfo` entry, §3.1: pkId, status, gifts with name,
/// logo and caption, create and destroy time, duration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkView {
    /// The pkid.
    pub pkid: PkId,
    /// The show.
    pub show_id: ShowId,
    /// The anchor who created it.
    pub singer_id: SingerId,
    /// Both gifts.
    pub gifts: Sides<PkGift>,
    /// The countdown asked for (seconds).
    pub duration_secs: u64,
    /// The pull interval (ms).
    pub interval_ms: u64,
    /// Whether it still runs (the seed's status 进行中; otherwise 销毁, over).
    pub running: bool,
    /// When it was created (ms since epoch).
    pub created_at_ms: u64,
    /// When the countdown ends (ms since epoch).
    pub deadline_ms: u64,
    /// When scoring ended, once over (ms since epoch).
    pub ended_at_ms: Option<u64>,
}

/// The PK as a show lists it.
pub fn pk_view(battle: &GiftBattle) -> PkView {
    PkView {
        pkid: battle.pkid(),
        show_id: battle.show_id,
        singer_id: battle.singer_id,
        gifts: battle.gifts.clone(),
        duration_secs: battle.duration_secs,
        interval_ms: battle.interval_ms,
        running: !battle.is_finished(),
        created_at_ms: battle.created_at_ms(),
        deadline_ms: battle.deadline_ms(),
        ended_at_ms: battle.ended_at_ms(),
    }
}

/// `GetLive` (seed §2.1.c): the show's latest PK while it runs (and its final numbers once over).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveView {
    /// The pkid.
    pub pkid: PkId,
    /// Both gifts' count and value.
    pub totals: Sides<GiftTotals>,
    /// Seconds left (rounded up; 0 once over or past the deadline).
    pub time_left_secs: u64,
    /// Whether it is over (settled; its numbers no longer change).
    pub finished: bool,
    /// The full PK, when the caller asked for it (`need_extra_info`: a viewer who got gift
    /// pushes but missed the create push).
    pub info: Option<PkView>,
}

/// The live data of `battle`.
pub fn live(
    battle: &GiftBattle,
    counts: Scores,
    values: Sides<u64>,
    need_extra_info: bool,
    now_ms: u64,
) -> LiveView {
    LiveView {
        pkid: battle.pkid(),
        totals: totals(battle, counts, values),
        time_left_secs: battle.time_left_secs(now_ms),
        finished: battle.is_finished(),
        info: need_extra_info.then(|| pk_view(battle)),
    }
}

/// A board of senders: one gift's (rankings; a result's winner) or both gifts' together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderBoard {
    /// One gift's senders by their count of it (a result lists the winning, or while running
    /// the leading, gift's).
    Gift(Side),
    /// On a draw: the top senders over both gifts together (seed §2.1.d: 综合排名, whichever
    /// gift they sent).
    Both,
}

/// What a result is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultPlan {
    /// The winner: the verdict once over; the side ahead while running (provisional, see
    /// `finished`). `None` on a draw.
    pub winner: Option<Side>,
    /// The board whose top [`RESULT_TOP`] senders to list.
    pub board: SenderBoard,
}

/// The winner and the board of `battle`'s result on `counts`.
pub fn result_plan(battle: &GiftBattle, counts: Scores) -> ResultPlan {
    let winner = if battle.is_finished() { battle.winner() } else { counts.leader() };
    ResultPlan { winner, board: winner.map_or(SenderBoard::Both, SenderBoard::Gift) }
}

/// `GetResult` (seed §2.1.d).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultView {
    /// The pkid.
    pub pkid: PkId,
    /// Both gifts' count and value.
    pub totals: Sides<GiftTotals>,
    /// The PK's length (seconds): the countdown while running, how long it scored once over.
    pub duration_secs: u64,
    /// The asking user's own count of each gift.
    pub user_totals: Sides<u64>,
    /// The winning gift; `None` on a draw.
    pub winner: Option<GiftId>,
    /// The top senders (of the winner, or of both gifts on a draw), best first, at most
    /// [`RESULT_TOP`].
    pub top: Vec<SenderRow>,
    /// False while the PK runs (also past its deadline until the settle ran): the numbers may
    /// still move, so a client whose countdown ran fast must not show them as final (§2.1.d).
    pub finished: bool,
}

/// The result of `battle`: `plan` from [`result_plan`], `top` read from its board.
pub fn result(
    battle: &GiftBattle,
    counts: Scores,
    values: Sides<u64>,
    user_totals: Sides<u64>,
    plan: ResultPlan,
    mut top: Vec<SenderRow>,
) -> ResultView {
    top.truncate(RESULT_TOP);
    ResultView {
        pkid: battle.pkid(),
        totals: totals(battle, counts, values),
        duration_secs: battle.played_secs(),
        user_totals,
        winner: plan.winner.map(|side| battle.gifts[side].gift_id),
        top,
        finished: battle.is_finished(),
    }
}

/// Which part of a gift's board a ranking page reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankingWindow {
    /// The gift's side.
    pub side: Side,
    /// First position (0-based, the seed's `index`).
    pub offset: usize,
    /// Rows per page (one more is read to tell whether another page follows).
    pub page_size: usize,
}

/// The window of `GetRanking` (seed §2.1.e) for `gift` from position `index`: 021 naming
/// `gift_id` when the gift is not one of the PK's.
pub fn ranking_window(
    battle: &GiftBattle,
    gift: GiftId,
    index: u32,
    config: &GiftPkConfig,
) -> Result<RankingWindow, GiftPkError> {
    let side = battle.side_of(gift).ok_or_else(|| GiftPkError::not_a_pk_gift("gift_id", gift))?;
    Ok(RankingWindow { side, offset: index as usize, page_size: config.rows_per_page() })
}

/// One sender on a ranking page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankedSender {
    /// 1-based position on the gift's board (ties: the first to reach the total ranks first).
    pub rank: u64,
    /// The viewer.
    pub user_id: UserId,
    /// Their count of the gift.
    pub total: u64,
}

/// A page of a gift's ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankingPage {
    /// The pkid.
    pub pkid: PkId,
    /// The gift.
    pub gift_id: GiftId,
    /// The senders from the window's position, best first.
    pub rows: Vec<RankedSender>,
    /// Whether more senders follow this page.
    pub has_more: bool,
}

/// The page of `window` from the rows read there (up to one more than a page).
pub fn ranking_page(battle: &GiftBattle, window: RankingWindow, read: &[SenderRow]) -> RankingPage {
    let rows = read
        .iter()
        .take(window.page_size)
        .enumerate()
        .map(|(position, row)| RankedSender {
            rank: (window.offset + position + 1) as u64,
            user_id: row.user_id,
            total: row.total,
        })
        .collect();
    RankingPage {
        pkid: battle.pkid(),
        gift_id: battle.gifts[window.side].gift_id,
        rows,
        has_more: read.len() > window.page_size,
    }
}
