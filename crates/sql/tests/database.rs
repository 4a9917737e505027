//! Every scenario runs twice: against a fresh SQLite file and against a fresh database on the real
//! MariaDB (`mysql://root@127.0.0.1:3306/test`, or the server in `LIVEPK_TEST_MYSQL_URL`). Each
//! MariaDB run creates `livepk_t_<random hex>` and drops it afterwards, so tests run in parallel.
//! An unreachable MariaDB fails the MariaDB runs unless `LIVEPK_SKIP_MYSQL=1`.

use livepk_core::{ConfigSpec, Mode, PkId, SingerId};
use livepk_sql::{
    Database, DatabaseOptions, Dialect, MAX_PAGE_LIMIT, Participant, PkRecord, RecordFilter,
    SqlError,
};
#[macro_use]
mod support;

use support::database_url;

both_dialects!(
    migrations_are_idempotent,
    config_upsert_and_validation,
    whitelist_add_remove_and_paging,
    record_written_twice_is_one_row,
    concurrent_settles_write_one_row,
    records_filter_page_newest_first,
    item8_another_record_under_a_used_pkid_is_an_error,
);

fn singer(id: u64) -> SingerId {
    SingerId::parse("singer_id", id).unwrap()
}

/// A settled linkcall-style record between `host` and `guest`.
fn record(mode: Mode, pkid: u64, host: u64, guest: u64, end_ms: u64) -> PkRecord {
    PkRecord {
        mode,
        pkid: PkId::parse("pkid", pkid).unwrap(),
        participants: vec![
            Participant { id: host, sid: host * 10, side: "host".into(), score: 30 },
            Participant { id: guest, sid: guest * 10, side: "guest".into(), score: 20 },
        ],
        winner_id: host,
        start_ms: end_ms - 360_000,
        end_ms,
        ended_by: "timeout".into(),
        created_at_ms: end_ms + 5,
    }
}

fn pkids(records: &[PkRecord]) -> Vec<(Mode, u64)> {
    records.iter().map(|record| (record.mode, record.pkid.get())).collect()
}

// ---- config keys of these tests ----------------------------------------------------------

static PK_SECONDS: ConfigSpec = ConfigSpec::seconds("demo.pk_seconds", 360, "seconds of scoring");
static POPUP_SECONDS: ConfigSpec =
    ConfigSpec::seconds("demo.popup_seconds", 15, "seconds a popup waits");
static ENABLED: ConfigSpec = ConfigSpec::switch("demo.enabled", false, "a switch");
static KEYS: [&ConfigSpec; 3] = [&PK_SECONDS, &POPUP_SECONDS, &ENABLED];

/// Connects seeding the defaults of [`KEYS`].
async fn connect(url: &str) -> Result<Database, SqlError> {
    let options = DatabaseOptions { config_keys: KEYS.to_vec(), ..DatabaseOptions::default() };
    Database::connect_with(url, &options).await
}

// ---- scenarios ----------------------------------------------------------------------------

async fn migrations_are_idempotent(url: String) {
    let first = connect(&url).await.expect("first connect migrates");
    let expected = if url.starts_with("sqlite") { Dialect::Sqlite } else { Dialect::MySql };
    assert_eq!(first.dialect(), expected);
    first.ping().await.unwrap();
    // Every key given is seeded with its default and description.
    let entries = first.all_config().await.unwrap();
    assert_eq!(entries.len(), KEYS.len());
    for spec in KEYS {
        let entry = entries.iter().find(|entry| entry.key == spec.name).unwrap();
        assert_eq!(entry.value, spec.default, "{}", spec.name);
        assert_eq!(entry.description, spec.description, "{}", spec.name);
        assert_eq!(entry.updated_at_ms, 0, "{}", spec.name);
    }
    first.set_config(&PK_SECONDS, 30, 1_000).await.unwrap();
    first.whitelist_add(singer(7), "kept", 1_000).await.unwrap();

    // A second replica connecting while the first is open, and a restart after it closed:
    // migrations are not re-applied and seeding does not overwrite the operator's value.
    let second = connect(&url).await.expect("second connect");
    assert_eq!(second.get_config("demo.pk_seconds").await.unwrap(), Some(30));
    first.close().await;
    second.close().await;
    let restarted = connect(&url).await.expect("connect after restart");
    assert_eq!(restarted.config_value(&PK_SECONDS).await.unwrap(), 30);
    assert!(restarted.whitelist_contains(singer(7)).await.unwrap());
    assert_eq!(restarted.all_config().await.unwrap().len(), KEYS.len());
    restarted.close().await;
}

