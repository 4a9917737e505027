//! The gift ledger's answers from a feature's cache, against a real Redis: a cached PK that
//! turned out stale is looked up again — also by a retry after the first call failed half way,
//! and by concurrent calls of the same gift — and the gift counts exactly once, where it
//! belongs, with every call answering the same changes.
//!
//! The feature here is a small consumer of the ledger's own trait (its cached answer is a
//! closed PK, its fresh one an open PK), so the failure can be injected exactly between the
//! claim and the fresh look-up.
//!
//! Then guarded steps (a credit decided on an aggregate of the PK's tag, as RoomPk's team on the
//! seats): a step whose aggregate moved between the look-up and the count is looked up again
//! and counts once, where the aggregate says now — also on a retry of a pending record, and for
//! concurrent calls while the aggregate keeps moving.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use livepk_battle::{BattleId, Side};
use livepk_core::{ConfigRegistry, Gift, GiftId, Mode, ReceiverId, RoomSid, SenderProfile, UserId};
use livepk_engine::{
    EngineError, EngineResult, GiftConsumer, GiftLedger, GuardedTarget, Lookup, NotifyKey,
    ScoreCoalescer, ScoreTarget, Settings, testkit,
};
use livepk_sql::Database;
use livepk_store::{Condition, Op, ScoreApply, ScoringWindow, Store, Transaction};

const SENT_AT: u64 = 1_500;
const STALE: &str = "pk:stale";
const FRESH: &str = "pk:fresh";

/// Answers the closed PK from its "cache" and the open one when asked fresh; the fresh look-up
/// fails while `fail_fresh` is set.
struct Switching {
    fail_fresh: AtomicBool,
    /// The fresh answer: `FRESH`, or `OTHER` once the anchor has moved on again.
    moved_on: AtomicBool,
}

const OTHER: &str = "pk:other";

fn target(tag: &str, gift: &Gift, cached: bool) -> ScoreTarget {
    ScoreTarget {
        mode: Mode::LinkCall,
        receiver_id: gift.receiver_id.get(),
        side: "host".into(),
        notify: NotifyKey { mode: Mode::LinkCall, battle: BattleId::new(1), side: Side::First },
        apply: ScoreApply {
            tag: tag.into(),
            txn_id: gift.gift_txn_id.clone(),
            window: "window".into(),
            sent_at_ms: gift.sent_at_ms,
            counters: vec![("score".into(), gift.receiver_id.to_string(), 10)],
            boards: vec![("board".into(), gift.sender.user_id.get(), 10)],
            fields: Vec::new(),
            ttl: Duration::from_secs(600),
            fingerprint: gift.fingerprint(),
        },
        cached,
    }
}

#[async_trait]
impl GiftConsumer for Switching {
    fn mode(&self) -> Mode {
        Mode::LinkCall
    }

    fn has_after_scored(&self) -> bool {
        false
    }

    async fn score_targets(&self, gift: &Gift, lookup: Lookup) -> EngineResult<Vec<ScoreTarget>> {
        match lookup {
            Lookup::Cached => Ok(vec![target(STALE, gift, true)]),
            Lookup::Fresh if self.fail_fresh.load(Ordering::SeqCst) => {
                Err(EngineError::unavailable("injected"))
            }
            Lookup::Fresh if self.moved_on.load(Ordering::SeqCst) => {
                Ok(vec![target(OTHER, gift, false)])
            }
            Lookup::Fresh => Ok(vec![target(FRESH, gift, false)]),
        }
    }
}

fn gift(txn: &str) -> Gift {
    Gift {
        gift_txn_id: txn.into(),
        sender: SenderProfile {
            user_id: UserId::from_trusted(42),
            user_nick: "fan".into(),
            user_icon: String::new(),
            user_level: 1,
            user_wealth: 1,
        },
        receiver_id: ReceiverId::from_trusted(7),
        room_sid: RoomSid::parse("room_sid", 70).unwrap(),
        gift_id: GiftId::parse("gift_id", 1).unwrap(),
        gift_count: 1,
        unit_value: 10,
        sent_at_ms: SENT_AT,
        show_id: None,
        call_id: None,
    }
}

