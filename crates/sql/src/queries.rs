//! Every SQL statement livepk runs, in one place.
//!
//! All statements go through sqlx's `Any` driver with `?` placeholders, which both SQLite and
//! MySQL/MariaDB accept, so almost every statement is shared. The two that are not (upserts) are
//! chosen by [`Dialect`]. Statements are `&'static str` on purpose: sqlx 0.9 only accepts
//! dynamic SQL wrapped in `AssertSqlSafe`, and nothing here needs to be dynamic.
//!
//! Integers are bound and read as `i64` on both dialects (the `Any` driver has no unsigned
//! types); the callers in `database.rs` convert at the boundary.

/// Which SQL dialect a database speaks, decided by the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `sqlite:...`: the embedded default.
    Sqlite,
    /// `mysql://...` or `mariadb://...`: production.
    MySql,
}

impl Dialect {
    /// The dialect of `url`, or `None` for a scheme this crate does not speak.
    pub fn from_url(url: &str) -> Option<Dialect> {
        let scheme = url.split(':').next().unwrap_or_default().to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(Dialect::Sqlite),
            "mysql" | "mariadb" => Some(Dialect::MySql),
            _ => None,
        }
    }

    /// Inserts a config row unless the key is already there; an operator's value always wins
    /// over a default. Binds: info_key, value, description.
    pub(crate) fn config_insert_default(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "INSERT INTO pk_config (info_key, value, description, updated_at_ms) \
                 VALUES (?, ?, ?, 0) ON CONFLICT (info_key) DO NOTHING"
            }
            // Not INSERT IGNORE: that would also turn real errors (truncation) into warnings.
            Dialect::MySql => {
                "INSERT INTO pk_config (info_key, value, description, updated_at_ms) \
                 VALUES (?, ?, ?, 0) ON DUPLICATE KEY UPDATE info_key = info_key"
            }
        }
    }

    /// Writes a config value, inserting the row if needed and keeping an existing description.
    /// Binds: info_key, value, description, updated_at_ms, then value and updated_at_ms again
    /// for the update branch (the same order on both dialects; MariaDB has no `excluded`, and
    /// MySQL deprecates `VALUES()`).
    pub(crate) fn config_upsert(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "INSERT INTO pk_config (info_key, value, description, updated_at_ms) \
                 VALUES (?, ?, ?, ?) \
                 ON CONFLICT (info_key) DO UPDATE SET value = ?, updated_at_ms = ?"
            }
            Dialect::MySql => {
                "INSERT INTO pk_config (info_key, value, description, updated_at_ms) \
                 VALUES (?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE value = ?, updated_at_ms = ?"
            }
        }
    }
}

/// A cheap round trip that proves a connection works.
pub(crate) const PING: &str = "SELECT 1";

/// Persists write-ahead logging in a SQLite file, so readers do not block the writer.
pub(crate) const SQLITE_WAL: &str = "PRAGMA journal_mode = WAL";

// ---- config -------------------------------------------------------------------------------

/// Binds: info_key. Reads: value.
pub(crate) const CONFIG_GET: &str = "SELECT value FROM pk_config WHERE info_key = ?";

/// Reads: info_key, value, description, updated_at_ms.
pub(crate) const CONFIG_ALL: &str =
    "SELECT info_key, value, description, updated_at_ms FROM pk_config ORDER BY info_key";

// ---- anchor whitelist -----------------------------------------------------------------------

/// Binds: singer_id, note, created_at_ms. A duplicate key error means "already listed".
pub(crate) const WHITELIST_INSERT: &str =
    "INSERT INTO pk_anchor_whitelist (singer_id, note, created_at_ms) VALUES (?, ?, ?)";

/// Binds: singer_id.
pub(crate) const WHITELIST_DELETE: &str = "DELETE FROM pk_anchor_whitelist WHERE singer_id = ?";

/// Binds: singer_id. Reads: singer_id.
pub(crate) const WHITELIST_CONTAINS: &str =
    "SELECT singer_id FROM pk_anchor_whitelist WHERE singer_id = ?";

/// Reads: one count.
pub(crate) const WHITELIST_COUNT: &str = "SELECT COUNT(*) FROM pk_anchor_whitelist";

/// Binds: limit, offset. Reads: singer_id, note, created_at_ms. Ordered by anchor id so pages
/// are stable while entries are added.
pub(crate) const WHITELIST_PAGE: &str = "SELECT singer_id, note, created_at_ms \
     FROM pk_anchor_whitelist ORDER BY singer_id LIMIT ? OFFSET ?";

// ---- settled PK records ---------------------------------------------------------------------

