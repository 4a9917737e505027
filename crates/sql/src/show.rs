//! InteractiveShow's durable data (seed 003): the `tb_show` rows, the show gift catalogue, the
//! accounts whose show entry is switched off, the `showEnable` answers of paid calls, and the two
//! read-outs built on them: the back office's statistics and the show-income ranking.
//!
//! A show's live state is in the store; its row here is written after each change of it, by the
//! mode's adapter and again by a safety-net job, so [`Database::write_show`] must be idempotent
//! and must never move a row back: a write lands only when its `version` is newer.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::database::{Database, page, signed, unsigned};
use crate::error::{SqlError, is_unique_violation};
use crate::queries;

/// Highest `show_rating` (the call evaluation rates a show 1 to 5).
pub const MAX_SHOW_RATING: u32 = 5;
/// Longest gift name, in characters (the column is VARCHAR(64)).
pub const MAX_SHOW_GIFT_NAME_LEN: usize = 64;
/// Longest image or effect URL, in characters (the columns are VARCHAR(512)).
pub const MAX_SHOW_URL_LEN: usize = 512;
/// Longest payment transaction id (the column is VARCHAR(128)).
pub const MAX_PAY_TXN_ID_LEN: usize = 128;

/// Who invited (`tb_show.inviter_type`, seed 003 管理后台 1: 主播点击 / 用户点击).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InviterType {
    /// 1: the anchor invited the user.
    Anchor,
    /// 2: the user invited the anchor.
    User,
}

impl InviterType {
    /// The column value.
    pub fn number(self) -> i64 {
        match self {
            InviterType::Anchor => 1,
            InviterType::User => 2,
        }
    }

    fn from_number(number: i64) -> Result<Self, SqlError> {
        match number {
            1 => Ok(InviterType::Anchor),
            2 => Ok(InviterType::User),
            other => Err(SqlError::Corrupt(format!("tb_show.inviter_type {other} is unknown"))),
        }
    }
}

/// What became of a show (`tb_show.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShowStatus {
    /// 1: the invitation waits for its answer.
    Invited,
    /// 2: the anchor accepted the user's invitation; the user's payment is awaited.
    Accepted,
    /// 3: the user paid: the show is on.
    Paid,
    /// 4: the user refused to pay.
    UserRejected,
    /// 5: the anchor refused the user's invitation.
    AnchorRejected,
    /// 6: nobody answered in time.
    Lapsed,
}

impl ShowStatus {
    /// Every status, in column order.
    pub const ALL: [ShowStatus; 6] = [
        ShowStatus::Invited,
        ShowStatus::Accepted,
        ShowStatus::Paid,
        ShowStatus::UserRejected,
        ShowStatus::AnchorRejected,
        ShowStatus::Lapsed,
    ];

    /// The column value.
    pub fn number(self) -> i64 {
        match self {
            ShowStatus::Invited => 1,
            ShowStatus::Accepted => 2,
            ShowStatus::Paid => 3,
            ShowStatus::UserRejected => 4,
            ShowStatus::AnchorRejected => 5,
            ShowStatus::Lapsed => 6,
        }
    }

    fn from_number(number: i64) -> Result<Self, SqlError> {
        ShowStatus::ALL
            .into_iter()
            .find(|status| status.number() == number)
            .ok_or_else(|| SqlError::Corrupt(format!("tb_show.status {number} is unknown")))
    }
}

/// One `tb_show` row. Times are UTC seconds, 0 for "not yet".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowRow {
    /// The show (`show_id` of the seed's messages).
    pub show_id: u64,
    /// The 1:1 call it belongs to.
    pub call_id: u64,
    /// The anchor of the call.
    pub anchor_id: u64,
    /// The user of the call (who pays).
    pub user_id: u64,
    /// Who invited.
    pub inviter_type: InviterType,
    /// The show gift paid with (`tb_show_gift.gid`).
    pub gid: u64,
    /// What became of it.
    pub status: ShowStatus,
    /// When it was created (the invitation).
    pub ctime: u64,
    /// When the pending invitation lapses; 0 once answered.
    pub expire_time: u64,
    /// When the anchor accepted or rejected, or the user rejected.
    pub answer_time: u64,
    /// When the payment succeeded.
    pub pay_time: u64,
    /// The successful payment's transaction id ("" before).
    pub pay_txn_id: String,
    /// When the show was performed; the back office counts `finish_time > 0` as a success.
    pub finish_time: u64,
    /// The call evaluation's `show_rating`, 1 to [`MAX_SHOW_RATING`]; 0 when not rated.
    pub rating: u32,
    /// When it was rated.
    pub rate_time: u64,
    /// The show's version in the store: a write lands only over an older one.
    pub version: u64,
    /// When the row was written, ms since the epoch.
    pub updated_at_ms: u64,
}