async fn set_window(store: &dyn Store, tag: &str, open: bool) {
    let window = ScoringWindow { open, from_ms: 1_000, until_ms: 2_000, epoch: 9 };
    let transaction = Transaction::new(tag).op(Op::HSet {
        name: "window".into(),
        fields: window.fields(),
        ttl: Some(Duration::from_secs(600)),
    });
    store.commit(transaction).await.expect("window");
}

async fn fresh_total(store: &dyn Store) -> i64 {
    let values = store.hash_get_fields(FRESH, "score", &["7".to_string()]).await.expect("score");
    values[0].as_deref().map_or(0, |value| value.parse().expect("a number"))
}

async fn ledger(
    store: Arc<dyn Store>,
    consumer: Arc<Switching>,
) -> (GiftLedger, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}/ledger.db?mode=rwc", dir.path().display());
    let database = Database::connect(&url).await.expect("sqlite");
    let settings = Arc::new(Settings::new(database, store.clone(), ConfigRegistry::default()));
    let coalescer = Arc::new(ScoreCoalescer::new(store.clone(), settings, HashMap::new()));
    let ledger = GiftLedger::new(store, vec![consumer], coalescer, Duration::from_secs(600));
    (ledger, dir)
}

#[tokio::test]
async fn a_retry_after_a_failed_fresh_lookup_counts_the_gift_where_it_belongs() {
    let store = testkit::redis_store(&testkit::fresh_prefix()).await;
    set_window(&*store, STALE, false).await;
    set_window(&*store, FRESH, true).await;
    let consumer =
        Arc::new(Switching { fail_fresh: AtomicBool::new(true), moved_on: AtomicBool::new(false) });
    let (ledger, _dir) = ledger(store.clone(), consumer.clone()).await;

    // The first call claims the record with the cached (stale) PK, then fails to look again.
    ledger.record(&gift("g1")).await.expect_err("the injected failure");
    assert_eq!(fresh_total(&*store).await, 0);

    consumer.fail_fresh.store(false, Ordering::SeqCst);
    let retried = ledger.record(&gift("g1")).await.expect("retry");
    assert!(retried.duplicate, "the record was claimed by the first call: {retried:?}");
    assert_eq!(retried.changes.len(), 1, "{retried:?}");
    assert_eq!((retried.changes[0].side_total, retried.changes[0].sender_total), (10, 10));
    // The anchor moves on to another open PK: later retries still answer from the record.
    set_window(&*store, OTHER, true).await;
    consumer.moved_on.store(true, Ordering::SeqCst);
    let again = ledger.record(&gift("g1")).await.expect("second retry");
    assert_eq!(again, retried, "every retry answers the same");
    assert_eq!(fresh_total(&*store).await, 10, "counted once, in the open PK");
    let other = store.hash_get_fields(OTHER, "score", &["7".to_string()]).await.expect("score");
    assert_eq!(other, vec![None], "and nowhere else");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_of_one_gift_with_a_stale_cache_count_it_once() {
    let store = testkit::redis_store(&testkit::fresh_prefix()).await;
    set_window(&*store, STALE, false).await;
    set_window(&*store, FRESH, true).await;
    let consumer = Arc::new(Switching {
        fail_fresh: AtomicBool::new(false),
        moved_on: AtomicBool::new(false),
    });
    let (ledger, _dir) = ledger(store.clone(), consumer).await;
    let ledger = Arc::new(ledger);

    let calls = (0..20).map(|_| {
        let ledger = ledger.clone();
        tokio::spawn(async move { ledger.record(&gift("g2")).await.expect("record") })
    });
    let outcomes: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|joined| joined.expect("call panicked"))
        .collect();
    assert_eq!(outcomes.iter().filter(|outcome| !outcome.duplicate).count(), 1);
    for outcome in &outcomes {
        assert_eq!(outcome.changes, outcomes[0].changes, "one answer for every call");
        assert_eq!(outcome.changes.len(), 1, "{outcome:?}");
    }
    assert_eq!(fresh_total(&*store).await, 10, "counted once");
    let later = ledger.record(&gift("g2")).await.expect("later retry");
    assert!(later.duplicate);
    assert_eq!(later.changes, outcomes[0].changes);
}

