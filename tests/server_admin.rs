//! `pk.admin.v1.Admin` end to end: hot config (validation, units, cross-replica invalidation),
//! the anchor whitelist and settled PK records, on a fresh SQLite file per test.

mod support;

use livepk::pb::admin::{
    AddWhitelistRequest, ForceCloseRequest, GetConfigRequest, GetPkRecordRequest,
    ListPkRecordsRequest, ListWhitelistRequest, RemoveWhitelistRequest, SetConfigRequest,
};
use livepk::pb::common::Mode;
use support::{TestServer, TestServerOptions, assert_invalid_argument};

const DEFAULTS: &[(&str, &str)] = &[
    ("linkcall.min_star", "0"),
    ("linkcall.whitelist_enabled", "0"),
    ("linkcall.page_size", "10"),
    ("linkcall.popup_seconds", "15"),
    ("linkcall.pk_seconds", "360"),
    ("linkcall.punish_seconds", "120"),
    ("linkcall.addtime_seconds", "180"),
    ("score.value_per_point", "1"),
    ("events.score_coalesce_ms", "500"),
    ("score.grace_ms", "3000"),
    ("giftpk.pull_interval_ms", "3000"),
    ("giftpk.ranking_page_size", "20"),
    ("giftpk.min_duration_seconds", "10"),
    ("giftpk.max_duration_seconds", "3600"),
    ("giftpk.history_size", "50"),
    ("giftpk.settle_grace_ms", "3000"),
    ("roompk.punish_seconds", "120"),
    ("roompk.max_countdown_seconds", "3600"),
    ("roompk.max_addtime_seconds", "600"),
    ("acrosspk.challenge_seconds", "60"),
    ("acrosspk.max_countdown_seconds", "3600"),
    ("acrosspk.punish_seconds", "120"),
    ("acrosspk.page_size", "20"),
    ("acrosspk.max_challenges", "20"),
    ("show.enabled", "1"),
    ("show.invite_seconds", "60"),
    ("show.ranking_utc_offset_minutes", "480"),
];

async fn config_value(server: &TestServer, key: &str) -> String {
    let entries = server
        .admin()
        .get_config(GetConfigRequest { key: key.into() })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].key, key);
    entries[0].value.clone()
}

fn set(key: &str, value: &str) -> SetConfigRequest {
    SetConfigRequest { key: key.into(), value: value.into() }
}

#[tokio::test]
async fn get_config_lists_the_nine_keys_with_defaults() {
    let server = TestServer::start().await;
    let entries =
        server.admin().get_config(GetConfigRequest::default()).await.unwrap().into_inner().entries;
    let mut got: Vec<(&str, &str)> =
        entries.iter().map(|entry| (entry.key.as_str(), entry.value.as_str())).collect();
    got.sort();
    let mut expected = DEFAULTS.to_vec();
    expected.sort();
    assert_eq!(got, expected);
    assert!(entries.iter().all(|entry| !entry.description.is_empty()), "{entries:?}");
    let status = server
        .admin()
        .get_config(GetConfigRequest { key: "no.such_key".into() })
        .await
        .unwrap_err();
    assert_invalid_argument(&status, "key");
    server.shutdown().await;
}

#[tokio::test]
async fn set_config_accepts_durations_and_rejects_bad_values() {
    let server = TestServer::start().await;
    let mut admin = server.admin();
    let entry = admin
        .set_config(set("linkcall.pk_seconds", "2m"))
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    assert_eq!((entry.key.as_str(), entry.value.as_str()), ("linkcall.pk_seconds", "120"));
    assert_eq!(config_value(&server, "linkcall.pk_seconds").await, "120");
    admin
        .set_config(set("linkcall.popup_seconds", "1"))
        .await
        .expect("1 s is the shortest duration");
    admin
        .set_config(set("linkcall.punish_seconds", "24h"))
        .await
        .expect("24 h is the longest duration");

    for (key, value) in [
        ("linkcall.pk_seconds", "0"),
        ("linkcall.pk_seconds", "90000"),
        ("linkcall.pk_seconds", "25h"),
        ("linkcall.pk_seconds", "soon"),
        ("linkcall.min_star", "5m"),
        ("no.such_key", "1"),
    ] {
        let status = admin.set_config(set(key, value)).await.expect_err(&format!("{key}={value}"));
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{key}={value}: {status:?}");
        assert_eq!(
            support::error_metadata(&status).get("code").map(String::as_str),
            Some("403400021"),
            "{key}={value}"
        );
    }
    // Rejected values changed nothing.
    assert_eq!(config_value(&server, "linkcall.pk_seconds").await, "120");
    server.shutdown().await;
}

