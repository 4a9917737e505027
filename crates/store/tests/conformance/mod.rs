//! The conformance suite: one set of behavioural tests that every [`Store`] implementation must
//! pass, so that `MemoryStore` and `RedisStore` cannot drift apart. It lives with the tests, not
//! in the library: production code never links it.
//!
//! Every case is a `pub async fn` taking either `&dyn Store` or, when it spawns concurrent
//! callers, `Arc<dyn Store>`; it panics with a message naming what was expected and what came
//! back. Each case expects a **fresh, empty** store (for Redis: a new random key prefix), because
//! some primitives (the delay queue, the event stream, the outbox sweep) are global to a store.
//!
//! An integration test declares `#[macro_use] mod conformance;` and calls `conformance_tests!`
//! to get one `#[tokio::test]` per case:
//!
//! ```ignore
//! #[macro_use]
//! mod conformance;
//! async fn memory_store(options: livepk_store::StoreOptions) -> std::sync::Arc<dyn livepk_store::Store> {
//!     std::sync::Arc::new(livepk_store::MemoryStore::new(options))
//! }
//! conformance_tests!(memory_store);
//! ```
//!
//! The function is called once per case with the case's [`StoreOptions`] (the defaults, or
//! [`small_limits`] for the cases about bounds) and its future awaited. The invoking crate must depend on `tokio` (with `macros` and
//! `rt-multi-thread`).
//!
//! The exact semantics checked here are those of the trait documentation in `lib.rs` and of
//! `crates/store/DESIGN.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::time::{Instant, sleep, timeout};

use livepk_store::{
    BoardEntry, ClaimedJob, ClaimedScore, CommitOutcome, Condition, DeadJob, GuardedScore, Job,
    MAX_SCORE, Op, Order, RecordRef, ScoreApply, ScoreOutcome, ScoreRefusal, ScoringWindow, Store,
    StoreOptions, StoreResult, StoredEvent, Transaction, Versioned, score_answer,
};

/// Options for the cases about bounds: small enough to reach in a test.
pub fn small_limits() -> StoreOptions {
    StoreOptions {
        score_records_per_battle: 3,
        event_retention: 5,
        dead_jobs_per_bucket: 2,
        ..StoreOptions::default()
    }
}

/// Expands to one `#[tokio::test]` per conformance case, each running against a fresh store
/// produced by `$factory(options).await` (an async function yielding `Arc<dyn Store>`).
macro_rules! conformance_tests {
    ($factory:expr $(,)?) => {
        __conformance_cases!($factory; by_ref
            ping_and_backend,
            absent_keys_read_as_empty,
            put_versions_start_at_one,
            version_zero_condition_means_absent,
            version_condition_must_match_exactly,
            conflict_names_first_failing_condition,
            conflict_writes_nothing,
            commit_applies_every_op,
            ops_apply_in_order,
            delete_resets_version_to_zero,
            tags_are_isolated,
            get_many_across_tags,
            next_id_starts_at_one_per_counter,
            item8_next_id_above_never_returns_a_used_id,
            hset_merges_and_overwrites_fields,
            zadd_moves_and_zrem_removes,
            zrange_orders_by_score_then_member,
            zrange_pages,
            page_counts_zero_and_unbounded,
            put_ttl_expires_and_put_without_ttl_persists,
            hash_and_sorted_set_ttl_expire,
            board_totals_and_order,
            board_ties_broken_by_first_arrival,
            board_paging,
            board_copy_keeps_ties_and_replaces_target,
            board_copy_of_absent_board_clears_target,
            board_copy_ttl_expires,
            delete_board_removes_everything,
            apply_score_applied_returns_new_values,
            apply_score_writes_fields_only_when_it_counts,
            hash_get_fields_in_order,
            zrank_both_orders,
            apply_score_duplicate_returns_first_values,
            apply_score_duplicate_takes_precedence_over_window,
            apply_score_duplicate_with_empty_parts,
            apply_score_txn_ids_are_per_tag,
            apply_score_outside_window,
            apply_score_reports_window_epoch,
            apply_score_epoch_keeps_full_u64_precision,
            apply_score_keys_expire_with_ttl,
            apply_score_keys_live_on_while_gifts_arrive,
            apply_score_single_gifter_board_keeps_its_ttl,
            rotate_score_records_keeps_the_previous_battles_answers_only,
            apply_score_guarded_counts_only_while_the_guard_holds,
            apply_score_guarded_duplicate_only_under_the_guard_it_counted,
            apply_score_guarded_outside_is_final_whatever_the_guard,
            item1_huge_gift_is_refused_and_changes_nothing,
            totals_stay_exact_up_to_the_maximum,
            item2_reused_txn_id_with_another_payload_is_refused,
            record_claim_put_get,
            record_swap_only_from_the_expected_value,
            record_ttl_expires,
            claim_and_score_claims_applies_and_marks_done,
            claim_and_score_leaves_the_record_pending_unless_it_counted,
            claim_and_score_records_are_replaced_by_put_and_swap,
            claim_and_score_with_a_guard_counts_only_while_it_holds,
            jobs_schedule_count_cancel,
            jobs_claim_only_due,
            jobs_redelivered_after_ttr,
            jobs_finish_requires_current_lease,
            jobs_reschedule_replaces_claimed_job,
            jobs_cancel_claimed_job,
            jobs_claim_limit,
            jobs_spread_over_buckets_all_come_back,
            jobs_next_due_is_global_minimum,
            jobs_payload_roundtrip,
            item9_buried_jobs_are_never_delivered_again_and_are_listed,
            events_empty_stream,
            append_events_returns_increasing_ids,
            read_events_after_id_and_limit,
            read_events_block_times_out,
            outbox_relay_in_order_exactly_once,
            outbox_with_no_events_is_a_no_op,
            outbox_tags_lists_pending_tags,
            publish_subscribe_roundtrip,
            pubsub_channels_isolated_and_fanned_out,
        );
        __conformance_cases!($factory; by_arc
            next_id_unique_under_concurrency,
            concurrent_conditional_commits_one_wins,
            apply_score_concurrent_same_txn_applies_once,
            apply_score_concurrent_distinct_txns_all_count,
            apply_score_guarded_concurrent_with_moves_counts_once,
            record_claim_concurrent_single_winner,
            claim_and_score_concurrent_calls_count_once,
            jobs_concurrent_claimers_disjoint,
            read_events_block_waits_for_append,
            outbox_concurrent_relays_append_once,
            outbox_relay_concurrent_with_writers,
        );
        __conformance_cases!($factory; small_limits
            item10_score_records_are_bounded_per_tag,
            item10_seen_event_ids_are_bounded_by_the_retention,
            item9_dead_letters_are_bounded_per_bucket,
        );
    };
}

/// Implementation detail of [`conformance_tests!`].
#[doc(hidden)]
macro_rules! __conformance_cases {
    ($factory:expr; by_ref $($case:ident),* $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let store: ::std::sync::Arc<dyn ::livepk_store::Store> =
                $factory(::livepk_store::StoreOptions::default()).await;
            $crate::conformance::$case(&*store).await;
        }
    )*};
    ($factory:expr; by_arc $($case:ident),* $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let store: ::std::sync::Arc<dyn ::livepk_store::Store> =
                $factory(::livepk_store::StoreOptions::default()).await;
            $crate::conformance::$case(::std::sync::Arc::clone(&store)).await;
        }
    )*};
    ($factory:expr; small_limits $($case:ident),* $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let store: ::std::sync::Arc<dyn ::livepk_store::Store> =
                $factory($crate::conformance::small_limits()).await;
            $crate::conformance::$case(&*store).await;
        }
    )*};
}

// ---- helpers -------------------------------------------------------------------------------

const HOUR: Duration = Duration::from_secs(3600);
/// A TTL short enough to watch expire, and how long to wait for it.
const SHORT_TTL: Duration = Duration::from_millis(150);
const PAST_SHORT_TTL: Duration = Duration::from_millis(500);
/// Name of the scoring-window hash the gift helpers use.
const WINDOW: &str = "win";
/// TTR used by the delay-queue cases.
const TTR: Duration = Duration::from_secs(30);

#[track_caller]
fn ok<T>(result: StoreResult<T>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{what}: unexpected store error: {error}"),
    }
}

fn put_op(name: &str, value: &[u8]) -> Op {
    Op::Put { name: name.into(), value: value.to_vec(), ttl: None }
}

fn put_ttl(name: &str, value: &[u8], ttl: Option<Duration>) -> Op {
    Op::Put { name: name.into(), value: value.to_vec(), ttl }
}

fn zadd_op(name: &str, member: &str, score: f64) -> Op {
    Op::ZAdd { name: name.into(), member: member.into(), score, ttl: None }
}

fn hset_op(name: &str, fields: &[(&str, &str)]) -> Op {
    Op::HSet { name: name.into(), fields: strings(fields), ttl: None }
}