async fn config_upsert_and_validation(url: String) {
    let database = connect(&url).await.unwrap();
    assert_eq!(database.get_config("no.such.key").await.unwrap(), None);
    assert_eq!(database.config_value(&POPUP_SECONDS).await.unwrap(), 15);

    // Insert-or-update: twice on the same key keeps one row with the latest value and time.
    database.set_config(&POPUP_SECONDS, 1, 2_000).await.unwrap();
    database.set_config(&POPUP_SECONDS, 86_400, 3_000).await.unwrap();
    assert_eq!(database.get_config("demo.popup_seconds").await.unwrap(), Some(86_400));
    let entries = database.all_config().await.unwrap();
    assert_eq!(entries.len(), KEYS.len());
    let popup = entries.iter().find(|entry| entry.key == "demo.popup_seconds").unwrap();
    assert_eq!((popup.value, popup.updated_at_ms), (86_400, 3_000));
    assert_eq!(popup.description, POPUP_SECONDS.description);
    let mut keys: Vec<_> = entries.iter().map(|entry| entry.key.clone()).collect();
    let unsorted = keys.clone();
    keys.sort();
    assert_eq!(keys, unsorted, "all_config is ordered by key");

    // Refusals name the key and the range, and change nothing.
    let refusals =
        [(&PK_SECONDS, 0, "1..=86400"), (&PK_SECONDS, 86_401, "1..=86400"), (&ENABLED, 2, "0..=1")];
    for (spec, value, mentions) in refusals {
        match database.set_config(spec, value, 4_000).await {
            Err(SqlError::Invalid(invalid)) => {
                assert_eq!(invalid.field, "value", "{} = {value}", spec.name);
                assert!(invalid.reason.contains(spec.name), "{invalid}");
                assert!(invalid.reason.contains(mentions), "{invalid}");
            }
            other => panic!("{} = {value} was not refused: {other:?}", spec.name),
        }
    }
    assert_eq!(database.config_value(&PK_SECONDS).await.unwrap(), 360);
    database.close().await;
}

