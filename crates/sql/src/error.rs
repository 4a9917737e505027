//! The one error type of this crate, and the single place where sqlx's errors are sorted into
//! "the database is away, retry later" versus "our data or our SQL is wrong".

use livepk_core::{BusinessError, ErrorKind, InvalidArgument, codes};

use livepk_core::ConfigError;

/// Everything that can go wrong in the SQL layer.
///
/// The server maps [`SqlError::Unavailable`] to gRPC `UNAVAILABLE` (the caller may retry),
/// [`SqlError::Invalid`] to `INVALID_ARGUMENT` naming the field, and the rest to `INTERNAL`;
/// all of it through [`BusinessError`], never by matching on message text.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The database cannot be reached or is temporarily refusing work: connection refused or
    /// lost, pool exhausted, lock wait timeout, deadlock, SQLite busy, read-only fail-over.
    /// Retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored row could not be decoded (bad participants JSON, unknown mode name, a negative
    /// id). Someone wrote the table by hand or a migration is missing.
    #[error("corrupt database row: {0}")]
    Corrupt(String),
    /// The caller passed a value this crate refuses to store (unknown config key, value out of
    /// range, an id above `i64::MAX`, text too long, a zero page size).
    #[error("{0}")]
    Invalid(InvalidArgument),
    /// The database URL names no dialect this crate speaks.
    #[error("unsupported database url {url:?}: expected sqlite:... or mysql://...")]
    UnsupportedUrl {
        /// The URL with any password removed.
        url: String,
    },
    /// A bug: SQL the database rejected, or migrations that do not match the database (an
    /// applied migration was edited, or the database is newer than this binary).
    #[error("database error: {0}")]
    Internal(String),
    /// A write met a *different* row under the same key (a pkid or show id used twice): the
    /// row in place is kept and the write fails, never taken as "already written".
    #[error("conflicting row: {0}")]
    Conflict(String),
}

impl SqlError {
    /// An [`SqlError::Invalid`] for `field` because of `reason`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        SqlError::Invalid(InvalidArgument::new(field, reason))
    }
}

impl From<ConfigError> for SqlError {
    fn from(error: ConfigError) -> Self {
        let field = match error {
            ConfigError::UnknownKey { .. } => "key",
            ConfigError::OutOfRange { .. } => "value",
        };
        SqlError::invalid(field, error.to_string())
    }
}

impl From<sqlx::Error> for SqlError {
    fn from(error: sqlx::Error) -> Self {
        use sqlx::Error;
        match error {
            Error::Io(_)
            | Error::Tls(_)
            | Error::Protocol(_)
            | Error::PoolTimedOut
            | Error::PoolClosed
            | Error::WorkerCrashed
            | Error::BeginFailed => SqlError::Unavailable(error.to_string()),
            Error::Database(ref database_error) if is_transient(database_error.as_ref()) => {
                SqlError::Unavailable(error.to_string())
            }
            Error::ColumnDecode { .. } | Error::Decode(_) | Error::ColumnNotFound(_) => {
                SqlError::Corrupt(error.to_string())
            }
            Error::Migrate(migrate_error) => SqlError::from(*migrate_error),
            other => SqlError::Internal(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for SqlError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        match error {
            // The database failed while running a migration: classify like any other query.
            sqlx::migrate::MigrateError::Execute(inner) => SqlError::from(inner),
            other => SqlError::Internal(format!("migration: {other}")),
        }
    }
}

/// Database-side errors that mean "try again later" rather than "this statement is wrong".
fn is_transient(error: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(mysql) = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        // 1040 too many connections, 1053 server shutdown in progress, 1205 lock wait timeout,
        // 1213 deadlock, 1290/1836 read-only server (fail-over in progress), 1927 connection
        // killed (MariaDB), 2006/2013 server gone away / lost connection.
        return matches!(
            mysql.number(),
            1040 | 1053 | 1205 | 1213 | 1290 | 1836 | 1927 | 2006 | 2013
        );
    }
    if error.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // The extended result code; its low byte is the primary code. 5 SQLITE_BUSY,
        // 6 SQLITE_LOCKED, 10 SQLITE_IOERR, 13 SQLITE_FULL, 14 SQLITE_CANTOPEN.
        let primary =
            error.code().and_then(|code| code.parse::<i32>().ok()).map(|code| code & 0xff);
        return matches!(primary, Some(5 | 6 | 10 | 13 | 14));
    }
    false
}

/// True when `error` is a unique-key violation: the row was already there.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(database_error) if database_error.is_unique_violation())
}

impl BusinessError for SqlError {
    fn kind(&self) -> ErrorKind {
        match self {
            SqlError::Unavailable(_) => ErrorKind::Unavailable,
            SqlError::Invalid(_) => ErrorKind::InvalidArgument,
            SqlError::Corrupt(_)
            | SqlError::UnsupportedUrl { .. }
            | SqlError::Internal(_)
            | SqlError::Conflict(_) => ErrorKind::Internal,
        }
    }

    fn business_code(&self) -> u32 {
        match self {
            // Seed 000 §A: 011 "database disconnected", 013 "decode failed"; both are answered
            // to callers as 020 by `codes::public`.
            SqlError::Unavailable(_) => codes::INTERNAL_DB_DISCONNECTED,
            SqlError::Corrupt(_) => codes::INTERNAL_DECODE_FAILED,
            SqlError::Invalid(_) => codes::INVALID_PARAMETER,
            // 014 "creating a pkid failed": the id was not unique.
            SqlError::Conflict(_) => codes::INTERNAL_PKID_FAILED,
            SqlError::UnsupportedUrl { .. } | SqlError::Internal(_) => codes::SERVER_ERROR,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            SqlError::Invalid(invalid) => Some(&invalid.field),
            _ => None,
        }
    }
}