fn strings(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

async fn commit_ok(store: &dyn Store, transaction: Transaction, what: &str) {
    let outcome = ok(store.commit(transaction).await, what);
    assert_eq!(outcome, CommitOutcome::Committed, "{what}: expected the commit to succeed");
}

async fn put(store: &dyn Store, tag: &str, name: &str, value: &[u8]) {
    commit_ok(store, Transaction::new(tag).op(put_op(name, value)), &format!("put {tag}/{name}"))
        .await;
}

async fn get(store: &dyn Store, tag: &str, name: &str) -> Option<Versioned> {
    ok(store.get(tag, name).await, &format!("get {tag}/{name}"))
}

fn versioned(version: u64, value: &[u8]) -> Option<Versioned> {
    Some(Versioned { version, value: value.to_vec() })
}

async fn hash_sorted(store: &dyn Store, tag: &str, name: &str) -> Vec<(String, String)> {
    let mut fields = ok(store.hash_get_all(tag, name).await, &format!("hash_get_all {tag}/{name}"));
    fields.sort();
    fields
}

async fn zall(store: &dyn Store, tag: &str, name: &str, order: Order) -> Vec<(String, f64)> {
    ok(store.zrange(tag, name, 0, 10_000, order).await, &format!("zrange {tag}/{name}"))
}

fn members(entries: &[(&str, f64)]) -> Vec<(String, f64)> {
    entries.iter().map(|(m, s)| (m.to_string(), *s)).collect()
}

async fn set_window(store: &dyn Store, tag: &str, window: ScoringWindow) {
    commit_ok(
        store,
        Transaction::new(tag).op(Op::HSet {
            name: WINDOW.into(),
            fields: window.fields(),
            ttl: None,
        }),
        &format!("write scoring window of {tag}"),
    )
    .await;
}

fn open_window(from_ms: u64, until_ms: u64, epoch: u64) -> ScoringWindow {
    ScoringWindow { open: true, from_ms, until_ms, epoch }
}

/// A window open for every `sent_at_ms` the board helpers use.
async fn open_board_window(store: &dyn Store, tag: &str) {
    set_window(store, tag, open_window(0, 1_000_000_000, 1)).await;
}

fn gift(
    tag: &str,
    txn_id: &str,
    sent_at_ms: u64,
    counters: &[(&str, &str, i64)],
    boards: &[(&str, u64, i64)],
) -> ScoreApply {
    ScoreApply {
        tag: tag.into(),
        txn_id: txn_id.into(),
        window: WINDOW.into(),
        sent_at_ms,
        counters: counters.iter().map(|(h, f, d)| (h.to_string(), f.to_string(), *d)).collect(),
        boards: boards.iter().map(|(b, m, d)| (b.to_string(), *m, *d)).collect(),
        fields: Vec::new(),
        ttl: HOUR,
        fingerprint: 0,
    }
}

async fn apply(store: &dyn Store, apply: &ScoreApply) -> ScoreOutcome {
    ok(store.apply_score(apply).await, &format!("apply_score txn {}", apply.txn_id))
}

/// A guard: aggregate `name` of the gift's tag at `version`.
fn at_version(name: &str, version: u64) -> Condition {
    Condition::Version { name: name.into(), version }
}

async fn apply_guarded(store: &dyn Store, apply: &ScoreApply, guard: &Condition) -> GuardedScore {
    ok(
        store.apply_score_guarded(apply, guard).await,
        &format!("apply_score_guarded txn {} under {guard:?}", apply.txn_id),
    )
}

/// A counter of `tag` (0 when absent).
async fn counter(store: &dyn Store, tag: &str, hash: &str, field: &str) -> i64 {
    let values = ok(store.hash_get_fields(tag, hash, &[field.to_string()]).await, "counter");
    values[0].as_deref().map_or(0, |value| value.parse().expect("a counter"))
}

static NEXT_TXN: AtomicU64 = AtomicU64::new(1);

/// Adds `delta` to `member` on board `board` of `tag` through a gift (the only way to add to a
/// leaderboard); the tag's window must be open (see [`open_board_window`]). Returns the new total.
async fn board_add(store: &dyn Store, tag: &str, board: &str, member: u64, delta: i64) -> i64 {
    let txn = format!("board-add-{}", NEXT_TXN.fetch_add(1, AtomicOrdering::Relaxed));
    match apply(store, &gift(tag, &txn, 1000, &[], &[(board, member, delta)])).await {
        ScoreOutcome::Applied { boards, .. } => {
            assert_eq!(boards.len(), 1, "Applied must report one board total per board delta");
            boards[0]
        }
        other => panic!(
            "adding {delta} to member {member} of board {tag}/{board}: expected Applied, got {other:?}"
        ),
    }
}

async fn page(store: &dyn Store, tag: &str, board: &str) -> Vec<(u64, i64)> {
    ok(store.board_page(tag, board, 0, 10_000).await, &format!("board_page {tag}/{board}"))
        .into_iter()
        .map(|BoardEntry { member, total }| (member, total))
        .collect()
}

async fn total(store: &dyn Store, tag: &str, board: &str, member: u64) -> Option<i64> {
    ok(store.board_total(tag, board, member).await, &format!("board_total {tag}/{board}/{member}"))
}

fn job(id: &str, due_ms: u64) -> Job {
    Job {
        id: id.into(),
        topic: "pk.deadline".into(),
        due_ms,
        body: format!("body of {id}").into_bytes(),
    }
}

async fn schedule(store: &dyn Store, job: &Job) {
    ok(store.schedule_job(job).await, &format!("schedule_job {}", job.id));
}

async fn claim(store: &dyn Store, now_ms: u64, limit: usize, ttr: Duration) -> Vec<ClaimedJob> {
    ok(
        store.claim_due_jobs(now_ms, limit, ttr).await,
        &format!("claim_due_jobs at {now_ms} limit {limit}"),
    )
}

fn ids_of(claimed: &[ClaimedJob]) -> BTreeSet<String> {
    claimed.iter().map(|c| c.job.id.clone()).collect()
}

async fn next_due(store: &dyn Store) -> Option<u64> {
    ok(store.next_job_due().await, "next_job_due")
}

async fn job_count(store: &dyn Store) -> u64 {
    ok(store.job_count().await, "job_count")
}

async fn all_events(store: &dyn Store) -> Vec<StoredEvent> {
    ok(store.read_events("0", 100_000, None).await, "read_events from 0")
}

fn payloads(events: &[StoredEvent]) -> Vec<Vec<u8>> {
    events.iter().map(|e| e.payload.clone()).collect()
}

fn bytes(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// Parses a stream id `<ms>-<seq>`.
#[track_caller]
fn event_id(id: &str) -> (u64, u64) {
    let parsed = id
        .split_once('-')
        .and_then(|(ms, seq)| Some((ms.parse::<u64>().ok()?, seq.parse::<u64>().ok()?)));
    match parsed {
        Some(parsed) => parsed,
        None => panic!("event id {id:?} is not of the form <ms>-<seq>"),
    }
}

#[track_caller]
fn assert_strictly_increasing(ids: &[String], what: &str) {
    for pair in ids.windows(2) {
        assert!(
            event_id(&pair[0]) < event_id(&pair[1]),
            "{what}: event ids must be strictly increasing, got {:?} then {:?} (all: {ids:?})",
            pair[0],
            pair[1]
        );
    }
}

async fn outbox_tags_sorted(store: &dyn Store) -> Vec<String> {
    let mut tags = ok(store.outbox_tags().await, "outbox_tags");
    tags.sort();
    tags
}

async fn outbox(store: &dyn Store, tag: &str, events: &[&str]) {
    commit_ok(
        store,
        Transaction::new(tag).op(Op::Outbox { events: bytes(events) }),
        &format!("commit outbox events on {tag}"),
    )
    .await;
}

/// Relays `tag` until nothing is left; returns how many were appended in total.
async fn relay_all(store: &dyn Store, tag: &str) -> usize {
    let mut appended = 0;
    for _ in 0..1000 {
        let n = ok(store.relay_outbox(tag).await, &format!("relay_outbox {tag}"));
        if n == 0 {
            return appended;
        }
        appended += n;
    }
    panic!("relay_outbox {tag} never reported an empty outbox");
}

// ---- basics ----------------------------------------------------------------------------------

/// `ping` succeeds on a reachable backend and `backend()` names it.
pub async fn ping_and_backend(store: &dyn Store) {
    ok(store.ping().await, "ping");
    assert!(!store.backend().trim().is_empty(), "backend() must return a non-empty name");
}

/// Every read of something never written returns the "absent" value, not an error.
pub async fn absent_keys_read_as_empty(store: &dyn Store) {
    assert_eq!(get(store, "agg:1", "state").await, None, "get of a never-written aggregate");
    assert_eq!(
        ok(store.get_many(&[]).await, "get_many of nothing"),
        Vec::<Option<Versioned>>::new()
    );
    assert_eq!(
        ok(store.get_many(&[("agg:1", "state"), ("agg:2", "other")]).await, "get_many absent"),
        vec![None, None],
        "get_many of absent aggregates"
    );
    assert!(hash_sorted(store, "agg:1", "hash").await.is_empty(), "hash_get_all of an absent hash");
    assert!(
        zall(store, "agg:1", "zset", Order::Ascending).await.is_empty(),
        "zrange of an absent zset"
    );
    assert_eq!(
        ok(store.zscore("agg:1", "zset", "m").await, "zscore"),
        None,
        "zscore in an absent zset"
    );
    assert_eq!(ok(store.zcard("agg:1", "zset").await, "zcard"), 0, "zcard of an absent zset");
    assert!(page(store, "agg:1", "board").await.is_empty(), "board_page of an absent board");
    assert_eq!(total(store, "agg:1", "board", 7).await, None, "board_total on an absent board");
    assert_eq!(
        ok(store.record_get("agg:1", "rec", HOUR).await, "record_get"),
        None,
        "record_get absent"
    );
}

// ---- aggregates and transactions ---------------------------------------------------------------

/// The first Put creates version 1, each further Put increments it; values are arbitrary bytes.
pub async fn put_versions_start_at_one(store: &dyn Store) {
    let tag = "agg:1";
    put(store, tag, "state", b"v1").await;
    assert_eq!(get(store, tag, "state").await, versioned(1, b"v1"), "after the first Put");
    put(store, tag, "state", b"v2").await;
    assert_eq!(get(store, tag, "state").await, versioned(2, b"v2"), "after the second Put");
    put(store, tag, "state", b"v3").await;
    assert_eq!(get(store, tag, "state").await, versioned(3, b"v3"), "after the third Put");

    let binary: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    put(store, tag, "binary", &binary).await;
    assert_eq!(get(store, tag, "binary").await, versioned(1, &binary), "binary value round trip");
    put(store, tag, "empty", b"").await;
    assert_eq!(get(store, tag, "empty").await, versioned(1, b""), "empty value round trip");
}

/// `expect_version(name, 0)` holds only while the aggregate does not exist.
pub async fn version_zero_condition_means_absent(store: &dyn Store) {
    let tag = "agg:1";
    let create =
        || Transaction::new(tag).expect_version("state", 0).op(put_op("state", b"created"));
    assert_eq!(
        ok(store.commit(create()).await, "create"),
        CommitOutcome::Committed,
        "create-if-absent"
    );
    assert_eq!(get(store, tag, "state").await, versioned(1, b"created"));

    let mut second = create();
    second.ops = vec![put_op("state", b"overwritten")];
    assert_eq!(
        ok(store.commit(second).await, "second create"),
        CommitOutcome::Conflict { name: "state".into(), actual: 1 },
        "a second create-if-absent must conflict with the actual version"
    );
    assert_eq!(
        get(store, tag, "state").await,
        versioned(1, b"created"),
        "the conflict must not write"
    );

    let on_absent = Transaction::new(tag).expect_version("other", 1).op(put_op("other", b"x"));
    assert_eq!(
        ok(store.commit(on_absent).await, "expect 1 on absent"),
        CommitOutcome::Conflict { name: "other".into(), actual: 0 },
        "expecting version 1 of an absent aggregate must conflict with actual 0"
    );
    assert_eq!(get(store, tag, "other").await, None, "the conflict must not create the aggregate");
}

/// A version condition holds only for exactly the current version.
pub async fn version_condition_must_match_exactly(store: &dyn Store) {
    let tag = "agg:1";
    put(store, tag, "state", b"v1").await;
    put(store, tag, "state", b"v2").await;
    for stale in [0u64, 1, 3, 100] {
        let txn = Transaction::new(tag).expect_version("state", stale).op(put_op("state", b"bad"));
        assert_eq!(
            ok(store.commit(txn).await, "stale commit"),
            CommitOutcome::Conflict { name: "state".into(), actual: 2 },
            "expecting version {stale} when the aggregate is at 2"
        );
    }
    assert_eq!(get(store, tag, "state").await, versioned(2, b"v2"), "conflicts must not write");
    let txn = Transaction::new(tag).expect_version("state", 2).op(put_op("state", b"v3"));
    assert_eq!(ok(store.commit(txn).await, "matching commit"), CommitOutcome::Committed);
    assert_eq!(get(store, tag, "state").await, versioned(3, b"v3"));
}

/// With several conditions, the conflict names the first one (in order) that fails.
pub async fn conflict_names_first_failing_condition(store: &dyn Store) {
    let tag = "agg:1";
    put(store, tag, "a", b"a").await;
    put(store, tag, "c", b"c").await;
    let txn = Transaction::new(tag)
        .expect_version("a", 1)
        .expect_version("b", 4)
        .expect_version("c", 9)
        .op(put_op("a", b"changed"));
    assert_eq!(
        ok(store.commit(txn).await, "commit"),
        CommitOutcome::Conflict { name: "b".into(), actual: 0 },
        "a holds, b (absent) and c (at 1) fail: the conflict must name b"
    );
    let txn = Transaction::new(tag)
        .expect_version("c", 9)
        .expect_version("b", 4)
        .expect_version("a", 1)
        .op(put_op("a", b"changed"));
    assert_eq!(
        ok(store.commit(txn).await, "commit"),
        CommitOutcome::Conflict { name: "c".into(), actual: 1 },
        "c is the first failing condition: the conflict must name c with its actual version 1"
    );
    assert_eq!(get(store, tag, "a").await, versioned(1, b"a"), "conflicts must not write");
}

/// A failed condition writes nothing at all, whatever kinds of ops the transaction holds.
pub async fn conflict_writes_nothing(store: &dyn Store) {
    let tag = "pk:1";
    put(store, tag, "agg", b"original").await;
    put(store, tag, "victim", b"keep me").await;
    commit_ok(
        store,
        Transaction::new(tag)
            .op(zadd_op("z", "m1", 1.0))
            .op(zadd_op("z", "m2", 2.0))
            .op(hset_op("h", &[("f", "1")]))
            .op(hset_op("h2", &[("x", "1")])),
        "setup",
    )
    .await;
    open_board_window(store, tag).await;
    board_add(store, tag, "rank", 7, 5).await;

    let txn = Transaction::new(tag)
        .expect_version("agg", 7)
        .op(put_op("agg", b"changed"))
        .op(put_op("fresh", b"new"))
        .op(Op::Delete { name: "victim".into() })
        .op(zadd_op("z", "m3", 3.0))
        .op(zadd_op("z", "m1", 10.0))
        .op(Op::ZRem { name: "z".into(), member: "m2".into() })
        .op(hset_op("h", &[("f", "2"), ("g", "3")]))
        .op(Op::DeleteKey { name: "h2".into() })
        .op(Op::DeleteBoard { name: "rank".into() })
        .op(Op::Outbox { events: bytes(&["must not be emitted"]) });
    assert_eq!(
        ok(store.commit(txn).await, "conflicting commit"),
        CommitOutcome::Conflict { name: "agg".into(), actual: 1 },
        "the condition on agg (at 1, expected 7) must fail"
    );

    assert_eq!(get(store, tag, "agg").await, versioned(1, b"original"), "Put must not apply");
    assert_eq!(get(store, tag, "fresh").await, None, "Put of a new aggregate must not apply");
    assert_eq!(get(store, tag, "victim").await, versioned(1, b"keep me"), "Delete must not apply");
    assert_eq!(
        zall(store, tag, "z", Order::Ascending).await,
        members(&[("m1", 1.0), ("m2", 2.0)]),
        "ZAdd/ZRem must not apply"
    );
    assert_eq!(hash_sorted(store, tag, "h").await, strings(&[("f", "1")]), "HSet must not apply");
    assert_eq!(
        hash_sorted(store, tag, "h2").await,
        strings(&[("x", "1")]),
        "DeleteKey must not apply"
    );
    assert_eq!(page(store, tag, "rank").await, vec![(7, 5)], "DeleteBoard must not apply");
    assert_eq!(total(store, tag, "rank", 7).await, Some(5), "DeleteBoard must not apply");
    assert!(outbox_tags_sorted(store).await.is_empty(), "Outbox must not queue anything");
    assert_eq!(ok(store.relay_outbox(tag).await, "relay"), 0, "Outbox must not queue anything");
    assert!(all_events(store).await.is_empty(), "no event may reach the stream");
}

/// A successful transaction applies every kind of op.
pub async fn commit_applies_every_op(store: &dyn Store) {
    let tag = "pk:1";
    put(store, tag, "victim", b"doomed").await;
    commit_ok(
        store,
        Transaction::new(tag).op(zadd_op("z", "m2", 2.0)).op(hset_op("h2", &[("x", "1")])),
        "setup",
    )
    .await;
    open_board_window(store, tag).await;
    board_add(store, tag, "rank", 7, 5).await;
    board_add(store, tag, "rank", 8, 6).await;

    let txn = Transaction::new(tag)
        .expect_version("victim", 1)
        .expect_version("agg", 0)
        .op(put_ttl("agg", b"value", Some(HOUR)))
        .op(Op::Delete { name: "victim".into() })
        .op(Op::ZAdd { name: "z".into(), member: "m1".into(), score: 1.5, ttl: Some(HOUR) })
        .op(zadd_op("z", "m3", -2.0))
        .op(Op::ZRem { name: "z".into(), member: "m2".into() })
        .op(Op::HSet {
            name: "h".into(),
            fields: strings(&[("a", "1"), ("b", "two")]),
            ttl: Some(HOUR),
        })
        .op(Op::DeleteKey { name: "h2".into() })
        .op(Op::DeleteBoard { name: "rank".into() })
        .op(Op::Outbox { events: bytes(&["e1", "e2"]) });
    assert_eq!(ok(store.commit(txn).await, "commit"), CommitOutcome::Committed);

    assert_eq!(get(store, tag, "agg").await, versioned(1, b"value"), "Put");
    assert_eq!(get(store, tag, "victim").await, None, "Delete");
    assert_eq!(
        zall(store, tag, "z", Order::Ascending).await,
        members(&[("m3", -2.0), ("m1", 1.5)]),
        "ZAdd/ZRem"
    );
    assert_eq!(hash_sorted(store, tag, "h").await, strings(&[("a", "1"), ("b", "two")]), "HSet");
    assert!(hash_sorted(store, tag, "h2").await.is_empty(), "DeleteKey");
    assert!(page(store, tag, "rank").await.is_empty(), "DeleteBoard");
    assert_eq!(total(store, tag, "rank", 7).await, None, "DeleteBoard");
    assert_eq!(
        outbox_tags_sorted(store).await,
        vec![tag.to_string()],
        "Outbox queues in the tag's outbox"
    );
    assert_eq!(relay_all(store, tag).await, 2, "relay of the committed outbox");
    assert_eq!(payloads(&all_events(store).await), bytes(&["e1", "e2"]), "relayed events");
}

/// Ops apply in order; each Put increments the version, even twice in one transaction.
pub async fn ops_apply_in_order(store: &dyn Store) {
    let tag = "agg:1";
    commit_ok(
        store,
        Transaction::new(tag).op(put_op("a", b"1")).op(put_op("a", b"2")),
        "put twice",
    )
    .await;
    assert_eq!(get(store, tag, "a").await, versioned(2, b"2"), "two Puts in one transaction");

    put(store, tag, "b", b"x").await;
    commit_ok(
        store,
        Transaction::new(tag).op(put_op("b", b"y")).op(Op::Delete { name: "b".into() }),
        "put, delete",
    )
    .await;
    assert_eq!(get(store, tag, "b").await, None, "Put then Delete");

    commit_ok(
        store,
        Transaction::new(tag).op(Op::Delete { name: "c".into() }).op(put_op("c", b"z")),
        "delete, put",
    )
    .await;
    assert_eq!(get(store, tag, "c").await, versioned(1, b"z"), "Delete (absent) then Put");

    commit_ok(
        store,
        Transaction::new(tag)
            .op(zadd_op("z", "m", 1.0))
            .op(Op::ZRem { name: "z".into(), member: "m".into() }),
        "zadd, zrem",
    )
    .await;
    assert_eq!(ok(store.zcard(tag, "z").await, "zcard"), 0, "ZAdd then ZRem");
    commit_ok(
        store,
        Transaction::new(tag).op(zadd_op("z", "m", 1.0)).op(zadd_op("z", "m", 3.0)),
        "zadd twice",
    )
    .await;
    assert_eq!(ok(store.zscore(tag, "z", "m").await, "zscore"), Some(3.0), "the later ZAdd wins");

    commit_ok(
        store,
        Transaction::new(tag)
            .op(hset_op("h", &[("f", "1")]))
            .op(Op::DeleteKey { name: "h".into() })
            .op(hset_op("h", &[("g", "2")])),
        "hset, deletekey, hset",
    )
    .await;
    assert_eq!(hash_sorted(store, tag, "h").await, strings(&[("g", "2")]), "HSet, DeleteKey, HSet");
}

/// Delete (and DeleteKey) bring the version back to 0: the next Put is version 1 again.
pub async fn delete_resets_version_to_zero(store: &dyn Store) {
    let tag = "agg:1";
    put(store, tag, "state", b"v1").await;
    put(store, tag, "state", b"v2").await;
    commit_ok(
        store,
        Transaction::new(tag).expect_version("state", 2).op(Op::Delete { name: "state".into() }),
        "delete",
    )
    .await;
    assert_eq!(get(store, tag, "state").await, None, "after Delete");
    let recreate = Transaction::new(tag).expect_version("state", 0).op(put_op("state", b"again"));
    assert_eq!(
        ok(store.commit(recreate).await, "recreate"),
        CommitOutcome::Committed,
        "version 0 after Delete"
    );
    assert_eq!(
        get(store, tag, "state").await,
        versioned(1, b"again"),
        "versions restart at 1 after Delete"
    );

    commit_ok(store, Transaction::new(tag).op(Op::DeleteKey { name: "state".into() }), "deletekey")
        .await;
    assert_eq!(get(store, tag, "state").await, None, "after DeleteKey of an aggregate");
    put(store, tag, "state", b"third life").await;
    assert_eq!(
        get(store, tag, "state").await,
        versioned(1, b"third life"),
        "versions restart after DeleteKey"
    );
}

/// Tags are separate namespaces, including when tag and name could be confused around ':'.
pub async fn tags_are_isolated(store: &dyn Store) {
    put(store, "a:1", "state", b"in a:1").await;
    assert_eq!(get(store, "a:2", "state").await, None, "another tag must not see the aggregate");
    let txn = Transaction::new("a:2").expect_version("state", 0).op(put_op("state", b"in a:2"));
    assert_eq!(
        ok(store.commit(txn).await, "commit"),
        CommitOutcome::Committed,
        "the other tag's version is 0"
    );
    assert_eq!(get(store, "a:1", "state").await, versioned(1, b"in a:1"));
    assert_eq!(get(store, "a:2", "state").await, versioned(1, b"in a:2"));

    put(store, "x", "y:z", b"tag x, name y:z").await;
    assert_eq!(get(store, "x:y", "z").await, None, "tag x:y name z is not tag x name y:z");
    put(store, "x:y", "z", b"tag x:y, name z").await;
    assert_eq!(get(store, "x", "y:z").await, versioned(1, b"tag x, name y:z"));
    assert_eq!(get(store, "x:y", "z").await, versioned(1, b"tag x:y, name z"));

    commit_ok(
        store,
        Transaction::new("a:1").op(hset_op("h", &[("f", "1")])).op(zadd_op("z", "m", 1.0)),
        "writes",
    )
    .await;
    assert!(hash_sorted(store, "a:2", "h").await.is_empty(), "hashes are per tag");
    assert_eq!(ok(store.zcard("a:2", "z").await, "zcard"), 0, "sorted sets are per tag");

    assert_eq!(ok(store.next_id("a:1", "n").await, "next_id"), 1);
    assert_eq!(ok(store.next_id("a:1", "n").await, "next_id"), 2);
    assert_eq!(ok(store.next_id("a:2", "n").await, "next_id"), 1, "counters are per tag");

    assert_eq!(ok(store.record_claim("a:1", "r", b"v", HOUR).await, "claim"), None);
    assert_eq!(
        ok(store.record_get("a:2", "r", HOUR).await, "record_get"),
        None,
        "records are per tag"
    );
}

/// `get_many` returns one result per requested key, in request order, across tags.
pub async fn get_many_across_tags(store: &dyn Store) {
    put(store, "t:1", "a", b"t1a").await;
    put(store, "t:2", "a", b"t2a-1").await;
    put(store, "t:2", "a", b"t2a-2").await;
    put(store, "t:3", "b", b"t3b").await;
    let got = ok(
        store
            .get_many(&[
                ("t:1", "a"),
                ("t:2", "missing"),
                ("t:2", "a"),
                ("t:3", "b"),
                ("t:4", "a"),
                ("t:1", "a"),
            ])
            .await,
        "get_many",
    );
    assert_eq!(
        got,
        vec![
            versioned(1, b"t1a"),
            None,
            versioned(2, b"t2a-2"),
            versioned(1, b"t3b"),
            None,
            versioned(1, b"t1a"),
        ],
        "get_many across tags with missing and repeated keys"
    );
}

/// Counters start at 1 and are independent per name.
pub async fn next_id_starts_at_one_per_counter(store: &dyn Store) {
    for expected in 1..=5u64 {
        assert_eq!(ok(store.next_id("pk", "ids").await, "next_id"), expected, "counter pk/ids");
    }
    assert_eq!(
        ok(store.next_id("pk", "other").await, "next_id"),
        1,
        "a second counter starts at 1"
    );
    assert_eq!(ok(store.next_id("pk", "ids").await, "next_id"), 6, "the first counter continues");
}

/// 50 concurrent callers (3 ids each) never see the same value; the values are exactly 1..=150.
pub async fn next_id_unique_under_concurrency(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for _ in 0..3 {
                    ids.push(ok(store.next_id("pk", "ids").await, "next_id"));
                }
                ids
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        let ids = task.await.expect("next_id task panicked");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "one caller's ids must increase: {ids:?}");
        all.extend(ids);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=150).collect::<Vec<u64>>(),
        "150 concurrent next_id calls must return 1..=150 once each"
    );
}

/// Concurrent commits all expecting the same version: exactly one wins, the others conflict.
pub async fn concurrent_conditional_commits_one_wins(store: Arc<dyn Store>) {
    put(&*store, "agg:1", "state", b"v1").await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let txn = Transaction::new("agg:1")
                    .expect_version("state", 1)
                    .op(put_op("state", format!("writer {i}").as_bytes()))
                    .op(zadd_op("winners", &format!("writer {i}"), 1.0));
                (i, ok(store.commit(txn).await, "concurrent commit"))
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (i, outcome) = task.await.expect("commit task panicked");
        match outcome {
            CommitOutcome::Committed => winners.push(i),
            CommitOutcome::Conflict { name, actual } => {
                assert_eq!(
                    (name.as_str(), actual),
                    ("state", 2),
                    "losers must see the winner's version 2"
                )
            }
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one of 20 commits expecting version 1 may win, winners: {winners:?}"
    );
    let winner = format!("writer {}", winners[0]);
    assert_eq!(get(&*store, "agg:1", "state").await, versioned(2, winner.as_bytes()));
    assert_eq!(
        zall(&*store, "agg:1", "winners", Order::Ascending).await,
        members(&[(&winner, 1.0)]),
        "only the winner's other ops may apply"
    );
}

// ---- hashes and sorted sets ------------------------------------------------------------------------

/// HSet adds and overwrites fields, keeping the others.
pub async fn hset_merges_and_overwrites_fields(store: &dyn Store) {
    let tag = "pk:1";
    commit_ok(store, Transaction::new(tag).op(hset_op("h", &[("a", "1"), ("b", "2")])), "hset")
        .await;
    assert_eq!(hash_sorted(store, tag, "h").await, strings(&[("a", "1"), ("b", "2")]));
    commit_ok(
        store,
        Transaction::new(tag).op(hset_op("h", &[("b", "3"), ("c", "ünï 🎁")])),
        "hset",
    )
    .await;
    assert_eq!(
        hash_sorted(store, tag, "h").await,
        strings(&[("a", "1"), ("b", "3"), ("c", "ünï 🎁")]),
        "HSet must merge into the existing hash"
    );
    commit_ok(store, Transaction::new(tag).op(hset_op("h", &[("empty", "")])), "hset empty value")
        .await;
    assert_eq!(
        hash_sorted(store, tag, "h").await,
        strings(&[("a", "1"), ("b", "3"), ("c", "ünï 🎁"), ("empty", "")]),
        "an empty field value is a value"
    );
}

