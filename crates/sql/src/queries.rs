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