/// Always answers the open PK, fresh: the usual gift, one unguarded step.
struct Direct;

#[async_trait]
impl GiftConsumer for Direct {
    fn mode(&self) -> Mode {
        Mode::LinkCall
    }

    fn has_after_scored(&self) -> bool {
        false
    }

    async fn score_targets(&self, gift: &Gift, _lookup: Lookup) -> EngineResult<Vec<ScoreTarget>> {
        Ok(vec![target(FRESH, gift, false)])
    }
}

/// Issue 15: a gift that scores in one PK is claimed, counted and marked done in one store call
/// (one script on one Redis, three calls elsewhere); concurrent calls and retries answer as
/// before: one counts, every call gets the same changes, and nothing counts twice (a retry after
/// the record expired neither, once the battle's window has closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gift_in_one_pk_is_claimed_counted_and_done_at_once_on_every_store() {
    for (name, store) in testkit::both_stores().await {
        set_window(&*store, FRESH, true).await;
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}/ledger.db?mode=rwc", dir.path().display());
        let database = Database::connect(&url).await.expect("sqlite");
        let settings = Arc::new(Settings::new(database, store.clone(), ConfigRegistry::default()));
        let coalescer = Arc::new(ScoreCoalescer::new(store.clone(), settings, HashMap::new()));
        let record_ttl = Duration::from_millis(300);
        let ledger =
            Arc::new(GiftLedger::new(store.clone(), vec![Arc::new(Direct)], coalescer, record_ttl));

        let calls = (0..10).map(|_| {
            let ledger = ledger.clone();
            tokio::spawn(async move { ledger.record(&gift("one")).await.expect("record") })
        });
        let outcomes: Vec<_> = futures::future::join_all(calls)
            .await
            .into_iter()
            .map(|joined| joined.expect("call panicked"))
            .collect();
        assert_eq!(outcomes.iter().filter(|o| !o.duplicate).count(), 1, "{name}: {outcomes:?}");
        let changes = outcomes[0].changes.clone();
        assert_eq!(changes.len(), 1, "{name}");
        assert_eq!(
            (changes[0].pkid, changes[0].side.as_str(), changes[0].side_total),
            (9, "host", 10),
            "{name}"
        );
        assert_eq!((changes[0].receiver_id, changes[0].sender_total), (7, 10), "{name}");
        for outcome in &outcomes {
            assert_eq!(outcome.changes, changes, "{name}: one answer for every call");
        }
        let retry = ledger.record(&gift("one")).await.expect("retry");
        assert!(retry.duplicate, "{name}");
        assert_eq!(retry.changes, changes, "{name}: the done record answers");

        // Past the retry horizon the record is gone (on one Redis it was the gift's only trace:
        // the PK keeps no answer of a gift counted in one step). What keeps a very late retry
        // from counting again is then the battle's window, closed by now: it counts nowhere (or
        // the PK still answers with its first values, where it kept them).
        tokio::time::sleep(Duration::from_millis(900)).await;
        set_window(&*store, FRESH, false).await;
        let late = ledger.record(&gift("one")).await.expect("late retry");
        assert!(late.changes.is_empty() || late.changes == changes, "{name}: {late:?}");
        assert_eq!(fresh_total(&*store).await, 10, "{name}: counted once");
    }
}

// ---- issue 12 --------------------------------------------------------------------------------