/// ZAdd moves an existing member, ZRem removes it; zscore and zcard follow.
pub async fn zadd_moves_and_zrem_removes(store: &dyn Store) {
    let tag = "pk:1";
    commit_ok(
        store,
        Transaction::new(tag).op(zadd_op("z", "m", 1.0)).op(zadd_op("z", "n", 2.0)),
        "zadd",
    )
    .await;
    assert_eq!(ok(store.zcard(tag, "z").await, "zcard"), 2);
    assert_eq!(ok(store.zscore(tag, "z", "m").await, "zscore"), Some(1.0));
    commit_ok(store, Transaction::new(tag).op(zadd_op("z", "m", 5.5)), "move").await;
    assert_eq!(ok(store.zscore(tag, "z", "m").await, "zscore"), Some(5.5), "ZAdd moves the member");
    assert_eq!(ok(store.zcard(tag, "z").await, "zcard"), 2, "moving does not add a member");
    assert_eq!(
        ok(store.zscore(tag, "z", "absent").await, "zscore"),
        None,
        "zscore of a non-member"
    );
    commit_ok(
        store,
        Transaction::new(tag).op(Op::ZRem { name: "z".into(), member: "m".into() }),
        "zrem",
    )
    .await;
    assert_eq!(ok(store.zscore(tag, "z", "m").await, "zscore"), None, "ZRem removes the member");
    assert_eq!(ok(store.zcard(tag, "z").await, "zcard"), 1);
    commit_ok(
        store,
        Transaction::new(tag).op(Op::ZRem { name: "z".into(), member: "nobody".into() }),
        "zrem absent",
    )
    .await;
    assert_eq!(ok(store.zcard(tag, "z").await, "zcard"), 1, "ZRem of a non-member changes nothing");
    commit_ok(store, Transaction::new(tag).op(zadd_op("z", "neg", -3.25)), "negative").await;
    assert_eq!(
        ok(store.zscore(tag, "z", "neg").await, "zscore"),
        Some(-3.25),
        "negative fractional score"
    );
}

async fn fill_ordering_set(store: &dyn Store, tag: &str) {
    let mut txn = Transaction::new(tag);
    for (member, score) in [
        ("m-b", 2.0),
        ("m-a", 2.0),
        ("A", 2.0),
        ("low", -1.5),
        ("frac", 0.25),
        ("high", 10.0),
        ("m-ab", 2.0),
    ] {
        txn = txn.op(zadd_op("z", member, score));
    }
    commit_ok(store, txn, "fill sorted set").await;
}

/// zrange sorts by score, equal scores by member bytewise (reversed when descending).
pub async fn zrange_orders_by_score_then_member(store: &dyn Store) {
    let tag = "pk:1";
    fill_ordering_set(store, tag).await;
    assert_eq!(
        zall(store, tag, "z", Order::Ascending).await,
        members(&[
            ("low", -1.5),
            ("frac", 0.25),
            ("A", 2.0),
            ("m-a", 2.0),
            ("m-ab", 2.0),
            ("m-b", 2.0),
            ("high", 10.0)
        ]),
        "ascending: by score, ties by member bytewise"
    );
    assert_eq!(
        zall(store, tag, "z", Order::Descending).await,
        members(&[
            ("high", 10.0),
            ("m-b", 2.0),
            ("m-ab", 2.0),
            ("m-a", 2.0),
            ("A", 2.0),
            ("frac", 0.25),
            ("low", -1.5)
        ]),
        "descending: by score, ties by member bytewise reversed"
    );
}

/// zrange pages with offset and count in both directions.
pub async fn zrange_pages(store: &dyn Store) {
    let tag = "pk:1";
    fill_ordering_set(store, tag).await;
    let range = |offset, count, order| async move {
        ok(store.zrange(tag, "z", offset, count, order).await, "zrange page")
    };
    assert_eq!(
        range(2, 3, Order::Ascending).await,
        members(&[("A", 2.0), ("m-a", 2.0), ("m-ab", 2.0)]),
        "ascending offset 2 count 3"
    );
    assert_eq!(range(0, 1, Order::Ascending).await, members(&[("low", -1.5)]), "ascending first");
    assert_eq!(
        range(0, 2, Order::Descending).await,
        members(&[("high", 10.0), ("m-b", 2.0)]),
        "descending top 2"
    );
    assert_eq!(
        range(5, 10, Order::Descending).await,
        members(&[("frac", 0.25), ("low", -1.5)]),
        "descending tail"
    );
    assert_eq!(range(6, 1, Order::Ascending).await, members(&[("high", 10.0)]), "last rank");
    assert!(range(7, 5, Order::Ascending).await.is_empty(), "offset == len must be empty");
    assert!(range(100, 5, Order::Descending).await.is_empty(), "offset past the end must be empty");
    let mut paged = Vec::new();
    for offset in (0..7).step_by(2) {
        paged.extend(range(offset, 2, Order::Descending).await);
    }
    assert_eq!(
        paged,
        zall(store, tag, "z", Order::Descending).await,
        "pages of 2 must concatenate to the whole set"
    );
}

/// A count of 0 returns nothing (not everything); a huge count returns the rest.
pub async fn page_counts_zero_and_unbounded(store: &dyn Store) {
    let tag = "pk:1";
    fill_ordering_set(store, tag).await;
    for order in [Order::Ascending, Order::Descending] {
        assert!(
            ok(store.zrange(tag, "z", 0, 0, order).await, "zrange").is_empty(),
            "zrange count 0 ({order:?})"
        );
        assert!(
            ok(store.zrange(tag, "z", 3, 0, order).await, "zrange").is_empty(),
            "zrange offset 3 count 0"
        );
        assert_eq!(
            ok(store.zrange(tag, "z", 4, usize::MAX, order).await, "zrange count usize::MAX").len(),
            3,
            "zrange offset 4 count usize::MAX must return the last 3 ({order:?})"
        );
    }
    open_board_window(store, tag).await;
    for member in 1..=4 {
        board_add(store, tag, "rank", member, member as i64).await;
    }
    assert!(
        ok(store.board_page(tag, "rank", 0, 0).await, "board_page").is_empty(),
        "board_page count 0"
    );
    assert!(
        ok(store.board_page(tag, "rank", 2, 0).await, "board_page").is_empty(),
        "board_page offset 2 count 0"
    );
    assert_eq!(
        ok(store.board_page(tag, "rank", 1, usize::MAX).await, "board_page count usize::MAX"),
        vec![
            BoardEntry { member: 3, total: 3 },
            BoardEntry { member: 2, total: 2 },
            BoardEntry { member: 1, total: 1 }
        ],
        "board_page offset 1 count usize::MAX"
    );
}

// ---- TTLs --------------------------------------------------------------------------------------------

/// A Put with a TTL expires (version back to 0); a later Put without TTL makes it persistent.
pub async fn put_ttl_expires_and_put_without_ttl_persists(store: &dyn Store) {
    let tag = "agg:1";
    commit_ok(
        store,
        Transaction::new(tag)
            .op(put_ttl("short", b"s", Some(SHORT_TTL)))
            .op(put_ttl("persisted", b"p1", Some(SHORT_TTL)))
            .op(put_ttl("long", b"l", Some(HOUR))),
        "puts with ttl",
    )
    .await;
    commit_ok(
        store,
        Transaction::new(tag).op(put_ttl("persisted", b"p2", None)),
        "put without ttl",
    )
    .await;
    assert_eq!(get(store, tag, "short").await, versioned(1, b"s"), "readable before its TTL");
    sleep(PAST_SHORT_TTL).await;
    assert_eq!(get(store, tag, "short").await, None, "a Put with TTL {SHORT_TTL:?} must expire");
    assert_eq!(
        get(store, tag, "persisted").await,
        versioned(2, b"p2"),
        "a Put without TTL must remove the previous TTL (PERSIST)"
    );
    assert_eq!(get(store, tag, "long").await, versioned(1, b"l"), "a Put with a long TTL stays");
    let recreate = Transaction::new(tag).expect_version("short", 0).op(put_op("short", b"again"));
    assert_eq!(
        ok(store.commit(recreate).await, "recreate"),
        CommitOutcome::Committed,
        "expired means version 0"
    );
    assert_eq!(get(store, tag, "short").await, versioned(1, b"again"));
}

/// HSet and ZAdd with a TTL expire; without one they stay.
pub async fn hash_and_sorted_set_ttl_expire(store: &dyn Store) {
    let tag = "pk:1";
    commit_ok(
        store,
        Transaction::new(tag)
            .op(Op::HSet { name: "h".into(), fields: strings(&[("f", "1")]), ttl: Some(SHORT_TTL) })
            .op(Op::ZAdd { name: "z".into(), member: "m".into(), score: 1.0, ttl: Some(SHORT_TTL) })
            .op(hset_op("h2", &[("f", "1")]))
            .op(zadd_op("z2", "m", 1.0)),
        "writes with ttl",
    )
    .await;
    sleep(PAST_SHORT_TTL).await;
    assert!(hash_sorted(store, tag, "h").await.is_empty(), "an HSet with TTL must expire");
    assert_eq!(ok(store.zcard(tag, "z").await, "zcard"), 0, "a ZAdd with TTL must expire");
    assert_eq!(
        ok(store.zscore(tag, "z", "m").await, "zscore"),
        None,
        "a ZAdd with TTL must expire"
    );
    assert_eq!(
        hash_sorted(store, tag, "h2").await,
        strings(&[("f", "1")]),
        "an HSet without TTL stays"
    );
    assert_eq!(ok(store.zcard(tag, "z2").await, "zcard"), 1, "a ZAdd without TTL stays");
}

// ---- leaderboards ---------------------------------------------------------------------------------

/// Boards keep exact totals per member, highest first; boards are per (tag, name).
pub async fn board_totals_and_order(store: &dyn Store) {
    let tag = "pk:1";
    open_board_window(store, tag).await;
    assert_eq!(board_add(store, tag, "rank", 1, 5).await, 5);
    assert_eq!(board_add(store, tag, "rank", 2, 3).await, 3);
    assert_eq!(board_add(store, tag, "rank", 3, 7).await, 7);
    assert_eq!(board_add(store, tag, "rank", 1, 5).await, 10, "totals accumulate");
    assert_eq!(
        page(store, tag, "rank").await,
        vec![(1, 10), (3, 7), (2, 3)],
        "highest total first"
    );
    assert_eq!(total(store, tag, "rank", 1).await, Some(10));
    assert_eq!(total(store, tag, "rank", 2).await, Some(3));
    assert_eq!(total(store, tag, "rank", 4).await, None, "a member never added has no total");
    assert!(page(store, tag, "other").await.is_empty(), "boards are per name");
    assert!(page(store, "pk:2", "rank").await.is_empty(), "boards are per tag");
    let big = 1_000_000_007_i64;
    assert_eq!(
        board_add(store, tag, "rank", u64::from(u32::MAX) + 5, big).await,
        big,
        "large ids and totals"
    );
    assert_eq!(total(store, tag, "rank", u64::from(u32::MAX) + 5).await, Some(big));
    assert_eq!(page(store, tag, "rank").await[0], (u64::from(u32::MAX) + 5, big));
    assert_eq!(
        ok(
            store.board_totals(tag, "rank", &[2, 4, u64::from(u32::MAX) + 5, 1, 4]).await,
            "board_totals"
        ),
        vec![Some(3), None, Some(big), Some(10), None],
        "several totals at once, in the order asked, absent members in place"
    );
    assert!(ok(store.board_totals(tag, "rank", &[]).await, "board_totals").is_empty());
    assert_eq!(
        ok(store.board_totals(tag, "absent", &[1, 2]).await, "board_totals"),
        vec![None, None]
    );
}

/// Among equal totals, whoever reached the total first ranks higher (not by member id).
pub async fn board_ties_broken_by_first_arrival(store: &dyn Store) {
    let tag = "pk:1";
    open_board_window(store, tag).await;
    board_add(store, tag, "rank", 50, 10).await; // 50 reaches 10 first
    board_add(store, tag, "rank", 7, 4).await;
    board_add(store, tag, "rank", 7, 6).await; // 7 reaches 10 second
    assert_eq!(page(store, tag, "rank").await, vec![(50, 10), (7, 10)], "50 reached 10 before 7");
    board_add(store, tag, "rank", 90, 10).await; // 90 reaches 10 third
    assert_eq!(page(store, tag, "rank").await, vec![(50, 10), (7, 10), (90, 10)], "then 90");
    board_add(store, tag, "rank", 7, 1).await;
    assert_eq!(
        page(store, tag, "rank").await,
        vec![(7, 11), (50, 10), (90, 10)],
        "7 moves ahead with 11"
    );
    board_add(store, tag, "rank", 90, 1).await;
    assert_eq!(
        page(store, tag, "rank").await,
        vec![(7, 11), (90, 11), (50, 10)],
        "90 reached 11 after 7, and is ahead of 50"
    );
    board_add(store, tag, "rank", 50, 1).await;
    assert_eq!(
        page(store, tag, "rank").await,
        vec![(7, 11), (90, 11), (50, 11)],
        "50 reached 11 last"
    );
    board_add(store, tag, "rank", 3, 11).await;
    assert_eq!(
        page(store, tag, "rank").await,
        vec![(7, 11), (90, 11), (50, 11), (3, 11)],
        "a new member reaching 11 last ranks last among the 11s"
    );
}

/// board_page pages through the board in rank order.
pub async fn board_paging(store: &dyn Store) {
    let tag = "pk:1";
    open_board_window(store, tag).await;
    for member in 1..=25u64 {
        board_add(store, tag, "rank", member, (member * 10) as i64).await;
    }
    let expected: Vec<BoardEntry> = (1..=25u64)
        .rev()
        .map(|member| BoardEntry { member, total: (member * 10) as i64 })
        .collect();
    let page_at = |offset, count| async move {
        ok(store.board_page(tag, "rank", offset, count).await, "board_page")
    };
    assert_eq!(page_at(0, 10).await, expected[0..10].to_vec(), "first page");
    assert_eq!(page_at(10, 10).await, expected[10..20].to_vec(), "second page");
    assert_eq!(page_at(20, 10).await, expected[20..25].to_vec(), "last, partial page");
    assert_eq!(page_at(24, 1).await, expected[24..25].to_vec(), "last rank");
    assert!(page_at(25, 10).await.is_empty(), "offset == len must be empty");
    assert!(page_at(100, 10).await.is_empty(), "offset past the end must be empty");
    assert_eq!(page_at(3, 4).await, expected[3..7].to_vec(), "offset 3 count 4");
}

/// board_copy copies totals and tie order, replaces the target entirely, keeps arrival order for
/// later adds on the copy, and leaves the source alone.
pub async fn board_copy_keeps_ties_and_replaces_target(store: &dyn Store) {
    let tag = "pk:1";
    open_board_window(store, tag).await;
    // The source has seen more adds (6) than the target (2), so a copy that kept the target's
    // own arrival counter would rank a later add on the copy ahead of earlier arrivals.
    board_add(store, tag, "rank", 50, 4).await;
    board_add(store, tag, "rank", 50, 6).await;
    board_add(store, tag, "rank", 7, 10).await;
    board_add(store, tag, "rank", 90, 5).await;
    board_add(store, tag, "rank", 90, 5).await;
    board_add(store, tag, "rank", 3, 4).await;
    board_add(store, tag, "copy", 7, 100).await;
    board_add(store, tag, "copy", 1234, 5).await;

    ok(store.board_copy(tag, "rank", "copy", HOUR).await, "board_copy");
    let source = vec![(50, 10), (7, 10), (90, 10), (3, 4)];
    assert_eq!(page(store, tag, "copy").await, source, "the copy must keep totals and tie order");
    assert_eq!(page(store, tag, "rank").await, source, "the source is unchanged");
    assert_eq!(total(store, tag, "copy", 7).await, Some(10), "the target's old total is replaced");
    assert_eq!(
        total(store, tag, "copy", 1234).await,
        None,
        "members only in the old target are gone"
    );

    assert_eq!(board_add(store, tag, "copy", 3, 6).await, 10);
    assert_eq!(
        page(store, tag, "copy").await,
        vec![(50, 10), (7, 10), (90, 10), (3, 10)],
        "a member reaching a tie on the copy after the copy ranks after those who reached it before"
    );
    assert_eq!(board_add(store, tag, "copy", 90, 1).await, 11);
    assert_eq!(page(store, tag, "copy").await, vec![(90, 11), (50, 10), (7, 10), (3, 10)]);
    assert_eq!(page(store, tag, "rank").await, source, "adds on the copy do not touch the source");
    assert_eq!(
        board_add(store, tag, "rank", 3, 1).await,
        5,
        "adds on the source continue from its own total"
    );
    assert_eq!(
        total(store, tag, "copy", 3).await,
        Some(10),
        "adds on the source do not touch the copy"
    );
}

/// Copying an absent board replaces the target with an empty board.
pub async fn board_copy_of_absent_board_clears_target(store: &dyn Store) {
    let tag = "pk:1";
    open_board_window(store, tag).await;
    board_add(store, tag, "copy", 7, 100).await;
    ok(store.board_copy(tag, "nothing", "copy", HOUR).await, "board_copy of an absent board");
    assert!(
        page(store, tag, "copy").await.is_empty(),
        "the target must be replaced entirely (by nothing)"
    );
    assert_eq!(total(store, tag, "copy", 7).await, None, "the target must be replaced entirely");
    assert_eq!(board_add(store, tag, "copy", 7, 1).await, 1, "a later add starts from 0");
}

/// board_copy applies its TTL to the copy (not to the source).
pub async fn board_copy_ttl_expires(store: &dyn Store) {
    let tag = "pk:1";
    open_board_window(store, tag).await;
    board_add(store, tag, "rank", 50, 10).await;
    board_add(store, tag, "rank", 7, 10).await;
    ok(store.board_copy(tag, "rank", "copy", SHORT_TTL).await, "board_copy");
    assert_eq!(page(store, tag, "copy").await, vec![(50, 10), (7, 10)]);
    sleep(PAST_SHORT_TTL).await;
    assert!(page(store, tag, "copy").await.is_empty(), "the copy must expire after its TTL");
    assert_eq!(total(store, tag, "copy", 50).await, None, "the copy must expire after its TTL");
    assert_eq!(
        page(store, tag, "rank").await,
        vec![(50, 10), (7, 10)],
        "the source keeps its own TTL"
    );
}