/// Binds: mode, pkid, participants JSON, winner_id, start_ms, end_ms, ended_by, created_at_ms.
/// A duplicate key error on (mode, pkid) means "already recorded".
pub(crate) const RECORD_INSERT: &str = "INSERT INTO pk_record \
     (mode, pkid, participants, winner_id, start_ms, end_ms, ended_by, created_at_ms) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

/// Binds: mode, pkid. Reads: id. Used inside the inserting transaction.
pub(crate) const RECORD_ID: &str = "SELECT id FROM pk_record WHERE mode = ? AND pkid = ?";

/// Binds: participant_id, record_id, mode, end_ms.
pub(crate) const PARTICIPANT_INSERT: &str = "INSERT INTO pk_record_participant \
     (participant_id, record_id, mode, end_ms) VALUES (?, ?, ?, ?)";

/// The columns every record query reads, in the order `database.rs` decodes them by name.
macro_rules! record_columns {
    ($table:literal) => {
        concat!(
            $table,
            "mode, ",
            $table,
            "pkid, ",
            $table,
            "participants, ",
            $table,
            "winner_id, ",
            $table,
            "start_ms, ",
            $table,
            "end_ms, ",
            $table,
            "ended_by, ",
            $table,
            "created_at_ms"
        )
    };
}

/// Binds: mode, pkid.
pub(crate) const RECORD_GET: &str =
    concat!("SELECT ", record_columns!(""), " FROM pk_record WHERE mode = ? AND pkid = ?");

/// Binds: mode. Reads: the largest pkid recorded for the mode (NULL when none).
pub(crate) const RECORD_MAX_PKID: &str = "SELECT MAX(pkid) FROM pk_record WHERE mode = ?";

/// Reads: the largest show id (NULL when none).
pub(crate) const SHOW_MAX_ID: &str = "SELECT MAX(show_id) FROM tb_show";

/// Reads: one count.
pub(crate) const RECORD_COUNT_ALL: &str = "SELECT COUNT(*) FROM pk_record";

/// Binds: limit, offset. Newest first: by end time, then by insertion order for records that
/// ended in the same millisecond.
pub(crate) const RECORD_PAGE_ALL: &str = concat!(
    "SELECT ",
    record_columns!(""),
    " FROM pk_record ORDER BY end_ms DESC, id DESC LIMIT ? OFFSET ?"
);

/// Binds: mode. Reads: one count.
pub(crate) const RECORD_COUNT_BY_MODE: &str = "SELECT COUNT(*) FROM pk_record WHERE mode = ?";

/// Binds: mode, limit, offset.
pub(crate) const RECORD_PAGE_BY_MODE: &str = concat!(
    "SELECT ",
    record_columns!(""),
    " FROM pk_record WHERE mode = ? ORDER BY end_ms DESC, id DESC LIMIT ? OFFSET ?"
);

/// Binds: participant_id. Reads: one count.
pub(crate) const RECORD_COUNT_BY_PARTICIPANT: &str =
    "SELECT COUNT(*) FROM pk_record_participant WHERE participant_id = ?";

/// Binds: participant_id, limit, offset. Walks `pk_record_participant_end` newest first and
/// joins each hit to its record.
pub(crate) const RECORD_PAGE_BY_PARTICIPANT: &str = concat!(
    "SELECT ",
    record_columns!("r."),
    " FROM pk_record_participant p JOIN pk_record r ON r.id = p.record_id \
     WHERE p.participant_id = ? \
     ORDER BY p.end_ms DESC, p.record_id DESC LIMIT ? OFFSET ?"
);

/// Binds: participant_id, mode. Reads: one count.
pub(crate) const RECORD_COUNT_BY_PARTICIPANT_AND_MODE: &str =
    "SELECT COUNT(*) FROM pk_record_participant WHERE participant_id = ? AND mode = ?";

/// Binds: participant_id, mode, limit, offset.
pub(crate) const RECORD_PAGE_BY_PARTICIPANT_AND_MODE: &str = concat!(
    "SELECT ",
    record_columns!("r."),
    " FROM pk_record_participant p JOIN pk_record r ON r.id = p.record_id \
     WHERE p.participant_id = ? AND p.mode = ? \
     ORDER BY p.end_ms DESC, p.record_id DESC LIMIT ? OFFSET ?"
);

// ---- interactive show (seed 003) -----------------------------------------------------------