impl ShowRow {
    fn validate(&self) -> Result<(), SqlError> {
        if self.show_id == 0 {
            return Err(SqlError::invalid("show_id", "must be non-zero"));
        }
        if self.pay_txn_id.len() > MAX_PAY_TXN_ID_LEN {
            return Err(SqlError::invalid(
                "pay_txn_id",
                format!("must be at most {MAX_PAY_TXN_ID_LEN} bytes"),
            ));
        }
        if self.rating > MAX_SHOW_RATING {
            return Err(SqlError::invalid("rating", format!("must be 0 to {MAX_SHOW_RATING}")));
        }
        Ok(())
    }

    /// The values of `show_columns!`, in order, as bound.
    fn columns(&self) -> Result<[Column<'_>; 16], SqlError> {
        Ok([
            Column::Int(signed("call_id", self.call_id)?),
            Column::Int(signed("anchor_id", self.anchor_id)?),
            Column::Int(signed("user_id", self.user_id)?),
            Column::Int(self.inviter_type.number()),
            Column::Int(signed("gid", self.gid)?),
            Column::Int(self.status.number()),
            Column::Int(signed("ctime", self.ctime)?),
            Column::Int(signed("expire_time", self.expire_time)?),
            Column::Int(signed("answer_time", self.answer_time)?),
            Column::Int(signed("pay_time", self.pay_time)?),
            Column::Text(&self.pay_txn_id),
            Column::Int(signed("finish_time", self.finish_time)?),
            Column::Int(i64::from(self.rating)),
            Column::Int(signed("rate_time", self.rate_time)?),
            Column::Int(signed("version", self.version)?),
            Column::Int(signed("updated_at_ms", self.updated_at_ms)?),
        ])
    }
}

/// One bound value of a row.
enum Column<'a> {
    Int(i64),
    Text(&'a str),
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    columns: &[Column<'q>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for column in columns {
        query = match column {
            Column::Int(value) => query.bind(*value),
            Column::Text(value) => query.bind(*value),
        };
    }
    query
}

fn show_from_row(row: &AnyRow) -> Result<ShowRow, SqlError> {
    let number = |column: &str| -> Result<u64, SqlError> {
        unsigned(column, row.try_get::<i64, _>(column)?)
    };
    let rating = number("rating")?;
    Ok(ShowRow {
        show_id: number("show_id")?,
        call_id: number("call_id")?,
        anchor_id: number("anchor_id")?,
        user_id: number("user_id")?,
        inviter_type: InviterType::from_number(row.try_get("inviter_type")?)?,
        gid: number("gid")?,
        status: ShowStatus::from_number(row.try_get("status")?)?,
        ctime: number("ctime")?,
        expire_time: number("expire_time")?,
        answer_time: number("answer_time")?,
        pay_time: number("pay_time")?,
        pay_txn_id: row.try_get("pay_txn_id")?,
        finish_time: number("finish_time")?,
        rating: u32::try_from(rating)
            .map_err(|_| SqlError::Corrupt(format!("tb_show.rating {rating}")))?,
        rate_time: number("rate_time")?,
        version: number("version")?,
        updated_at_ms: number("updated_at_ms")?,
    })
}

/// The two types of show gift (seed 003: "api:gifts 增加show类型礼物 show_vip类型礼物").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShowGiftType {
    /// `show`.
    Show,
    /// `show_vip`.
    ShowVip,
}

impl ShowGiftType {
    /// The column value (the seed's type names).
    pub fn as_str(self) -> &'static str {
        match self {
            ShowGiftType::Show => "show",
            ShowGiftType::ShowVip => "show_vip",
        }
    }

    /// Parses [`ShowGiftType::as_str`] back.
    pub fn parse(name: &str) -> Option<ShowGiftType> {
        [ShowGiftType::Show, ShowGiftType::ShowVip].into_iter().find(|kind| kind.as_str() == name)
    }
}

/// One gift of the show gift catalogue (`tb_show_gift`), as `gift_data` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowGiftRow {
    /// The gift id (`gid`).
    pub gid: u64,
    /// `show` or `show_vip`.
    pub gift_type: ShowGiftType,
    /// The gift's (the show's) name, at most [`MAX_SHOW_GIFT_NAME_LEN`] characters.
    pub name: String,
    /// Icon URL.
    pub img: String,
    /// Effect URL.
    pub effect_url: String,
    /// Price in coins (金币价格).
    pub price: u64,
    /// The anchor's share (主播收益); 0 for now, as the seed says.
    pub unit_profit: u64,
    /// Whether new invitations may use it. Retired gifts stay, so past shows still find a price
    /// (the read-outs join the catalogue: every show counts at its gift's current price).
    pub enabled: bool,
    /// When it was last written, ms since the epoch.
    pub updated_at_ms: u64,
}