#[tokio::test]
async fn a_change_on_one_replica_is_seen_at_once_by_another() {
    let a = TestServer::start().await;
    let b = TestServer::start_with(TestServerOptions {
        key_prefix: Some(a.key_prefix.clone()),
        database_url: Some(a.database_url.clone()),
        ..Default::default()
    })
    .await;
    // Warm B's 60 s cache first.
    assert_eq!(config_value(&b, "linkcall.pk_seconds").await, "360");

    a.admin().set_config(set("linkcall.pk_seconds", "2m")).await.unwrap();
    // Pub/sub delivery is asynchronous but fast; allow it a moment, far below the 60 s TTL.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let value = config_value(&b, "linkcall.pk_seconds").await;
        if value == "120" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica B still serves {value} (stale cache)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test]
async fn whitelist_add_list_remove() {
    let server = TestServer::start().await;
    let mut admin = server.admin();
    let first = admin
        .add_whitelist(AddWhitelistRequest { singer_id: 501, note: "star".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(first.added);
    assert_eq!(first.entry.as_ref().map(|entry| entry.singer_id), Some(501));
    let again = admin
        .add_whitelist(AddWhitelistRequest { singer_id: 501, note: "star".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(!again.added, "adding a listed anchor again is a no-op");
    admin.add_whitelist(AddWhitelistRequest { singer_id: 502, note: String::new() }).await.unwrap();

    let list = admin.list_whitelist(ListWhitelistRequest::default()).await.unwrap().into_inner();
    assert_eq!(list.total, 2);
    let mut ids: Vec<u64> = list.entries.iter().map(|entry| entry.singer_id).collect();
    ids.sort();
    assert_eq!(ids, [501, 502]);

    assert!(
        admin
            .remove_whitelist(RemoveWhitelistRequest { singer_id: 501 })
            .await
            .unwrap()
            .into_inner()
            .removed
    );
    assert!(
        !admin
            .remove_whitelist(RemoveWhitelistRequest { singer_id: 501 })
            .await
            .unwrap()
            .into_inner()
            .removed
    );
    let list = admin.list_whitelist(ListWhitelistRequest::default()).await.unwrap().into_inner();
    assert_eq!(list.total, 1);
    assert_eq!(list.entries.iter().map(|entry| entry.singer_id).collect::<Vec<_>>(), [502]);

    let status = admin
        .add_whitelist(AddWhitelistRequest { singer_id: 0, note: String::new() })
        .await
        .unwrap_err();
    assert_invalid_argument(&status, "singer_id");
    let status = admin
        .list_whitelist(ListWhitelistRequest { page_num: 0, page_size: 1000 })
        .await
        .unwrap_err();
    assert_invalid_argument(&status, "page_size");
    server.shutdown().await;
}

#[tokio::test]
async fn pk_records_are_empty_and_unknown_ones_not_found() {
    let server = TestServer::start().await;
    let mut admin = server.admin();
    let status = admin
        .get_pk_record(GetPkRecordRequest { mode: Mode::Linkcall as i32, pkid: 987_654 })
        .await
        .expect_err("no record was settled");
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    let status = admin
        .get_pk_record(GetPkRecordRequest { mode: Mode::Linkcall as i32, pkid: 0 })
        .await
        .unwrap_err();
    assert_invalid_argument(&status, "pkid");
    let status = admin.get_pk_record(GetPkRecordRequest { mode: 0, pkid: 1 }).await.unwrap_err();
    assert_invalid_argument(&status, "mode");

    let list = admin.list_pk_records(ListPkRecordsRequest::default()).await.unwrap().into_inner();
    assert!(list.records.is_empty());
    assert_eq!(list.total, 0);
    let list = admin
        .list_pk_records(ListPkRecordsRequest {
            mode: Mode::Linkcall as i32,
            singer_id: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(list.records.is_empty());
    server.shutdown().await;
}

/// Issue 12, item 11: an enum value the contract does not define is refused, naming the field,
/// where it used to widen `ListPkRecords` to every mode; `GetPkRecord` and `ForcePkClose` refuse
/// it too.
#[tokio::test]
async fn item11_an_unknown_mode_is_refused_not_taken_as_every_mode() {
    let server = TestServer::start().await;
    let mut admin = server.admin();
    for mode in [99, -1, 6] {
        let status = admin
            .list_pk_records(ListPkRecordsRequest { mode, ..Default::default() })
            .await
            .expect_err("an undefined mode");
        assert_invalid_argument(&status, "mode");
        let status = admin.get_pk_record(GetPkRecordRequest { mode, pkid: 1 }).await.unwrap_err();
        assert_invalid_argument(&status, "mode");
        let status = admin
            .force_close(ForceCloseRequest { mode, pkid: 1, ..Default::default() })
            .await
            .unwrap_err();
        assert_invalid_argument(&status, "mode");
    }
    server.shutdown().await;
}

/// Issue 12 item 9: `ListDeadJobs` lists the delay-queue jobs given up as dead letters, newest
/// first, with their reason, attempts and body, and the total kept.
#[tokio::test]
async fn item9_list_dead_jobs_shows_the_dead_letters() {
    use livepk::pb::admin::ListDeadJobsRequest;
    use livepk_core::Clock;
    use livepk_store::{Job, RedisStore, Store, StoreOptions};

    let clock = support::manual_clock();
    let server = TestServer::start_on(&clock).await;
    let mut admin = server.admin();
    let empty = admin.list_dead_jobs(ListDeadJobsRequest::default()).await.unwrap().into_inner();
    assert_eq!((empty.jobs.len(), empty.total), (0, 0));

    // Two jobs due long after the server's clock (its poller leaves them alone), claimed and
    // given up here as the poller would after their last delivery.
    let url = server.config.redis_url.clone().expect("the test server runs on Redis");
    let store = RedisStore::connect(&url, &server.key_prefix, StoreOptions::default())
        .await
        .expect("the test server's Redis");
    let due_ms = clock.now_ms() + 3_600_000;
    for (id, topic) in [("first", "retired.topic"), ("second", "records")] {
        let job = Job { id: id.into(), topic: topic.into(), due_ms, body: b"\x00{}".to_vec() };
        store.schedule_job(&job).await.unwrap();
    }
    let claimed = store.claim_due_jobs(due_ms, 10, std::time::Duration::from_secs(30)).await;
    let claimed = claimed.unwrap();
    for (at, job) in [(1, "first"), (2, "second")] {
        let lease = claimed.iter().find(|c| c.job.id == job).expect("claimed").lease;
        assert!(store.bury_job(job, lease, &format!("reason {at}"), due_ms + at).await.unwrap());
    }

    let listed = admin.list_dead_jobs(ListDeadJobsRequest { limit: 1 }).await.unwrap();
    let listed = listed.into_inner();
    assert_eq!(listed.total, 2);
    assert_eq!(listed.jobs.len(), 1, "{listed:?}");
    let newest = &listed.jobs[0];
    assert_eq!(
        (newest.id.as_str(), newest.topic.as_str(), newest.attempts, newest.reason.as_str()),
        ("second", "records", 1, "reason 2")
    );
    assert_eq!((newest.due_ms, newest.buried_at_ms), (due_ms, due_ms + 2));
    assert_eq!(newest.body, b"\x00{}".to_vec());
    let all = admin.list_dead_jobs(ListDeadJobsRequest::default()).await.unwrap().into_inner();
    let ids: Vec<&str> = all.jobs.iter().map(|job| job.id.as_str()).collect();
    assert_eq!(ids, vec!["second", "first"]);
    let status = admin.list_dead_jobs(ListDeadJobsRequest { limit: 201 }).await.unwrap_err();
    assert_invalid_argument(&status, "limit");
    server.shutdown().await;
}