impl Dialect {
    /// Writes a catalogue gift, inserting the row if needed. Binds: gid, gift_type, name, img,
    /// effect_url, price, unit_profit, enabled, updated_at_ms, then the same eight values from
    /// gift_type on for the update branch.
    pub(crate) fn show_gift_upsert(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "INSERT INTO tb_show_gift \
                 (gid, gift_type, name, img, effect_url, price, unit_profit, enabled, updated_at_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (gid) DO UPDATE SET gift_type = ?, name = ?, img = ?, \
                 effect_url = ?, price = ?, unit_profit = ?, enabled = ?, updated_at_ms = ?"
            }
            Dialect::MySql => {
                "INSERT INTO tb_show_gift \
                 (gid, gift_type, name, img, effect_url, price, unit_profit, enabled, updated_at_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE gift_type = ?, name = ?, img = ?, \
                 effect_url = ?, price = ?, unit_profit = ?, enabled = ?, updated_at_ms = ?"
            }
        }
    }

    /// Switches an account's show entry. Binds: uid, show_enable, updated_at_ms, then
    /// show_enable and updated_at_ms again for the update branch.
    pub(crate) fn show_account_upsert(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "INSERT INTO tb_show_account (uid, show_enable, updated_at_ms) VALUES (?, ?, ?) \
                 ON CONFLICT (uid) DO UPDATE SET show_enable = ?, updated_at_ms = ?"
            }
            Dialect::MySql => {
                "INSERT INTO tb_show_account (uid, show_enable, updated_at_ms) VALUES (?, ?, ?) \
                 ON DUPLICATE KEY UPDATE show_enable = ?, updated_at_ms = ?"
            }
        }
    }
}

/// The columns of a `tb_show` row, in the order `show.rs` binds and decodes them.
macro_rules! show_columns {
    () => {
        "call_id, anchor_id, user_id, inviter_type, gid, status, ctime, expire_time, \
         answer_time, pay_time, pay_txn_id, finish_time, rating, rate_time, version, updated_at_ms"
    };
}

/// Binds: the columns of `show_columns!` in order, then show_id, the new version and ctime
/// again. Only a newer version of the same show (same `ctime`) lands (a late or repeated write
/// changes nothing); a row of another show under the same id is left alone (`write_show` then
/// fails with `SqlError::Conflict`: show ids never repeat, see `Engine::next_pkid`).
pub(crate) const SHOW_UPDATE: &str = "UPDATE tb_show SET call_id = ?, anchor_id = ?, user_id = ?, \
     inviter_type = ?, gid = ?, status = ?, ctime = ?, expire_time = ?, answer_time = ?, \
     pay_time = ?, pay_txn_id = ?, finish_time = ?, rating = ?, rate_time = ?, version = ?, \
     updated_at_ms = ? WHERE show_id = ? AND version < ? AND ctime = ?";

/// Binds: show_id, then the columns of `show_columns!` in order. A duplicate key error means the
/// row is there already (then the guarded update decides).
pub(crate) const SHOW_INSERT: &str = concat!(
    "INSERT INTO tb_show (show_id, ",
    show_columns!(),
    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
);

/// Binds: show_id. Reads: show_id and the columns of `show_columns!`.
pub(crate) const SHOW_GET: &str =
    concat!("SELECT show_id, ", show_columns!(), " FROM tb_show WHERE show_id = ?");

/// Binds: call_id. Reads: show_id and the columns of `show_columns!`, oldest show first.
pub(crate) const SHOWS_OF_CALL: &str = concat!(
    "SELECT show_id, ",
    show_columns!(),
    " FROM tb_show WHERE call_id = ? ORDER BY show_id"
);

/// The columns of a `tb_show_gift` row.
macro_rules! show_gift_columns {
    () => {
        "gid, gift_type, name, img, effect_url, price, unit_profit, enabled, updated_at_ms"
    };
}

/// Binds: gid.
pub(crate) const SHOW_GIFT_GET: &str =
    concat!("SELECT ", show_gift_columns!(), " FROM tb_show_gift WHERE gid = ?");

/// Every catalogue gift, by gid.
pub(crate) const SHOW_GIFT_ALL: &str =
    concat!("SELECT ", show_gift_columns!(), " FROM tb_show_gift ORDER BY gid");

/// The gifts offered for new invitations, by gid.
pub(crate) const SHOW_GIFT_ENABLED: &str =
    concat!("SELECT ", show_gift_columns!(), " FROM tb_show_gift WHERE enabled = 1 ORDER BY gid");

/// Binds: uid. Reads: show_enable.
pub(crate) const SHOW_ACCOUNT_GET: &str = "SELECT show_enable FROM tb_show_account WHERE uid = ?";

