//! The connection pool and one method per operation. Statements live in `queries.rs`; this file
//! binds parameters, converts between domain types and `i64` columns, and decides what a
//! duplicate key means.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use livepk_core::{ConfigSpec, Mode, PkId, SingerId};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Row};

use crate::config::ConfigEntry;
use crate::error::{SqlError, is_unique_violation};
use crate::queries::{self, Dialect};
use crate::record::{
    MAX_NOTE_LEN, MAX_PAGE_LIMIT, Participant, PkRecord, RecordFilter, WhitelistEntry,
};

/// The database the server uses when `LIVEPK_DATABASE_URL` is unset: a SQLite file under
/// `./data/`, created (with its directory) on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/livepk.db?mode=rwc";

/// Migrations embedded in the binary, one set per dialect; the URL scheme picks one.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static MYSQL_MIGRATIONS: Migrator = sqlx::migrate!("migrations/mysql");

/// Pool tuning. The defaults suit one server replica.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// Most open connections. Ignored for in-memory SQLite, which always uses exactly one.
    pub max_connections: u32,
    /// How long a call waits for a connection before failing with [`SqlError::Unavailable`].
    /// Short, so that a database outage answers `UNAVAILABLE` quickly instead of stalling RPCs.
    pub acquire_timeout: Duration,
    /// The config keys whose default is seeded at connect when the table has no row for them.
    pub config_keys: Vec<&'static ConfigSpec>,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            config_keys: Vec::new(),
        }
    }
}

/// A handle on livepk's SQL database. Cheap to clone: clones share one pool.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) pool: AnyPool,
    pub(crate) dialect: Dialect,
    /// Keys whose defaults [`Database::connect_with`] seeds.
    config_keys: Vec<&'static ConfigSpec>,
}

impl Database {
    /// Connects with [`DatabaseOptions::default`]; see [`Database::connect_with`].
    pub async fn connect(url: &str) -> Result<Database, SqlError> {
        Database::connect_with(url, &DatabaseOptions::default()).await
    }