/// The business code and field of a refused gift.
fn refusal(error: &EngineError) -> (u32, Option<String>) {
    let business = error.as_business().expect("a business error");
    (business.business_code(), business.field().map(str::to_owned))
}

#[tokio::test]
async fn item1_huge_gift_is_refused_and_changes_nothing() {
    let store = testkit::redis_store(&testkit::fresh_prefix()).await;
    set_window(&*store, STALE, false).await;
    set_window(&*store, FRESH, true).await;
    let consumer = Arc::new(Switching {
        fail_fresh: AtomicBool::new(false),
        moved_on: AtomicBool::new(false),
    });
    let (ledger, _dir) = ledger(store.clone(), consumer).await;

    // At the edge: count x unit value above the documented maximum is 021 naming unit_value.
    let mut huge = gift("g-huge");
    huge.gift_count = 2;
    huge.unit_value = livepk_core::gift::MAX_GIFT_VALUE / 2 + 1;
    let error = ledger.record(&huge).await.expect_err("a gift above the maximum");
    assert_eq!(refusal(&error), (403_400_021, Some("unit_value".into())));
    huge.unit_value = u64::MAX;
    let error = ledger.record(&huge).await.expect_err("a gift whose value overflows");
    assert_eq!(refusal(&error), (403_400_021, Some("unit_value".into())));

    // In the store: the PK's total is just under the exact maximum; a gift that would pass it is
    // refused, the total stays, and every retry is refused alike (no UNAVAILABLE, no re-add).
    let near = livepk_store::MAX_SCORE - 5;
    let mut filler = target(FRESH, &gift("g-filler"), false).apply;
    filler.counters[0].2 = near;
    filler.boards[0].2 = near;
    store.apply_score(&filler).await.expect("filler");
    for _ in 0..3 {
        let error = ledger.record(&gift("g-over")).await.expect_err("past the exact maximum");
        assert_eq!(refusal(&error), (403_400_021, Some("unit_value".into())));
        assert_eq!(fresh_total(&*store).await, near, "the total must not move");
        let board = store.board_total(FRESH, "board", 42).await.expect("board");
        assert_eq!(board, Some(near), "the sender's board total must not move");
    }
}

#[tokio::test]
async fn item2_reused_gift_txn_id_with_another_payload_is_refused() {
    let store = testkit::redis_store(&testkit::fresh_prefix()).await;
    set_window(&*store, STALE, false).await;
    set_window(&*store, FRESH, true).await;
    let consumer = Arc::new(Switching {
        fail_fresh: AtomicBool::new(false),
        moved_on: AtomicBool::new(false),
    });
    let (ledger, _dir) = ledger(store.clone(), consumer).await;

    let first = ledger.record(&gift("g-reused")).await.expect("first gift");
    assert!(!first.duplicate);
    let mut other = gift("g-reused");
    other.unit_value = 20;
    let mut renamed = gift("g-reused");
    renamed.sender.user_nick = "renamed".into();
    let retry = ledger.record(&renamed).await.expect("a retry with a new nickname");
    assert_eq!((retry.duplicate, &retry.changes), (true, &first.changes));

    let error = ledger.record(&other).await.expect_err("another gift under the same id");
    assert_eq!(refusal(&error), (403_400_032, Some("gift_txn_id".into())));
    assert_eq!(fresh_total(&*store).await, 10, "the first gift only");

    // Once the gift's own record is gone (its TTL is shorter than the PK's), the PK's answer,
    // which keeps the gift's fingerprint, still refuses it.
    let forget = Transaction::new("gift:g-reused").op(Op::DeleteKey { name: "record".into() });
    store.commit(forget).await.expect("forget the record");
    let error = ledger.record(&other).await.expect_err("another gift, record forgotten");
    assert_eq!(refusal(&error), (403_400_032, Some("gift_txn_id".into())));
    assert_eq!(fresh_total(&*store).await, 10, "still the first gift only");
}

// ---- guarded steps ---------------------------------------------------------------------------