/// Binds: call_id, uid, show_enable, ctime. A duplicate key error means "already logged".
pub(crate) const SHOW_CALL_INSERT: &str =
    "INSERT INTO tb_show_call (call_id, uid, show_enable, ctime) VALUES (?, ?, ?, ?)";

/// Binds: from, to (ctime). Reads: inviter_type, shows.
pub(crate) const SHOW_STATS_INVITES: &str = "SELECT inviter_type, COUNT(*) AS shows FROM tb_show \
     WHERE ctime >= ? AND ctime < ? GROUP BY inviter_type";

/// Binds: from, to (ctime). Reads: one count.
pub(crate) const SHOW_STATS_PAID: &str =
    "SELECT COUNT(*) FROM tb_show WHERE ctime >= ? AND ctime < ? AND pay_time > 0";

/// Binds: from, to (ctime). Reads: one count.
pub(crate) const SHOW_STATS_FINISHED: &str =
    "SELECT COUNT(*) FROM tb_show WHERE ctime >= ? AND ctime < ? AND finish_time > 0";

/// Binds: from, to (ctime). Reads: one sum. The coins of the paid shows, joined to the
/// catalogue's current prices (seed 003 管理后台 2: "金币关联tb_gift表"; a price changed since
/// counts at the new price). CAST: MySQL sums BIGINTs as DECIMAL, which the Any driver cannot
/// decode.
pub(crate) const SHOW_STATS_COINS: &str = "SELECT CAST(COALESCE(SUM(g.price), 0) AS SIGNED) \
     FROM tb_show s JOIN tb_show_gift g ON g.gid = s.gid \
     WHERE s.ctime >= ? AND s.ctime < ? AND s.pay_time > 0";

/// Binds: from, to (ctime). Reads: rating, shows.
pub(crate) const SHOW_STATS_RATINGS: &str = "SELECT rating, COUNT(*) AS shows FROM tb_show \
     WHERE ctime >= ? AND ctime < ? AND rating > 0 GROUP BY rating";

/// Binds: from, to (ctime). Reads: one count: the calls whose every logged answer was 1.
pub(crate) const SHOW_STATS_CALLS: &str = "SELECT COUNT(*) FROM (SELECT call_id FROM tb_show_call \
     WHERE ctime >= ? AND ctime < ? GROUP BY call_id HAVING MIN(show_enable) = 1) enabled_calls";

/// Binds: from, to (pay_time), limit, offset. Reads: anchor_id, income, shows, last_pay_time.
/// Ties are broken by who reached the income first (seed 004 §周星榜 2: the earlier last
/// payment), then by anchor id.
pub(crate) const SHOW_RANKING_PAGE: &str = "SELECT s.anchor_id AS anchor_id, \
     CAST(SUM(g.price) AS SIGNED) AS income, COUNT(*) AS shows, MAX(s.pay_time) AS last_pay_time \
     FROM tb_show s JOIN tb_show_gift g ON g.gid = s.gid \
     WHERE s.pay_time >= ? AND s.pay_time < ? AND s.pay_time > 0 \
     GROUP BY s.anchor_id ORDER BY income DESC, last_pay_time ASC, s.anchor_id ASC \
     LIMIT ? OFFSET ?";

/// Binds: from, to (pay_time). Reads: how many anchors the ranking holds.
pub(crate) const SHOW_RANKING_COUNT: &str = "SELECT COUNT(DISTINCT s.anchor_id) \
     FROM tb_show s JOIN tb_show_gift g ON g.gid = s.gid \
     WHERE s.pay_time >= ? AND s.pay_time < ? AND s.pay_time > 0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_schemes_pick_the_dialect() {
        assert_eq!(Dialect::from_url("sqlite://data/livepk.db?mode=rwc"), Some(Dialect::Sqlite));
        assert_eq!(Dialect::from_url("sqlite::memory:"), Some(Dialect::Sqlite));
        assert_eq!(Dialect::from_url("mysql://root@127.0.0.1:3306/test"), Some(Dialect::MySql));
        assert_eq!(Dialect::from_url("mariadb://root@db/livepk"), Some(Dialect::MySql));
        assert_eq!(Dialect::from_url("postgres://db/livepk"), None);
    }

    #[test]
    fn record_statements_read_the_same_columns() {
        assert!(RECORD_PAGE_BY_PARTICIPANT.contains("r.mode, r.pkid, r.participants"));
        assert!(RECORD_GET.starts_with("SELECT mode, pkid, participants, winner_id"));
        assert!(RECORD_PAGE_ALL.ends_with(" ORDER BY end_ms DESC, id DESC LIMIT ? OFFSET ?"));
    }
}