async fn whitelist_add_remove_and_paging(url: String) {
    let database = Database::connect(&url).await.unwrap();
    assert!(!database.whitelist_contains(singer(42)).await.unwrap());
    assert!(database.whitelist_add(singer(42), "first note", 1_000).await.unwrap());
    assert!(!database.whitelist_add(singer(42), "second note", 2_000).await.unwrap());
    assert!(database.whitelist_contains(singer(42)).await.unwrap());
    let (entries, total) = database.whitelist_list(0, 10).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(entries[0].note, "first note", "a repeated add keeps the first entry");
    assert_eq!(entries[0].created_at_ms, 1_000);

    assert!(database.whitelist_remove(singer(42)).await.unwrap());
    assert!(!database.whitelist_remove(singer(42)).await.unwrap());
    assert!(!database.whitelist_contains(singer(42)).await.unwrap());

    // 25 anchors added in scrambled order come back by id, ten per page.
    for index in 0..25u64 {
        let id = 1_000 + (index * 7) % 25;
        assert!(database.whitelist_add(singer(id), "", 5_000 + index).await.unwrap());
    }
    let mut seen = Vec::new();
    for (offset, expected_len) in [(0, 10), (10, 10), (20, 5), (30, 0)] {
        let (entries, total) = database.whitelist_list(offset, 10).await.unwrap();
        assert_eq!(total, 25);
        assert_eq!(entries.len(), expected_len, "offset {offset}");
        seen.extend(entries.iter().map(|entry| entry.singer_id.get()));
    }
    assert_eq!(seen, (1_000..1_025).collect::<Vec<_>>());

    // Bad input is refused naming the field.
    let too_long = "x".repeat(256);
    let error = database.whitelist_add(singer(1), &too_long, 0).await.unwrap_err();
    assert!(matches!(&error, SqlError::Invalid(invalid) if invalid.field == "note"), "{error}");
    let unicode = "备注".repeat(100); // 200 characters, 600 bytes: within VARCHAR(255).
    assert!(database.whitelist_add(singer(2), &unicode, 0).await.unwrap());
    let error = database.whitelist_list(0, 0).await.unwrap_err();
    assert!(matches!(&error, SqlError::Invalid(invalid) if invalid.field == "limit"), "{error}");
    let error = database.whitelist_list(0, MAX_PAGE_LIMIT + 1).await.unwrap_err();
    assert!(matches!(&error, SqlError::Invalid(invalid) if invalid.field == "limit"), "{error}");
    let error = database.whitelist_add(singer(u64::MAX), "", 0).await.unwrap_err();
    assert!(
        matches!(&error, SqlError::Invalid(invalid) if invalid.field == "singer_id"),
        "{error}"
    );
    database.close().await;
}

async fn record_written_twice_is_one_row(url: String) {
    let database = Database::connect(&url).await.unwrap();
    let first = record(Mode::LinkCall, 1, 11, 12, 1_000_000);
    assert_eq!(database.get_record(Mode::LinkCall, first.pkid).await.unwrap(), None);
    assert!(database.insert_record(&first).await.unwrap());

    // A retried settle of the same PK changes nothing, even with different content (a settle
    // that lost its race may write its own view of the same PK).
    let mut retry = first.clone();
    retry.winner_id = 0;
    retry.ended_by = "admin".into();
    retry.created_at_ms += 1_000;
    assert!(!database.insert_record(&retry).await.unwrap());
    assert!(!database.insert_record(&first).await.unwrap());
    assert_eq!(database.get_record(Mode::LinkCall, first.pkid).await.unwrap(), Some(first.clone()));
    let (records, total) = database.list_records(RecordFilter::default(), 0, 10).await.unwrap();
    assert_eq!((records, total), (vec![first.clone()], 1));
    for participant in [11, 12] {
        let filter = RecordFilter { mode: None, singer_id: Some(singer(participant)) };
        assert_eq!(database.list_records(filter, 0, 10).await.unwrap().1, 1, "{participant}");
    }

    // The same pkid in another mode is another PK.
    let other_mode = record(Mode::RoomPk, 1, 11, 12, 1_000_001);
    assert!(database.insert_record(&other_mode).await.unwrap());
    assert_eq!(database.get_record(Mode::RoomPk, other_mode.pkid).await.unwrap(), Some(other_mode));

    // A participant listed twice is stored as given but indexed once.
    let mut repeated = record(Mode::GiftPk, 9, 31, 31, 1_000_002);
    repeated.participants[1].side = "gift-2".into();
    assert!(database.insert_record(&repeated).await.unwrap());
    let filter = RecordFilter { mode: None, singer_id: Some(singer(31)) };
    let (records, total) = database.list_records(filter, 0, 10).await.unwrap();
    assert_eq!((records, total), (vec![repeated], 1));

    // Invalid records are refused before touching the database.
    let mut invalid = record(Mode::LinkCall, 2, 11, 12, 1_000_000);
    invalid.ended_by = "far-too-long-ended-by".into();
    let error = database.insert_record(&invalid).await.unwrap_err();
    assert!(matches!(&error, SqlError::Invalid(invalid) if invalid.field == "ended_by"), "{error}");
    assert_eq!(database.get_record(Mode::LinkCall, invalid.pkid).await.unwrap(), None);
    database.close().await;
}