/// The tag of the guarded PK, and the aggregate its credit is decided on.
const SEATED: &str = "pk:seated";
const SEATS: &str = "seats";

/// A consumer whose credit depends on an aggregate of the PK's tag, as RoomPk's team depends on
/// the seats: the side is `host` while the aggregate's version is odd, `guest` while it is even,
/// and each target is guarded by the version it was read at. `move_after_lookup` moves the
/// aggregate on (once) right after a look-up, before the ledger applies what it found;
/// `fail_fresh` fails fresh look-ups.
struct Seated {
    store: Arc<dyn Store>,
    move_after_lookup: AtomicBool,
    fail_fresh: AtomicBool,
}

async fn move_seats(store: &dyn Store) {
    let transaction = Transaction::new(SEATED).op(Op::Put {
        name: SEATS.into(),
        value: b"seats".to_vec(),
        ttl: Some(Duration::from_secs(600)),
    });
    store.commit(transaction).await.expect("seats");
}

fn side_of(version: u64) -> (&'static str, Side) {
    if version % 2 == 1 { ("host", Side::First) } else { ("guest", Side::Second) }
}

#[async_trait]
impl GiftConsumer for Seated {
    fn mode(&self) -> Mode {
        Mode::RoomPk
    }

    fn has_after_scored(&self) -> bool {
        false
    }

    async fn score_targets(&self, gift: &Gift, lookup: Lookup) -> EngineResult<Vec<ScoreTarget>> {
        let targets = self.guarded_targets(gift, lookup).await?;
        Ok(targets.into_iter().map(|guarded| guarded.target).collect())
    }

    async fn guarded_targets(
        &self,
        gift: &Gift,
        lookup: Lookup,
    ) -> EngineResult<Vec<GuardedTarget>> {
        if lookup == Lookup::Fresh && self.fail_fresh.load(Ordering::SeqCst) {
            return Err(EngineError::unavailable("injected"));
        }
        let version = self.store.get(SEATED, SEATS).await?.map_or(0, |read| read.version);
        let (word, side) = side_of(version);
        let mut target = target(SEATED, gift, false);
        target.mode = Mode::RoomPk;
        target.side = word.into();
        target.notify = NotifyKey { mode: Mode::RoomPk, battle: BattleId::new(2), side };
        target.apply.counters = vec![("score".into(), word.into(), 10)];
        if self.move_after_lookup.swap(false, Ordering::SeqCst) {
            move_seats(&*self.store).await;
        }
        let guard = Condition::Version { name: SEATS.into(), version };
        Ok(vec![GuardedTarget { target, guard: Some(guard) }])
    }
}

async fn seated_ledger(
    store: Arc<dyn Store>,
    consumer: Arc<Seated>,
) -> (GiftLedger, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}/ledger.db?mode=rwc", dir.path().display());
    let database = Database::connect(&url).await.expect("sqlite");
    let settings = Arc::new(Settings::new(database, store.clone(), ConfigRegistry::default()));
    let coalescer = Arc::new(ScoreCoalescer::new(store.clone(), settings, HashMap::new()));
    let ledger = GiftLedger::new(store, vec![consumer], coalescer, Duration::from_secs(600));
    (ledger, dir)
}

/// The seated PK's totals: (host, guest).
async fn seated_totals(store: &dyn Store) -> (i64, i64) {
    let fields = ["host".to_string(), "guest".to_string()];
    let values = store.hash_get_fields(SEATED, "score", &fields).await.expect("score");
    let number = |value: &Option<String>| value.as_deref().map_or(0, |v| v.parse().unwrap());
    (number(&values[0]), number(&values[1]))
}

async fn seated_world(move_after_lookup: bool) -> (Arc<dyn Store>, Arc<Seated>) {
    let store = testkit::redis_store(&testkit::fresh_prefix()).await;
    set_window(&*store, SEATED, true).await;
    move_seats(&*store).await;
    let consumer = Arc::new(Seated {
        store: store.clone(),
        move_after_lookup: AtomicBool::new(move_after_lookup),
        fail_fresh: AtomicBool::new(false),
    });
    (store, consumer)
}

