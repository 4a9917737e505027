//! Issue 12 item 8: pkids never repeat, also after the counter behind them was lost — the
//! embedded store restarted over a persistent SQLite file, or Redis losing its data — so a new
//! PK's record, jobs and show row never land on an old one's key.

use std::sync::Arc;

use livepk_core::{ConfigRegistry, ManualClock, Mode, PkId};
use livepk_engine::{Engine, Settings, testkit};
use livepk_sql::{Database, Participant, PkRecord};
use livepk_store::{MemoryStore, Op, Store, StoreOptions, Transaction};

async fn engine(store: Arc<dyn Store>, database: &Database) -> Engine {
    let settings =
        Arc::new(Settings::new(database.clone(), store.clone(), ConfigRegistry::default()));
    let clock = Arc::new(ManualClock::new(testkit::START_MS));
    Engine::new(clock, store, database.clone(), settings)
}

fn settled(pkid: PkId) -> PkRecord {
    PkRecord {
        mode: Mode::LinkCall,
        pkid,
        participants: vec![Participant { id: 7, sid: 70, side: "host".into(), score: 3 }],
        winner_id: 7,
        start_ms: 1,
        end_ms: 2,
        ended_by: "timeout".into(),
        created_at_ms: 3,
    }
}

#[tokio::test]
async fn item8_pkids_never_repeat_when_the_embedded_store_restarts_over_persistent_sql() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}/ids.db?mode=rwc", dir.path().display());
    let database = Database::connect(&url).await.expect("sqlite");

    let first = engine(Arc::new(MemoryStore::new(StoreOptions::default())), &database).await;
    let mut used = Vec::new();
    for _ in 0..3 {
        used.push(first.next_pkid(Mode::LinkCall).await.expect("pkid"));
    }
    assert_eq!(used.iter().map(|pkid| pkid.get()).collect::<Vec<_>>(), vec![1, 2, 3]);
    database.insert_record(&settled(used[2])).await.expect("record of pkid 3");
    drop(first);

    // The process restarts: a new, empty embedded store over the same SQLite file.
    let second = engine(Arc::new(MemoryStore::new(StoreOptions::default())), &database).await;
    let next = second.next_pkid(Mode::LinkCall).await.expect("pkid after the restart");
    assert_eq!(next.get(), 4, "above every recorded pkid");
    assert_eq!(second.next_pkid(Mode::RoomPk).await.expect("pkid").get(), 1, "per mode");
    // And a record under a used pkid is an error, not "already written".
    let mut other = settled(used[2]);
    other.start_ms = 99;
    let error = database.insert_record(&other).await.expect_err("another record under pkid 3");
    assert!(matches!(error, livepk_sql::SqlError::Conflict(_)), "{error}");
}

#[tokio::test]
async fn item8_pkids_never_repeat_when_redis_loses_the_counter() {
    let store = testkit::redis_store(&testkit::fresh_prefix()).await;
    let database = Database::connect("sqlite::memory:").await.expect("sqlite");
    let engine = engine(store.clone(), &database).await;
    for expected in 1..=3 {
        assert_eq!(engine.next_pkid(Mode::LinkCall).await.expect("pkid").get(), expected);
    }
    assert_eq!(engine.next_battle_id(Mode::LinkCall).await.expect("battle").get(), 1);
    // A failover or flush loses the counters (nothing is recorded in SQL yet).
    for name in ["pkid", "battle"] {
        let lose = Transaction::new("ids:linkcall").op(Op::DeleteKey { name: name.into() });
        store.commit(lose).await.expect("lose the counter");
    }
    assert_eq!(engine.next_pkid(Mode::LinkCall).await.expect("pkid").get(), 4);
    assert_eq!(engine.next_battle_id(Mode::LinkCall).await.expect("battle").get(), 2);
}
