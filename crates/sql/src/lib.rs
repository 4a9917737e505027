//! Durable livepk data in SQL: the hot configuration table (seed 000 §B.0), the anchor
//! whitelist (seed 004 §三.3), the records of settled PKs of every mode, and InteractiveShow's
//! tables (seed 003: `tb_show`, the show gift catalogue, account switches, call answers, with
//! the back office's statistics and the show-income ranking).
//!
//! Invariant: only this crate knows table names and SQL. Every statement is in `queries.rs`,
//! every migration in `migrations/<dialect>/`. Callers see [`Database`] methods taking domain
//! types from `livepk-core` and returning [`SqlError`].
//!
//! One code path serves both dialects through sqlx's `Any` driver: SQLite (the embedded
//! default, [`DEFAULT_DATABASE_URL`]) and MySQL/MariaDB (production). The URL scheme picks the
//! dialect and its embedded migrations; migrations run on every [`Database::connect`].
//!
//! ```no_run
//! # async fn example() -> Result<(), livepk_sql::SqlError> {
//! use livepk_core::ConfigSpec;
//! use livepk_sql::Database;
//!
//! static PK_SECONDS: ConfigSpec = ConfigSpec::seconds("demo.pk_seconds", 360, "scoring");
//! let database = Database::connect("sqlite::memory:").await?;
//! database.set_config(&PK_SECONDS, 30, 1_700_000_000_000).await?;
//! assert_eq!(database.config_value(&PK_SECONDS).await?, 30);
//! # Ok(())
//! # }
//! ```

mod config;
mod database;
mod error;
mod queries;
mod record;
mod show;

pub use config::ConfigEntry;
pub use database::{DEFAULT_DATABASE_URL, Database, DatabaseOptions};
pub use error::SqlError;
pub use queries::Dialect;
pub use record::{
    MAX_ENDED_BY_LEN, MAX_NOTE_LEN, MAX_PAGE_LIMIT, MAX_PARTICIPANTS, MAX_SIDE_LEN, Participant,
    PkRecord, RecordFilter, WhitelistEntry,
};
pub use show::{
    IncomeRow, InviterType, MAX_PAY_TXN_ID_LEN, MAX_SHOW_GIFT_NAME_LEN, MAX_SHOW_RATING,
    MAX_SHOW_URL_LEN, ShowGiftRow, ShowGiftType, ShowRow, ShowStatistics, ShowStatus,
};