#[tokio::test]
async fn a_guarded_step_that_moved_before_it_was_applied_counts_where_it_belongs_now() {
    // Located while the seats say host, moved to guest before the step is applied.
    let (store, consumer) = seated_world(true).await;
    let (ledger, _dir) = seated_ledger(store.clone(), consumer).await;
    let outcome = ledger.record(&gift("s1")).await.expect("record");
    assert!(!outcome.duplicate);
    assert_eq!(outcome.changes.len(), 1, "{outcome:?}");
    assert_eq!((outcome.changes[0].side.as_str(), outcome.changes[0].side_total), ("guest", 10));
    assert_eq!(seated_totals(&*store).await, (0, 10), "counted once, on the side held now");
    let again = ledger.record(&gift("s1")).await.expect("retry");
    assert!(again.duplicate);
    assert_eq!(again.changes, outcome.changes);
    assert_eq!(seated_totals(&*store).await, (0, 10));
}

#[tokio::test]
async fn a_retry_of_a_pending_guarded_step_that_moved_counts_once_where_it_belongs() {
    // The first call claims the record with the host step, the seats move, its fresh look-up
    // fails: the record stays pending with a step whose guard no longer holds.
    let (store, consumer) = seated_world(true).await;
    consumer.fail_fresh.store(true, Ordering::SeqCst);
    let (ledger, _dir) = seated_ledger(store.clone(), consumer.clone()).await;
    ledger.record(&gift("s2")).await.expect_err("the injected failure");
    assert_eq!(seated_totals(&*store).await, (0, 0), "a moved step writes nothing");

    consumer.fail_fresh.store(false, Ordering::SeqCst);
    let retried = ledger.record(&gift("s2")).await.expect("retry");
    assert!(retried.duplicate, "the first call claimed the record: {retried:?}");
    assert_eq!(retried.changes.len(), 1, "{retried:?}");
    assert_eq!(retried.changes[0].side, "guest");
    // The seats move back to host: later retries answer from the record.
    move_seats(&*store).await;
    let again = ledger.record(&gift("s2")).await.expect("second retry");
    assert_eq!(again, retried);
    assert_eq!(seated_totals(&*store).await, (0, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_of_one_guarded_gift_while_the_seats_move_count_it_once() {
    for round in 0..5 {
        let (store, consumer) = seated_world(false).await;
        let (ledger, _dir) = seated_ledger(store.clone(), consumer).await;
        let ledger = Arc::new(ledger);
        let mover = {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    move_seats(&*store).await;
                    tokio::task::yield_now().await;
                }
            })
        };
        let txn = format!("s3-{round}");
        let calls = (0..12).map(|_| {
            let (ledger, txn) = (ledger.clone(), txn.clone());
            tokio::spawn(async move { ledger.record(&gift(&txn)).await.expect("record") })
        });
        let outcomes: Vec<_> = futures::future::join_all(calls)
            .await
            .into_iter()
            .map(|joined| joined.expect("call panicked"))
            .collect();
        mover.await.expect("the mover panicked");
        assert_eq!(outcomes.iter().filter(|outcome| !outcome.duplicate).count(), 1);
        for outcome in &outcomes {
            assert_eq!(outcome.changes, outcomes[0].changes, "one answer for every call");
            assert_eq!(outcome.changes.len(), 1, "{outcome:?}");
        }
        let expected = match outcomes[0].changes[0].side.as_str() {
            "host" => (10, 0),
            _ => (0, 10),
        };
        assert_eq!(seated_totals(&*store).await, expected, "counted once, on the side answered");
        let later = ledger.record(&gift(&txn)).await.expect("later retry");
        assert_eq!(later.changes, outcomes[0].changes);
    }
}