/// DeleteBoard removes totals and order; a later add starts from scratch.
pub async fn delete_board_removes_everything(store: &dyn Store) {
    let tag = "pk:1";
    open_board_window(store, tag).await;
    board_add(store, tag, "rank", 1, 10).await;
    board_add(store, tag, "rank", 2, 20).await;
    board_add(store, tag, "other", 1, 3).await;
    commit_ok(
        store,
        Transaction::new(tag).op(Op::DeleteBoard { name: "rank".into() }),
        "delete board",
    )
    .await;
    assert!(page(store, tag, "rank").await.is_empty(), "the deleted board is empty");
    assert_eq!(total(store, tag, "rank", 1).await, None, "the deleted board has no totals");
    assert_eq!(total(store, tag, "rank", 2).await, None, "the deleted board has no totals");
    assert_eq!(page(store, tag, "other").await, vec![(1, 3)], "other boards stay");
    assert_eq!(board_add(store, tag, "rank", 2, 5).await, 5, "a re-created board starts from 0");
    assert_eq!(board_add(store, tag, "rank", 1, 5).await, 5);
    assert_eq!(
        page(store, tag, "rank").await,
        vec![(2, 5), (1, 5)],
        "arrival order on the re-created board"
    );
}

// ---- apply_score -----------------------------------------------------------------------------------

/// The fields of a ScoreApply are written with an applied gift, and neither by a duplicate
/// nor by a gift outside the window.
pub async fn apply_score_writes_fields_only_when_it_counts(store: &dyn Store) {
    let tag = "pk:fields";
    set_window(store, tag, open_window(1000, 2000, 3)).await;
    let mut counted = gift(tag, "f1", 1500, &[("score", "red", 1)], &[]);
    counted.fields = vec![("users".into(), "50".into(), "first".into())];
    assert!(matches!(apply(store, &counted).await, ScoreOutcome::Applied { .. }));
    let mut repeat = counted.clone();
    repeat.fields = vec![("users".into(), "50".into(), "changed by a duplicate".into())];
    assert!(matches!(apply(store, &repeat).await, ScoreOutcome::Duplicate { .. }));
    let mut outside = gift(tag, "f2", 2500, &[("score", "red", 1)], &[]);
    outside.fields = vec![("users".into(), "60".into(), "outside".into())];
    assert_eq!(apply(store, &outside).await, ScoreOutcome::Outside);
    let values = ok(
        store.hash_get_fields(tag, "users", &["50".into(), "60".into()]).await,
        "hash_get_fields",
    );
    assert_eq!(values, vec![Some("first".to_string()), None]);
}

/// RotateScoreRecords sets the tag's answers aside as the previous battle's: they still stand
/// (counted -> Duplicate, even to a guard of another version; outside -> Outside) though a new
/// window covers the gifts' times, while new gifts count; a second rotation forgets the first
/// battle's answers (judged afresh by the window in place) and keeps the second's; a rotation
/// with no answers keeps the set-aside ones; another tag is untouched.
pub async fn rotate_score_records_keeps_the_previous_battles_answers_only(store: &dyn Store) {
    let (tag, other) = ("pk:reset", "pk:kept");
    set_window(store, tag, open_window(1000, 2000, 1)).await;
    set_window(store, other, open_window(1000, 2000, 1)).await;
    let counted = gift(tag, "g1", 1500, &[("score", "red", 5)], &[("rank", 50, 5)]);
    assert!(matches!(apply(store, &counted).await, ScoreOutcome::Applied { .. }));
    let late = gift(tag, "g2", 2500, &[("score", "red", 7)], &[("rank", 50, 7)]);
    assert_eq!(apply(store, &late).await, ScoreOutcome::Outside);
    let elsewhere = gift(other, "g1", 1500, &[("score", "red", 1)], &[]);
    assert!(matches!(apply(store, &elsewhere).await, ScoreOutcome::Applied { .. }));

    let rotate = || Transaction::new(tag).op(Op::RotateScoreRecords);
    commit_ok(store, rotate(), "rotate score records").await;
    assert_eq!(counter(store, tag, "score", "red").await, 5, "the counters stay");
    // The next battle of the tag: a window that covers both gifts' times (skewed clocks).
    set_window(store, tag, open_window(1000, 3000, 2)).await;
    assert_eq!(
        apply(store, &counted).await,
        ScoreOutcome::Duplicate { epoch: 1, counters: vec![5], boards: vec![5] },
        "the previous battle's count stands"
    );
    assert_eq!(
        apply_guarded(store, &counted, &at_version("seats", 7)).await,
        GuardedScore::Judged(ScoreOutcome::Duplicate {
            epoch: 1,
            counters: vec![5],
            boards: vec![5]
        }),
        "whatever the guard"
    );
    assert_eq!(apply(store, &late).await, ScoreOutcome::Outside, "and its outside answer");
    let fresh = gift(tag, "g3", 2800, &[("score", "red", 2)], &[("rank", 51, 2)]);
    assert_eq!(
        apply(store, &fresh).await,
        ScoreOutcome::Applied { epoch: 2, counters: vec![7], boards: vec![2] }
    );
    // A rotation of a tag without answers keeps the set-aside ones.
    commit_ok(store, Transaction::new("pk:none").op(Op::RotateScoreRecords), "nothing to rotate")
        .await;

    // A second rotation: the first battle's answers go, the second's are set aside.
    commit_ok(store, rotate(), "rotate again").await;
    set_window(store, tag, open_window(1000, 4000, 3)).await;
    assert_eq!(
        apply(store, &counted).await,
        ScoreOutcome::Applied { epoch: 3, counters: vec![12], boards: vec![10] },
        "two battles back: judged afresh"
    );
    assert!(matches!(apply(store, &fresh).await, ScoreOutcome::Duplicate { epoch: 2, .. }));
    // No answers since: rotating keeps the previous battle's.
    set_window(store, tag, open_window(1000, 5000, 4)).await;
    commit_ok(store, Transaction::new(tag).op(Op::RotateScoreRecords), "rotate").await;
    assert!(
        matches!(apply(store, &counted).await, ScoreOutcome::Duplicate { epoch: 3, .. }),
        "the battle just ended"
    );
    commit_ok(store, rotate(), "rotate with no answers").await;
    assert!(
        matches!(apply(store, &counted).await, ScoreOutcome::Duplicate { epoch: 3, .. }),
        "kept: the battle in between recorded nothing"
    );
    assert!(
        matches!(apply(store, &elsewhere).await, ScoreOutcome::Duplicate { .. }),
        "another tag keeps its records"
    );
}

/// A guarded gift counts only while the guard's aggregate is at the version given, checked
/// after the window; otherwise it answers Moved and writes nothing at all (no counter, board,
/// field or record: the same txn counts later under the right version). An absent aggregate is
/// at version 0.
pub async fn apply_score_guarded_counts_only_while_the_guard_holds(store: &dyn Store) {
    let tag = "pk:guarded";
    set_window(store, tag, open_window(1000, 2000, 4)).await;
    let mut gift_one = gift(tag, "g1", 1500, &[("score", "red", 5)], &[("rank", 50, 5)]);
    gift_one.fields = vec![("users".into(), "50".into(), "fan".into())];
    assert_eq!(
        apply_guarded(store, &gift_one, &at_version("seats", 1)).await,
        GuardedScore::Moved,
        "the seats were never written: version 0"
    );
    assert_eq!(
        apply_guarded(store, &gift_one, &at_version("seats", 0)).await,
        GuardedScore::Judged(ScoreOutcome::Applied {
            epoch: 4,
            counters: vec![5],
            boards: vec![5]
        })
    );
    put(store, tag, "seats", b"red").await;

    let mut gift_two = gift(tag, "g2", 1600, &[("score", "blue", 3)], &[("rank", 60, 3)]);
    gift_two.fields = vec![("users".into(), "60".into(), "moved".into())];
    assert_eq!(apply_guarded(store, &gift_two, &at_version("seats", 0)).await, GuardedScore::Moved);
    assert_eq!(counter(store, tag, "score", "blue").await, 0, "a moved gift adds nothing");
    assert_eq!(ok(store.board_total(tag, "rank", 60).await, "board"), None);
    assert_eq!(
        ok(store.hash_get_fields(tag, "users", &["60".into()]).await, "fields"),
        vec![None],
        "nor writes its fields"
    );
    assert_eq!(
        apply_guarded(store, &gift_two, &at_version("seats", 1)).await,
        GuardedScore::Judged(ScoreOutcome::Applied {
            epoch: 4,
            counters: vec![3],
            boards: vec![3]
        }),
        "nothing was recorded for it: it counts under the version now"
    );
}

/// A gift that counted under a guard answers Duplicate (with its first values) to the same
/// guard — even after the aggregate moved on — and to an unguarded call, and Moved to any other
/// guard: a caller holding a credit decided on another version never builds its answer from it.
pub async fn apply_score_guarded_duplicate_only_under_the_guard_it_counted(store: &dyn Store) {
    let tag = "pk:guarded-dup";
    set_window(store, tag, open_window(1000, 2000, 4)).await;
    put(store, tag, "seats", b"v1").await;
    put(store, tag, "seats", b"v2").await;
    let counted = gift(tag, "g1", 1500, &[("score", "blue", 5)], &[("rank", 50, 5)]);
    let applied = ScoreOutcome::Applied { epoch: 4, counters: vec![5], boards: vec![5] };
    assert_eq!(
        apply_guarded(store, &counted, &at_version("seats", 2)).await,
        GuardedScore::Judged(applied)
    );
    let duplicate = ScoreOutcome::Duplicate { epoch: 4, counters: vec![5], boards: vec![5] };
    put(store, tag, "seats", b"v3").await;
    assert_eq!(
        apply_guarded(store, &counted, &at_version("seats", 2)).await,
        GuardedScore::Judged(duplicate.clone()),
        "the guard it counted under: a duplicate, though the seats moved on"
    );
    let stale = gift(tag, "g1", 1500, &[("score", "red", 5)], &[("rank", 50, 5)]);
    for version in [1, 3] {
        assert_eq!(
            apply_guarded(store, &stale, &at_version("seats", version)).await,
            GuardedScore::Moved,
            "counted under version 2, asked under {version}"
        );
    }
    assert_eq!(apply(store, &counted).await, duplicate, "unguarded: the txn id alone");
    assert_eq!(counter(store, tag, "score", "red").await, 0);
    assert_eq!(counter(store, tag, "score", "blue").await, 5);
}

/// The window is judged before the guard, and an outside answer is recorded and final whatever
/// the guard says, then or later.
pub async fn apply_score_guarded_outside_is_final_whatever_the_guard(store: &dyn Store) {
    let tag = "pk:guarded-out";
    set_window(store, tag, open_window(1000, 2000, 4)).await;
    let late = gift(tag, "g1", 2500, &[("score", "red", 5)], &[]);
    assert_eq!(
        apply_guarded(store, &late, &at_version("seats", 9)).await,
        GuardedScore::Judged(ScoreOutcome::Outside),
        "outside, though the guard does not hold either"
    );
    set_window(store, tag, open_window(1000, 3000, 4)).await;
    assert_eq!(
        apply_guarded(store, &late, &at_version("seats", 0)).await,
        GuardedScore::Judged(ScoreOutcome::Outside),
        "the outside answer is final"
    );
    assert_eq!(counter(store, tag, "score", "red").await, 0);
}

/// hash_get_fields answers in the order asked, None for absent fields and absent hashes.
pub async fn hash_get_fields_in_order(store: &dyn Store) {
    let fields = vec![("a".to_string(), "1".to_string()), ("b".to_string(), "2".to_string())];
    ok(
        store
            .commit(Transaction::new("hf").op(Op::HSet { name: "h".into(), fields, ttl: None }))
            .await,
        "commit",
    );
    let asked = vec!["b".to_string(), "zz".to_string(), "a".to_string()];
    assert_eq!(
        ok(store.hash_get_fields("hf", "h", &asked).await, "hash_get_fields"),
        vec![Some("2".to_string()), None, Some("1".to_string())]
    );
    assert_eq!(
        ok(store.hash_get_fields("hf", "absent", &asked).await, "absent hash"),
        vec![None, None, None]
    );
    assert!(ok(store.hash_get_fields("hf", "h", &[]).await, "no fields").is_empty());
}

/// zrank counts from either end, ties ordered by member like zrange.
pub async fn zrank_both_orders(store: &dyn Store) {
    let mut transaction = Transaction::new("zr");
    for (member, score) in [("a", 1.0), ("b", 2.0), ("c", 2.0), ("d", 9.0)] {
        transaction =
            transaction.op(Op::ZAdd { name: "z".into(), member: member.into(), score, ttl: None });
    }
    ok(store.commit(transaction).await, "commit");
    for (member, ascending, descending) in [("a", 0, 3), ("b", 1, 2), ("c", 2, 1), ("d", 3, 0)] {
        assert_eq!(
            ok(store.zrank("zr", "z", member, Order::Ascending).await, "zrank"),
            Some(ascending),
            "ascending rank of {member}"
        );
        assert_eq!(
            ok(store.zrank("zr", "z", member, Order::Descending).await, "zrevrank"),
            Some(descending),
            "descending rank of {member}"
        );
    }
    assert_eq!(ok(store.zrank("zr", "z", "nope", Order::Ascending).await, "absent member"), None);
    assert_eq!(ok(store.zrank("zr", "none", "a", Order::Ascending).await, "absent set"), None);
}

/// Applied reports the window epoch, new counter values and new board totals in request order.
pub async fn apply_score_applied_returns_new_values(store: &dyn Store) {
    let tag = "pk:1";
    set_window(store, tag, open_window(1000, 2000, 7)).await;
    let first = gift(
        tag,
        "tx1",
        1500,
        &[
            ("score", "red", 5),
            ("stats", "gifts", 1),
            ("score", "blue", 2),
            ("stats", "refunds", -2),
        ],
        &[("rank", 50, 5), ("rank", 7, 2), ("fans", 50, 5)],
    );
    assert_eq!(
        apply(store, &first).await,
        ScoreOutcome::Applied { epoch: 7, counters: vec![5, 1, 2, -2], boards: vec![5, 2, 5] },
        "first gift"
    );
    let second =
        gift(tag, "tx2", 1501, &[("score", "blue", 3), ("score", "red", 1)], &[("rank", 7, 4)]);
    assert_eq!(
        apply(store, &second).await,
        ScoreOutcome::Applied { epoch: 7, counters: vec![5, 6], boards: vec![6] },
        "second gift: new values in request order"
    );
    assert_eq!(
        hash_sorted(store, tag, "score").await,
        strings(&[("blue", "5"), ("red", "6")]),
        "counter hash"
    );
    assert_eq!(
        hash_sorted(store, tag, "stats").await,
        strings(&[("gifts", "1"), ("refunds", "-2")]),
        "counter hash"
    );
    assert_eq!(page(store, tag, "rank").await, vec![(7, 6), (50, 5)], "board rank");
    assert_eq!(page(store, tag, "fans").await, vec![(50, 5)], "board fans");
    // One member twice on one board in one gift: the second add starts from the first's total
    // (the Redis script reuses its check's reads only for the first add to a board).
    let third = gift(tag, "tx3", 1502, &[], &[("rank", 50, 2), ("fans", 50, 1), ("rank", 50, 3)]);
    assert_eq!(
        apply(store, &third).await,
        ScoreOutcome::Applied { epoch: 7, counters: vec![], boards: vec![7, 6, 10] },
        "one member twice on one board"
    );
    assert_eq!(page(store, tag, "rank").await, vec![(50, 10), (7, 6)], "board rank after");
    assert_eq!(page(store, tag, "fans").await, vec![(50, 6)], "board fans after");
}

/// Repeating a txn returns Duplicate with the values recorded the first time, and changes nothing.
pub async fn apply_score_duplicate_returns_first_values(store: &dyn Store) {
    let tag = "pk:1";
    set_window(store, tag, open_window(1000, 2000, 7)).await;
    let first = gift(
        tag,
        "tx1",
        1500,
        &[("score", "red", 5), ("stats", "refunds", -3)],
        &[("rank", 50, 5)],
    );
    assert_eq!(
        apply(store, &first).await,
        ScoreOutcome::Applied { epoch: 7, counters: vec![5, -3], boards: vec![5] }
    );
    let second = gift(
        tag,
        "tx2",
        1600,
        &[("score", "red", 3), ("stats", "refunds", -1)],
        &[("rank", 50, 3)],
    );
    assert_eq!(
        apply(store, &second).await,
        ScoreOutcome::Applied { epoch: 7, counters: vec![8, -4], boards: vec![8] }
    );
    let duplicate = ScoreOutcome::Duplicate { epoch: 7, counters: vec![5, -3], boards: vec![5] };
    assert_eq!(
        apply(store, &first).await,
        duplicate,
        "a repeat reports the first values, not the current ones"
    );
    let mut altered = gift(
        tag,
        "tx1",
        1700,
        &[("score", "red", 100), ("stats", "refunds", 100)],
        &[("rank", 50, 100)],
    );
    assert_eq!(apply(store, &altered).await, duplicate, "the txn id alone identifies the gift");
    altered.counters.push(("other".into(), "x".into(), 1));
    assert_eq!(apply(store, &altered).await, duplicate, "the txn id alone identifies the gift");
    assert_eq!(
        hash_sorted(store, tag, "score").await,
        strings(&[("red", "8")]),
        "duplicates change nothing"
    );
    assert_eq!(
        hash_sorted(store, tag, "stats").await,
        strings(&[("refunds", "-4")]),
        "duplicates change nothing"
    );
    assert!(hash_sorted(store, tag, "other").await.is_empty(), "duplicates change nothing");
    assert_eq!(page(store, tag, "rank").await, vec![(50, 8)], "duplicates change nothing");
}

/// The txn check comes first: a repeat is Duplicate even once the window closed or moved.
pub async fn apply_score_duplicate_takes_precedence_over_window(store: &dyn Store) {
    let tag = "pk:1";
    set_window(store, tag, open_window(1000, 2000, 7)).await;
    let first = gift(tag, "tx1", 1500, &[("score", "red", 5)], &[("rank", 50, 5)]);
    assert_eq!(
        apply(store, &first).await,
        ScoreOutcome::Applied { epoch: 7, counters: vec![5], boards: vec![5] }
    );
    set_window(store, tag, ScoringWindow { open: false, from_ms: 1000, until_ms: 2000, epoch: 7 })
        .await;
    let duplicate = ScoreOutcome::Duplicate { epoch: 7, counters: vec![5], boards: vec![5] };
    assert_eq!(apply(store, &first).await, duplicate, "repeat after the window closed");
    set_window(store, tag, open_window(5000, 6000, 8)).await;
    assert_eq!(
        apply(store, &first).await,
        duplicate,
        "repeat after the window moved (new epoch, old time)"
    );
    assert_eq!(hash_sorted(store, tag, "score").await, strings(&[("red", "5")]), "nothing changed");
}

