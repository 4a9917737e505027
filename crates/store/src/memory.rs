//! The embedded, in-process store: the same semantics as [`crate::RedisStore`] for a single
//! process (the default when no Redis is configured, and the reference the conformance suite
//! holds Redis to). Everything sits behind one mutex, which makes every operation trivially
//! atomic; it is not built for throughput across replicas, because there are none.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::{Notify, broadcast};
use tokio_stream::wrappers::BroadcastStream;

use crate::codec::{
    OUTBOX_ID_LEN, OUTSIDE_RECORD, board_member, board_member_id, decode_score_record,
    encode_score_record, outbox_entry_id, parse_event_id, score_record_guard, split_fingerprint,
    wall_ms, with_fingerprint,
};
use crate::keys::reserved;
use crate::{
    BoardEntry, ClaimedJob, CommitOutcome, Condition, DeadJob, GuardedScore, Job, Keyspace,
    MAX_SCORE, Op, Order, ScoreApply, ScoreOutcome, ScoreRefusal, Store, StoreError, StoreOptions,
    StoreResult, StoredEvent, Versioned,
};

/// The in-process store. Cheap to clone; clones share the data.
#[derive(Clone)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

struct Shared {
    keys: Keyspace,
    options: StoreOptions,
    state: Mutex<State>,
    /// Woken on every append, for blocking event reads.
    appended: Notify,
    channels: Mutex<HashMap<String, broadcast::Sender<String>>>,
}

#[derive(Default)]
struct State {
    values: HashMap<String, Entry>,
    jobs: HashMap<String, JobRecord>,
    /// (due ms, job id): the delay queue, claimed jobs at their re-delivery time.
    job_due: BTreeSet<(u64, String)>,
    /// Dead-lettered jobs in the order they were given up (oldest first).
    dead_jobs: VecDeque<DeadJob>,
    events: VecDeque<StoredEvent>,
    last_event: (u64, u64),
    /// Outbox entry ids already appended -> append time (ms).
    seen: HashMap<String, u64>,
    /// When `seen` was last pruned (ms): pruning walks all of it, so it runs once a minute,
    /// not on every relay (ids are then remembered up to a minute longer, which is harmless).
    seen_pruned_at: u64,
}

/// How often `seen` is pruned of ids older than [`reserved::SEEN_RETENTION_MS`].
const SEEN_PRUNE_EVERY_MS: u64 = 60_000;

struct Entry {
    value: Value,
    expires_at: Option<Instant>,
}

enum Value {
    Aggregate(Versioned),
    Hash(HashMap<String, String>),
    SortedSet(SortedSet),
    Bytes(Vec<u8>),
    Counter(u64),
    List(VecDeque<Vec<u8>>),
}

struct JobRecord {
    job: Job,
    attempt: u32,
    lease: u64,
    /// Where the job currently sits in `job_due`.
    queued_at: u64,
}

/// A sorted set ordered like Redis: by score, then by member bytes.
#[derive(Default, Clone)]
struct SortedSet {
    by_member: HashMap<String, f64>,
    ordered: BTreeSet<ScoredMember>,
}

#[derive(Clone, PartialEq)]
struct ScoredMember {
    score: f64,
    member: String,
}

impl Eq for ScoredMember {}

impl PartialOrd for ScoredMember {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for ScoredMember {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| self.member.as_bytes().cmp(other.member.as_bytes()))
    }
}

impl SortedSet {
    fn add(&mut self, member: &str, score: f64) {
        self.remove(member);
        self.by_member.insert(member.to_owned(), score);
        self.ordered.insert(ScoredMember { score, member: member.to_owned() });
    }

    fn remove(&mut self, member: &str) -> bool {
        match self.by_member.remove(member) {
            Some(score) => {
                self.ordered.remove(&ScoredMember { score, member: member.to_owned() });
                true
            }
            None => false,
        }
    }

    fn page(&self, offset: usize, count: usize, order: Order) -> Vec<(String, f64)> {
        let rows = self.ordered.iter().map(|row| (row.member.clone(), row.score));
        match order {
            Order::Ascending => rows.skip(offset).take(count).collect(),
            Order::Descending => rows.rev().skip(offset).take(count).collect(),
        }
    }
}

