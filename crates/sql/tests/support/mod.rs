//! The harness every SQL scenario runs in: on a fresh SQLite file and on a fresh database of the
//! real MariaDB (`mysql://root@127.0.0.1:3306/test`, or the server in `LIVEPK_TEST_MYSQL_URL`).
//! Each MariaDB run creates `livepk_t_<random hex>` and drops it afterwards, so tests run in
//! parallel. An unreachable MariaDB fails the MariaDB runs unless `LIVEPK_SKIP_MYSQL=1`.

#![allow(dead_code)]

use std::future::Future;

use sqlx::{AssertSqlSafe, Connection};

const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// Declares `sqlite_<name>` and `mysql_<name>` tests running `async fn name(url: String)`.
macro_rules! both_dialects {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    crate::support::run_on_sqlite(super::$scenario).await;
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    crate::support::run_on_mysql(super::$scenario).await;
                }
            )*
        }
    };
}

/// Runs `scenario` on a SQLite file in a nested directory that does not exist yet, so
/// `connect` must create it.
pub async fn run_on_sqlite<F, Fut>(scenario: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("nested").join("livepk.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    scenario(url).await;
    assert!(path.exists(), "the SQLite file was created under a new directory");
}

/// Runs `scenario` in a database of its own on the MariaDB server and drops it afterwards,
/// also when the scenario panics.
pub async fn run_on_mysql<F, Fut>(scenario: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if std::env::var("LIVEPK_SKIP_MYSQL").as_deref() == Ok("1") {
        eprintln!("skipped: LIVEPK_SKIP_MYSQL=1, MariaDB tests not run");
        return;
    }
    sqlx::any::install_default_drivers();
    let base = std::env::var("LIVEPK_TEST_MYSQL_URL").unwrap_or_else(|_| DEFAULT_MYSQL_URL.into());
    let name = format!("livepk_t_{:016x}", rand::random::<u64>());
    let mut admin = sqlx::AnyConnection::connect(&base).await.unwrap_or_else(|error| {
        panic!("MariaDB unreachable at {base}: {error} (set LIVEPK_SKIP_MYSQL=1 to skip)")
    });
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");

    let outcome = tokio::spawn(scenario(database_url(&base, &name))).await;

    sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("drop test database");
    admin.close().await.ok();
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// `base` (`mysql://user@host:port/anything?params`) pointed at database `name`.
pub fn database_url(base: &str, name: &str) -> String {
    let (address, query) = match base.split_once('?') {
        Some((address, query)) => (address, format!("?{query}")),
        None => (base, String::new()),
    };
    let authority_start = address.find("://").map_or(0, |index| index + 3);
    let authority_end =
        address[authority_start..].find('/').map_or(address.len(), |index| authority_start + index);
    format!("{}/{name}{query}", &address[..authority_end])
}