/// Duplicates round-trip empty counter and board lists.
pub async fn apply_score_duplicate_with_empty_parts(store: &dyn Store) {
    let tag = "pk:1";
    set_window(store, tag, open_window(1000, 2000, 3)).await;
    let cases = [
        ("only-boards", gift(tag, "only-boards", 1500, &[], &[("rank", 1, 5)])),
        ("only-counters", gift(tag, "only-counters", 1500, &[("score", "red", 2)], &[])),
        ("nothing", gift(tag, "nothing", 1500, &[], &[])),
    ];
    let expected = [(vec![], vec![5]), (vec![2], vec![]), (vec![], vec![])];
    for ((name, request), (counters, boards)) in cases.iter().zip(expected) {
        assert_eq!(
            apply(store, request).await,
            ScoreOutcome::Applied { epoch: 3, counters: counters.clone(), boards: boards.clone() },
            "first apply of {name}"
        );
        assert_eq!(
            apply(store, request).await,
            ScoreOutcome::Duplicate { epoch: 3, counters, boards },
            "repeat of {name}"
        );
    }
}

/// Txn ids are de-duplicated per tag: the same id counts once in each PK.
pub async fn apply_score_txn_ids_are_per_tag(store: &dyn Store) {
    for tag in ["pk:1", "pk:2"] {
        set_window(store, tag, open_window(1000, 2000, 9)).await;
    }
    for tag in ["pk:1", "pk:2"] {
        assert_eq!(
            apply(store, &gift(tag, "shared-txn", 1500, &[("score", "red", 4)], &[("rank", 1, 4)]))
                .await,
            ScoreOutcome::Applied { epoch: 9, counters: vec![4], boards: vec![4] },
            "the same txn id on {tag}"
        );
    }
    assert!(matches!(
        apply(store, &gift("pk:1", "shared-txn", 1500, &[("score", "red", 4)], &[("rank", 1, 4)]))
            .await,
        ScoreOutcome::Duplicate { .. }
    ));
}

/// Outside when the window is absent, closed, or the gift's time is before `from` or at/after
/// `until`; Outside touches no counter or board, but records the txn as outside, so the answer
/// is final like a count.
pub async fn apply_score_outside_window(store: &dyn Store) {
    let tag = "pk:1";
    let attempt = |txn: &str, sent_at: u64| {
        gift(tag, txn, sent_at, &[("score", "red", 1)], &[("rank", 1, 1)])
    };
    assert_eq!(
        apply(store, &attempt("o1", 1500)).await,
        ScoreOutcome::Outside,
        "no window hash at all"
    );

    set_window(store, tag, ScoringWindow { open: false, from_ms: 1000, until_ms: 2000, epoch: 5 })
        .await;
    assert_eq!(apply(store, &attempt("o2", 1500)).await, ScoreOutcome::Outside, "window closed");

    set_window(store, tag, open_window(1000, 2000, 5)).await;
    assert_eq!(
        apply(store, &attempt("o3", 999)).await,
        ScoreOutcome::Outside,
        "sent_at before from"
    );
    assert_eq!(apply(store, &attempt("o4", 2000)).await, ScoreOutcome::Outside, "sent_at == until");
    assert_eq!(
        apply(store, &attempt("o5", 2500)).await,
        ScoreOutcome::Outside,
        "sent_at after until"
    );
    assert_eq!(apply(store, &attempt("o6", 0)).await, ScoreOutcome::Outside, "sent_at 0");
    assert!(hash_sorted(store, tag, "score").await.is_empty(), "Outside must not touch counters");
    assert!(page(store, tag, "rank").await.is_empty(), "Outside must not touch boards");

    // An outside answer is final, like a count: the window moving to cover the gift later
    // (AddTime after a late gift) does not make the same gift count on a retry.
    set_window(store, tag, open_window(0, 3000, 5)).await;
    for txn in ["o1", "o2", "o3", "o5", "o6"] {
        let sent_at = match txn {
            "o3" => 999,
            "o5" => 2500,
            "o6" => 0,
            _ => 1500,
        };
        assert_eq!(
            apply(store, &attempt(txn, sent_at)).await,
            ScoreOutcome::Outside,
            "{txn} was judged outside once"
        );
    }
    assert!(hash_sorted(store, tag, "score").await.is_empty(), "none of them counted later");
    set_window(store, tag, open_window(1000, 2000, 5)).await;

    assert_eq!(
        apply(store, &attempt("in1", 1000)).await,
        ScoreOutcome::Applied { epoch: 5, counters: vec![1], boards: vec![1] },
        "sent_at == from counts"
    );
    assert_eq!(
        apply(store, &attempt("in2", 1999)).await,
        ScoreOutcome::Applied { epoch: 5, counters: vec![2], boards: vec![2] },
        "sent_at == until - 1 counts"
    );
    assert_eq!(
        apply(store, &attempt("o1", 1500)).await,
        ScoreOutcome::Outside,
        "an Outside answer is recorded: the same txn stays outside even where the window now \
         allows its time"
    );
    assert_eq!(hash_sorted(store, tag, "score").await, strings(&[("red", "2")]));
}

/// Each Applied reports the epoch of the window it counted in.
pub async fn apply_score_reports_window_epoch(store: &dyn Store) {
    let tag = "pk:1";
    set_window(store, tag, open_window(1000, 2000, 41)).await;
    let first = gift(tag, "tx1", 1500, &[("score", "red", 1)], &[]);
    assert_eq!(
        apply(store, &first).await,
        ScoreOutcome::Applied { epoch: 41, counters: vec![1], boards: vec![] }
    );
    set_window(store, tag, open_window(5000, 6000, 42)).await;
    assert_eq!(
        apply(store, &gift(tag, "tx2", 1500, &[("score", "red", 1)], &[])).await,
        ScoreOutcome::Outside,
        "the old time is outside the new window"
    );
    assert_eq!(
        apply(store, &gift(tag, "tx3", 5500, &[("score", "red", 1)], &[])).await,
        ScoreOutcome::Applied { epoch: 42, counters: vec![2], boards: vec![] },
        "the new epoch is reported"
    );
    assert_eq!(
        apply(store, &first).await,
        ScoreOutcome::Duplicate { epoch: 41, counters: vec![1], boards: vec![] },
        "a duplicate reports the epoch it counted in"
    );
}

/// Epochs (pkids) and window times round-trip as full u64 values.
pub async fn apply_score_epoch_keeps_full_u64_precision(store: &dyn Store) {
    let tag = "pk:1";
    let epoch = (1u64 << 53) + 1;
    let from = 1_700_000_000_000u64;
    set_window(store, tag, open_window(from, from + 1000, epoch)).await;
    let request = gift(tag, "tx1", from, &[("score", "red", 1)], &[]);
    assert_eq!(
        apply(store, &request).await,
        ScoreOutcome::Applied { epoch, counters: vec![1], boards: vec![] },
        "epoch 2^53+1 must come back exactly"
    );
    assert_eq!(
        apply(store, &request).await,
        ScoreOutcome::Duplicate { epoch, counters: vec![1], boards: vec![] },
        "epoch 2^53+1 must come back exactly from the txn record"
    );
}

/// Every key a gift touches (counters, boards, txn record) lives for the gift's TTL.
pub async fn apply_score_keys_expire_with_ttl(store: &dyn Store) {
    let tag = "pk:1";
    set_window(store, tag, open_window(1000, 2000, 7)).await;
    let mut request = gift(tag, "tx1", 1500, &[("score", "red", 5)], &[("rank", 50, 5)]);
    request.ttl = SHORT_TTL;
    assert_eq!(
        apply(store, &request).await,
        ScoreOutcome::Applied { epoch: 7, counters: vec![5], boards: vec![5] }
    );
    sleep(PAST_SHORT_TTL).await;
    assert!(hash_sorted(store, tag, "score").await.is_empty(), "the counter hash must expire");
    assert!(page(store, tag, "rank").await.is_empty(), "the board must expire");
    assert_eq!(total(store, tag, "rank", 50).await, None, "the board must expire");
    assert_eq!(
        apply(store, &request).await,
        ScoreOutcome::Applied { epoch: 7, counters: vec![5], boards: vec![5] },
        "the txn record expires with the PK's keys"
    );
    assert_eq!(hash_sorted(store, tag, "win").await.len(), 4, "the window hash keeps its own TTL");
}

/// A board with a single gifter keeps its TTL when that gifter gives again (replacing the only
/// entry of a sorted set must not delete and re-create the key without a TTL).
pub async fn apply_score_single_gifter_board_keeps_its_ttl(store: &dyn Store) {
    let tag = "pk:1";
    set_window(store, tag, open_window(1000, 2000, 7)).await;
    for n in 1..=3 {
        let mut request = gift(tag, &format!("one-{n}"), 1500, &[], &[("rank", 50, 5)]);
        request.ttl = SHORT_TTL;
        assert!(matches!(apply(store, &request).await, ScoreOutcome::Applied { .. }));
    }
    assert_eq!(page(store, tag, "rank").await, vec![(50, 15)]);
    sleep(PAST_SHORT_TTL).await;
    assert!(page(store, tag, "rank").await.is_empty(), "the board must expire");
    assert_eq!(total(store, tag, "rank", 50).await, None, "its member index too");
}

/// Keys are not renewed on every gift, but often enough: a PK whose gifts keep arriving keeps
/// every key past the TTL counted from its creation (DESIGN.md "ScoreApply": renewed at least
/// every 64th arrival on a board).
pub async fn apply_score_keys_live_on_while_gifts_arrive(store: &dyn Store) {
    const TTL: Duration = Duration::from_millis(600);
    let tag = "pk:1";
    set_window(store, tag, open_window(1000, 2000, 7)).await;
    let request = |n: u64| {
        let mut request =
            gift(tag, &format!("live-{n}"), 1500, &[("score", "red", 1)], &[("rank", n % 3, 1)]);
        request.fields = vec![("users".into(), (n % 3).to_string(), format!("profile {n}"))];
        request.ttl = TTL;
        request
    };
    for n in 1..=63 {
        assert!(matches!(apply(store, &request(n)).await, ScoreOutcome::Applied { .. }));
    }
    sleep(Duration::from_millis(350)).await;
    assert!(matches!(apply(store, &request(64)).await, ScoreOutcome::Applied { .. }));
    sleep(Duration::from_millis(400)).await;
    // 750 ms after the keys were created, 400 ms after the 64th arrival.
    assert_eq!(hash_sorted(store, tag, "score").await, vec![("red".into(), "64".into())]);
    assert_eq!(page(store, tag, "rank").await.len(), 3, "the board must still be there");
    assert_eq!(hash_sorted(store, tag, "users").await.len(), 3, "the field hash too");
    assert!(
        matches!(apply(store, &request(1)).await, ScoreOutcome::Duplicate { .. }),
        "the txn record too"
    );
    sleep(TTL + Duration::from_millis(300)).await;
    assert!(hash_sorted(store, tag, "score").await.is_empty(), "then they expire");
    assert!(page(store, tag, "rank").await.is_empty(), "then they expire");
}

/// 20 concurrent applies of one txn: exactly one Applied, 19 Duplicates with the same values.
pub async fn apply_score_concurrent_same_txn_applies_once(store: Arc<dyn Store>) {
    let tag = "pk:1";
    set_window(&*store, tag, open_window(1000, 2000, 7)).await;
    let request = gift(tag, "tx-race", 1500, &[("score", "red", 5)], &[("rank", 50, 5)]);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, request) = (store.clone(), request.clone());
            tokio::spawn(async move { apply(&*store, &request).await })
        })
        .collect();
    let (mut applied, mut duplicates) = (0, 0);
    for task in tasks {
        match task.await.expect("apply task panicked") {
            ScoreOutcome::Applied { epoch, counters, boards } => {
                applied += 1;
                assert_eq!((epoch, counters, boards), (7, vec![5], vec![5]), "the one Applied");
            }
            ScoreOutcome::Duplicate { epoch, counters, boards } => {
                duplicates += 1;
                assert_eq!((epoch, counters, boards), (7, vec![5], vec![5]), "every Duplicate");
            }
            ScoreOutcome::Outside => panic!("the window is open: Outside is wrong"),
            other @ ScoreOutcome::Refused(_) => panic!("a fitting gift refused: {other:?}"),
        }
    }
    assert_eq!(
        (applied, duplicates),
        (1, 19),
        "(Applied, Duplicate) counts of 20 concurrent repeats"
    );
    assert_eq!(hash_sorted(&*store, tag, "score").await, strings(&[("red", "5")]), "counted once");
    assert_eq!(page(&*store, tag, "rank").await, vec![(50, 5)], "counted once");
}
/// Many calls of one guarded gift, each under the version it read, while the guard's aggregate
/// keeps moving: the gift counts at most once; a call under the version it counted under is told
/// Duplicate, any other Moved; the counter holds exactly what counted.
pub async fn apply_score_guarded_concurrent_with_moves_counts_once(store: Arc<dyn Store>) {
    let tag = "pk:guarded-race";
    set_window(&*store, tag, open_window(1000, 2000, 4)).await;
    put(&*store, tag, "seats", b"v").await;
    let mover = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                put(&*store, tag, "seats", b"v").await;
                tokio::task::yield_now().await;
            }
        })
    };
    let calls = (0..16).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let counted = gift(tag, "g1", 1500, &[("score", "red", 5)], &[("rank", 50, 5)]);
            let version = get(&*store, tag, "seats").await.map_or(0, |read| read.version);
            (version, apply_guarded(&*store, &counted, &at_version("seats", version)).await)
        })
    });
    let outcomes: Vec<(u64, GuardedScore)> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|joined| joined.expect("a call panicked"))
        .collect();
    mover.await.expect("the mover panicked");
    let applied = GuardedScore::Judged(ScoreOutcome::Applied {
        epoch: 4,
        counters: vec![5],
        boards: vec![5],
    });
    let duplicate = GuardedScore::Judged(ScoreOutcome::Duplicate {
        epoch: 4,
        counters: vec![5],
        boards: vec![5],
    });
    let counted_under: Vec<u64> =
        outcomes.iter().filter(|(_, outcome)| *outcome == applied).map(|(v, _)| *v).collect();
    assert!(counted_under.len() <= 1, "counted at most once: {outcomes:?}");
    for (version, outcome) in &outcomes {
        match outcome {
            GuardedScore::Moved => {}
            outcome if *outcome == applied => {}
            outcome if *outcome == duplicate => {
                assert_eq!(Some(version), counted_under.first(), "{outcomes:?}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let total = 5 * counted_under.len() as i64;
    assert_eq!(counter(&*store, tag, "score", "red").await, total);
    // Once the seats stand still, the gift counts (or has counted) under the version now.
    let version = get(&*store, tag, "seats").await.map_or(0, |read| read.version);
    let counted = gift(tag, "g1", 1500, &[("score", "red", 5)], &[("rank", 50, 5)]);
    let last = apply_guarded(&*store, &counted, &at_version("seats", version)).await;
    if counted_under.is_empty() {
        assert_eq!(last, applied);
        assert_eq!(counter(&*store, tag, "score", "red").await, 5);
    } else {
        let expected = if counted_under[0] == version { duplicate } else { GuardedScore::Moved };
        assert_eq!(last, expected);
    }
}

/// 20 concurrent distinct gifts all count; each sees a distinct intermediate value.
pub async fn apply_score_concurrent_distinct_txns_all_count(store: Arc<dyn Store>) {
    let tag = "pk:1";
    set_window(&*store, tag, open_window(1000, 2000, 7)).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                apply(
                    &*store,
                    &gift(tag, &format!("tx{i}"), 1500, &[("score", "red", 1)], &[("rank", 50, 1)]),
                )
                .await
            })
        })
        .collect();
    let (mut counters_seen, mut totals_seen) = (BTreeSet::new(), BTreeSet::new());
    for task in tasks {
        match task.await.expect("apply task panicked") {
            ScoreOutcome::Applied { counters, boards, .. } => {
                counters_seen.insert(counters[0]);
                totals_seen.insert(boards[0]);
            }
            other => panic!("every distinct gift must count, got {other:?}"),
        }
    }
    let expected: BTreeSet<i64> = (1..=20).collect();
    assert_eq!(counters_seen, expected, "each Applied must report a distinct new counter value");
    assert_eq!(totals_seen, expected, "each Applied must report a distinct new board total");
    assert_eq!(hash_sorted(&*store, tag, "score").await, strings(&[("red", "20")]));
    assert_eq!(page(&*store, tag, "rank").await, vec![(50, 20)]);
}

// ---- idempotency records ---------------------------------------------------------------------------

/// claim creates (None) or returns what is there; put overwrites; get reads.
/// A record is swapped only while it holds exactly the expected bytes.
pub async fn record_swap_only_from_the_expected_value(store: &dyn Store) {
    let tag = "req:1";
    assert!(
        !ok(store.record_swap(tag, "r", b"pending", b"done", HOUR).await, "swap"),
        "nothing to swap"
    );
    assert_eq!(ok(store.record_get(tag, "r", HOUR).await, "get"), None, "and nothing created");
    ok(store.record_claim(tag, "r", b"pending\x00\xff", HOUR).await, "claim");
    assert!(
        !ok(store.record_swap(tag, "r", b"pending", b"done", HOUR).await, "swap"),
        "a prefix is not the value"
    );
    assert!(ok(store.record_swap(tag, "r", b"pending\x00\xff", b"done", HOUR).await, "swap"));
    assert_eq!(ok(store.record_get(tag, "r", HOUR).await, "get"), Some(b"done".to_vec()));
    assert!(
        !ok(store.record_swap(tag, "r", b"pending\x00\xff", b"again", HOUR).await, "swap"),
        "the second swap from the old value fails"
    );
    assert!(ok(store.record_swap(tag, "r", b"done", b"short", SHORT_TTL).await, "swap"));
    sleep(PAST_SHORT_TTL).await;
    assert_eq!(ok(store.record_get(tag, "r", HOUR).await, "get"), None, "with the new TTL");
}

pub async fn record_claim_put_get(store: &dyn Store) {
    let tag = "req:1";
    assert_eq!(ok(store.record_get(tag, "r", HOUR).await, "get"), None);
    assert_eq!(
        ok(store.record_claim(tag, "r", b"first", HOUR).await, "claim"),
        None,
        "the first claim creates"
    );
    assert_eq!(
        ok(store.record_claim(tag, "r", b"second", HOUR).await, "claim"),
        Some(b"first".to_vec()),
        "a second claim returns the existing value"
    );
    assert_eq!(
        ok(store.record_get(tag, "r", HOUR).await, "get"),
        Some(b"first".to_vec()),
        "the claim did not overwrite"
    );
    ok(store.record_put(tag, "r", b"third", HOUR).await, "put");
    assert_eq!(
        ok(store.record_get(tag, "r", HOUR).await, "get"),
        Some(b"third".to_vec()),
        "put overwrites"
    );
    assert_eq!(
        ok(store.record_claim(tag, "r", b"x", HOUR).await, "claim"),
        Some(b"third".to_vec())
    );
    ok(store.record_put(tag, "fresh", b"direct", HOUR).await, "put new");
    assert_eq!(
        ok(store.record_get(tag, "fresh", HOUR).await, "get"),
        Some(b"direct".to_vec()),
        "put creates"
    );
    let binary: Vec<u8> = (0..=255u8).collect();
    assert_eq!(ok(store.record_claim(tag, "bin", &binary, HOUR).await, "claim"), None);
    assert_eq!(
        ok(store.record_get(tag, "bin", HOUR).await, "get"),
        Some(binary),
        "binary record round trip"
    );
    assert_eq!(ok(store.record_claim(tag, "empty", b"", HOUR).await, "claim"), None);
    assert_eq!(
        ok(store.record_claim(tag, "empty", b"other", HOUR).await, "claim"),
        Some(Vec::new()),
        "an empty record is still a record"
    );
}