impl ShowGiftRow {
    fn validate(&self) -> Result<(), SqlError> {
        if self.gid == 0 {
            return Err(SqlError::invalid("gid", "must be non-zero"));
        }
        let name_len = self.name.chars().count();
        if name_len == 0 || name_len > MAX_SHOW_GIFT_NAME_LEN {
            return Err(SqlError::invalid(
                "name",
                format!("must be 1 to {MAX_SHOW_GIFT_NAME_LEN} characters"),
            ));
        }
        for (field, value) in [("img", &self.img), ("effect_url", &self.effect_url)] {
            if value.chars().count() > MAX_SHOW_URL_LEN {
                return Err(SqlError::invalid(
                    field,
                    format!("must be at most {MAX_SHOW_URL_LEN} characters"),
                ));
            }
        }
        Ok(())
    }
}

fn gift_from_row(row: &AnyRow) -> Result<ShowGiftRow, SqlError> {
    let gift_type: String = row.try_get("gift_type")?;
    Ok(ShowGiftRow {
        gid: unsigned("gid", row.try_get("gid")?)?,
        gift_type: ShowGiftType::parse(&gift_type).ok_or_else(|| {
            SqlError::Corrupt(format!("tb_show_gift.gift_type {gift_type:?} is unknown"))
        })?,
        name: row.try_get("name")?,
        img: row.try_get("img")?,
        effect_url: row.try_get("effect_url")?,
        price: unsigned("price", row.try_get("price")?)?,
        unit_profit: unsigned("unit_profit", row.try_get("unit_profit")?)?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        updated_at_ms: unsigned("updated_at_ms", row.try_get("updated_at_ms")?)?,
    })
}

/// The back office's figures over a time range of show creation (seed 003 管理后台).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShowStatistics {
    /// Invitations by anchors (主播点击次数).
    pub anchor_invites: u64,
    /// Invitations by users (用户点击次数).
    pub user_invites: u64,
    /// Paid calls whose every `showEnable` answer was 1 (通话次数).
    pub calls_show_enabled: u64,
    /// Shows paid for.
    pub paid_shows: u64,
    /// Shows performed (`finish_time > 0`: 成功).
    pub successful_shows: u64,
    /// Coins of the paid shows, each at its gift's current catalogue price.
    pub coins: u64,
    /// How many shows got each rating: index 0 is rating 1, index 4 rating 5.
    pub ratings: [u64; MAX_SHOW_RATING as usize],
}

impl ShowStatistics {
    /// How many shows were rated.
    pub fn rated_shows(&self) -> u64 {
        self.ratings.iter().sum()
    }

    /// The average rating of the rated shows; 0 when none was rated.
    pub fn average_rating(&self) -> f64 {
        let rated = self.rated_shows();
        if rated == 0 {
            return 0.0;
        }
        let total: u64 =
            self.ratings.iter().zip(1u64..).map(|(count, rating)| count * rating).sum();
        total as f64 / rated as f64
    }
}

/// One anchor of the show-income ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomeRow {
    /// The anchor.
    pub anchor_id: u64,
    /// Coins of the shows paid in the period, each at its gift's current catalogue price.
    pub income: u64,
    /// How many shows were paid.
    pub shows: u64,
    /// When the last of them was paid (UTC seconds): among equal incomes, the earlier ranks
    /// first (it reached the income first).
    pub last_pay_time: u64,
}

impl Database {
    // ---- tb_show ------------------------------------------------------------------------------