impl MemoryStore {
    /// One gift on one PK, under `guard` when given (see [`Store::apply_score_guarded`]).
    fn score(&self, apply: &ScoreApply, guard: Option<&Condition>) -> StoreResult<GuardedScore> {
        let judged = |outcome| Ok(GuardedScore::Judged(outcome));
        let refused = |why| Ok(GuardedScore::Judged(ScoreOutcome::Refused(why)));
        let key_of = |name: &str| self.key(&apply.tag, name);
        let txns_key = key_of(reserved::SCORE_RECORDS);
        let previous_key = key_of(reserved::SCORE_RECORDS_PREVIOUS);
        let guard_version = guard.map(|Condition::Version { version, .. }| *version);
        let reused = |print: Option<u64>| {
            apply.fingerprint != 0 && print.is_some_and(|print| print != apply.fingerprint)
        };
        let mut state = self.lock();
        if let Some(stored) =
            state.read_hash(&txns_key)?.and_then(|txns| txns.get(&apply.txn_id).cloned())
        {
            let (record, print) = split_fingerprint(&stored)?;
            if reused(print) {
                return refused(ScoreRefusal::TxnReused);
            }
            if record == OUTSIDE_RECORD {
                return judged(ScoreOutcome::Outside);
            }
            let (epoch, counters, boards) = decode_score_record(record)?;
            if let (Some(expected), Some(counted)) = (guard_version, score_record_guard(record)?)
                && expected != counted
            {
                return Ok(GuardedScore::Moved);
            }
            return judged(ScoreOutcome::Duplicate { epoch, counters, boards });
        }
        // The previous battle's answer stands as it was, whatever the guard (that battle is over).
        if let Some(stored) =
            state.read_hash(&previous_key)?.and_then(|txns| txns.get(&apply.txn_id).cloned())
        {
            let (record, print) = split_fingerprint(&stored)?;
            if reused(print) {
                return refused(ScoreRefusal::TxnReused);
            }
            if record == OUTSIDE_RECORD {
                return judged(ScoreOutcome::Outside);
            }
            let (epoch, counters, boards) = decode_score_record(record)?;
            return judged(ScoreOutcome::Duplicate { epoch, counters, boards });
        }
        let ttl = Some(apply.ttl);
        let per_battle = self.shared.options.score_records_per_battle.max(1);
        // Writes the gift's answer; a full `txns` is set aside first (see the script).
        let remember = |state: &mut State, answer: &str| -> StoreResult<()> {
            if state.read_hash(&txns_key)?.is_some_and(|txns| txns.len() >= per_battle)
                && let Some(records) = state.values.remove(&txns_key)
            {
                state.values.insert(previous_key.clone(), records);
            }
            let stored = with_fingerprint(answer, apply.fingerprint);
            state.hash(&txns_key)?.insert(apply.txn_id.clone(), stored);
            state.set_ttl(&txns_key, ttl);
            Ok(())
        };
        let window = state.read_hash(&key_of(&apply.window))?.cloned().unwrap_or_default();
        let number = |field: &str| window.get(field).and_then(|value| value.parse::<u64>().ok());
        let open = window.get("open").is_some_and(|open| open == "1");
        let inside = match (number("from"), number("until"), number("epoch")) {
            (Some(from), Some(until), Some(epoch)) if open => {
                (from..until).contains(&apply.sent_at_ms).then_some(epoch)
            }
            _ => None,
        };
        let Some(epoch) = inside else {
            // Final, like a count (see DESIGN.md "ScoreApply").
            remember(&mut state, OUTSIDE_RECORD)?;
            return judged(ScoreOutcome::Outside);
        };
        if let Some(Condition::Version { name, version }) = guard
            && state.version(&key_of(name))? != *version
        {
            return Ok(GuardedScore::Moved);
        }
        // Every total must stay within MAX_SCORE: all checked before anything is written.
        let within = |now: i64, delta: i64| {
            let limit = MAX_SCORE.unsigned_abs();
            (delta.unsigned_abs() <= limit)
                .then(|| now.checked_add(delta))
                .flatten()
                .filter(|total| total.unsigned_abs() <= limit)
        };
        // A gift may move one total twice: each check starts from the gift's earlier moves.
        let mut after: HashMap<(String, String), i64> = HashMap::new();
        let mut counters = Vec::with_capacity(apply.counters.len());
        for (hash, field, delta) in &apply.counters {
            let key = key_of(hash);
            let now = match after.get(&(key.clone(), field.clone())) {
                Some(total) => *total,
                None => match state.read_hash(&key)?.and_then(|values| values.get(field)) {
                    None => 0,
                    Some(value) => value.parse::<i64>().map_err(|_| {
                        StoreError::Corrupt(format!("counter {key}/{field} is not a number"))
                    })?,
                },
            };
            let Some(total) = within(now, *delta) else {
                return refused(ScoreRefusal::ScoreLimit);
            };
            after.insert((key, field.clone()), total);
        }
        let mut board_after: HashMap<(String, u64), i64> = HashMap::new();
        for (board, member, delta) in &apply.boards {
            let key = key_of(board);
            let now = match board_after.get(&(key.clone(), *member)) {
                Some(total) => *total,
                None => state.board_total(&key, *member)?,
            };
            let Some(total) = within(now, *delta) else {
                return refused(ScoreRefusal::ScoreLimit);
            };
            board_after.insert((key, *member), total);
        }
        for (hash, field, delta) in &apply.counters {
            let key = key_of(hash);
            let entry = state.hash(&key)?.entry(field.clone()).or_insert_with(|| "0".into());
            // Checked above to be a number whose total stays within MAX_SCORE.
            let value = entry.parse::<i64>().unwrap_or_default().saturating_add(*delta);
            *entry = value.to_string();
            state.set_ttl(&key, ttl);
            counters.push(value);
        }
        let mut boards = Vec::with_capacity(apply.boards.len());
        for (board, member, delta) in &apply.boards {
            let key = key_of(board);
            boards.push(state.board_add(&key, *member, *delta)?);
            state.board_ttl(&key, ttl);
        }
        for (hash, field, value) in &apply.fields {
            let key = key_of(hash);
            state.hash(&key)?.insert(field.clone(), value.clone());
            state.set_ttl(&key, ttl);
        }
        remember(&mut state, &encode_score_record(epoch, &counters, &boards, guard_version))?;
        judged(ScoreOutcome::Applied { epoch, counters, boards })
    }