/// Records expire after their TTL; a claim after expiry creates again.
pub async fn record_ttl_expires(store: &dyn Store) {
    let tag = "req:1";
    assert_eq!(ok(store.record_claim(tag, "claimed", b"c", SHORT_TTL).await, "claim"), None);
    ok(store.record_put(tag, "put", b"p", SHORT_TTL).await, "put");
    ok(store.record_put(tag, "long", b"l", HOUR).await, "put");
    sleep(PAST_SHORT_TTL).await;
    assert_eq!(
        ok(store.record_get(tag, "claimed", HOUR).await, "get"),
        None,
        "a claimed record must expire"
    );
    assert_eq!(
        ok(store.record_get(tag, "put", HOUR).await, "get"),
        None,
        "a put record must expire"
    );
    assert_eq!(
        ok(store.record_get(tag, "long", HOUR).await, "get"),
        Some(b"l".to_vec()),
        "a long TTL stays"
    );
    assert_eq!(
        ok(store.record_claim(tag, "claimed", b"again", HOUR).await, "claim"),
        None,
        "claim after expiry"
    );
}

/// 20 concurrent claims of one record: one creates it, all others see the winner's value.
pub async fn record_claim_concurrent_single_winner(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let value = format!("claimer {i}").into_bytes();
                (value.clone(), ok(store.record_claim("req:1", "r", &value, HOUR).await, "claim"))
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("claim task panicked"));
    }
    let winners: Vec<&Vec<u8>> =
        results.iter().filter(|(_, got)| got.is_none()).map(|(v, _)| v).collect();
    assert_eq!(winners.len(), 1, "exactly one concurrent claim may create the record");
    let winner = winners[0].clone();
    for (_, got) in &results {
        if let Some(seen) = got {
            assert_eq!(seen, &winner, "every losing claim must see the winner's value");
        }
    }
    assert_eq!(ok(store.record_get("req:1", "r", HOUR).await, "get"), Some(winner));
}

async fn claim_and_score(
    store: &dyn Store,
    record: &str,
    ttl: Duration,
    apply: &ScoreApply,
) -> ClaimedScore {
    let record = RecordRef { tag: record, name: "r", ttl };
    let head = b"head\x00\xff";
    ok(store.claim_and_score(record, b"pending", head, apply, None).await, "claim_and_score")
}

/// claim_and_score with a guard: counts (and leaves the done record) while the guard's aggregate is at the version given; otherwise answers
/// Moved with nothing written but the pending record, which the next call finds.
pub async fn claim_and_score_with_a_guard_counts_only_while_it_holds(store: &dyn Store) {
    let tag = "pk:1";
    set_window(store, tag, open_window(1000, 2000, 7)).await;
    let seats =
        Transaction::new(tag).op(Op::Put { name: "seats".into(), value: b"a".to_vec(), ttl: None });
    ok(store.commit(seats).await, "seats v1");
    let guard = |version| Condition::Version { name: "seats".into(), version };
    let record = |tag| RecordRef { tag, name: "r", ttl: HOUR };
    let step = gift(tag, "tx1", 1500, &[("score", "red", 5)], &[]);
    assert_eq!(
        ok(
            store
                .claim_and_score(record("gift:tx1"), b"pending", b"h", &step, Some(&guard(2)))
                .await,
            "moved"
        ),
        ClaimedScore::Moved
    );
    assert_eq!(ok(store.record_get("gift:tx1", "r", HOUR).await, "get"), Some(b"pending".to_vec()));
    assert_eq!(hash_sorted(store, tag, "score").await, strings(&[]), "nothing counted");
    let step = gift(tag, "tx2", 1500, &[("score", "red", 5)], &[]);
    assert_eq!(
        ok(
            store
                .claim_and_score(record("gift:tx2"), b"pending", b"h", &step, Some(&guard(1)))
                .await,
            "counts"
        ),
        ClaimedScore::Claimed(ScoreOutcome::Applied {
            epoch: 7,
            counters: vec![5],
            boards: vec![]
        })
    );
    assert_eq!(ok(store.record_get("gift:tx2", "r", HOUR).await, "get"), Some(b"h7|5|".to_vec()));
    assert_eq!(
        ok(
            store
                .claim_and_score(record("gift:tx2"), b"pending", b"h", &step, Some(&guard(2)))
                .await,
            "again"
        ),
        ClaimedScore::Existing(b"h7|5|".to_vec())
    );
    assert_eq!(hash_sorted(store, tag, "score").await, strings(&[("red", "5")]), "counted once");
}

/// claim_and_score: claims the record, applies the step, leaves the done record (head + the
/// PK's answer); a second call finds the record and does nothing; a call whose record expired
/// finds the PK's first answer.
pub async fn claim_and_score_claims_applies_and_marks_done(store: &dyn Store) {
    let tag = "pk:1";
    set_window(store, tag, open_window(1000, 2000, 7)).await;
    let step = gift(tag, "tx1", 1500, &[("score", "red", 5)], &[("rank", 50, 5)]);
    let counted = ScoreOutcome::Applied { epoch: 7, counters: vec![5], boards: vec![5] };
    assert_eq!(
        claim_and_score(store, "gift:tx1", HOUR, &step).await,
        ClaimedScore::Claimed(counted),
        "the first call counts"
    );
    let mut done = b"head\x00\xff".to_vec();
    done.extend_from_slice(score_answer(7, &[5], &[5]).as_bytes());
    assert_eq!(done, b"head\x00\xff7|5|5".to_vec(), "score_answer's form");
    assert_eq!(ok(store.record_get("gift:tx1", "r", HOUR).await, "get"), Some(done.clone()));
    assert_eq!(
        claim_and_score(store, "gift:tx1", HOUR, &step).await,
        ClaimedScore::Existing(done.clone()),
        "a second call finds the record"
    );
    assert_eq!(hash_sorted(store, tag, "score").await, strings(&[("red", "5")]), "counted once");
    // Every call looks for the record, also the general path's claim.
    assert_eq!(
        ok(store.record_claim("gift:tx1", "r", b"other", HOUR).await, "claim"),
        Some(done.clone()),
        "record_claim finds the record claim_and_score left"
    );
    // A gift counted by apply_score (the general path) whose record is gone (its window
    // passed): the PK still answers with its first values, and the record is done.
    let general = gift(tag, "tx3", 1500, &[("score", "red", 2)], &[("rank", 50, 2)]);
    ok(store.apply_score(&general).await, "apply");
    assert_eq!(
        claim_and_score(store, "gift:tx3-again", HOUR, &general).await,
        ClaimedScore::Claimed(ScoreOutcome::Duplicate {
            epoch: 7,
            counters: vec![7],
            boards: vec![7]
        }),
    );
    let mut again = b"head\x00\xff".to_vec();
    again.extend_from_slice(b"7|7|7");
    assert_eq!(ok(store.record_get("gift:tx3-again", "r", HOUR).await, "get"), Some(again));
    assert_eq!(hash_sorted(store, tag, "score").await, strings(&[("red", "7")]), "counted once");
    // Its record lives for the ttl given.
    let short = gift(tag, "tx2", 1500, &[("score", "red", 1)], &[]);
    assert!(matches!(
        claim_and_score(store, "gift:tx2", SHORT_TTL, &short).await,
        ClaimedScore::Claimed(ScoreOutcome::Applied { .. })
    ));
    sleep(PAST_SHORT_TTL).await;
    assert_eq!(
        ok(store.record_get("gift:tx2", "r", SHORT_TTL).await, "get"),
        None,
        "the record expires"
    );
}

/// A record claim_and_score left done is a record like any other (written with the same ttl):
/// put and swap replace it, and what replaced it is what every call then finds.
pub async fn claim_and_score_records_are_replaced_by_put_and_swap(store: &dyn Store) {
    let tag = "pk:1";
    set_window(store, tag, open_window(1000, 2000, 7)).await;
    let one = gift(tag, "tx1", 1500, &[("score", "red", 5)], &[]);
    let two = gift(tag, "tx2", 1500, &[("score", "red", 1)], &[]);
    claim_and_score(store, "gift:tx1", HOUR, &one).await;
    claim_and_score(store, "gift:tx2", HOUR, &two).await;
    let done = |answer: &[u8]| [b"head\x00\xff".as_slice(), answer].concat();
    assert!(!ok(store.record_swap("gift:tx1", "r", b"pending", b"x", HOUR).await, "swap"));
    assert!(ok(store.record_swap("gift:tx1", "r", &done(b"7|5|"), b"swapped", HOUR).await, "swap"));
    assert!(!ok(store.record_swap("gift:tx1", "r", &done(b"7|5|"), b"again", HOUR).await, "swap"));
    ok(store.record_put("gift:tx2", "r", b"put", HOUR).await, "put");
    for (record, value) in [("gift:tx1", b"swapped".as_slice()), ("gift:tx2", b"put")] {
        assert_eq!(ok(store.record_get(record, "r", HOUR).await, "get"), Some(value.to_vec()));
        assert_eq!(
            ok(store.record_claim(record, "r", b"new", HOUR).await, "claim"),
            Some(value.to_vec())
        );
        assert_eq!(
            claim_and_score(store, record, HOUR, &one).await,
            ClaimedScore::Existing(value.to_vec())
        );
    }
    assert_eq!(
        hash_sorted(store, tag, "score").await,
        strings(&[("red", "6")]),
        "counted once each"
    );
}

/// Outside its window, or refused: the record holds the pending value (what a claim then an
/// apply leave), and a refused step writes nothing in the PK.
pub async fn claim_and_score_leaves_the_record_pending_unless_it_counted(store: &dyn Store) {
    let tag = "pk:1";
    set_window(store, tag, open_window(1000, 2000, 7)).await;
    let late = gift(tag, "tx1", 2500, &[("score", "red", 5)], &[("rank", 50, 5)]);
    assert_eq!(
        claim_and_score(store, "gift:tx1", HOUR, &late).await,
        ClaimedScore::Claimed(ScoreOutcome::Outside)
    );
    assert_eq!(ok(store.record_get("gift:tx1", "r", HOUR).await, "get"), Some(b"pending".to_vec()));
    let huge = gift(tag, "tx2", 1500, &[("score", "red", MAX_SCORE)], &[]);
    ok(store.apply_score(&gift(tag, "tx0", 1500, &[("score", "red", 1)], &[])).await, "apply");
    assert_eq!(
        claim_and_score(store, "gift:tx2", HOUR, &huge).await,
        ClaimedScore::Claimed(ScoreOutcome::Refused(ScoreRefusal::ScoreLimit))
    );
    assert_eq!(ok(store.record_get("gift:tx2", "r", HOUR).await, "get"), Some(b"pending".to_vec()));
    assert_eq!(hash_sorted(store, tag, "score").await, strings(&[("red", "1")]), "nothing added");
    assert_eq!(
        claim_and_score(store, "gift:tx2", HOUR, &huge).await,
        ClaimedScore::Existing(b"pending".to_vec()),
        "the next call finds the pending record"
    );
}

/// Concurrent calls of one gift: one claims and counts, the others find the record.
pub async fn claim_and_score_concurrent_calls_count_once(store: Arc<dyn Store>) {
    let tag = "pk:1";
    set_window(store.as_ref(), tag, open_window(1000, 2000, 7)).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let step = gift(tag, "tx1", 1500, &[("score", "red", 5)], &[("rank", 50, 5)]);
                claim_and_score(store.as_ref(), "gift:tx1", HOUR, &step).await
            })
        })
        .collect();
    let mut claimed = 0;
    for task in tasks {
        match task.await.expect("task") {
            ClaimedScore::Claimed(outcome) => {
                claimed += 1;
                assert_eq!(
                    outcome,
                    ScoreOutcome::Applied { epoch: 7, counters: vec![5], boards: vec![5] }
                );
            }
            ClaimedScore::Existing(_) => {}
            ClaimedScore::Moved => panic!("an unguarded step moved"),
        }
    }
    assert_eq!(claimed, 1, "exactly one call claims the record");
    assert_eq!(hash_sorted(store.as_ref(), tag, "score").await, strings(&[("red", "5")]));
}

// ---- delay queue -------------------------------------------------------------------------------------

/// schedule / job_count / next_job_due / cancel, including replacement by id.
pub async fn jobs_schedule_count_cancel(store: &dyn Store) {
    assert_eq!(job_count(store).await, 0);
    assert_eq!(next_due(store).await, None);
    assert!(
        !ok(store.cancel_job("nope").await, "cancel"),
        "cancelling an unknown job returns false"
    );
    assert!(claim(store, u64::MAX / 2, 10, TTR).await.is_empty(), "nothing to claim");

    schedule(store, &job("a", 3000)).await;
    schedule(store, &job("b", 1000)).await;
    schedule(store, &job("c", 2000)).await;
    assert_eq!(job_count(store).await, 3);
    assert_eq!(next_due(store).await, Some(1000));
    let replaced =
        Job { body: b"replaced".to_vec(), topic: "other.topic".into(), ..job("b", 4000) };
    schedule(store, &replaced).await;
    assert_eq!(job_count(store).await, 3, "re-scheduling an id replaces the job");
    assert_eq!(next_due(store).await, Some(2000), "the replaced due time counts");
    assert!(ok(store.cancel_job("c").await, "cancel"), "cancelling a scheduled job returns true");
    assert!(!ok(store.cancel_job("c").await, "cancel"), "cancelling twice returns false");
    assert_eq!(job_count(store).await, 2);
    assert_eq!(next_due(store).await, Some(3000));
    let claimed = claim(store, 10_000, 10, TTR).await;
    let mut jobs: Vec<Job> = claimed.iter().map(|c| c.job.clone()).collect();
    jobs.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(jobs, vec![job("a", 3000), replaced], "claimed jobs are as (re-)scheduled");
}

/// Only jobs with `due_ms <= now` are claimed (inclusive), with attempt 1.
pub async fn jobs_claim_only_due(store: &dyn Store) {
    let (j1, j2, j3) = (job("j1", 1000), job("j2", 2000), job("j3", 3000));
    for j in [&j1, &j2, &j3] {
        schedule(store, j).await;
    }
    assert!(claim(store, 999, 10, TTR).await.is_empty(), "nothing is due at 999");
    let mut claimed = claim(store, 2000, 10, TTR).await;
    claimed.sort_by(|x, y| x.job.id.cmp(&y.job.id));
    assert_eq!(claimed.len(), 2, "j1 and j2 are due at 2000 (due == now included): {claimed:?}");
    assert_eq!((&claimed[0].job, claimed[0].attempt), (&j1, 1), "first delivery of j1");
    assert_eq!((&claimed[1].job, claimed[1].attempt), (&j2, 1), "first delivery of j2");
    assert!(
        claim(store, 2500, 10, TTR).await.is_empty(),
        "claimed jobs are hidden and j3 is not due"
    );
    let claimed = claim(store, 3000, 10, TTR).await;
    assert_eq!(ids_of(&claimed), BTreeSet::from(["j3".to_string()]), "j3 at 3000");
    assert_eq!(job_count(store).await, 3, "claimed jobs are still counted until finished");
}

/// A claimed job is hidden until its TTR and then re-delivered with the next attempt and a new
/// lease.
pub async fn jobs_redelivered_after_ttr(store: &dyn Store) {
    let scheduled = job("j", 1000);
    schedule(store, &scheduled).await;
    let first = claim(store, 1000, 10, TTR).await;
    assert_eq!(first.len(), 1);
    assert_eq!((&first[0].job, first[0].attempt), (&scheduled, 1), "first delivery");
    assert_eq!(next_due(store).await, Some(31_000), "a claimed job is due again at now + ttr");
    assert!(claim(store, 30_999, 10, TTR).await.is_empty(), "hidden until now + ttr");
    let second = claim(store, 31_000, 10, TTR).await;
    assert_eq!(second.len(), 1, "re-delivered at now + ttr");
    assert_eq!(
        (&second[0].job, second[0].attempt),
        (&scheduled, 2),
        "second delivery: the job as scheduled"
    );
    assert_ne!(second[0].lease, first[0].lease, "a re-delivery has a new lease");
    assert_eq!(next_due(store).await, Some(61_000));
    let third = claim(store, 61_000, 10, Duration::from_secs(5)).await;
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].attempt, 3, "third delivery");
    assert!(
        third[0].lease != first[0].lease && third[0].lease != second[0].lease,
        "leases are never reused"
    );
    assert_eq!(next_due(store).await, Some(66_000), "the ttr of each claim counts");
    assert_eq!(job_count(store).await, 1);
}

/// finish removes the job only with the current lease.
pub async fn jobs_finish_requires_current_lease(store: &dyn Store) {
    schedule(store, &job("j", 1000)).await;
    let first = claim(store, 1000, 10, TTR).await.remove(0);
    let second = claim(store, 31_000, 10, TTR).await.remove(0);
    assert!(
        !ok(store.finish_job("j", first.lease).await, "finish"),
        "a stale lease must not finish the job"
    );
    assert_eq!(job_count(store).await, 1, "the stale finish keeps the job");
    assert_eq!(
        next_due(store).await,
        Some(61_000),
        "the stale finish does not touch the re-delivery time"
    );
    assert!(!ok(store.finish_job("j", second.lease + 1000).await, "finish"), "an unknown lease");
    assert!(!ok(store.finish_job("other", second.lease).await, "finish"), "an unknown job");
    assert!(
        ok(store.finish_job("j", second.lease).await, "finish"),
        "the current lease finishes the job"
    );
    assert_eq!(job_count(store).await, 0);
    assert_eq!(next_due(store).await, None);
    assert!(
        !ok(store.finish_job("j", second.lease).await, "finish"),
        "finishing twice returns false"
    );
    assert!(
        claim(store, 1_000_000, 10, TTR).await.is_empty(),
        "a finished job is never re-delivered"
    );
}