/// Issue 12 item 8: a record that meets *another* PK's record under its (mode, pkid) — an id
/// used twice: another start or other sides — fails and leaves the row in place, rather than
/// being taken as written; the largest pkid recorded per mode is the floor of new ones.
async fn item8_another_record_under_a_used_pkid_is_an_error(url: String) {
    let database = Database::connect(&url).await.unwrap();
    assert_eq!(database.max_pkid(Mode::LinkCall).await.unwrap(), 0);
    let first = record(Mode::LinkCall, 7, 11, 12, 1_000_000);
    assert!(database.insert_record(&first).await.unwrap());
    let mut other_seat = first.clone();
    other_seat.participants[1].side = "host".into();
    for (what, change) in [
        ("other anchors", record(Mode::LinkCall, 7, 21, 22, 2_000_000)),
        ("another start", PkRecord { start_ms: first.start_ms + 1, ..first.clone() }),
        ("other sides", other_seat),
    ] {
        let error = database.insert_record(&change).await.unwrap_err();
        assert!(matches!(error, SqlError::Conflict(_)), "{what}: {error}");
        assert_eq!(
            livepk_core::BusinessError::business_code(&error),
            livepk_core::codes::INTERNAL_PKID_FAILED,
            "{what}"
        );
    }
    assert_eq!(database.get_record(Mode::LinkCall, first.pkid).await.unwrap(), Some(first));
    assert!(database.insert_record(&record(Mode::LinkCall, 3, 11, 12, 900_000)).await.unwrap());
    assert!(database.insert_record(&record(Mode::RoomPk, 40, 11, 12, 900_000)).await.unwrap());
    assert_eq!(database.max_pkid(Mode::LinkCall).await.unwrap(), 7);
    assert_eq!(database.max_pkid(Mode::RoomPk).await.unwrap(), 40);
    assert_eq!(database.max_pkid(Mode::GiftPk).await.unwrap(), 0);
    database.close().await;
}

async fn concurrent_settles_write_one_row(url: String) {
    let database = Database::connect(&url).await.unwrap();
    let settled = record(Mode::AcrossPk, 77, 5, 6, 2_000_000);
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let database = database.clone();
            let settled = settled.clone();
            tokio::spawn(async move { database.insert_record(&settled).await })
        })
        .collect();
    let mut inserted = 0;
    for attempt in attempts {
        if attempt.await.unwrap().expect("a racing settle is not an error") {
            inserted += 1;
        }
    }
    assert_eq!(inserted, 1, "exactly one of the racing writers inserts");
    let (records, total) = database.list_records(RecordFilter::default(), 0, 10).await.unwrap();
    assert_eq!((records, total), (vec![settled], 1));
    database.close().await;
}