    /// Connects to `url`, applies pending migrations and inserts the default of every config key
    /// of `options` that has no row yet.
    ///
    /// Accepted URLs: `sqlite://path/to/file.db?mode=rwc` (the parent directory is created),
    /// `sqlite::memory:` (tests; one connection, gone when the pool closes), and
    /// `mysql://user:pass@host:port/db` (also `mariadb://`). Safe to call again on a migrated
    /// database, and from several replicas at once (MySQL: sqlx takes an advisory lock; SQLite:
    /// a migration that raced another process is retried).
    pub async fn connect_with(url: &str, options: &DatabaseOptions) -> Result<Database, SqlError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url)
            .ok_or_else(|| SqlError::UnsupportedUrl { url: redact_password(url) })?;

        let sqlite_file = match dialect {
            Dialect::Sqlite => sqlite_file_path(url),
            Dialect::MySql => None,
        };
        if let Some(parent) = sqlite_file.as_ref().and_then(|path| path.parent())
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|error| {
                SqlError::Unavailable(format!("cannot create {}: {error}", parent.display()))
            })?;
        }

        let mut pool_options = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout);
        if dialect == Dialect::Sqlite && sqlite_file.is_none() {
            // Through the Any driver every new connection re-parses `sqlite::memory:` and gets a
            // fresh, empty database. Keep exactly one connection alive for the pool's lifetime.
            pool_options = pool_options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = pool_options.connect(url).await?;

        let database = Database { pool, dialect, config_keys: options.config_keys.clone() };
        // SQLite has no advisory lock: replicas starting together on a fresh file race to
        // switch it to WAL, create the tables and insert the defaults, and the losers fail
        // (table exists, database locked). Each step is idempotent (migrations are
        // transactional there), so a retry of the whole set-up goes through.
        let mut attempt = 0;
        loop {
            match database.prepare(sqlite_file.is_some()).await {
                Ok(()) => break,
                Err(error) if dialect == Dialect::Sqlite && attempt < 5 => {
                    attempt += 1;
                    tracing::warn!(%error, attempt, "sqlite set-up raced another process; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                }
                Err(error) => return Err(error),
            }
        }
        tracing::info!(dialect = ?dialect, "sql database ready");
        Ok(database)
    }

    /// WAL mode for a SQLite file, the migrations, the missing config defaults.
    async fn prepare(&self, sqlite_file: bool) -> Result<(), SqlError> {
        if sqlite_file {
            // Persistent in the file: readers no longer block the writer. Set before migrating,
            // outside any transaction (SQLite refuses the change inside one).
            sqlx::query(queries::SQLITE_WAL).execute(&self.pool).await?;
        }
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::MySql => &MYSQL_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        self.insert_missing_config_defaults().await
    }

    /// The dialect the URL selected.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// One round trip to the database; `Unavailable` when it cannot be reached. For health
    /// checks.
    pub async fn ping(&self) -> Result<(), SqlError> {
        sqlx::query(queries::PING).execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection, waiting for checked-out ones to come back. For graceful
    /// shutdown.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- config ---------------------------------------------------------------------------

    /// Seeds a row for each known key that has none, so that `SELECT * FROM pk_config` shows
    /// an operator every knob with its description. Runs at connect, after migrations: the
    /// defaults live in the features' [`ConfigSpec`]s alone, a key added in a later release is
    /// seeded without a migration, and a value an operator changed is never overwritten.
    async fn insert_missing_config_defaults(&self) -> Result<(), SqlError> {
        for spec in &self.config_keys {
            sqlx::query(self.dialect.config_insert_default())
                .bind(spec.name)
                .bind(spec.default)
                .bind(spec.description)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// The stored value of `key`, or `None` when there is no row. Readers of a known key should
    /// prefer [`Database::config_value`], which falls back to the key's default.
    pub async fn get_config(&self, key: &str) -> Result<Option<i64>, SqlError> {
        Ok(sqlx::query_scalar::<_, i64>(queries::CONFIG_GET)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The value of a known key: the stored one, or its default when the row is missing.
    pub async fn config_value(&self, spec: &ConfigSpec) -> Result<i64, SqlError> {
        Ok(self.get_config(spec.name).await?.unwrap_or(spec.default))
    }

    /// Every stored config row, ordered by key.
    pub async fn all_config(&self) -> Result<Vec<ConfigEntry>, SqlError> {
        let rows = sqlx::query(queries::CONFIG_ALL).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(ConfigEntry {
                    key: row.try_get("info_key")?,
                    value: row.try_get("value")?,
                    description: row.try_get("description")?,
                    updated_at_ms: unsigned("updated_at_ms", row.try_get("updated_at_ms")?)?,
                })
            })
            .collect()
    }

    /// Validates and writes `spec = value` (insert or update). A value outside the key's range
    /// is refused with [`SqlError::Invalid`] naming the key and the range. The caller publishes
    /// the invalidation so other replicas drop their 60 s cache.
    #[tracing::instrument(skip_all, fields(key = spec.name, value = value))]
    pub async fn set_config(
        &self,
        spec: &ConfigSpec,
        value: i64,
        now_ms: u64,
    ) -> Result<(), SqlError> {
        spec.validate(value)?;
        sqlx::query(self.dialect.config_upsert())
            .bind(spec.name)
            .bind(value)
            .bind(spec.description)
            .bind(signed("now_ms", now_ms)?)
            .bind(value)
            .bind(signed("now_ms", now_ms)?)
            .execute(&self.pool)
            .await?;
        tracing::info!("config value set");
        Ok(())
    }

    // ---- anchor whitelist -------------------------------------------------------------------

    /// Puts an anchor on the whitelist. Idempotent: answers `true` when it was added now and
    /// `false` when it was already listed (the first note and time are kept).
    pub async fn whitelist_add(
        &self,
        singer_id: SingerId,
        note: &str,
        now_ms: u64,
    ) -> Result<bool, SqlError> {
        if note.chars().count() > MAX_NOTE_LEN {
            return Err(SqlError::invalid(
                "note",
                format!("must be at most {MAX_NOTE_LEN} characters"),
            ));
        }
        let inserted = sqlx::query(queries::WHITELIST_INSERT)
            .bind(signed("singer_id", singer_id.get())?)
            .bind(note)
            .bind(signed("now_ms", now_ms)?)
            .execute(&self.pool)
            .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(error) if is_unique_violation(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Takes an anchor off the whitelist; `false` when it was not listed.
    pub async fn whitelist_remove(&self, singer_id: SingerId) -> Result<bool, SqlError> {
        let result = sqlx::query(queries::WHITELIST_DELETE)
            .bind(signed("singer_id", singer_id.get())?)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Whether the anchor is on the whitelist.
    pub async fn whitelist_contains(&self, singer_id: SingerId) -> Result<bool, SqlError> {
        let found = sqlx::query_scalar::<_, i64>(queries::WHITELIST_CONTAINS)
            .bind(signed("singer_id", singer_id.get())?)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// One page of the whitelist ordered by anchor id, and the total number of entries.
    /// `limit` must be 1 to [`MAX_PAGE_LIMIT`].
    pub async fn whitelist_list(
        &self,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<WhitelistEntry>, u64), SqlError> {
        let (offset, limit) = page(offset, limit)?;
        let total =
            sqlx::query_scalar::<_, i64>(queries::WHITELIST_COUNT).fetch_one(&self.pool).await?;
        let rows = sqlx::query(queries::WHITELIST_PAGE)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let entries = rows
            .iter()
            .map(|row| {
                Ok(WhitelistEntry {
                    singer_id: singer_id("singer_id", row.try_get("singer_id")?)?,
                    note: row.try_get("note")?,
                    created_at_ms: unsigned("created_at_ms", row.try_get("created_at_ms")?)?,
                })
            })
            .collect::<Result<Vec<_>, SqlError>>()?;
        Ok((entries, unsigned("count", total)?))
    }

    // ---- settled PK records ---------------------------------------------------------------

    /// Writes a settled PK. Insert-or-ignore: answers `true` when this call wrote it and
    /// `false` when a record with the same (mode, pkid) already existed, in which case nothing
    /// changes. Settlement retries and replicas racing to settle may call it any number of
    /// times; the unique index keeps one row (seed 004 §四).
    #[tracing::instrument(skip_all, fields(mode = record.mode.as_str(), pkid = record.pkid.get()))]
    pub async fn insert_record(&self, record: &PkRecord) -> Result<bool, SqlError> {
        record.validate().map_err(SqlError::Invalid)?;
        let participants_json = serde_json::to_string(&record.participants)
            .map_err(|error| SqlError::Internal(format!("encode participants: {error}")))?;
        let end_ms = signed("end_ms", record.end_ms)?;

        // Record and participant index rows commit together or not at all.
        let mut transaction = self.pool.begin().await?;
        let inserted = sqlx::query(queries::RECORD_INSERT)
            .bind(record.mode.as_str())
            .bind(signed("pkid", record.pkid.get())?)
            .bind(participants_json)
            .bind(signed("winner_id", record.winner_id)?)
            .bind(signed("start_ms", record.start_ms)?)
            .bind(end_ms)
            .bind(record.ended_by.as_str())
            .bind(signed("created_at_ms", record.created_at_ms)?)
            .execute(&mut *transaction)
            .await;
        match inserted {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => {
                transaction.rollback().await?;
                // Already written — if it is this PK's record (see `same_pk`). Another PK's
                // record under the same (mode, pkid) is an id used twice: an error, never
                // "already written".
                return match self.get_record(record.mode, record.pkid).await? {
                    Some(existing) if same_pk(&existing, record) => {
                        tracing::debug!("pk record already written");
                        Ok(false)
                    }
                    Some(existing) => Err(SqlError::Conflict(format!(
                        "{} pkid {} already holds another record (started {}, ended {})",
                        record.mode.as_str(),
                        record.pkid,
                        existing.start_ms,
                        existing.end_ms
                    ))),
                    None => Err(SqlError::Unavailable(
                        "pk record neither inserted nor found; retry".into(),
                    )),
                };
            }
            Err(error) => return Err(error.into()),
        }
        // Read the id back rather than trusting `last_insert_id`: sqlx's Any driver leaves it
        // empty for SQLite.
        let record_id = sqlx::query_scalar::<_, i64>(queries::RECORD_ID)
            .bind(record.mode.as_str())
            .bind(signed("pkid", record.pkid.get())?)
            .fetch_one(&mut *transaction)
            .await?;
        // The JSON keeps every participant as given; the index needs each anchor once.
        let mut indexed = BTreeSet::new();
        for participant in &record.participants {
            if indexed.insert(participant.id) {
                sqlx::query(queries::PARTICIPANT_INSERT)
                    .bind(signed("participants.id", participant.id)?)
                    .bind(record_id)
                    .bind(record.mode.as_str())
                    .bind(end_ms)
                    .execute(&mut *transaction)
                    .await?;
            }
        }
        transaction.commit().await?;
        tracing::info!("pk record written");
        Ok(true)
    }

    /// The largest pkid recorded for `mode`, 0 when none (the floor of new pkids).
    pub async fn max_pkid(&self, mode: Mode) -> Result<u64, SqlError> {
        let max = sqlx::query_scalar::<_, Option<i64>>(queries::RECORD_MAX_PKID)
            .bind(mode.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(max.map_or(0, |max| max.max(0) as u64))
    }

    /// The record of one settled PK, or `None` if it was never written.
    pub async fn get_record(&self, mode: Mode, pkid: PkId) -> Result<Option<PkRecord>, SqlError> {
        let row = sqlx::query(queries::RECORD_GET)
            .bind(mode.as_str())
            .bind(signed("pkid", pkid.get())?)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// One page of records matching `filter`, newest first (by end time, then by write order),
    /// and the total number of matching records. `limit` must be 1 to [`MAX_PAGE_LIMIT`].
    pub async fn list_records(
        &self,
        filter: RecordFilter,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<PkRecord>, u64), SqlError> {
        let (offset, limit) = page(offset, limit)?;
        let mode = filter.mode.map(Mode::as_str);
        let singer = filter.singer_id.map(|id| signed("singer_id", id.get())).transpose()?;
        let (count_sql, page_sql) = match (singer.is_some(), mode.is_some()) {
            (false, false) => (queries::RECORD_COUNT_ALL, queries::RECORD_PAGE_ALL),
            (false, true) => (queries::RECORD_COUNT_BY_MODE, queries::RECORD_PAGE_BY_MODE),
            (true, false) => {
                (queries::RECORD_COUNT_BY_PARTICIPANT, queries::RECORD_PAGE_BY_PARTICIPANT)
            }
            (true, true) => (
                queries::RECORD_COUNT_BY_PARTICIPANT_AND_MODE,
                queries::RECORD_PAGE_BY_PARTICIPANT_AND_MODE,
            ),
        };

        // Filters bind in the same order in every statement: participant, then mode.
        let mut count_query = sqlx::query_scalar::<_, i64>(count_sql);
        let mut page_query = sqlx::query(page_sql);
        if let Some(singer) = singer {
            count_query = count_query.bind(singer);
            page_query = page_query.bind(singer);
        }
        if let Some(mode) = mode {
            count_query = count_query.bind(mode);
            page_query = page_query.bind(mode);
        }
        let total = count_query.fetch_one(&self.pool).await?;
        let rows = page_query.bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let records = rows.iter().map(record_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok((records, unsigned("count", total)?))
    }
}

/// Decodes the columns of `queries::record_columns!`.
fn record_from_row(row: &AnyRow) -> Result<PkRecord, SqlError> {
    let mode_name: String = row.try_get("mode")?;
    let mode = Mode::parse(&mode_name)
        .ok_or_else(|| SqlError::Corrupt(format!("pk_record.mode {mode_name:?} is unknown")))?;
    let pkid = unsigned("pkid", row.try_get("pkid")?)?;
    if pkid == 0 {
        return Err(SqlError::Corrupt("pk_record.pkid is 0".to_owned()));
    }
    let participants_json: String = row.try_get("participants")?;
    let participants: Vec<Participant> = serde_json::from_str(&participants_json)
        .map_err(|error| SqlError::Corrupt(format!("pk_record.participants: {error}")))?;
    Ok(PkRecord {
        mode,
        pkid: PkId::from_trusted(pkid),
        participants,
        winner_id: unsigned("winner_id", row.try_get("winner_id")?)?,
        start_ms: unsigned("start_ms", row.try_get("start_ms")?)?,
        end_ms: unsigned("end_ms", row.try_get("end_ms")?)?,
        ended_by: row.try_get("ended_by")?,
        created_at_ms: unsigned("created_at_ms", row.try_get("created_at_ms")?)?,
    })
}

/// A caller's `u64` as a signed BIGINT column value; above `i64::MAX` is invalid input.
pub(crate) fn signed(field: &str, value: u64) -> Result<i64, SqlError> {
    i64::try_from(value).map_err(|_| SqlError::invalid(field, "must be at most 2^63-1"))
}

/// A stored BIGINT as the domain's `u64`; a negative value means the row is corrupt.
pub(crate) fn unsigned(column: &str, value: i64) -> Result<u64, SqlError> {
    u64::try_from(value).map_err(|_| SqlError::Corrupt(format!("{column} is negative: {value}")))
}

/// A stored anchor id; zero or negative means the row is corrupt.
fn singer_id(column: &str, value: i64) -> Result<SingerId, SqlError> {
    match unsigned(column, value)? {
        0 => Err(SqlError::Corrupt(format!("{column} is 0"))),
        id => Ok(SingerId::from_trusted(id)),
    }
}

/// Checks paging arguments and converts them to the bound `(offset, limit)`.
pub(crate) fn page(offset: u64, limit: u32) -> Result<(i64, i64), SqlError> {
    if limit == 0 || limit > MAX_PAGE_LIMIT {
        return Err(SqlError::invalid("limit", format!("must be 1 to {MAX_PAGE_LIMIT}")));
    }
    Ok((signed("offset", offset)?, i64::from(limit)))
}

/// The file behind a SQLite URL, or `None` for an in-memory database. Percent-encoded paths are
/// not decoded: livepk's own URLs never need them.
fn sqlite_file_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path.is_empty()
        || path == ":memory:"
        || query.split('&').any(|parameter| parameter == "mode=memory");
    (!in_memory).then(|| PathBuf::from(path))
}

/// `url` with the password (between `user:` and `@`) replaced, safe for error messages.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((credentials, host)) = rest.split_once('@') else { return url.to_owned() };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Whether two records under one (mode, pkid) are of the same PK: it started at the same moment
/// between the same sides. How it ended may differ — a settle that lost its race to another
/// (a Count against the deadline) may still come to write its own view of the same PK — and the
/// row first written stands; a PK that started elsewhere or at another time is another PK.
fn same_pk(existing: &PkRecord, new: &PkRecord) -> bool {
    let sides = |record: &PkRecord| {
        record.participants.iter().map(|p| (p.id, p.sid, p.side.clone())).collect::<Vec<_>>()
    };
    existing.start_ms == new.start_ms && sides(existing) == sides(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        let table = [
            ("sqlite://data/livepk.db?mode=rwc", Some("data/livepk.db")),
            ("sqlite:///tmp/x/livepk.db", Some("/tmp/x/livepk.db")),
            ("sqlite:livepk.db", Some("livepk.db")),
            ("sqlite::memory:", None),
            ("sqlite://:memory:", None),
            ("sqlite://?mode=memory", None),
            ("sqlite://shared?mode=memory&cache=shared", None),
        ];
        for (url, expected) in table {
            assert_eq!(sqlite_file_path(url), expected.map(PathBuf::from), "{url}");
        }
    }

    #[test]
    fn passwords_never_reach_error_messages() {
        assert_eq!(redact_password("postgres://u:secret@db/x"), "postgres://u:***@db/x");
        assert_eq!(redact_password("mysql://root@db/x"), "mysql://root@db/x");
    }

    #[test]
    fn paging_is_bounded() {
        assert!(page(0, 0).is_err());
        assert!(page(0, MAX_PAGE_LIMIT + 1).is_err());
        assert!(page(u64::MAX, 10).is_err());
        assert_eq!(page(20, 10).unwrap(), (20, 10));
    }
}