/// Re-scheduling a claimed job replaces it: new due time and body, attempts restart, the old
/// lease no longer finishes it.
pub async fn jobs_reschedule_replaces_claimed_job(store: &dyn Store) {
    schedule(store, &job("j", 1000)).await;
    let old = claim(store, 1000, 10, TTR).await.remove(0);
    let replacement = Job { body: b"second phase".to_vec(), ..job("j", 5000) };
    schedule(store, &replacement).await;
    assert_eq!(job_count(store).await, 1);
    assert_eq!(
        next_due(store).await,
        Some(5000),
        "the new due time replaces the claim's re-delivery time"
    );
    assert!(
        !ok(store.finish_job("j", old.lease).await, "finish"),
        "the old lease must not finish the new job"
    );
    assert_eq!(job_count(store).await, 1, "the re-scheduled job stays");
    assert!(claim(store, 4999, 10, TTR).await.is_empty(), "not due before its new time");
    let new = claim(store, 5000, 10, TTR).await;
    assert_eq!(new.len(), 1, "due at its new time");
    assert_eq!(
        (&new[0].job, new[0].attempt),
        (&replacement, 1),
        "the replacement, attempts restarted"
    );
    assert_ne!(new[0].lease, old.lease, "a new claim, a new lease");
    assert!(
        !ok(store.finish_job("j", old.lease).await, "finish"),
        "the old lease still does nothing"
    );
    assert!(ok(store.finish_job("j", new[0].lease).await, "finish"), "the new lease finishes it");
    assert_eq!(job_count(store).await, 0);
}

/// A claimed job can be cancelled; its lease then finishes nothing.
pub async fn jobs_cancel_claimed_job(store: &dyn Store) {
    schedule(store, &job("j", 1000)).await;
    let claimed = claim(store, 1000, 10, TTR).await.remove(0);
    assert!(ok(store.cancel_job("j").await, "cancel"), "cancelling a claimed job returns true");
    assert_eq!(job_count(store).await, 0);
    assert_eq!(next_due(store).await, None);
    assert!(
        !ok(store.finish_job("j", claimed.lease).await, "finish"),
        "finish after cancel returns false"
    );
    assert!(
        claim(store, 1_000_000, 10, TTR).await.is_empty(),
        "a cancelled job is never re-delivered"
    );
}

/// claim returns at most `limit` jobs in total across buckets, and fills up to it.
pub async fn jobs_claim_limit(store: &dyn Store) {
    for i in 0..12u64 {
        schedule(store, &job(&format!("job-{i}"), 1000 + i)).await;
    }
    assert!(claim(store, 5000, 0, TTR).await.is_empty(), "limit 0 claims nothing");
    let mut seen = BTreeSet::new();
    for expected in [5usize, 5, 2, 0] {
        let claimed = claim(store, 5000, 5, TTR).await;
        assert_eq!(
            claimed.len(),
            expected,
            "claim with limit 5 while {} remain due",
            12 - seen.len()
        );
        for c in claimed {
            assert_eq!(c.attempt, 1, "limit 0 must not have claimed {}", c.job.id);
            assert!(seen.insert(c.job.id.clone()), "{} delivered twice", c.job.id);
        }
    }
    assert_eq!(seen.len(), 12);
}

/// Jobs spread over the buckets all come back, each once.
pub async fn jobs_spread_over_buckets_all_come_back(store: &dyn Store) {
    let mut ids = BTreeSet::new();
    for i in 0..90u64 {
        let id = match i % 3 {
            0 => format!("pk:{i}:settle"),
            1 => format!("lc-{i}"),
            _ => format!("{}", i * 7919),
        };
        schedule(store, &job(&id, 1000 + i)).await;
        ids.insert(id);
    }
    assert_eq!(job_count(store).await, 90, "job_count sums every bucket");
    let claimed = claim(store, 2000, 1000, TTR).await;
    assert_eq!(claimed.len(), 90, "one claim with a large limit returns every due job");
    assert_eq!(ids_of(&claimed), ids, "every job comes back");
    assert!(claim(store, 2000, 1000, TTR).await.is_empty());
}

/// next_job_due is the minimum over every bucket.
pub async fn jobs_next_due_is_global_minimum(store: &dyn Store) {
    let mut jobs: Vec<(u64, String)> = Vec::new();
    for i in 0..40u64 {
        let due = 10_000 + ((i * 7) % 40) * 10; // a permutation of 10_000..10_400 step 10
        let id = format!("job-{i}");
        schedule(store, &job(&id, due)).await;
        jobs.push((due, id));
    }
    jobs.sort();
    for (index, (due, id)) in jobs.iter().enumerate() {
        assert_eq!(next_due(store).await, Some(*due), "next_job_due with {} jobs left", 40 - index);
        assert!(ok(store.cancel_job(id).await, "cancel"), "cancel {id}");
    }
    assert_eq!(next_due(store).await, None);
    assert_eq!(job_count(store).await, 0);
}

/// Ids, topics and bodies round-trip exactly (binary bodies, empty bodies, unusual ids).
pub async fn jobs_payload_roundtrip(store: &dyn Store) {
    let jobs = vec![
        Job {
            id: "pk:42:settle".into(),
            topic: "pk.settle".into(),
            due_ms: 1000,
            body: (0..=255u8).collect(),
        },
        Job { id: "with space".into(), topic: "t".into(), due_ms: 1001, body: Vec::new() },
        Job {
            id: "ünï {braces} 🎁".into(),
            topic: "tópic".into(),
            due_ms: 1002,
            body: b"{\"json\":1}".to_vec(),
        },
        Job {
            id: "big-due".into(),
            topic: "t".into(),
            due_ms: 1_700_000_000_123,
            body: vec![0, 0, 0],
        },
    ];
    for j in &jobs {
        schedule(store, j).await;
    }
    let mut claimed: Vec<Job> =
        claim(store, 2_000_000_000_000, 10, TTR).await.into_iter().map(|c| c.job).collect();
    claimed.sort_by(|x, y| x.id.cmp(&y.id));
    let mut expected = jobs.clone();
    expected.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(claimed, expected, "claimed jobs must equal the scheduled ones exactly");
}

/// Two concurrent claimers never receive the same delivery, and together receive every job; after
/// the TTR the same holds for the re-deliveries.
pub async fn jobs_concurrent_claimers_disjoint(store: Arc<dyn Store>) {
    let ttr = Duration::from_secs(60);
    for i in 0..200u64 {
        schedule(&*store, &job(&format!("job-{i}"), 1000 + i % 50)).await;
    }
    for (round, now, attempt) in [(1, 5_000u64, 1u32), (2, 65_000, 2)] {
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        let batch = claim(&*store, now, 7, ttr).await;
                        // More than every job means re-deliveries before the TTR: stop, the
                        // duplicate check below reports it.
                        if batch.is_empty() || got.len() > 400 {
                            return got;
                        }
                        got.extend(batch);
                    }
                })
            })
            .collect();
        let mut seen: BTreeMap<String, u32> = BTreeMap::new();
        let mut per_task = Vec::new();
        for task in tasks {
            let got = task.await.expect("claimer task panicked");
            per_task.push(got.len());
            for c in got {
                assert_eq!(c.attempt, attempt, "round {round}: attempt of {}", c.job.id);
                *seen.entry(c.job.id).or_default() += 1;
            }
        }
        let twice: Vec<_> =
            seen.iter().filter(|(_, n)| **n > 1).map(|(id, _)| id.clone()).collect();
        assert!(twice.is_empty(), "round {round}: jobs delivered more than once: {twice:?}");
        assert_eq!(
            seen.len(),
            200,
            "round {round}: every job delivered (per claimer: {per_task:?})"
        );
    }
}

// ---- events -------------------------------------------------------------------------------------

/// An empty stream: "0-0", no first id, nothing to read, nothing queued.
pub async fn events_empty_stream(store: &dyn Store) {
    assert_eq!(
        ok(store.last_event_id().await, "last_event_id"),
        "0-0",
        "last_event_id of an empty stream"
    );
    assert_eq!(
        ok(store.first_event_id().await, "first_event_id"),
        None,
        "first_event_id of an empty stream"
    );
    assert!(all_events(store).await.is_empty(), "read from 0 of an empty stream");
    assert!(
        ok(store.read_events("0-0", 10, None).await, "read").is_empty(),
        "read after 0-0 of an empty stream"
    );
    assert_eq!(
        ok(store.append_events(&[]).await, "append nothing"),
        Vec::<String>::new(),
        "appending nothing"
    );
    assert_eq!(
        ok(store.last_event_id().await, "last_event_id"),
        "0-0",
        "appending nothing appends nothing"
    );
    assert_eq!(ok(store.relay_outbox("lc:1").await, "relay"), 0, "relaying an empty outbox");
    assert!(outbox_tags_sorted(store).await.is_empty(), "no outbox pending");
}

/// append_events returns strictly increasing `<ms>-<seq>` ids; the stream holds exactly what was
/// appended; first/last ids follow.
pub async fn append_events_returns_increasing_ids(store: &dyn Store) {
    let binary: Vec<u8> = (0..=255u8).collect();
    let first_batch = vec![b"a".to_vec(), binary.clone(), Vec::new()];
    let ids1 = ok(store.append_events(&first_batch).await, "append");
    assert_eq!(ids1.len(), 3, "one id per appended event");
    assert_strictly_increasing(&ids1, "one append");
    let ids2 = ok(store.append_events(&bytes(&["d"])).await, "append");
    assert_eq!(ids2.len(), 1);
    let all_ids: Vec<String> = ids1.iter().chain(&ids2).cloned().collect();
    assert_strictly_increasing(&all_ids, "two appends");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    for id in &all_ids {
        let (ms, _) = event_id(id);
        assert!(
            ms.abs_diff(now_ms) < 24 * 3600 * 1000,
            "event id {id} must carry milliseconds since the epoch"
        );
    }
    let events = all_events(store).await;
    assert_eq!(
        events,
        vec![
            StoredEvent { id: ids1[0].clone(), payload: b"a".to_vec() },
            StoredEvent { id: ids1[1].clone(), payload: binary },
            StoredEvent { id: ids1[2].clone(), payload: Vec::new() },
            StoredEvent { id: ids2[0].clone(), payload: b"d".to_vec() },
        ],
        "the stream holds the appended events with their ids, in order"
    );
    assert_eq!(ok(store.last_event_id().await, "last_event_id"), ids2[0], "last_event_id");
    assert_eq!(
        ok(store.first_event_id().await, "first_event_id"),
        Some(ids1[0].clone()),
        "first_event_id"
    );
}

/// read_events after an id returns only later events, oldest first, at most `limit`.
pub async fn read_events_after_id_and_limit(store: &dyn Store) {
    let mut ids = Vec::new();
    let mut expected = Vec::new();
    for batch in 0..4 {
        let payloads: Vec<Vec<u8>> =
            (0..(batch + 1)).map(|i| format!("b{batch}e{i}").into_bytes()).collect();
        ids.extend(ok(store.append_events(&payloads).await, "append"));
        expected.extend(payloads);
    }
    assert_eq!(ids.len(), 10);
    let read = |after: String, limit: usize| async move {
        ok(
            store.read_events(&after, limit, None).await,
            &format!("read_events after {after} limit {limit}"),
        )
    };
    let after3 = read(ids[3].clone(), 100).await;
    assert_eq!(
        after3.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        ids[4..].to_vec(),
        "events after ids[3]"
    );
    assert_eq!(payloads(&after3), expected[4..].to_vec(), "payloads after ids[3]");
    assert!(read(ids[9].clone(), 100).await.is_empty(), "nothing after the last id");
    assert_eq!(
        payloads(&read("0".into(), 4).await),
        expected[..4].to_vec(),
        "limit 4 from the start"
    );
    assert_eq!(
        payloads(&read("0-0".into(), 100).await),
        expected,
        "after 0-0 means from the start"
    );
    assert_eq!(
        payloads(&read(ids[0].clone(), 1).await),
        expected[1..2].to_vec(),
        "limit 1 after the first"
    );
    let mut after = "0".to_string();
    let mut paged = Vec::new();
    loop {
        let batch = read(after.clone(), 3).await;
        assert!(batch.len() <= 3, "limit 3 returned {}", batch.len());
        let Some(last) = batch.last() else { break };
        after = last.id.clone();
        paged.extend(batch);
        assert!(paged.len() <= 10, "paging must terminate");
    }
    assert_eq!(
        paged.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        ids,
        "paging by 3 visits every event once"
    );
}

/// A blocking read waits for a later append; with events already there it returns at once.
pub async fn read_events_block_waits_for_append(store: Arc<dyn Store>) {
    // On an empty stream, after last_event_id ("0-0").
    let last = ok(store.last_event_id().await, "last_event_id");
    let appender = {
        let store = store.clone();
        tokio::spawn(async move {
            sleep(Duration::from_millis(50)).await;
            ok(store.append_events(&bytes(&["late-1"])).await, "delayed append")
        })
    };
    let started = Instant::now();
    let got = ok(store.read_events(&last, 10, Some(Duration::from_secs(2))).await, "blocking read");
    let waited = started.elapsed();
    let appended = appender.await.expect("appender panicked");
    assert_eq!(
        got,
        vec![StoredEvent { id: appended[0].clone(), payload: b"late-1".to_vec() }],
        "a blocking read on an empty stream must return the event appended while it waited"
    );
    assert!(
        waited < Duration::from_millis(1800),
        "the read must return when the event arrives, took {waited:?}"
    );

    // On a non-empty stream, after its last id.
    let appender = {
        let store = store.clone();
        tokio::spawn(async move {
            sleep(Duration::from_millis(50)).await;
            ok(store.append_events(&bytes(&["late-2"])).await, "delayed append")
        })
    };
    let started = Instant::now();
    let got = ok(
        store.read_events(&appended[0], 10, Some(Duration::from_secs(2))).await,
        "blocking read",
    );
    let waited = started.elapsed();
    let appended2 = appender.await.expect("appender panicked");
    assert_eq!(
        got,
        vec![StoredEvent { id: appended2[0].clone(), payload: b"late-2".to_vec() }],
        "a blocking read must return only the event appended after its id"
    );
    assert!(
        waited < Duration::from_millis(1800),
        "the read must return when the event arrives, took {waited:?}"
    );

    // Events already there: no waiting.
    let started = Instant::now();
    let got = ok(
        store.read_events("0", 10, Some(Duration::from_secs(2))).await,
        "blocking read of existing",
    );
    assert_eq!(payloads(&got), bytes(&["late-1", "late-2"]), "existing events");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "existing events must be returned without blocking"
    );
}

/// A blocking read with nothing to return gives up after its timeout with an empty result.
pub async fn read_events_block_times_out(store: &dyn Store) {
    let block = Duration::from_millis(200);
    let started = Instant::now();
    let got = ok(store.read_events("0", 10, Some(block)).await, "blocking read of an empty stream");
    let waited = started.elapsed();
    assert!(got.is_empty(), "nothing was appended: {got:?}");
    assert!(
        waited >= Duration::from_millis(150),
        "the read must wait about its block time, returned after {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(1500),
        "the read must give up after its block time, took {waited:?}"
    );

    let id = ok(store.append_events(&bytes(&["only"])).await, "append").remove(0);
    let started = Instant::now();
    let got = ok(store.read_events(&id, 10, Some(block)).await, "blocking read after the last id");
    let waited = started.elapsed();
    assert!(got.is_empty(), "nothing after the last id: {got:?}");
    assert!(
        waited >= Duration::from_millis(150),
        "the read must wait about its block time, returned after {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(1500),
        "the read must give up after its block time, took {waited:?}"
    );

    let started = Instant::now();
    assert!(ok(store.read_events(&id, 10, None).await, "read").is_empty());
    assert!(started.elapsed() < Duration::from_millis(150), "a read without block must not wait");
}

/// Outbox events reach the stream only through relay_outbox, in order, exactly once.
pub async fn outbox_relay_in_order_exactly_once(store: &dyn Store) {
    let tag = "lc:7";
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    commit_ok(
        store,
        Transaction::new(tag)
            .op(put_op("state", b"s"))
            .op(Op::Outbox { events: bytes(&["o1", "o2"]) }),
        "c1",
    )
    .await;
    commit_ok(
        store,
        Transaction::new(tag).op(Op::Outbox { events: vec![binary.clone(), Vec::new()] }),
        "c2",
    )
    .await;
    assert!(
        all_events(store).await.is_empty(),
        "outbox events are not on the stream before the relay"
    );
    assert_eq!(
        outbox_tags_sorted(store).await,
        vec![tag.to_string()],
        "the tag has a pending outbox"
    );

    assert_eq!(ok(store.relay_outbox(tag).await, "relay"), 4, "relay appends every queued event");
    let expected = vec![b"o1".to_vec(), b"o2".to_vec(), binary, Vec::new()];
    assert_eq!(payloads(&all_events(store).await), expected, "relayed in order");
    assert_eq!(ok(store.relay_outbox(tag).await, "relay"), 0, "a second relay appends nothing");
    assert_eq!(payloads(&all_events(store).await), expected, "exactly once");
    assert!(outbox_tags_sorted(store).await.is_empty(), "no pending outbox after the relay");

    outbox(store, tag, &["o5"]).await;
    ok(store.append_events(&bytes(&["direct"])).await, "append");
    assert_eq!(ok(store.relay_outbox(tag).await, "relay"), 1);
    let mut all = expected.clone();
    all.extend(bytes(&["direct", "o5"]));
    assert_eq!(
        payloads(&all_events(store).await),
        all,
        "relayed events land after earlier appends"
    );
    let ids: Vec<String> = all_events(store).await.into_iter().map(|e| e.id).collect();
    assert_strictly_increasing(&ids, "relayed and appended events");
}

/// An Outbox op without events is allowed and queues nothing.
pub async fn outbox_with_no_events_is_a_no_op(store: &dyn Store) {
    let tag = "lc:7";
    commit_ok(
        store,
        Transaction::new(tag).op(put_op("state", b"s")).op(Op::Outbox { events: Vec::new() }),
        "commit",
    )
    .await;
    assert_eq!(
        get(store, tag, "state").await,
        versioned(1, b"s"),
        "the rest of the transaction applies"
    );
    assert!(outbox_tags_sorted(store).await.is_empty(), "an empty Outbox op queues nothing");
    assert_eq!(ok(store.relay_outbox(tag).await, "relay"), 0);
    assert!(all_events(store).await.is_empty());
}

/// outbox_tags lists exactly the tags with pending events.
pub async fn outbox_tags_lists_pending_tags(store: &dyn Store) {
    outbox(store, "lc:1", &["a"]).await;
    outbox(store, "pk:2", &["b", "c"]).await;
    put(store, "room:3", "state", b"no events").await;
    assert_eq!(outbox_tags_sorted(store).await, vec!["lc:1".to_string(), "pk:2".to_string()]);
    assert_eq!(ok(store.relay_outbox("lc:1").await, "relay"), 1);
    assert_eq!(
        outbox_tags_sorted(store).await,
        vec!["pk:2".to_string()],
        "a relayed tag is no longer listed"
    );
    outbox(store, "lc:1", &["d"]).await;
    assert_eq!(
        outbox_tags_sorted(store).await,
        vec!["lc:1".to_string(), "pk:2".to_string()],
        "listed again"
    );
    assert_eq!(ok(store.relay_outbox("pk:2").await, "relay"), 2);
    assert_eq!(ok(store.relay_outbox("lc:1").await, "relay"), 1);
    assert!(outbox_tags_sorted(store).await.is_empty());
    assert_eq!(payloads(&all_events(store).await), bytes(&["a", "b", "c", "d"]));
}