    /// An empty store with the given limits.
    pub fn new(options: StoreOptions) -> Self {
        Self {
            shared: Arc::new(Shared {
                keys: Keyspace::new("livepk"),
                options,
                state: Mutex::new(State::default()),
                appended: Notify::new(),
                channels: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock can only come from a bug in this file; the data is
        // still structurally valid, so keep serving rather than poisoning every later call.
        self.shared.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn key(&self, tag: &str, name: &str) -> String {
        self.shared.keys.key(tag, name)
    }
}

fn expiry(ttl: Option<Duration>) -> Option<Instant> {
    ttl.map(|ttl| Instant::now() + ttl)
}

fn wrong_type(key: &str) -> StoreError {
    StoreError::Corrupt(format!("key {key} holds a value of another type"))
}

impl State {
    /// The live entry at `key`, dropping it first if it has expired.
    fn live(&mut self, key: &str) -> Option<&mut Entry> {
        let expired = self
            .values
            .get(key)
            .and_then(|entry| entry.expires_at)
            .is_some_and(|at| at <= Instant::now());
        if expired {
            self.values.remove(key);
        }
        self.values.get_mut(key)
    }

    fn version(&mut self, key: &str) -> StoreResult<u64> {
        match self.live(key).map(|entry| &entry.value) {
            None => Ok(0),
            Some(Value::Aggregate(versioned)) => Ok(versioned.version),
            Some(_) => Err(wrong_type(key)),
        }
    }

    fn aggregate(&mut self, key: &str) -> StoreResult<Option<Versioned>> {
        match self.live(key).map(|entry| &entry.value) {
            None => Ok(None),
            Some(Value::Aggregate(versioned)) => Ok(Some(versioned.clone())),
            Some(_) => Err(wrong_type(key)),
        }
    }

    fn hash(&mut self, key: &str) -> StoreResult<&mut HashMap<String, String>> {
        if self.live(key).is_none() {
            self.values.insert(
                key.to_owned(),
                Entry { value: Value::Hash(HashMap::new()), expires_at: None },
            );
        }
        match self.values.get_mut(key).map(|entry| &mut entry.value) {
            Some(Value::Hash(hash)) => Ok(hash),
            _ => Err(wrong_type(key)),
        }
    }

    fn sorted_set(&mut self, key: &str) -> StoreResult<&mut SortedSet> {
        if self.live(key).is_none() {
            self.values.insert(
                key.to_owned(),
                Entry { value: Value::SortedSet(SortedSet::default()), expires_at: None },
            );
        }
        match self.values.get_mut(key).map(|entry| &mut entry.value) {
            Some(Value::SortedSet(set)) => Ok(set),
            _ => Err(wrong_type(key)),
        }
    }

    fn read_sorted_set(&mut self, key: &str) -> StoreResult<Option<&SortedSet>> {
        match self.live(key).map(|entry| &entry.value) {
            None => Ok(None),
            Some(Value::SortedSet(set)) => Ok(Some(set)),
            Some(_) => Err(wrong_type(key)),
        }
    }

    fn read_hash(&mut self, key: &str) -> StoreResult<Option<&HashMap<String, String>>> {
        match self.live(key).map(|entry| &entry.value) {
            None => Ok(None),
            Some(Value::Hash(hash)) => Ok(Some(hash)),
            Some(_) => Err(wrong_type(key)),
        }
    }

    fn increment(&mut self, key: &str) -> StoreResult<u64> {
        if self.live(key).is_none() {
            self.values
                .insert(key.to_owned(), Entry { value: Value::Counter(0), expires_at: None });
        }
        match self.values.get_mut(key).map(|entry| &mut entry.value) {
            Some(Value::Counter(counter)) => {
                *counter += 1;
                Ok(*counter)
            }
            _ => Err(wrong_type(key)),
        }
    }

    fn counter(&mut self, key: &str) -> StoreResult<u64> {
        match self.live(key).map(|entry| &entry.value) {
            None => Ok(0),
            Some(Value::Counter(counter)) => Ok(*counter),
            Some(_) => Err(wrong_type(key)),
        }
    }

    fn set_ttl(&mut self, key: &str, ttl: Option<Duration>) {
        if let Some(entry) = self.values.get_mut(key) {
            entry.expires_at = expiry(ttl);
        }
    }

    /// `member`'s total on `board` now (0 when absent).
    fn board_total(&mut self, board: &str, member: u64) -> StoreResult<i64> {
        let Some(encoded) = self
            .read_hash(&format!("{board}:m"))?
            .and_then(|members| members.get(&member.to_string()).cloned())
        else {
            return Ok(0);
        };
        Ok(self
            .read_sorted_set(board)?
            .and_then(|set| set.by_member.get(&encoded).copied())
            .unwrap_or(0.0) as i64)
    }

    /// Adds `delta` to `member` on `board` (the caller checked the total stays within
    /// [`MAX_SCORE`], see `score`).
    fn board_add(&mut self, board: &str, member: u64, delta: i64) -> StoreResult<i64> {
        let members_key = format!("{board}:m");
        let seq_key = format!("{board}:seq");
        let member_id = member.to_string();
        let previous = self.hash(&members_key)?.get(&member_id).cloned();
        let mut total = 0.0;
        if let Some(previous) = &previous {
            let set = self.sorted_set(board)?;
            total = set.by_member.get(previous).copied().unwrap_or(0.0);
            set.remove(previous);
        }
        let total = (total as i64).saturating_add(delta);
        let seq = self.increment(&seq_key)?;
        let encoded = board_member(seq, member);
        self.sorted_set(board)?.add(&encoded, total as f64);
        self.hash(&members_key)?.insert(member_id, encoded);
        Ok(total)
    }

    fn board_delete(&mut self, board: &str) {
        self.values.remove(board);
        self.values.remove(&format!("{board}:m"));
        self.values.remove(&format!("{board}:seq"));
    }

    fn board_ttl(&mut self, board: &str, ttl: Option<Duration>) {
        self.set_ttl(board, ttl);
        self.set_ttl(&format!("{board}:m"), ttl);
        self.set_ttl(&format!("{board}:seq"), ttl);
    }

    /// Keeps `seen` to about as many ids as the stream keeps entries (DESIGN.md "Events"): once
    /// it holds twice that many, the newest `retention` stay (amortised, not on every relay).
    fn forget_seen_beyond(&mut self, retention: usize) {
        let retention = retention.max(1);
        if self.seen.len() < retention.saturating_mul(2) {
            return;
        }
        let mut times: Vec<u64> = self.seen.values().copied().collect();
        let (_, cutoff, _) = times.select_nth_unstable_by(retention - 1, |a, b| b.cmp(a));
        let cutoff = *cutoff;
        let mut kept_at_cutoff = retention - self.seen.values().filter(|at| **at > cutoff).count();
        self.seen.retain(|_, at| {
            if *at > cutoff {
                true
            } else if *at == cutoff && kept_at_cutoff > 0 {
                kept_at_cutoff -= 1;
                true
            } else {
                false
            }
        });
    }

    fn append_event(&mut self, payload: Vec<u8>, retention: usize) -> String {
        let now = wall_ms();
        let (last_ms, last_seq) = self.last_event;
        self.last_event = if now > last_ms { (now, 0) } else { (last_ms, last_seq + 1) };
        let id = format!("{}-{}", self.last_event.0, self.last_event.1);
        self.events.push_back(StoredEvent { id: id.clone(), payload });
        while self.events.len() > retention.max(1) {
            self.events.pop_front();
        }
        id
    }

    fn apply_op(&mut self, key_of: &dyn Fn(&str) -> String, op: Op) -> StoreResult<()> {
        match op {
            Op::Put { name, value, ttl } => {
                let key = key_of(&name);
                let version = self.version(&key)? + 1;
                self.values.insert(
                    key,
                    Entry {
                        value: Value::Aggregate(Versioned { version, value }),
                        expires_at: expiry(ttl),
                    },
                );
            }
            Op::Delete { name } | Op::DeleteKey { name } => {
                self.values.remove(&key_of(&name));
            }
            Op::ZAdd { name, member, score, ttl } => {
                let key = key_of(&name);
                self.sorted_set(&key)?.add(&member, score);
                if ttl.is_some() {
                    self.set_ttl(&key, ttl);
                }
            }
            Op::ZRem { name, member } => {
                let key = key_of(&name);
                if let Some(Value::SortedSet(set)) = self.live(&key).map(|entry| &mut entry.value) {
                    set.remove(&member);
                    if set.by_member.is_empty() {
                        self.values.remove(&key);
                    }
                }
            }
            Op::HSet { name, fields, ttl } => {
                let key = key_of(&name);
                self.hash(&key)?.extend(fields);
                if ttl.is_some() {
                    self.set_ttl(&key, ttl);
                }
            }
            Op::DeleteBoard { name } => self.board_delete(&key_of(&name)),
            Op::RotateScoreRecords => {
                if let Some(records) = self.values.remove(&key_of(reserved::SCORE_RECORDS)) {
                    self.values.insert(key_of(reserved::SCORE_RECORDS_PREVIOUS), records);
                }
            }
            Op::Outbox { events } => {
                let key = key_of(reserved::OUTBOX);
                if self.live(&key).is_none() {
                    self.values.insert(
                        key.clone(),
                        Entry { value: Value::List(VecDeque::new()), expires_at: None },
                    );
                }
                let Some(Value::List(list)) =
                    self.values.get_mut(&key).map(|entry| &mut entry.value)
                else {
                    return Err(wrong_type(&key));
                };
                for payload in events {
                    let mut entry = outbox_entry_id().into_bytes();
                    entry.extend_from_slice(&payload);
                    list.push_back(entry);
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, tag: &str, name: &str) -> StoreResult<Option<Versioned>> {
        let key = self.key(tag, name);
        self.lock().aggregate(&key)
    }

    async fn get_many(&self, keys: &[(&str, &str)]) -> StoreResult<Vec<Option<Versioned>>> {
        let mut state = self.lock();
        keys.iter().map(|(tag, name)| state.aggregate(&self.key(tag, name))).collect()
    }

    async fn commit(&self, transaction: crate::Transaction) -> StoreResult<CommitOutcome> {
        let tag = transaction.tag.clone();
        let key_of = |name: &str| self.key(&tag, name);
        let mut state = self.lock();
        for condition in &transaction.conditions {
            let Condition::Version { name, version } = condition;
            let actual = state.version(&key_of(name))?;
            if actual != *version {
                return Ok(CommitOutcome::Conflict { name: name.clone(), actual });
            }
        }
        for op in transaction.ops {
            state.apply_op(&key_of, op)?;
        }
        Ok(CommitOutcome::Committed)
    }

    async fn next_id_above(&self, tag: &str, name: &str, floor: u64) -> StoreResult<u64> {
        let key = self.key(tag, name);
        let mut state = self.lock();
        let id = state.increment(&key)?;
        if id > floor {
            return Ok(id);
        }
        match state.values.get_mut(&key).map(|entry| &mut entry.value) {
            Some(Value::Counter(counter)) => {
                *counter = floor + 1;
                Ok(*counter)
            }
            _ => Err(wrong_type(&key)),
        }
    }

    async fn next_id(&self, tag: &str, name: &str) -> StoreResult<u64> {
        let key = self.key(tag, name);
        self.lock().increment(&key)
    }

    async fn hash_get_all(&self, tag: &str, name: &str) -> StoreResult<Vec<(String, String)>> {
        let key = self.key(tag, name);
        let mut state = self.lock();
        Ok(state
            .read_hash(&key)?
            .map(|hash| hash.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    async fn hash_get_fields(
        &self,
        tag: &str,
        name: &str,
        fields: &[String],
    ) -> StoreResult<Vec<Option<String>>> {
        let key = self.key(tag, name);
        let mut state = self.lock();
        let hash = state.read_hash(&key)?;
        Ok(fields.iter().map(|field| hash.and_then(|hash| hash.get(field).cloned())).collect())
    }

    async fn zrank(
        &self,
        tag: &str,
        name: &str,
        member: &str,
        order: Order,
    ) -> StoreResult<Option<u64>> {
        let key = self.key(tag, name);
        let mut state = self.lock();
        let Some(set) = state.read_sorted_set(&key)? else { return Ok(None) };
        let Some(score) = set.by_member.get(member).copied() else { return Ok(None) };
        let wanted = ScoredMember { score, member: member.to_owned() };
        let ascending_rank = set.ordered.range(..&wanted).count() as u64;
        Ok(Some(match order {
            Order::Ascending => ascending_rank,
            Order::Descending => set.ordered.len() as u64 - 1 - ascending_rank,
        }))
    }

    async fn zrange(
        &self,
        tag: &str,
        name: &str,
        offset: usize,
        count: usize,
        order: Order,
    ) -> StoreResult<Vec<(String, f64)>> {
        let key = self.key(tag, name);
        let mut state = self.lock();
        Ok(state
            .read_sorted_set(&key)?
            .map(|set| set.page(offset, count, order))
            .unwrap_or_default())
    }

    async fn zscore(&self, tag: &str, name: &str, member: &str) -> StoreResult<Option<f64>> {
        let key = self.key(tag, name);
        let mut state = self.lock();
        Ok(state.read_sorted_set(&key)?.and_then(|set| set.by_member.get(member).copied()))
    }

    async fn zcard(&self, tag: &str, name: &str) -> StoreResult<u64> {
        let key = self.key(tag, name);
        let mut state = self.lock();
        Ok(state.read_sorted_set(&key)?.map(|set| set.by_member.len() as u64).unwrap_or(0))
    }

    async fn board_page(
        &self,
        tag: &str,
        name: &str,
        offset: usize,
        count: usize,
    ) -> StoreResult<Vec<BoardEntry>> {
        let key = self.key(tag, name);
        let mut state = self.lock();
        let rows = state
            .read_sorted_set(&key)?
            .map(|set| set.page(offset, count, Order::Descending))
            .unwrap_or_default();
        rows.into_iter()
            .map(|(member, total)| {
                Ok(BoardEntry { member: board_member_id(&member)?, total: total as i64 })
            })
            .collect()
    }

    async fn board_totals(
        &self,
        tag: &str,
        name: &str,
        members: &[u64],
    ) -> StoreResult<Vec<Option<i64>>> {
        let key = self.key(tag, name);
        let mut state = self.lock();
        let mut totals = Vec::with_capacity(members.len());
        for member in members {
            let encoded = state
                .read_hash(&format!("{key}:m"))?
                .and_then(|hash| hash.get(&member.to_string()).cloned());
            let total = match encoded {
                Some(encoded) => state
                    .read_sorted_set(&key)?
                    .and_then(|set| set.by_member.get(&encoded).map(|total| *total as i64)),
                None => None,
            };
            totals.push(total);
        }
        Ok(totals)
    }

    async fn board_copy(&self, tag: &str, from: &str, to: &str, ttl: Duration) -> StoreResult<()> {
        let from = self.key(tag, from);
        let to = self.key(tag, to);
        let mut state = self.lock();
        let set = state.read_sorted_set(&from)?.cloned();
        let members = state.read_hash(&format!("{from}:m"))?.cloned();
        let seq = state.counter(&format!("{from}:seq"))?;
        state.board_delete(&to);
        if let Some(set) = set {
            state
                .values
                .insert(to.clone(), Entry { value: Value::SortedSet(set), expires_at: None });
        }
        if let Some(members) = members {
            state
                .values
                .insert(format!("{to}:m"), Entry { value: Value::Hash(members), expires_at: None });
        }
        if seq > 0 {
            state.values.insert(
                format!("{to}:seq"),
                Entry { value: Value::Counter(seq), expires_at: None },
            );
        }
        state.board_ttl(&to, Some(ttl));
        Ok(())
    }

    async fn apply_score(&self, apply: &ScoreApply) -> StoreResult<ScoreOutcome> {
        match self.score(apply, None)? {
            GuardedScore::Judged(outcome) => Ok(outcome),
            // Only a guard moves a gift.
            GuardedScore::Moved => Err(StoreError::Corrupt("an unguarded gift moved".into())),
        }
    }

    async fn apply_score_guarded(
        &self,
        apply: &ScoreApply,
        guard: &Condition,
    ) -> StoreResult<GuardedScore> {
        self.score(apply, Some(guard))
    }

    async fn record_claim(
        &self,
        tag: &str,
        name: &str,
        value: &[u8],
        ttl: Duration,
    ) -> StoreResult<Option<Vec<u8>>> {
        let key = self.key(tag, name);
        let mut state = self.lock();
        match state.live(&key).map(|entry| &entry.value) {
            Some(Value::Bytes(existing)) => Ok(Some(existing.clone())),
            Some(_) => Err(wrong_type(&key)),
            None => {
                state.values.insert(
                    key,
                    Entry { value: Value::Bytes(value.to_vec()), expires_at: expiry(Some(ttl)) },
                );
                Ok(None)
            }
        }
    }

    async fn record_put(
        &self,
        tag: &str,
        name: &str,
        value: &[u8],
        ttl: Duration,
    ) -> StoreResult<()> {
        let key = self.key(tag, name);
        self.lock().values.insert(
            key,
            Entry { value: Value::Bytes(value.to_vec()), expires_at: expiry(Some(ttl)) },
        );
        Ok(())
    }

    async fn record_swap(
        &self,
        tag: &str,
        name: &str,
        expected: &[u8],
        value: &[u8],
        ttl: Duration,
    ) -> StoreResult<bool> {
        let key = self.key(tag, name);
        let mut state = self.lock();
        match state.live(&key).map(|entry| &entry.value) {
            Some(Value::Bytes(existing)) if existing.as_slice() == expected => {
                state.values.insert(
                    key,
                    Entry { value: Value::Bytes(value.to_vec()), expires_at: expiry(Some(ttl)) },
                );
                Ok(true)
            }
            Some(Value::Bytes(_)) | None => Ok(false),
            Some(_) => Err(wrong_type(&key)),
        }
    }

    async fn record_get(
        &self,
        tag: &str,
        name: &str,
        _ttl: Duration,
    ) -> StoreResult<Option<Vec<u8>>> {
        let key = self.key(tag, name);
        match self.lock().live(&key).map(|entry| &entry.value) {
            None => Ok(None),
            Some(Value::Bytes(value)) => Ok(Some(value.clone())),
            Some(_) => Err(wrong_type(&key)),
        }
    }

    async fn schedule_job(&self, job: &Job) -> StoreResult<()> {
        let mut state = self.lock();
        let lease = match state.jobs.remove(&job.id) {
            Some(previous) => {
                state.job_due.remove(&(previous.queued_at, previous.job.id.clone()));
                previous.lease + 1
            }
            None => 1,
        };
        state.job_due.insert((job.due_ms, job.id.clone()));
        state.jobs.insert(
            job.id.clone(),
            JobRecord { job: job.clone(), attempt: 0, lease, queued_at: job.due_ms },
        );
        Ok(())
    }

    async fn cancel_job(&self, id: &str) -> StoreResult<bool> {
        let mut state = self.lock();
        match state.jobs.remove(id) {
            Some(record) => {
                state.job_due.remove(&(record.queued_at, record.job.id));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn claim_due_jobs(
        &self,
        now_ms: u64,
        limit: usize,
        ttr: Duration,
    ) -> StoreResult<Vec<ClaimedJob>> {
        let mut state = self.lock();
        let due: Vec<(u64, String)> = state
            .job_due
            .iter()
            .take_while(|(due, _)| *due <= now_ms)
            .take(limit)
            .cloned()
            .collect();
        let redeliver_at = now_ms + ttr.as_millis() as u64;
        let mut claimed = Vec::with_capacity(due.len());
        for entry in due {
            state.job_due.remove(&entry);
            let Some(record) = state.jobs.get_mut(&entry.1) else { continue };
            record.attempt += 1;
            record.lease += 1;
            record.queued_at = redeliver_at;
            claimed.push(ClaimedJob {
                job: record.job.clone(),
                attempt: record.attempt,
                lease: record.lease,
            });
            state.job_due.insert((redeliver_at, entry.1));
        }
        Ok(claimed)
    }

    async fn finish_job(&self, id: &str, lease: u64) -> StoreResult<bool> {
        let mut state = self.lock();
        match state.jobs.get(id) {
            Some(record) if record.lease == lease => {
                let queued = (record.queued_at, id.to_owned());
                state.jobs.remove(id);
                state.job_due.remove(&queued);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn bury_job(&self, id: &str, lease: u64, reason: &str, now_ms: u64) -> StoreResult<bool> {
        let options = &self.shared.options;
        let keep = options.dead_jobs_per_bucket.max(1).saturating_mul(options.job_buckets.max(1));
        let mut state = self.lock();
        let record = match state.jobs.get(id) {
            Some(record) if record.lease == lease => record,
            _ => return Ok(false),
        };
        let queued = (record.queued_at, id.to_owned());
        let dead = DeadJob {
            job: record.job.clone(),
            attempts: record.attempt,
            reason: reason.to_owned(),
            buried_at_ms: now_ms,
        };
        state.jobs.remove(id);
        state.job_due.remove(&queued);
        state.dead_jobs.retain(|buried| buried.job.id != id);
        state.dead_jobs.push_back(dead);
        while state.dead_jobs.len() > keep {
            state.dead_jobs.pop_front();
        }
        Ok(true)
    }

    async fn dead_jobs(&self, limit: usize) -> StoreResult<Vec<DeadJob>> {
        let state = self.lock();
        let mut dead: Vec<DeadJob> = state.dead_jobs.iter().cloned().collect();
        dead.sort_by(|a, b| {
            b.buried_at_ms.cmp(&a.buried_at_ms).then_with(|| a.job.id.cmp(&b.job.id))
        });
        dead.truncate(limit);
        Ok(dead)
    }

    async fn dead_job_count(&self) -> StoreResult<u64> {
        Ok(self.lock().dead_jobs.len() as u64)
    }

    async fn next_job_due(&self) -> StoreResult<Option<u64>> {
        Ok(self.lock().job_due.first().map(|(due, _)| *due))
    }

    async fn job_count(&self) -> StoreResult<u64> {
        Ok(self.lock().jobs.len() as u64)
    }

    async fn relay_outbox(&self, tag: &str) -> StoreResult<usize> {
        let key = self.key(tag, reserved::OUTBOX);
        let retention = self.shared.options.event_retention;
        let appended = {
            let mut state = self.lock();
            let entries: Vec<Vec<u8>> = match state.live(&key).map(|entry| &mut entry.value) {
                Some(Value::List(list)) => list.drain(..).collect(),
                Some(_) => return Err(wrong_type(&key)),
                None => Vec::new(),
            };
            state.values.remove(&key);
            let now = wall_ms();
            if now.saturating_sub(state.seen_pruned_at) >= SEEN_PRUNE_EVERY_MS {
                state.seen.retain(|_, at| *at + reserved::SEEN_RETENTION_MS > now);
                state.seen_pruned_at = now;
            }
            let mut appended = 0;
            for entry in entries {
                if entry.len() < OUTBOX_ID_LEN {
                    return Err(StoreError::Corrupt("outbox entry without id".into()));
                }
                let (id, payload) = entry.split_at(OUTBOX_ID_LEN);
                let id = String::from_utf8_lossy(id).into_owned();
                if state.seen.insert(id, now).is_none() {
                    state.append_event(payload.to_vec(), retention);
                    appended += 1;
                }
            }
            state.forget_seen_beyond(retention);
            appended
        };
        if appended > 0 {
            self.shared.appended.notify_waiters();
        }
        Ok(appended)
    }

    async fn outbox_tags(&self) -> StoreResult<Vec<String>> {
        let mut state = self.lock();
        let now = Instant::now();
        state.values.retain(|_, entry| entry.expires_at.is_none_or(|at| at > now));
        let suffix = format!(":{}", reserved::OUTBOX);
        Ok(state
            .values
            .iter()
            .filter(|(key, entry)| {
                key.ends_with(&suffix)
                    && matches!(&entry.value, Value::List(list) if !list.is_empty())
            })
            .filter_map(|(key, _)| self.shared.keys.tag_of(key).map(str::to_owned))
            .collect())
    }

    async fn append_events(&self, payloads: &[Vec<u8>]) -> StoreResult<Vec<String>> {
        let retention = self.shared.options.event_retention;
        let ids = {
            let mut state = self.lock();
            payloads.iter().map(|payload| state.append_event(payload.clone(), retention)).collect()
        };
        self.shared.appended.notify_waiters();
        Ok(ids)
    }

    async fn read_events(
        &self,
        after_id: &str,
        limit: usize,
        block: Option<Duration>,
    ) -> StoreResult<Vec<StoredEvent>> {
        let after = parse_event_id(after_id)?;
        let deadline = block.map(|block| tokio::time::Instant::now() + block);
        loop {
            // Register interest before reading, so an append between the read and the wait
            // still wakes us.
            let appended = self.shared.appended.notified();
            let events: Vec<StoredEvent> = {
                let state = self.lock();
                // Ids increase along the stream: find the first one after `after` by bisection
                // rather than by walking (the stream keeps up to `event_retention` events).
                let start = state
                    .events
                    .partition_point(|event| parse_event_id(&event.id).is_ok_and(|id| id <= after));
                state.events.range(start..).take(limit).cloned().collect()
            };
            let Some(deadline) = deadline else { return Ok(events) };
            if !events.is_empty() {
                return Ok(events);
            }
            if tokio::time::timeout_at(deadline, appended).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    async fn last_event_id(&self) -> StoreResult<String> {
        Ok(self.lock().events.back().map(|event| event.id.clone()).unwrap_or_else(|| "0-0".into()))
    }

    async fn first_event_id(&self) -> StoreResult<Option<String>> {
        Ok(self.lock().events.front().map(|event| event.id.clone()))
    }

    async fn publish(&self, channel: &str, message: &str) -> StoreResult<()> {
        let channels = self.shared.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(sender) = channels.get(channel) {
            // No receiver is not an error: nobody is listening yet.
            let _ = sender.send(message.to_owned());
        }
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> StoreResult<BoxStream<'static, String>> {
        let receiver = {
            let mut channels =
                self.shared.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            channels
                .entry(channel.to_owned())
                .or_insert_with(|| broadcast::channel(256).0)
                .subscribe()
        };
        Ok(BroadcastStream::new(receiver).filter_map(|message| async move { message.ok() }).boxed())
    }

    async fn server_time(&self) -> StoreResult<Option<u64>> {
        // In-process: the process's clock is the reference (offset 0).
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Transaction;

    /// Issue 12 item 10: the ids remembered to de-duplicate relays are bounded by the stream's
    /// retention, not only by their 24 h age.
    #[tokio::test]
    async fn item10_seen_event_ids_are_bounded_by_the_retention() {
        let retention = 5;
        let store =
            MemoryStore::new(StoreOptions { event_retention: retention, ..Default::default() });
        for round in 0..20 {
            let events = (0..3).map(|n| format!("event {round}.{n}").into_bytes()).collect();
            let outbox = Transaction::new("pk:1").op(Op::Outbox { events });
            store.commit(outbox).await.expect("commit");
            assert_eq!(store.relay_outbox("pk:1").await.expect("relay"), 3);
            let seen = store.lock().seen.len();
            assert!(seen < 2 * retention, "round {round}: {seen} ids remembered");
        }
        assert_eq!(store.read_events("0", 100, None).await.expect("read").len(), retention);
    }
}