async fn records_filter_page_newest_first(url: String) {
    let database = Database::connect(&url).await.unwrap();
    // Written out of end-time order; two records end in the same millisecond (write order
    // breaks the tie, later first).
    let written = [
        record(Mode::LinkCall, 1, 100, 200, 10_000_000),
        record(Mode::LinkCall, 2, 100, 300, 30_000_000),
        record(Mode::RoomPk, 1, 300, 100, 20_000_000),
        record(Mode::LinkCall, 3, 200, 300, 50_000_000),
        record(Mode::GiftPk, 1, 100, 400, 40_000_000),
        record(Mode::LinkCall, 4, 100, 200, 40_000_000),
    ];
    for settled in &written {
        assert!(database.insert_record(settled).await.unwrap());
    }

    let all = RecordFilter::default();
    let (records, total) = database.list_records(all, 0, 100).await.unwrap();
    assert_eq!(total, 6);
    assert_eq!(
        pkids(&records),
        vec![
            (Mode::LinkCall, 3),
            (Mode::LinkCall, 4),
            (Mode::GiftPk, 1),
            (Mode::LinkCall, 2),
            (Mode::RoomPk, 1),
            (Mode::LinkCall, 1),
        ]
    );
    assert_eq!(records[0], written[3], "records round-trip field for field");

    // Paging walks the same order.
    let mut paged = Vec::new();
    for offset in [0, 4, 8] {
        let (page, total) = database.list_records(all, offset, 4).await.unwrap();
        assert_eq!(total, 6);
        paged.extend(pkids(&page));
    }
    assert_eq!(paged, pkids(&records));

    let linkcall = RecordFilter { mode: Some(Mode::LinkCall), singer_id: None };
    let (records, total) = database.list_records(linkcall, 1, 2).await.unwrap();
    assert_eq!(total, 4);
    assert_eq!(pkids(&records), vec![(Mode::LinkCall, 4), (Mode::LinkCall, 2)]);

    let anchor_100 = RecordFilter { mode: None, singer_id: Some(singer(100)) };
    let (records, total) = database.list_records(anchor_100, 0, 10).await.unwrap();
    assert_eq!(total, 5);
    assert_eq!(
        pkids(&records),
        vec![
            (Mode::LinkCall, 4),
            (Mode::GiftPk, 1),
            (Mode::LinkCall, 2),
            (Mode::RoomPk, 1),
            (Mode::LinkCall, 1),
        ]
    );
    let (records, total) = database.list_records(anchor_100, 3, 10).await.unwrap();
    assert_eq!(total, 5);
    assert_eq!(pkids(&records), vec![(Mode::RoomPk, 1), (Mode::LinkCall, 1)]);

    let anchor_100_linkcall =
        RecordFilter { mode: Some(Mode::LinkCall), singer_id: Some(singer(100)) };
    let (records, total) = database.list_records(anchor_100_linkcall, 0, 2).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(pkids(&records), vec![(Mode::LinkCall, 4), (Mode::LinkCall, 2)]);

    let nobody = RecordFilter { mode: None, singer_id: Some(singer(999)) };
    assert_eq!(database.list_records(nobody, 0, 10).await.unwrap(), (vec![], 0));
    let no_show = RecordFilter { mode: Some(Mode::InteractiveShow), singer_id: None };
    assert_eq!(database.list_records(no_show, 0, 10).await.unwrap(), (vec![], 0));
    database.close().await;
}

// ---- single-dialect checks ----------------------------------------------------------------

#[tokio::test]
async fn in_memory_sqlite_keeps_its_data_across_calls() {
    let database = Database::connect("sqlite::memory:").await.unwrap();
    for index in 1..=20 {
        database.whitelist_add(singer(index), "", 0).await.unwrap();
    }
    assert_eq!(database.whitelist_list(0, 100).await.unwrap().1, 20);
}

#[tokio::test]
async fn unreachable_server_is_unavailable() {
    // Port 1 on loopback refuses connections.
    let options = livepk_sql::DatabaseOptions {
        acquire_timeout: std::time::Duration::from_millis(500),
        ..Default::default()
    };
    let error =
        Database::connect_with("mysql://root@127.0.0.1:1/livepk", &options).await.unwrap_err();
    assert!(matches!(error, SqlError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn unknown_scheme_is_refused_without_leaking_the_password() {
    let error = Database::connect("postgres://user:secret@db/livepk").await.unwrap_err();
    assert!(matches!(error, SqlError::UnsupportedUrl { .. }), "{error:?}");
    assert!(!error.to_string().contains("secret"), "{error}");
}

#[test]
fn database_urls_point_at_the_test_database() {
    assert_eq!(
        database_url("mysql://root@127.0.0.1:3306/test", "livepk_t_1"),
        "mysql://root@127.0.0.1:3306/livepk_t_1"
    );
    assert_eq!(
        database_url("mysql://u:p@db:3306?ssl-mode=disabled", "x"),
        "mysql://u:p@db:3306/x?ssl-mode=disabled"
    );
}