    /// Writes `row` unless the table already holds this version of the show or a newer one.
    /// Answers whether it landed. Safe to call again and concurrently with other versions: the
    /// newest version wins whatever the order. A row of another show under the same id (another
    /// `ctime`) is kept, and the write fails with [`SqlError::Conflict`] (issue 12 item 8): it
    /// was never taken as written.
    pub async fn write_show(&self, row: &ShowRow) -> Result<bool, SqlError> {
        row.validate()?;
        let columns = row.columns()?;
        let show_id = signed("show_id", row.show_id)?;
        let version = signed("version", row.version)?;
        let ctime = signed("ctime", row.ctime)?;
        let update = || async {
            let query = bind_all(sqlx::query(queries::SHOW_UPDATE), &columns);
            let query = query.bind(show_id).bind(version).bind(ctime);
            let result = query.execute(&self.pool).await?;
            Ok::<bool, SqlError>(result.rows_affected() > 0)
        };
        if update().await? {
            return Ok(true);
        }
        let insert = bind_all(sqlx::query(queries::SHOW_INSERT).bind(show_id), &columns);
        match insert.execute(&self.pool).await {
            Ok(_) => Ok(true),
            // Another writer inserted it first: the version decides, if it is the same show.
            Err(error) if is_unique_violation(&error) => {
                if update().await? {
                    return Ok(true);
                }
                match self.get_show(row.show_id).await? {
                    Some(existing) if existing.ctime != row.ctime => {
                        Err(SqlError::Conflict(format!(
                            "show {} holds another show (ctime {}, not {})",
                            row.show_id, existing.ctime, row.ctime
                        )))
                    }
                    _ => Ok(false),
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The largest show id written, 0 when none (the floor of new show ids).
    pub async fn max_show_id(&self) -> Result<u64, SqlError> {
        let max = sqlx::query_scalar::<_, Option<i64>>(queries::SHOW_MAX_ID)
            .fetch_one(&self.pool)
            .await?;
        Ok(max.map_or(0, |max| max.max(0) as u64))
    }

    /// The row of show `show_id`.
    pub async fn get_show(&self, show_id: u64) -> Result<Option<ShowRow>, SqlError> {
        let row = sqlx::query(queries::SHOW_GET)
            .bind(signed("show_id", show_id)?)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(show_from_row).transpose()
    }

    /// The rows of the shows of call `call_id`, oldest first.
    pub async fn shows_of_call(&self, call_id: u64) -> Result<Vec<ShowRow>, SqlError> {
        let rows = sqlx::query(queries::SHOWS_OF_CALL)
            .bind(signed("call_id", call_id)?)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(show_from_row).collect()
    }

    // ---- the show gift catalogue ------------------------------------------------------------

    /// Adds or changes a catalogue gift.
    pub async fn put_show_gift(&self, gift: &ShowGiftRow) -> Result<(), SqlError> {
        gift.validate()?;
        let values = [
            Column::Text(gift.gift_type.as_str()),
            Column::Text(&gift.name),
            Column::Text(&gift.img),
            Column::Text(&gift.effect_url),
            Column::Int(signed("price", gift.price)?),
            Column::Int(signed("unit_profit", gift.unit_profit)?),
            Column::Int(i64::from(gift.enabled)),
            Column::Int(signed("updated_at_ms", gift.updated_at_ms)?),
        ];
        let query = sqlx::query(self.dialect.show_gift_upsert()).bind(signed("gid", gift.gid)?);
        let query = bind_all(bind_all(query, &values), &values);
        query.execute(&self.pool).await?;
        tracing::info!(
            gid = gift.gid,
            price = gift.price,
            enabled = gift.enabled,
            "show gift written"
        );
        Ok(())
    }

    /// Catalogue gift `gid`, retired or not.
    pub async fn show_gift(&self, gid: u64) -> Result<Option<ShowGiftRow>, SqlError> {
        let row = sqlx::query(queries::SHOW_GIFT_GET)
            .bind(signed("gid", gid)?)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(gift_from_row).transpose()
    }

    /// The catalogue by gid: the gifts offered, or every gift with `include_retired`.
    pub async fn show_gifts(&self, include_retired: bool) -> Result<Vec<ShowGiftRow>, SqlError> {
        let sql = if include_retired { queries::SHOW_GIFT_ALL } else { queries::SHOW_GIFT_ENABLED };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(gift_from_row).collect()
    }

    // ---- accounts and calls -----------------------------------------------------------------

    /// Switches account `uid`'s show entry on or off.
    pub async fn set_show_enable(
        &self,
        uid: u64,
        show_enable: bool,
        now_ms: u64,
    ) -> Result<(), SqlError> {
        let now = signed("now_ms", now_ms)?;
        sqlx::query(self.dialect.show_account_upsert())
            .bind(signed("uid", uid)?)
            .bind(i64::from(show_enable))
            .bind(now)
            .bind(i64::from(show_enable))
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether account `uid`'s show entry is on; `None` when it was never switched (on).
    pub async fn show_enable_of(&self, uid: u64) -> Result<Option<bool>, SqlError> {
        let value = sqlx::query_scalar::<_, i64>(queries::SHOW_ACCOUNT_GET)
            .bind(signed("uid", uid)?)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value.map(|value| value != 0))
    }

    /// Logs the `showEnable` answer given to `uid` for call `call_id` at `ctime` (UTC seconds).
    /// The first answer per (call, account) is kept: answers whether this one was logged.
    pub async fn log_show_call(
        &self,
        call_id: u64,
        uid: u64,
        show_enable: bool,
        ctime: u64,
    ) -> Result<bool, SqlError> {
        let inserted = sqlx::query(queries::SHOW_CALL_INSERT)
            .bind(signed("call_id", call_id)?)
            .bind(signed("uid", uid)?)
            .bind(i64::from(show_enable))
            .bind(signed("ctime", ctime)?)
            .execute(&self.pool)
            .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(error) if is_unique_violation(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    // ---- read-outs ----------------------------------------------------------------------------

    /// The back office's figures over the shows created (and the calls logged) in
    /// `[from, to)`, UTC seconds.
    pub async fn show_statistics(&self, from: u64, to: u64) -> Result<ShowStatistics, SqlError> {
        let (from, to) = (signed("from_time", from)?, signed("to_time", to)?);
        let count = |sql: &'static str| async move {
            let value =
                sqlx::query_scalar::<_, i64>(sql).bind(from).bind(to).fetch_one(&self.pool).await?;
            unsigned("count", value)
        };
        let mut statistics = ShowStatistics {
            calls_show_enabled: count(queries::SHOW_STATS_CALLS).await?,
            paid_shows: count(queries::SHOW_STATS_PAID).await?,
            successful_shows: count(queries::SHOW_STATS_FINISHED).await?,
            coins: count(queries::SHOW_STATS_COINS).await?,
            ..ShowStatistics::default()
        };
        let invites = sqlx::query(queries::SHOW_STATS_INVITES)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        for row in &invites {
            let shows = unsigned("shows", row.try_get("shows")?)?;
            match InviterType::from_number(row.try_get("inviter_type")?)? {
                InviterType::Anchor => statistics.anchor_invites = shows,
                InviterType::User => statistics.user_invites = shows,
            }
        }
        let ratings = sqlx::query(queries::SHOW_STATS_RATINGS)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        for row in &ratings {
            let rating: i64 = row.try_get("rating")?;
            let slot = usize::try_from(rating - 1)
                .ok()
                .and_then(|index| statistics.ratings.get_mut(index))
                .ok_or_else(|| SqlError::Corrupt(format!("tb_show.rating {rating}")))?;
            *slot = unsigned("shows", row.try_get("shows")?)?;
        }
        Ok(statistics)
    }

    /// One page of the show-income ranking over the shows paid in `[from, to)` (UTC seconds),
    /// best first, and how many anchors it holds. `limit` must be 1 to
    /// [`crate::MAX_PAGE_LIMIT`].
    pub async fn income_ranking(
        &self,
        from: u64,
        to: u64,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<IncomeRow>, u64), SqlError> {
        let (offset, limit) = page(offset, limit)?;
        let (from, to) = (signed("from_time", from)?, signed("to_time", to)?);
        let total = sqlx::query_scalar::<_, i64>(queries::SHOW_RANKING_COUNT)
            .bind(from)
            .bind(to)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(queries::SHOW_RANKING_PAGE)
            .bind(from)
            .bind(to)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let rows = rows
            .iter()
            .map(|row| {
                Ok(IncomeRow {
                    anchor_id: unsigned("anchor_id", row.try_get("anchor_id")?)?,
                    income: unsigned("income", row.try_get("income")?)?,
                    shows: unsigned("shows", row.try_get("shows")?)?,
                    last_pay_time: unsigned("last_pay_time", row.try_get("last_pay_time")?)?,
                })
            })
            .collect::<Result<Vec<_>, SqlError>>()?;
        Ok((rows, unsigned("count", total)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_inviter_numbers_round_trip() {
        for status in ShowStatus::ALL {
            assert_eq!(ShowStatus::from_number(status.number()).unwrap(), status);
        }
        assert!(ShowStatus::from_number(7).is_err());
        for inviter in [InviterType::Anchor, InviterType::User] {
            assert_eq!(InviterType::from_number(inviter.number()).unwrap(), inviter);
        }
        assert_eq!(ShowGiftType::parse("show_vip"), Some(ShowGiftType::ShowVip));
        assert_eq!(ShowGiftType::parse("vip"), None);
    }

    #[test]
    fn the_average_rating_weights_each_rating_by_its_count() {
        let statistics = ShowStatistics { ratings: [0, 0, 1, 0, 3], ..Default::default() };
        assert_eq!(statistics.rated_shows(), 4);
        assert_eq!(statistics.average_rating(), 4.5);
        assert_eq!(ShowStatistics::default().average_rating(), 0.0);
    }
}