/// Concurrent relays of one outbox append each event exactly once, in order; their counts add up.
pub async fn outbox_concurrent_relays_append_once(store: Arc<dyn Store>) {
    let tag = "lc:7";
    let mut expected = Vec::new();
    for commit in 0..5 {
        let events: Vec<String> = (0..10).map(|i| format!("c{commit}-e{i}")).collect();
        let refs: Vec<&str> = events.iter().map(String::as_str).collect();
        outbox(&*store, tag, &refs).await;
        expected.extend(events.into_iter().map(String::into_bytes));
    }
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { ok(store.relay_outbox(tag).await, "concurrent relay") })
        })
        .collect();
    let mut appended = 0;
    for task in tasks {
        appended += task.await.expect("relay task panicked");
    }
    appended += relay_all(&*store, tag).await;
    assert_eq!(appended, 50, "the relays' counts must add up to the 50 queued events");
    assert_eq!(payloads(&all_events(&*store).await), expected, "each event exactly once, in order");
    assert!(outbox_tags_sorted(&*store).await.is_empty());
}

/// Relays running while writers keep queueing on two tags lose nothing, duplicate nothing and
/// keep each tag's order.
pub async fn outbox_relay_concurrent_with_writers(store: Arc<dyn Store>) {
    let tags = ["lc:1", "lc:2"];
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = tags
        .into_iter()
        .map(|tag| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..30 {
                    outbox(&*store, tag, &[&format!("{tag}/{i}/a"), &format!("{tag}/{i}/b")]).await;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let relayers: Vec<_> = (0..3)
        .map(|r| {
            let (store, done) = (store.clone(), done.clone());
            tokio::spawn(async move {
                let mut appended = 0;
                while !done.load(AtomicOrdering::SeqCst) {
                    appended += ok(store.relay_outbox(tags[r % 2]).await, "relay during writes");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                appended
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer panicked");
    }
    done.store(true, AtomicOrdering::SeqCst);
    let mut appended = 0;
    for relayer in relayers {
        appended += relayer.await.expect("relayer panicked");
    }
    for tag in tags {
        appended += relay_all(&*store, tag).await;
    }
    assert_eq!(appended, 120, "the relays' counts must add up to the 120 queued events");
    let events = payloads(&all_events(&*store).await);
    assert_eq!(events.len(), 120, "every queued event reaches the stream exactly once");
    for tag in tags {
        let mine: Vec<Vec<u8>> =
            events.iter().filter(|p| p.starts_with(tag.as_bytes())).cloned().collect();
        let expected: Vec<Vec<u8>> = (0..30)
            .flat_map(|i| {
                [format!("{tag}/{i}/a").into_bytes(), format!("{tag}/{i}/b").into_bytes()]
            })
            .collect();
        assert_eq!(mine, expected, "{tag}'s events exactly once and in order");
    }
    assert!(outbox_tags_sorted(&*store).await.is_empty());
}

// ---- pub/sub --------------------------------------------------------------------------------------

const READY: &str = "__ready__";

/// Publishes a probe on `channel` until `subscription` receives one (the subscription may take a
/// moment to be established), within 2 s.
async fn wait_subscribed(
    store: &dyn Store,
    channel: &str,
    subscription: &mut BoxStream<'static, String>,
) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        ok(store.publish(channel, READY).await, "publish probe");
        match timeout(Duration::from_millis(100), subscription.next()).await {
            Ok(Some(message)) if message == READY => return,
            Ok(Some(other)) => {
                panic!("subscription to {channel} received {other:?} before any probe")
            }
            Ok(None) => panic!("subscription to {channel} ended"),
            Err(_) if Instant::now() >= deadline => {
                panic!("subscription to {channel} received nothing within 2 s of publishing")
            }
            Err(_) => {}
        }
    }
}

/// The next message that is not a probe, within 2 s.
async fn next_message(channel: &str, subscription: &mut BoxStream<'static, String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, subscription.next()).await {
            Ok(Some(message)) if message == READY => continue,
            Ok(Some(message)) => return message,
            Ok(None) => panic!("subscription to {channel} ended"),
            Err(_) => panic!("subscription to {channel} received no message within 2 s"),
        }
    }
}

/// A subscriber receives what is published on its channel after subscribing, in order.
pub async fn publish_subscribe_roundtrip(store: &dyn Store) {
    ok(store.publish("nobody-listens", "x").await, "publish without subscribers");
    let mut subscription = ok(store.subscribe("room:1").await, "subscribe");
    wait_subscribed(store, "room:1", &mut subscription).await;
    for message in ["m1", "m2", "ünï 🎁 {\"json\": true}"] {
        ok(store.publish("room:1", message).await, "publish");
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next_message("room:1", &mut subscription).await);
    }
    assert_eq!(got, vec!["m1", "m2", "ünï 🎁 {\"json\": true}"], "messages in publish order");
}

/// Every subscriber of a channel gets each message; other channels' messages are not delivered.
pub async fn pubsub_channels_isolated_and_fanned_out(store: &dyn Store) {
    let mut a1 = ok(store.subscribe("a").await, "subscribe a");
    let mut a2 = ok(store.subscribe("a").await, "subscribe a again");
    let mut b = ok(store.subscribe("b").await, "subscribe b");
    wait_subscribed(store, "a", &mut a1).await;
    wait_subscribed(store, "a", &mut a2).await;
    wait_subscribed(store, "b", &mut b).await;
    ok(store.publish("b", "for-b").await, "publish b");
    ok(store.publish("a", "for-a").await, "publish a");
    assert_eq!(next_message("a", &mut a1).await, "for-a", "first subscriber of a");
    assert_eq!(next_message("a", &mut a2).await, "for-a", "second subscriber of a");
    assert_eq!(next_message("b", &mut b).await, "for-b", "subscriber of b");
}

// ---- issue 12: bounds ----------------------------------------------------------------------

/// Everything a gift can change in `tag`, to compare before and after a refused one.
async fn score_state(store: &dyn Store, tag: &str) -> (Vec<(String, String)>, Vec<(u64, i64)>) {
    let mut txns = hash_sorted(store, tag, "txns").await;
    txns.extend(hash_sorted(store, tag, "score").await);
    (txns, page(store, tag, "rank").await)
}

/// Issue 12 item 1: a gift that would take a counter or a board total past [`MAX_SCORE`] (where
/// doubles stop being exact) is refused before anything is written, on every store; the same
/// txn id may then count a smaller amount (nothing was recorded for it).
pub async fn item1_huge_gift_is_refused_and_changes_nothing(store: &dyn Store) {
    let tag = "pk:1";
    set_window(store, tag, open_window(1000, 2000, 7)).await;
    let near = MAX_SCORE - 5;
    let first = gift(tag, "tx1", 1500, &[("score", "red", near)], &[("rank", 50, near)]);
    assert_eq!(
        apply(store, &first).await,
        ScoreOutcome::Applied { epoch: 7, counters: vec![near], boards: vec![near] },
        "a total just under the maximum counts exactly"
    );
    let before = score_state(store, tag).await;
    for (what, counters, boards) in [
        ("the counter", vec![("score", "red", 6)], vec![("rank", 51, 6)]),
        ("the board", vec![("score", "blue", 6)], vec![("rank", 50, 6)]),
        ("a delta beyond the maximum", vec![("score", "blue", i64::MAX)], vec![]),
        ("a negative delta beyond it", vec![("score", "blue", i64::MIN)], vec![]),
        // Each move fits alone; together they pass the maximum.
        ("one counter twice", vec![("score", "red", 3), ("score", "red", 3)], vec![]),
        ("one member twice on one board", vec![], vec![("rank", 50, 3), ("rank", 50, 3)]),
    ] {
        let huge = gift(tag, "tx2", 1500, &counters, &boards);
        assert_eq!(
            apply(store, &huge).await,
            ScoreOutcome::Refused(ScoreRefusal::ScoreLimit),
            "a gift taking {what} past the maximum"
        );
        assert_eq!(score_state(store, tag).await, before, "{what}: a refused gift wrote something");
    }
    let guarded = apply_guarded(
        store,
        &gift(tag, "tx2", 1500, &[("score", "red", 6)], &[]),
        &at_version("seats", 0),
    )
    .await;
    assert_eq!(guarded, GuardedScore::Judged(ScoreOutcome::Refused(ScoreRefusal::ScoreLimit)));
    assert_eq!(score_state(store, tag).await, before, "guarded: a refused gift wrote something");
    let fitting = gift(tag, "tx2", 1500, &[("score", "red", 5)], &[("rank", 50, 5)]);
    assert_eq!(
        apply(store, &fitting).await,
        ScoreOutcome::Applied { epoch: 7, counters: vec![MAX_SCORE], boards: vec![MAX_SCORE] },
        "the refused txn id was not recorded: it may count what fits"
    );
}

/// Totals near the maximum (issue 12 item 1) are exact integers in every answer and read.
pub async fn totals_stay_exact_up_to_the_maximum(store: &dyn Store) {
    let tag = "pk:1";
    set_window(store, tag, open_window(1000, 2000, 7)).await;
    // 2^53 - 1 is odd: a double one above it could not hold it, and a sum of two halves must
    // come back to the last unit.
    let half = MAX_SCORE / 2;
    for (txn, delta) in [("a", half), ("b", half + 1)] {
        apply(store, &gift(tag, txn, 1500, &[("score", "red", delta)], &[("rank", 9, delta)]))
            .await;
    }
    assert_eq!(counter(store, tag, "score", "red").await, MAX_SCORE);
    assert_eq!(total(store, tag, "rank", 9).await, Some(MAX_SCORE));
    assert_eq!(page(store, tag, "rank").await, vec![(9, MAX_SCORE)]);
    assert_eq!(
        apply(store, &gift(tag, "a", 1500, &[("score", "red", half)], &[("rank", 9, half)])).await,
        ScoreOutcome::Duplicate { epoch: 7, counters: vec![half], boards: vec![half] },
        "the record keeps exact values"
    );
}

/// Issue 12 item 2: a txn id answered for one gift (counted, or outside its window) is refused
/// for a gift with another fingerprint, changing nothing; the same fingerprint, or none, is
/// answered as before; the previous battle's answers are checked alike.
pub async fn item2_reused_txn_id_with_another_payload_is_refused(store: &dyn Store) {
    let tag = "pk:1";
    set_window(store, tag, open_window(1000, 2000, 7)).await;
    let with_print = |txn: &str, sent_at_ms: u64, print: u64| ScoreApply {
        fingerprint: print,
        ..gift(tag, txn, sent_at_ms, &[("score", "red", 5)], &[("rank", 50, 5)])
    };
    let counted = ScoreOutcome::Applied { epoch: 7, counters: vec![5], boards: vec![5] };
    assert_eq!(apply(store, &with_print("tx1", 1500, 0xfeed)).await, counted);
    assert_eq!(apply(store, &with_print("tx2", 2500, 0xbeef)).await, ScoreOutcome::Outside);
    let before = score_state(store, tag).await;
    for (txn, sent_at_ms) in [("tx1", 1500), ("tx2", 2500), ("tx2", 1500)] {
        assert_eq!(
            apply(store, &with_print(txn, sent_at_ms, 0x1234)).await,
            ScoreOutcome::Refused(ScoreRefusal::TxnReused),
            "{txn} reused for another gift"
        );
    }
    assert_eq!(score_state(store, tag).await, before, "a refused reuse wrote something");
    let duplicate = ScoreOutcome::Duplicate { epoch: 7, counters: vec![5], boards: vec![5] };
    assert_eq!(apply(store, &with_print("tx1", 1500, 0xfeed)).await, duplicate, "same gift");
    assert_eq!(apply(store, &with_print("tx1", 1500, 0)).await, duplicate, "no fingerprint");
    assert_eq!(apply(store, &with_print("tx2", 2500, 0xbeef)).await, ScoreOutcome::Outside);
    commit_ok(store, Transaction::new(tag).op(Op::RotateScoreRecords), "rotate").await;
    assert_eq!(
        apply(store, &with_print("tx1", 1500, 0x1234)).await,
        ScoreOutcome::Refused(ScoreRefusal::TxnReused),
        "the previous battle's answers are checked too"
    );
    assert_eq!(apply(store, &with_print("tx1", 1500, 0xfeed)).await, duplicate);
}

/// Issue 12 item 10: a tag holds at most `score_records_per_battle` gift answers in `txns` (a
/// full one is set aside as `txns:prev`, replacing what was there): at most twice that many
/// in all, and the latest are still answered.
pub async fn item10_score_records_are_bounded_per_tag(store: &dyn Store) {
    let per_battle = small_limits().score_records_per_battle;
    let tag = "lc:session";
    set_window(store, tag, open_window(1000, 2000, 7)).await;
    let gifts = per_battle * 4 + 1;
    for n in 0..gifts {
        let sent_at_ms = if n % 2 == 0 { 1500 } else { 2500 };
        let outcome =
            apply(store, &gift(tag, &format!("tx{n}"), sent_at_ms, &[("score", "red", 1)], &[]))
                .await;
        assert!(
            matches!(outcome, ScoreOutcome::Applied { .. } | ScoreOutcome::Outside),
            "gift {n}: {outcome:?}"
        );
        let current = hash_sorted(store, tag, "txns").await.len();
        let previous = hash_sorted(store, tag, "txns:prev").await.len();
        assert!(current <= per_battle, "after gift {n}: txns holds {current}");
        assert!(previous <= per_battle, "after gift {n}: txns:prev holds {previous}");
    }
    // The latest `per_battle` gifts are still answered as before.
    for n in gifts - per_battle..gifts {
        let sent_at_ms = if n % 2 == 0 { 1500 } else { 2500 };
        let outcome =
            apply(store, &gift(tag, &format!("tx{n}"), sent_at_ms, &[("score", "red", 1)], &[]))
                .await;
        assert!(
            matches!(outcome, ScoreOutcome::Duplicate { .. } | ScoreOutcome::Outside),
            "gift {n} must still be answered: {outcome:?}"
        );
    }
    assert_eq!(counter(store, tag, "score", "red").await, (gifts as i64 + 1) / 2);
}

/// Issue 12 item 10: the ids remembered to de-duplicate outbox relays (Redis: zset `seen` of tag
/// `events`) are no more than the stream keeps entries, not 24 h of them. (MemoryStore keeps
/// them in memory, not as a key: its own unit test checks the bound.)
pub async fn item10_seen_event_ids_are_bounded_by_the_retention(store: &dyn Store) {
    let retention = small_limits().event_retention as u64;
    for round in 0..10 {
        let events: Vec<String> = (0..4).map(|n| format!("event {round}.{n}")).collect();
        let events: Vec<&str> = events.iter().map(String::as_str).collect();
        outbox(store, "pk:1", &events).await;
        assert_eq!(relay_all(store, "pk:1").await, 4, "round {round}: every event relayed once");
        let seen = ok(store.zcard("events", "seen").await, "zcard seen");
        assert!(seen <= retention, "round {round}: {seen} ids remembered");
    }
}

/// Issue 12 item 8: a counter that lost its value (here: one that never had it) hands out ids
/// above the floor the caller knows was used, and goes on from there; a counter already above
/// the floor is not moved back.
pub async fn item8_next_id_above_never_returns_a_used_id(store: &dyn Store) {
    let next = |floor| async move {
        ok(store.next_id_above("ids:lc", "pkid", floor).await, "next_id_above")
    };
    assert_eq!(next(41).await, 42, "a fresh counter starts above the floor");
    assert_eq!(next(41).await, 43);
    assert_eq!(next(0).await, 44, "a lower floor does not move it back");
    assert_eq!(ok(store.next_id("ids:lc", "pkid").await, "next_id"), 45, "one counter");
    assert_eq!(next(100).await, 101, "a higher floor lifts it");
    assert_eq!(next(1u64 << 52).await, (1u64 << 52) + 1, "floors up to 2^53 are exact");
}

/// Issue 12 item 9: a claimed job given up (under its current lease) leaves the queue for the
/// dead letters: never delivered again, listed newest first with its attempts and reason. A
/// stale lease buries nothing.
pub async fn item9_buried_jobs_are_never_delivered_again_and_are_listed(store: &dyn Store) {
    let mut doomed = job("doomed", 1_000);
    doomed.body = (0..=255u8).collect();
    schedule(store, &doomed).await;
    schedule(store, &job("healthy", 1_000)).await;
    let claimed = claim(store, 1_000, 10, TTR).await;
    assert_eq!(ids_of(&claimed), BTreeSet::from(["doomed".to_string(), "healthy".to_string()]));
    let lease = |id: &str| claimed.iter().find(|c| c.job.id == id).expect("claimed").lease;
    let bury = |id: &'static str, lease: u64, at: u64| async move {
        ok(store.bury_job(id, lease, "no handler for topic", at).await, "bury_job")
    };
    assert!(!bury("healthy", lease("healthy") + 1, 5_000).await, "a stale lease buries nothing");
    assert!(bury("doomed", lease("doomed"), 5_000).await);
    assert!(!bury("doomed", lease("doomed"), 5_001).await, "buried once");
    assert!(!bury("missing", 1, 5_001).await);
    assert_eq!(job_count(store).await, 1);
    let again = claim(store, 1_000 + TTR.as_millis() as u64, 10, TTR).await;
    assert_eq!(ids_of(&again), BTreeSet::from(["healthy".to_string()]), "only the live job");
    assert_eq!(ok(store.dead_job_count().await, "dead_job_count"), 1);
    assert_eq!(
        ok(store.dead_jobs(10).await, "dead_jobs"),
        vec![DeadJob {
            job: doomed,
            attempts: 1,
            reason: "no handler for topic".into(),
            buried_at_ms: 5_000
        }]
    );
    assert_eq!(ok(store.dead_jobs(0).await, "dead_jobs"), Vec::<DeadJob>::new());
}

/// Issue 12 item 9: the dead letters keep the newest `dead_jobs_per_bucket` of each bucket.
pub async fn item9_dead_letters_are_bounded_per_bucket(store: &dyn Store) {
    let options = small_limits();
    let most = (options.dead_jobs_per_bucket * options.job_buckets) as u64;
    for n in 0..20u64 {
        let id = format!("doomed-{n}");
        schedule(store, &job(&id, 1_000)).await;
        let claimed = claim(store, 1_000, 10, TTR).await;
        assert_eq!(claimed.len(), 1, "job {n}");
        assert!(ok(store.bury_job(&id, claimed[0].lease, "broken", 10_000 + n).await, "bury"));
        let count = ok(store.dead_job_count().await, "dead_job_count");
        assert!(count <= most, "after {n}: {count} dead letters kept");
    }
    let newest = ok(store.dead_jobs(100).await, "dead_jobs");
    assert_eq!(newest[0].job.id, "doomed-19", "the newest is kept and listed first");
    assert!(newest.windows(2).all(|pair| pair[0].buried_at_ms >= pair[1].buried_at_ms));
    assert_eq!(job_count(store).await, 0);
}
