//! The Redis implementation of [`Store`], laid out exactly as `DESIGN.md` describes.
//!
//! Single-key operations are plain commands (pipelined when there are several); every step
//! that touches more than one key is one Lua script from `lua/`, whose keys all share one hash
//! tag so it also runs on Redis Cluster. Times that decide what is due or what counts come
//! from the caller, so the injectable clock of the features decides them; only the outbox
//! index's marks use Redis's own clock (TIME), to age marks without comparing replicas' clocks.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use deadpool_redis::{Manager, Pool, Runtime};
use futures::StreamExt;
use futures::stream::BoxStream;
use redis::aio::MultiplexedConnection;
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, Script, ScriptInvocation, Value};

use crate::codec::{
    OUTBOX_ID_LEN, board_member_id, decode_score_record, fingerprint_arg, fnv1a64, outbox_entry_id,
    parse_event_id, wall_ms,
};
use crate::keys::reserved;
use crate::{
    BoardEntry, ClaimedJob, ClaimedScore, CommitOutcome, Condition, DeadJob, GuardedScore, Job,
    Keyspace, Op, Order, RecordRef, ScoreApply, ScoreOutcome, ScoreRefusal, Store, StoreError,
    StoreOptions, StoreResult, StoredEvent, Transaction, Versioned, claim_and_score_in_steps,
};

/// Connections kept by the pool, which only serves blocking stream reads (each holds one for
/// its whole wait): enough for every concurrent reader of one replica.
const POOL_MAX_SIZE: usize = 32;
/// Establishing a TCP connection to Redis: a dead host must not stall a request for long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Waiting for any single reply (scripts here run in microseconds), so that a hung Redis
/// yields `Unavailable` within about two seconds instead of hanging the caller.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How many multiplexed connections the non-blocking commands share.
const SHARED_CONNECTIONS: usize = 4;
/// Waiting for a free pooled connection, creating one, or checking one before reuse.
const POOL_TIMEOUT: Duration = Duration::from_secs(2);
/// How many outbox entries one relay round moves (DESIGN.md "Events").
const RELAY_BATCH: usize = 100;
/// Length of the random id in front of every outbox entry.
/// Keys SCAN looks at per call when looking for outboxes.
const SCAN_COUNT: usize = 500;

/// Connections kept for blocking stream reads on a cluster (a reader beyond them opens one of its
/// own for the read).
const CLUSTER_BLOCKING_CONNECTIONS: usize = 4;
/// The response timeout of those connections: longer than any blocking read waits (each read is
/// also bounded by its own wait plus [`RESPONSE_TIMEOUT`]).
const CLUSTER_BLOCKING_TIMEOUT: Duration = Duration::from_secs(600);
/// The URL schemes that name a Redis Cluster (every listed node is a seed).
const CLUSTER_SCHEMES: [&str; 2] = ["redis+cluster://", "rediss+cluster://"];

/// How often a process scans the whole keyspace for outboxes no commit marked.
const OUTBOX_SCAN_EVERY: Duration = Duration::from_secs(3600);
/// How soon a failed scan is tried again.
const OUTBOX_SCAN_RETRY: Duration = Duration::from_secs(60);

/// Lua of every multi-key step. The helper files are prepended at compile time (`concat!`)
/// rather than loaded as scripts, so each operation stays one EVALSHA.
mod lua {
    pub const COMMIT: &str = include_str!("../lua/commit.lua");
    pub const NEXT_ID: &str = include_str!("../lua/next_id.lua");
    pub const APPLY_SCORE: &str = concat!(
        include_str!("../lua/board_add.lua"),
        "local keep_counted = true\n",
        include_str!("../lua/apply_score.lua")
    );
    pub const GIFT_ONE: &str = concat!(
        include_str!("../lua/board_add.lua"),
        "local function apply_score(keep_counted)\n",
        include_str!("../lua/apply_score.lua"),
        "\nend\n",
        include_str!("../lua/record_find.lua"),
        include_str!("../lua/gift_one.lua")
    );
    pub const RECORD: &str =
        concat!(include_str!("../lua/record_find.lua"), include_str!("../lua/record.lua"));
    pub const BOARD_TOTAL: &str = include_str!("../lua/board_total.lua");
    pub const BOARD_COPY: &str = include_str!("../lua/board_copy.lua");
    pub const SCHEDULE_JOB: &str =
        concat!(include_str!("../lua/job_record.lua"), include_str!("../lua/schedule_job.lua"));
    pub const CANCEL_JOB: &str = include_str!("../lua/cancel_job.lua");
    pub const BURY_JOB: &str =
        concat!(include_str!("../lua/job_record.lua"), include_str!("../lua/bury_job.lua"));
    pub const CLAIM_JOBS: &str =
        concat!(include_str!("../lua/job_record.lua"), include_str!("../lua/claim_jobs.lua"));
    pub const FINISH_JOB: &str =
        concat!(include_str!("../lua/job_record.lua"), include_str!("../lua/finish_job.lua"));
    pub const RELAY_APPEND: &str = include_str!("../lua/relay_append.lua");
    pub const RELAY_POP: &str = include_str!("../lua/relay_pop.lua");
    pub const RECORD_SWAP: &str = include_str!("../lua/record_swap.lua");
    pub const OUTBOX_MARK: &str = include_str!("../lua/outbox_mark.lua");
    pub const OUTBOX_FORGET: &str = include_str!("../lua/outbox_forget.lua");
}

/// The scripts, hashed once. `redis::Script` sends EVALSHA and falls back to loading the script
/// when Redis answers NOSCRIPT (after a restart or SCRIPT FLUSH).
struct Scripts {
    commit: Script,
    next_id: Script,
    apply_score: Script,
    gift_one: Script,
    board_total: Script,
    board_copy: Script,
    schedule_job: Script,
    cancel_job: Script,
    bury_job: Script,
    claim_jobs: Script,
    finish_job: Script,
    relay_append: Script,
    relay_pop: Script,
    record: Script,
    record_swap: Script,
    outbox_mark: Script,
    outbox_forget: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            commit: Script::new(lua::COMMIT),
            next_id: Script::new(lua::NEXT_ID),
            apply_score: Script::new(lua::APPLY_SCORE),
            gift_one: Script::new(lua::GIFT_ONE),
            board_total: Script::new(lua::BOARD_TOTAL),
            board_copy: Script::new(lua::BOARD_COPY),
            schedule_job: Script::new(lua::SCHEDULE_JOB),
            cancel_job: Script::new(lua::CANCEL_JOB),
            bury_job: Script::new(lua::BURY_JOB),
            claim_jobs: Script::new(lua::CLAIM_JOBS),
            finish_job: Script::new(lua::FINISH_JOB),
            relay_append: Script::new(lua::RELAY_APPEND),
            relay_pop: Script::new(lua::RELAY_POP),
            record: Script::new(lua::RECORD),
            record_swap: Script::new(lua::RECORD_SWAP),
            outbox_mark: Script::new(lua::OUTBOX_MARK),
            outbox_forget: Script::new(lua::OUTBOX_FORGET),
        }
    }
}

/// The production store: every replica shares the same Redis, so any replica can serve any
/// request. Cheap to clone; clones share the connections.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// A single Redis, or a Redis Cluster.
    backend: Backend,
    keys: Keyspace,
    options: StoreOptions,
    scripts: Scripts,
    /// When this process last scanned the keyspace for outboxes (see `outbox_tags`).
    outboxes_scanned_at: std::sync::Mutex<Option<Instant>>,
}

/// Where the commands go.
enum Backend {
    Single(Single),
    Cluster(Cluster),
}

/// One Redis (`redis://`).
struct Single {
    /// Multiplexed connections shared by every non-blocking command, used round-robin. They
    /// are not checked out of the pool per call: deadpool-redis checks a connection with a PING
    /// each time it hands one out, which would double the round trips of the gift hot path.
    /// Several rather than one so that a large reply does not hold up every other request.
    shared: Vec<tokio::sync::Mutex<SharedSlot>>,
    next_shared: AtomicUsize,
    connection_config: AsyncConnectionConfig,
    /// Exclusive connections for blocking stream reads, which would stall every other request
    /// pipelined on a shared connection.
    pool: Pool,
    /// Opens the shared connections, and the dedicated pub/sub ones.
    client: redis::Client,
}

/// A Redis Cluster (`redis+cluster://seed1,seed2,...`). The cluster connection routes every
/// command by its first key's slot, follows MOVED and ASK, and refreshes the slot map when the
/// topology changes (a failover, a resharding); each of its per-node connections is
/// multiplexed, so one clone per call is all the sharing needed.
struct Cluster {
    connection: ClusterConnection,
    /// Opens the connections for blocking stream reads.
    client: ClusterClient,
    /// Connections for blocking stream reads: a blocking XREAD on the shared connection would
    /// hold up every request to that node behind it.
    blocking: Vec<tokio::sync::Mutex<Option<ClusterConnection>>>,
    /// The seed nodes as single-node clients, for pub/sub: a PUBLISH on any node of a cluster
    /// reaches the subscribers of every node.
    seeds: Vec<redis::Client>,
}

/// One shared connection, replaced (with a new generation) after a connection-level failure.
#[derive(Default)]
struct SharedSlot {
    generation: u64,
    connection: Option<MultiplexedConnection>,
}

/// A clone of a shared connection, remembering where it came from so a failure can retire it.
struct SharedConnection {
    slot: usize,
    generation: u64,
    connection: MultiplexedConnection,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("RedisStore")
            .field("prefix", &self.inner.keys.prefix())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis at `url` (`redis://host:port/db`), namespacing every key under
    /// `prefix`. Fails with [`StoreError::Unavailable`] when the URL is invalid or Redis does
    /// not answer a PING, so a misconfiguration shows at start-up rather than on the first
    /// request.
    pub async fn connect(
        url: &str,
        prefix: &str,
        options: StoreOptions,
    ) -> StoreResult<RedisStore> {
        if prefix.contains(['{', '}']) {
            // Keyspace::new would panic: braces in the prefix would change the hash slot.
            return Err(StoreError::Unavailable(format!(
                "invalid redis key prefix {prefix:?}: braces are not allowed"
            )));
        }
        let backend = match cluster_seeds(url)? {
            Some(seeds) => Backend::Cluster(Cluster::connect(&seeds).await?),
            None => Backend::Single(Single::connect(url)?),
        };
        let store = RedisStore {
            inner: Arc::new(Inner {
                backend,
                keys: Keyspace::new(prefix),
                options,
                scripts: Scripts::new(),
                outboxes_scanned_at: std::sync::Mutex::new(None),
            }),
        };
        store.ping().await?;
        Ok(store)
    }

    /// Whether this store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner.backend, Backend::Cluster(_))
    }

    /// The single-Redis connections (`None` on a cluster).
    fn single(&self) -> Option<&Single> {
        match &self.inner.backend {
            Backend::Single(single) => Some(single),
            Backend::Cluster(_) => None,
        }
    }

    /// The next shared connection, opening it first if it is not open (yet, or any more).
    async fn shared(&self) -> StoreResult<SharedConnection> {
        let Some(single) = self.single() else {
            return Err(StoreError::Unavailable("no single-node connection on a cluster".into()));
        };
        let slot = single.next_shared.fetch_add(1, Ordering::Relaxed) % SHARED_CONNECTIONS;
        // `slot` is below SHARED_CONNECTIONS, the length of `shared`: indexing cannot fail.
        let mut guard = single.shared[slot].lock().await;
        if let Some(connection) = &guard.connection {
            return Ok(SharedConnection {
                slot,
                generation: guard.generation,
                connection: connection.clone(),
            });
        }
        // Opened under the slot's lock, so concurrent callers wait for one connection instead
        // of each opening their own.
        let opening =
            single.client.get_multiplexed_async_connection_with_config(&single.connection_config);
        let connection = tokio::time::timeout(CONNECT_TIMEOUT + RESPONSE_TIMEOUT, opening)
            .await
            .map_err(|_| StoreError::Unavailable("connecting to redis timed out".into()))?
            .map_err(redis_error)?;
        guard.generation += 1;
        guard.connection = Some(connection.clone());
        Ok(SharedConnection { slot, generation: guard.generation, connection })
    }

    /// Maps a failure on a shared connection, retiring the connection when the failure was
    /// the connection's rather than the command's (the next call opens a new one).
    async fn failed(&self, shared: &SharedConnection, error: RedisError) -> StoreError {
        if let Some(single) = self.single()
            && (error.is_io_error() || error.is_unrecoverable_error())
        {
            // `shared.slot` came from `shared()`, which only hands out valid indexes.
            let mut guard = single.shared[shared.slot].lock().await;
            if guard.generation == shared.generation {
                guard.connection = None;
            }
            tracing::warn!(%error, "redis connection failed; it will be reopened");
        }
        redis_error(error)
    }

    /// Runs one command on a shared connection.
    async fn query(&self, command: &redis::Cmd) -> StoreResult<Value> {
        if let Backend::Cluster(cluster) = &self.inner.backend {
            let mut connection = cluster.connection.clone();
            return command.query_async(&mut connection).await.map_err(redis_error);
        }
        let mut shared = self.shared().await?;
        match command.query_async(&mut shared.connection).await {
            Ok(reply) => Ok(reply),
            Err(error) => Err(self.failed(&shared, error).await),
        }
    }

    /// Runs a pipeline on a shared connection (one round trip); one reply per command. On a
    /// cluster, where a pipeline must stay within one slot, its commands go out concurrently,
    /// each to its own slot's node (one round trip per node, in parallel).
    async fn query_pipeline(&self, pipeline: &redis::Pipeline) -> StoreResult<Vec<Value>> {
        if let Backend::Cluster(cluster) = &self.inner.backend {
            let replies = pipeline.cmd_iter().map(|command| {
                let mut connection = cluster.connection.clone();
                async move { command.query_async::<Value>(&mut connection).await }
            });
            return futures::future::try_join_all(replies).await.map_err(redis_error);
        }
        let mut shared = self.shared().await?;
        match pipeline.query_async(&mut shared.connection).await {
            Ok(replies) => Ok(replies),
            Err(error) => Err(self.failed(&shared, error).await),
        }
    }

    /// Runs a prepared script that writes: [`RedisStore::run_read_script`], or with
    /// `min_replicas` the script followed by WAIT in the same round trip
    /// ([`RedisStore::replicated`]).
    async fn run_script(&self, invocation: &ScriptInvocation<'_>) -> StoreResult<Value> {
        if self.inner.options.min_replicas == 0 {
            return self.run_read_script(invocation).await;
        }
        let mut pipeline = redis::pipe();
        pipeline.invoke_script(invocation);
        match self.replicated_one(pipeline).await {
            // A node that does not know the script yet (a fresh or failed-over primary): the
            // pipeline cannot fall back by itself as `invoke_async` does.
            Err(StoreError::Unavailable(message)) if is_no_script(&message) => {
                self.load_script(invocation).await?;
                let mut pipeline = redis::pipe();
                pipeline.invoke_script(invocation);
                self.replicated_one(pipeline).await
            }
            other => other,
        }
    }

    /// Runs a prepared script on a shared connection: EVALSHA, plus SCRIPT LOAD and a second
    /// EVALSHA only when Redis does not know the script yet. Never waits for replicas (the
    /// scripts that write go through [`RedisStore::run_script`]).
    async fn run_read_script(&self, invocation: &ScriptInvocation<'_>) -> StoreResult<Value> {
        if let Backend::Cluster(cluster) = &self.inner.backend {
            // Routed by the first key; every key of a script shares its tag, so its slot.
            let mut connection = cluster.connection.clone();
            return invocation.invoke_async(&mut connection).await.map_err(redis_error);
        }
        let mut shared = self.shared().await?;
        match invocation.invoke_async(&mut shared.connection).await {
            Ok(reply) => Ok(reply),
            Err(error) => Err(self.failed(&shared, error).await),
        }
    }

    /// SCRIPT LOAD (on every node of a cluster).
    async fn load_script(&self, invocation: &ScriptInvocation<'_>) -> StoreResult<()> {
        if let Backend::Cluster(cluster) = &self.inner.backend {
            let mut connection = cluster.connection.clone();
            invocation.load_async(&mut connection).await.map_err(redis_error)?;
            return Ok(());
        }
        let mut shared = self.shared().await?;
        match invocation.load_async(&mut shared.connection).await {
            Ok(_) => Ok(()),
            Err(error) => Err(self.failed(&shared, error).await),
        }
    }

    /// One write command: with `min_replicas`, followed by WAIT ([`RedisStore::replicated`]).
    async fn write(&self, command: &redis::Cmd) -> StoreResult<Value> {
        if self.inner.options.min_replicas == 0 {
            return self.query(command).await;
        }
        let mut pipeline = redis::pipe();
        pipeline.add_command(command.clone());
        self.replicated_one(pipeline).await
    }

    /// Runs `pipeline` (one write, whose keys share one slot) followed by `WAIT min_replicas
    /// replica_wait` in one round trip on one connection (on a cluster, to the write's node:
    /// WAIT names no key and goes where the write goes), and answers the write's reply once
    /// enough replicas acknowledged it. Fewer is `Unavailable`: the write happened on the
    /// primary but could still be lost with it, and a retry (idempotent) settles it.
    async fn replicated(&self, mut pipeline: redis::Pipeline) -> StoreResult<Vec<Value>> {
        let options = &self.inner.options;
        pipeline.cmd("WAIT").arg(options.min_replicas).arg(millis(options.replica_wait).max(1));
        let mut replies = match &self.inner.backend {
            Backend::Cluster(cluster) => {
                let mut connection = cluster.connection.clone();
                pipeline.query_async::<Vec<Value>>(&mut connection).await.map_err(redis_error)?
            }
            Backend::Single(_) => {
                let mut shared = self.shared().await?;
                match pipeline.query_async::<Vec<Value>>(&mut shared.connection).await {
                    Ok(replies) => replies,
                    Err(error) => return Err(self.failed(&shared, error).await),
                }
            }
        };
        let Some(acknowledged) = replies.pop() else {
            return Err(corrupt("a replicated write answered no WAIT reply"));
        };
        let acknowledged = reply_int(acknowledged)?;
        if acknowledged < i64::from(options.min_replicas) {
            tracing::warn!(
                acknowledged,
                wanted = options.min_replicas,
                "a redis write was not acknowledged by enough replicas in time"
            );
            return Err(StoreError::Unavailable(format!(
                "the write reached the primary but only {acknowledged} of {} replica(s) within \
                 {} ms: it could be lost in a failover; retry",
                options.min_replicas,
                millis(options.replica_wait)
            )));
        }
        Ok(replies)
    }

    /// [`RedisStore::replicated`] of a pipeline of one command: its reply.
    async fn replicated_one(&self, pipeline: redis::Pipeline) -> StoreResult<Value> {
        let mut replies = self.replicated(pipeline).await?;
        match (replies.pop(), replies.is_empty()) {
            (Some(reply), true) => Ok(reply),
            _ => Err(corrupt("a replicated write answered a different number of replies")),
        }
    }

    /// One gift on one PK, under `guard` when given: exactly one round trip, one EVALSHA on the
    /// PK's tag (see lua/apply_score.lua).
    async fn score(
        &self,
        apply: &ScoreApply,
        guard: Option<&Condition>,
    ) -> StoreResult<GuardedScore> {
        let mut invocation = self.scripts().apply_score.prepare_invoke();
        self.score_keys_and_args(&mut invocation, apply, guard);
        let reply = reply_array(self.run_script(&invocation).await?)?;
        score_reply(reply.into_iter(), guard.is_some())
    }

    /// Adds apply_score's keys and arguments for `apply` (and `guard`) to `invocation`, after
    /// whatever it holds.
    fn score_keys_and_args(
        &self,
        invocation: &mut ScriptInvocation<'_>,
        apply: &ScoreApply,
        guard: Option<&Condition>,
    ) {
        let key = |name: &str| self.key(&apply.tag, name);
        invocation.key(key(&apply.window)).key(key(reserved::SCORE_RECORDS));
        for (hash, _, _) in &apply.counters {
            invocation.key(key(hash));
        }
        for (board, _, _) in &apply.boards {
            invocation
                .key(key(board))
                .key(key(&format!("{board}:m")))
                .key(key(&format!("{board}:seq")));
        }
        for (hash, _, _) in &apply.fields {
            invocation.key(key(hash));
        }
        let guard_version = match guard {
            Some(Condition::Version { name, version }) => {
                invocation.key(key(name));
                version.to_string()
            }
            None => String::new(),
        };
        invocation.key(key(reserved::SCORE_RECORDS_PREVIOUS));
        invocation
            .arg(&apply.txn_id)
            .arg(apply.sent_at_ms)
            .arg(millis(apply.ttl))
            .arg(apply.counters.len())
            .arg(apply.boards.len())
            .arg(guard_version)
            .arg(fingerprint_arg(apply.fingerprint))
            .arg(self.inner.options.score_records_per_battle.max(1));
        for (_, field, delta) in &apply.counters {
            invocation.arg(field).arg(*delta);
        }
        for (_, member, delta) in &apply.boards {
            invocation.arg(*member).arg(*delta);
        }
        for (_, field, value) in &apply.fields {
            invocation.arg(field).arg(value);
        }
    }

    fn key(&self, tag: &str, name: &str) -> String {
        self.inner.keys.key(tag, name)
    }

    /// Where record `name` of `tag`, kept for `ttl`, is found on one Redis (DESIGN.md
    /// "Idempotency records"): its own key, or a field of its bucket for the current time slot
    /// (slots are `ttl` long), the next or the previous one.
    fn record_place(&self, tag: &str, name: &str, ttl: Duration) -> RecordPlace {
        let mut digest = sha1_smol::Sha1::new();
        digest.update(tag.as_bytes());
        digest.update(&[0]);
        digest.update(name.as_bytes());
        let digest = digest.digest().bytes();
        let (field, rest) = digest.split_at(RECORD_FIELD_BYTES);
        let bucket =
            u64::from_le_bytes(rest[..8].try_into().unwrap_or_default()) % self.record_buckets();
        let slot_ms = px(ttl);
        let now_ms = millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default());
        let slot = now_ms / slot_ms;
        let tag_of_bucket = format!("{}:{bucket}", reserved::RECORD_BUCKET_TAG);
        let bucket_key = |slot: u64| self.key(&tag_of_bucket, &format!("{slot_ms}:{slot}"));
        RecordPlace {
            own: self.key(tag, name),
            buckets: [bucket_key(slot), bucket_key(slot + 1), bucket_key(slot.saturating_sub(1))],
            field: field.to_vec(),
            // The slot's records live at least `ttl` after the slot ends. Relative (PEXPIRE), so
            // that Redis's clock counts it down: an expiry time from a clock behind Redis's
            // could lie in the past and drop every record of the bucket.
            bucket_ttl_ms: slot.saturating_add(2).saturating_mul(slot_ms).saturating_sub(now_ms),
        }
    }

    /// Runs record.lua's `operation` (one Redis) on record `name` of `tag` with `args`.
    async fn record_script(
        &self,
        place: RecordPlace,
        operation: &str,
        args: &[&[u8]],
    ) -> StoreResult<Value> {
        let mut invocation = self.scripts().record.prepare_invoke();
        let [current, next, previous] = &place.buckets;
        invocation.key(&place.own).key(current).key(next).key(previous);
        invocation.arg(operation).arg(&place.field);
        for arg in args {
            invocation.arg(*arg);
        }
        if operation == "get" {
            return self.run_read_script(&invocation).await;
        }
        self.run_script(&invocation).await
    }

    fn scripts(&self) -> &Scripts {
        &self.inner.scripts
    }

    fn record_buckets(&self) -> u64 {
        self.inner.options.record_buckets.max(1)
    }

    fn bucket_count(&self) -> usize {
        self.inner.options.job_buckets.max(1)
    }

    fn retention(&self) -> usize {
        self.inner.options.event_retention.max(1)
    }

    /// The dead-letter keys (ids by time, records) of delay-queue bucket `bucket`.
    fn dead_keys(&self, bucket: usize) -> (String, String) {
        let tag = format!("{}:{bucket}", reserved::JOB_BUCKET_TAG);
        (self.key(&tag, reserved::JOB_DEAD), self.key(&tag, reserved::JOB_DEAD_DATA))
    }

    /// The `due` and `jobs` keys of delay-queue bucket `bucket`.
    fn bucket_keys(&self, bucket: usize) -> (String, String) {
        let tag = format!("{}:{bucket}", reserved::JOB_BUCKET_TAG);
        (self.key(&tag, reserved::JOB_DUE), self.key(&tag, reserved::JOB_DATA))
    }

    fn bucket_of(&self, job_id: &str) -> usize {
        // The remainder is below bucket_count, which is a usize.
        (fnv1a64(job_id) % self.bucket_count() as u64) as usize
    }

    fn stream_key(&self) -> String {
        self.key(reserved::EVENTS_TAG, reserved::EVENTS_STREAM)
    }
}

// ---- errors and reply decoding -----------------------------------------------------------------

/// Redis errors are `Unavailable` (the operation did not happen or may be retried), except the
/// ones that say the data itself is wrong: a key of another type (a foreign writer), a reply
/// that does not decode, or a script's own `CORRUPT` error reply.
fn redis_error(error: RedisError) -> StoreError {
    // In a pipeline (the replica wait's), the reply's code only shows in the text.
    let text = error.to_string();
    let wrong_data = error.kind() == ErrorKind::Parse
        || matches!(error.code(), Some("WRONGTYPE" | "CORRUPT"))
        || text.contains("WRONGTYPE")
        || text.contains("CORRUPT");
    if wrong_data { StoreError::Corrupt(text) } else { StoreError::Unavailable(text) }
}

/// Whether an error's text is Redis's NOSCRIPT (as redis-rs words it, alone or in a pipeline).
fn is_no_script(message: &str) -> bool {
    message.contains("NOSCRIPT") || message.contains("NoScript")
}

fn corrupt(what: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// A reply that carries bytes; `None` for nil.
fn reply_bytes(value: Value) -> StoreResult<Option<Vec<u8>>> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => Ok(Some(bytes)),
        Value::SimpleString(text) => Ok(Some(text.into_bytes())),
        Value::VerbatimString { text, .. } => Ok(Some(text.into_bytes())),
        Value::Okay => Ok(Some(b"OK".to_vec())),
        Value::Int(number) => Ok(Some(number.to_string().into_bytes())),
        other => Err(corrupt(format_args!("expected a string reply, got {other:?}"))),
    }
}

fn reply_string(value: Value) -> StoreResult<Option<String>> {
    reply_bytes(value)?
        .map(|bytes| String::from_utf8(bytes).map_err(|_| corrupt("reply is not valid UTF-8")))
        .transpose()
}

fn required_string(value: Value) -> StoreResult<String> {
    reply_string(value)?.ok_or_else(|| corrupt("unexpected nil reply"))
}

fn reply_int(value: Value) -> StoreResult<i64> {
    match value {
        Value::Int(number) => Ok(number),
        other => {
            let text = required_string(other)?;
            text.parse().map_err(|_| corrupt(format_args!("{text:?} is not an integer")))
        }
    }
}

fn reply_float(value: Value) -> StoreResult<Option<f64>> {
    match value {
        Value::Double(number) => Ok(Some(number)),
        Value::Int(number) => Ok(Some(number as f64)),
        other => reply_string(other)?
            .map(|text| text.parse().map_err(|_| corrupt(format_args!("{text:?} is not a score"))))
            .transpose(),
    }
}

fn reply_array(value: Value) -> StoreResult<Vec<Value>> {
    match value {
        Value::Nil => Ok(Vec::new()),
        Value::Array(items) | Value::Set(items) => Ok(items),
        other => Err(corrupt(format_args!("expected an array reply, got {other:?}"))),
    }
}

/// Field/value or member/score pairs, whichever way the protocol shapes them: a flat array
/// (RESP2), an array of two-element arrays or a map (RESP3).
fn reply_pairs(value: Value) -> StoreResult<Vec<(Value, Value)>> {
    if let Value::Map(pairs) = value {
        return Ok(pairs);
    }
    let items = reply_array(value)?;
    if matches!(items.first(), Some(Value::Array(_))) {
        return items
            .into_iter()
            .map(|item| match reply_array(item)?.as_mut_slice() {
                [first, second] => Ok((std::mem::take(first), std::mem::take(second))),
                _ => Err(corrupt("expected a pair")),
            })
            .collect();
    }
    if items.len() % 2 != 0 {
        return Err(corrupt("odd number of elements in a pair list"));
    }
    let mut pairs = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(first), Some(second)) = (items.next(), items.next()) {
        pairs.push((first, second));
    }
    Ok(pairs)
}

/// Members with their scores, from a `WITHSCORES` reply.
fn reply_scored(value: Value) -> StoreResult<Vec<(String, f64)>> {
    reply_pairs(value)?
        .into_iter()
        .map(|(member, score)| {
            let score = reply_float(score)?.ok_or_else(|| corrupt("nil score"))?;
            Ok((required_string(member)?, score))
        })
        .collect()
}

/// An aggregate from `HMGET key v d`.
fn decode_versioned(value: Value) -> StoreResult<Option<Versioned>> {
    let mut fields = reply_array(value)?.into_iter();
    let (Some(version), Some(data)) = (fields.next(), fields.next()) else {
        return Err(corrupt("HMGET returned fewer than two fields"));
    };
    match (reply_string(version)?, reply_bytes(data)?) {
        (None, None) => Ok(None),
        (Some(version), Some(value)) => {
            let version = version
                .parse()
                .map_err(|_| corrupt(format_args!("aggregate version {version:?}")))?;
            Ok(Some(Versioned { version, value }))
        }
        _ => Err(corrupt("aggregate hash without both a version and a value")),
    }
}

/// Totals are integers stored as exact doubles; anything else is not ours.
fn board_total_of(score: f64) -> StoreResult<i64> {
    if score.fract() != 0.0 || !score.is_finite() {
        return Err(corrupt(format_args!("leaderboard total {score} is not an integer")));
    }
    Ok(score as i64)
}

/// The part of a job record the scripts never rewrite: `"<due ms> <topic length> <topic>"`
/// followed by the body bytes (see `lua/job_record.lua`).
fn encode_job_rest(job: &Job) -> Vec<u8> {
    let mut rest = format!("{} {} {}", job.due_ms, job.topic.len(), job.topic).into_bytes();
    rest.extend_from_slice(&job.body);
    rest
}

/// Reads a record of space-terminated decimal numbers and length-prefixed strings (the delay
/// queue's and the dead letters' formats); `bad` is the error of a malformed one.
struct RecordReader<'a, E: Fn() -> StoreError> {
    rest: &'a [u8],
    bad: E,
}

impl<'a, E: Fn() -> StoreError> RecordReader<'a, E> {
    /// The next `"<number> "`.
    fn number(&mut self) -> StoreResult<u64> {
        let space = self.rest.iter().position(|byte| *byte == b' ').ok_or_else(&self.bad)?;
        let text = std::str::from_utf8(&self.rest[..space]).map_err(|_| (self.bad)())?;
        self.rest = &self.rest[space + 1..];
        text.parse().map_err(|_| (self.bad)())
    }

    /// The next `"<length> "` as a count.
    fn length(&mut self) -> StoreResult<usize> {
        usize::try_from(self.number()?).map_err(|_| (self.bad)())
    }

    /// The next `len` bytes, and what follows them.
    fn split(self, len: usize) -> StoreResult<(&'a [u8], &'a [u8])> {
        if self.rest.len() < len {
            return Err((self.bad)());
        }
        Ok(self.rest.split_at(len))
    }
}

/// Decodes a full job record `"<attempt> <lease> <due ms> <topic length> <topic><body>"`.
fn decode_job(id: String, record: &[u8]) -> StoreResult<ClaimedJob> {
    let bad = || corrupt(format_args!("bad delay-queue record for job {id:?}"));
    let mut reader = RecordReader { rest: record, bad };
    let attempt = u32::try_from(reader.number()?).map_err(|_| bad())?;
    let lease = reader.number()?;
    let due_ms = reader.number()?;
    let topic_len = reader.length()?;
    let (topic, body) = reader.split(topic_len)?;
    let topic = String::from_utf8(topic.to_vec()).map_err(|_| bad())?;
    Ok(ClaimedJob { job: Job { id, topic, due_ms, body: body.to_vec() }, attempt, lease })
}

/// Decodes a dead record `"<buried ms> <reason length> <reason><job record>"` (see
/// `lua/bury_job.lua`).
fn decode_dead_job(id: String, record: &[u8]) -> StoreResult<DeadJob> {
    let bad = || corrupt(format_args!("bad dead-letter record for job {id:?}"));
    let mut reader = RecordReader { rest: record, bad };
    let buried_at_ms = reader.number()?;
    let reason_len = reader.length()?;
    let (reason, job) = reader.split(reason_len)?;
    let reason = String::from_utf8_lossy(reason).into_owned();
    let claimed = decode_job(id, job)?;
    Ok(DeadJob { job: claimed.job, attempts: claimed.attempt, reason, buried_at_ms })
}

/// An apply_score reply (after its first element when the caller took it): see
/// lua/apply_score.lua.
fn score_reply(mut reply: impl Iterator<Item = Value>, guarded: bool) -> StoreResult<GuardedScore> {
    let status = reply.next().map(required_string).transpose()?;
    let mut record = || -> StoreResult<(u64, Vec<i64>, Vec<i64>)> {
        let record = reply.next().map(required_string).transpose()?;
        decode_score_record(&record.ok_or_else(|| corrupt("gift reply without record"))?)
    };
    let judged = |outcome| Ok(GuardedScore::Judged(outcome));
    match status.as_deref() {
        Some("out") => judged(ScoreOutcome::Outside),
        Some("reused") => judged(ScoreOutcome::Refused(ScoreRefusal::TxnReused)),
        Some("over") => judged(ScoreOutcome::Refused(ScoreRefusal::ScoreLimit)),
        Some("moved") if guarded => Ok(GuardedScore::Moved),
        Some("ok") => {
            let (epoch, counters, boards) = record()?;
            judged(ScoreOutcome::Applied { epoch, counters, boards })
        }
        Some("dup") => {
            let (epoch, counters, boards) = record()?;
            judged(ScoreOutcome::Duplicate { epoch, counters, boards })
        }
        _ => Err(corrupt("unexpected apply_score reply")),
    }
}

/// Events of an XRANGE/XREVRANGE reply (or of one stream of an XREAD reply).
fn decode_events(value: Value) -> StoreResult<Vec<StoredEvent>> {
    reply_array(value)?
        .into_iter()
        .map(|entry| {
            let mut parts = reply_array(entry)?.into_iter();
            let (Some(id), Some(fields)) = (parts.next(), parts.next()) else {
                return Err(corrupt("stream entry without id and fields"));
            };
            let id = required_string(id)?;
            let mut payload = None;
            for (field, value) in reply_pairs(fields)? {
                if reply_bytes(field)?.as_deref() == Some(b"p") {
                    payload = reply_bytes(value)?;
                }
            }
            let payload = payload
                .ok_or_else(|| corrupt(format_args!("stream entry {id} without field p")))?;
            Ok(StoredEvent { id, payload })
        })
        .collect()
}

/// Events of an XREAD reply on one stream (nil when nothing came).
fn decode_xread(value: Value) -> StoreResult<Vec<StoredEvent>> {
    let streams: Vec<Value> = match value {
        Value::Nil => return Ok(Vec::new()),
        Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        other => reply_array(other)?
            .into_iter()
            .map(|stream| {
                let mut parts = reply_array(stream)?.into_iter();
                parts.nth(1).ok_or_else(|| corrupt("XREAD stream without entries"))
            })
            .collect::<StoreResult<_>>()?,
    };
    let mut events = Vec::new();
    for entries in streams {
        events.extend(decode_events(entries)?);
    }
    Ok(events)
}

// ---- small encoders ----------------------------------------------------------------------------

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A TTL as a script argument: "" for none.
fn ttl_arg(ttl: Option<Duration>) -> String {
    ttl.map(|ttl| millis(ttl).to_string()).unwrap_or_default()
}

/// How many bytes of a record's digest name it inside its bucket (96 bits: two records of one
/// bucket and slot sharing them is about as likely as 2^-60 at a million records).
const RECORD_FIELD_BYTES: usize = 12;

/// Where a record is found on one Redis ([`RedisStore::record_place`]).
struct RecordPlace {
    /// Its own key (what every write but `claim_and_score`'s done record goes to).
    own: String,
    /// Its bucket hashes: the current slot's (where `claim_and_score` leaves it), the next
    /// one's and the previous one's.
    buckets: [String; 3],
    /// Its field in them.
    field: Vec<u8>,
    /// How long the current slot's bucket is to live from now (ms): until a slot after the
    /// current one ends (by this process's clock).
    bucket_ttl_ms: u64,
}

/// Milliseconds for `SET .. PX`, which rejects 0.
fn px(ttl: Duration) -> u64 {
    millis(ttl).max(1)
}

/// A sorted-set rank as a command argument (Redis ranks are signed 64-bit).
fn rank(index: usize) -> i64 {
    i64::try_from(index).unwrap_or(i64::MAX)
}

/// Escapes the glob characters of Redis `SCAN MATCH`.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// The distinct keys of one script call, numbered from 1 as Lua's KEYS table.
struct ScriptKeys<'a> {
    keys: &'a Keyspace,
    tag: &'a str,
    index: HashMap<String, usize>,
}

impl<'a> ScriptKeys<'a> {
    fn new(keys: &'a Keyspace, tag: &'a str) -> Self {
        Self { keys, tag, index: HashMap::new() }
    }

    /// The index of `name`'s key, adding it to the invocation on first use.
    fn of(&mut self, invocation: &mut ScriptInvocation<'_>, name: &str) -> usize {
        if let Some(index) = self.index.get(name) {
            return *index;
        }
        invocation.key(self.keys.key(self.tag, name));
        let index = self.index.len() + 1;
        self.index.insert(name.to_owned(), index);
        index
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        match self.query(&redis::cmd("PING")).await? {
            Value::SimpleString(_) | Value::BulkString(_) | Value::Okay => Ok(()),
            other => Err(StoreError::Unavailable(format!("unexpected PING reply {other:?}"))),
        }
    }

    fn backend(&self) -> &'static str {
        if self.is_cluster() { "redis-cluster" } else { "redis" }
    }

    // ---- aggregates and transactions ---------------------------------------------------------

    async fn get(&self, tag: &str, name: &str) -> StoreResult<Option<Versioned>> {
        let reply =
            self.query(redis::cmd("HMGET").arg(self.key(tag, name)).arg("v").arg("d")).await?;
        decode_versioned(reply)
    }

    async fn get_many(&self, keys: &[(&str, &str)]) -> StoreResult<Vec<Option<Versioned>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // One pipeline: the keys may live on different tags, so no script, but still one
        // round trip.
        let mut pipeline = redis::pipe();
        for (tag, name) in keys {
            pipeline.cmd("HMGET").arg(self.key(tag, name)).arg("v").arg("d");
        }
        let replies = self.query_pipeline(&pipeline).await?;
        if replies.len() != keys.len() {
            return Err(corrupt("pipeline returned a different number of replies"));
        }
        replies.into_iter().map(decode_versioned).collect()
    }

    async fn commit(&self, transaction: Transaction) -> StoreResult<CommitOutcome> {
        if transaction.conditions.is_empty() && transaction.ops.is_empty() {
            return Ok(CommitOutcome::Committed);
        }
        if let Some(Op::ZAdd { name, member, .. }) =
            transaction.ops.iter().find(|op| matches!(op, Op::ZAdd { score, .. } if score.is_nan()))
        {
            // Redis would refuse it half way through the script; refuse it before writing.
            return Err(corrupt(format_args!("NaN score for {member} in {name}")));
        }
        let tag = transaction.tag.as_str();
        if transaction
            .ops
            .iter()
            .any(|op| matches!(op, Op::Outbox { events } if !events.is_empty()))
        {
            // Before the commit: a crash between the commit and its relay must leave the
            // outbox where the sweeper looks.
            self.mark_outbox(tag).await?;
        }
        let mut invocation = self.scripts().commit.prepare_invoke();
        let mut keys = ScriptKeys::new(&self.inner.keys, tag);
        invocation.arg(transaction.conditions.len());
        for condition in &transaction.conditions {
            let Condition::Version { name, version } = condition;
            let index = keys.of(&mut invocation, name);
            invocation.arg(index).arg(*version);
        }
        for op in &transaction.ops {
            match op {
                Op::Put { name, value, ttl } => {
                    let index = keys.of(&mut invocation, name);
                    invocation.arg("P").arg(index).arg(value.as_slice()).arg(ttl_arg(*ttl));
                }
                Op::Delete { name } => {
                    let index = keys.of(&mut invocation, name);
                    invocation.arg("D").arg(index);
                }
                Op::ZAdd { name, member, score, ttl } => {
                    let index = keys.of(&mut invocation, name);
                    // Debug formatting is the shortest exact decimal form, which Redis parses
                    // back to the same double ("inf" included).
                    invocation
                        .arg("Z")
                        .arg(index)
                        .arg(member)
                        .arg(format!("{score:?}"))
                        .arg(ttl_arg(*ttl));
                }
                Op::ZRem { name, member } => {
                    let index = keys.of(&mut invocation, name);
                    invocation.arg("R").arg(index).arg(member);
                }
                Op::HSet { name, fields, ttl } => {
                    let index = keys.of(&mut invocation, name);
                    invocation.arg("H").arg(index).arg(fields.len());
                    for (field, value) in fields {
                        invocation.arg(field).arg(value);
                    }
                    invocation.arg(ttl_arg(*ttl));
                }
                Op::DeleteKey { name } => {
                    let index = keys.of(&mut invocation, name);
                    invocation.arg("K").arg(index);
                }
                Op::RotateScoreRecords => {
                    let records = keys.of(&mut invocation, reserved::SCORE_RECORDS);
                    let previous = keys.of(&mut invocation, reserved::SCORE_RECORDS_PREVIOUS);
                    invocation.arg("N").arg(records).arg(previous);
                }
                Op::DeleteBoard { name } => {
                    let board = keys.of(&mut invocation, name);
                    let members = keys.of(&mut invocation, &format!("{name}:m"));
                    let seq = keys.of(&mut invocation, &format!("{name}:seq"));
                    invocation.arg("B").arg(board).arg(members).arg(seq);
                }
                Op::Outbox { events } => {
                    let index = keys.of(&mut invocation, reserved::OUTBOX);
                    invocation.arg("O").arg(index).arg(events.len());
                    for payload in events {
                        // The id is random here rather than in Lua, whose math.random is
                        // deterministic inside scripts.
                        let mut entry = outbox_entry_id().into_bytes();
                        entry.extend_from_slice(payload);
                        invocation.arg(entry);
                    }
                }
            }
        }
        let reply = self.run_script(&invocation).await?;
        let mut reply = reply_array(reply)?.into_iter();
        match reply.next().map(reply_int).transpose()? {
            Some(1) => Ok(CommitOutcome::Committed),
            Some(0) => {
                let (Some(index), Some(actual)) = (reply.next(), reply.next()) else {
                    return Err(corrupt("commit conflict reply without details"));
                };
                let index = usize::try_from(reply_int(index)?)
                    .map_err(|_| corrupt("negative condition index"))?;
                let Some(Condition::Version { name, .. }) =
                    index.checked_sub(1).and_then(|index| transaction.conditions.get(index))
                else {
                    return Err(corrupt("commit conflict on an unknown condition"));
                };
                let actual = u64::try_from(reply_int(actual)?)
                    .map_err(|_| corrupt("negative aggregate version"))?;
                Ok(CommitOutcome::Conflict { name: name.clone(), actual })
            }
            _ => Err(corrupt("unexpected commit reply")),
        }
    }

    async fn next_id(&self, tag: &str, name: &str) -> StoreResult<u64> {
        let reply = self.write(redis::cmd("INCR").arg(self.key(tag, name))).await?;
        u64::try_from(reply_int(reply)?).map_err(|_| corrupt("negative counter"))
    }

    async fn next_id_above(&self, tag: &str, name: &str, floor: u64) -> StoreResult<u64> {
        let mut invocation = self.scripts().next_id.prepare_invoke();
        invocation.key(self.key(tag, name)).arg(floor);
        let reply = self.run_script(&invocation).await?;
        u64::try_from(reply_int(reply)?).map_err(|_| corrupt("negative counter"))
    }

    // ---- plain hashes and sorted sets --------------------------------------------------------

    async fn hash_get_all(&self, tag: &str, name: &str) -> StoreResult<Vec<(String, String)>> {
        let reply = self.query(redis::cmd("HGETALL").arg(self.key(tag, name))).await?;
        reply_pairs(reply)?
            .into_iter()
            .map(|(field, value)| Ok((required_string(field)?, required_string(value)?)))
            .collect()
    }

    async fn zrange(
        &self,
        tag: &str,
        name: &str,
        offset: usize,
        count: usize,
        order: Order,
    ) -> StoreResult<Vec<(String, f64)>> {
        if count == 0 {
            // ZRANGE's stop is inclusive: there is no way to ask it for nothing.
            return Ok(Vec::new());
        }
        let command = match order {
            Order::Ascending => "ZRANGE",
            Order::Descending => "ZREVRANGE",
        };
        let reply = self
            .query(
                redis::cmd(command)
                    .arg(self.key(tag, name))
                    .arg(rank(offset))
                    .arg(rank(offset.saturating_add(count - 1)))
                    .arg("WITHSCORES"),
            )
            .await?;
        reply_scored(reply)
    }

    async fn hash_get_fields(
        &self,
        tag: &str,
        name: &str,
        fields: &[String],
    ) -> StoreResult<Vec<Option<String>>> {
        if fields.is_empty() {
            return Ok(Vec::new());
        }
        let reply = self.query(redis::cmd("HMGET").arg(self.key(tag, name)).arg(fields)).await?;
        match reply {
            redis::Value::Array(values) => values
                .into_iter()
                .map(|value| match value {
                    redis::Value::Nil => Ok(None),
                    other => required_string(other).map(Some),
                })
                .collect(),
            other => Err(corrupt(format!("HMGET answered {other:?}"))),
        }
    }

    async fn zrank(
        &self,
        tag: &str,
        name: &str,
        member: &str,
        order: Order,
    ) -> StoreResult<Option<u64>> {
        let command = match order {
            Order::Ascending => "ZRANK",
            Order::Descending => "ZREVRANK",
        };
        let reply = self.query(redis::cmd(command).arg(self.key(tag, name)).arg(member)).await?;
        match reply {
            redis::Value::Nil => Ok(None),
            other => {
                u64::try_from(reply_int(other)?).map(Some).map_err(|_| corrupt("negative rank"))
            }
        }
    }

    async fn zscore(&self, tag: &str, name: &str, member: &str) -> StoreResult<Option<f64>> {
        let reply = self.query(redis::cmd("ZSCORE").arg(self.key(tag, name)).arg(member)).await?;
        reply_float(reply)
    }

    async fn zcard(&self, tag: &str, name: &str) -> StoreResult<u64> {
        let reply = self.query(redis::cmd("ZCARD").arg(self.key(tag, name))).await?;
        u64::try_from(reply_int(reply)?).map_err(|_| corrupt("negative ZCARD"))
    }

    // ---- leaderboards --------------------------------------------------------------------------

    async fn board_page(
        &self,
        tag: &str,
        name: &str,
        offset: usize,
        count: usize,
    ) -> StoreResult<Vec<BoardEntry>> {
        // Highest total first; equal totals by encoded member descending, which is earliest
        // arrival first (DESIGN.md "Leaderboards").
        let rows = self.zrange(tag, name, offset, count, Order::Descending).await?;
        rows.into_iter()
            .map(|(member, total)| {
                Ok(BoardEntry { member: board_member_id(&member)?, total: board_total_of(total)? })
            })
            .collect()
    }

    async fn board_totals(
        &self,
        tag: &str,
        name: &str,
        members: &[u64],
    ) -> StoreResult<Vec<Option<i64>>> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.scripts().board_total.prepare_invoke();
        invocation.key(self.key(tag, name)).key(self.key(tag, &format!("{name}:m")));
        for member in members {
            invocation.arg(*member);
        }
        let replies = reply_array(self.run_read_script(&invocation).await?)?;
        if replies.len() != members.len() {
            return Err(corrupt("board totals: one reply per member expected"));
        }
        replies
            .into_iter()
            .map(|reply| reply_float(reply)?.map(board_total_of).transpose())
            .collect()
    }

    async fn board_copy(&self, tag: &str, from: &str, to: &str, ttl: Duration) -> StoreResult<()> {
        let mut invocation = self.scripts().board_copy.prepare_invoke();
        for name in [from, to] {
            invocation
                .key(self.key(tag, name))
                .key(self.key(tag, &format!("{name}:m")))
                .key(self.key(tag, &format!("{name}:seq")));
        }
        invocation.arg(millis(ttl));
        self.run_script(&invocation).await?;
        Ok(())
    }

    // ---- gift hot path ---------------------------------------------------------------------

    async fn apply_score(&self, apply: &ScoreApply) -> StoreResult<ScoreOutcome> {
        match self.score(apply, None).await? {
            GuardedScore::Judged(outcome) => Ok(outcome),
            // The script answers "moved" only to a guarded gift.
            GuardedScore::Moved => Err(corrupt("an unguarded gift moved")),
        }
    }

    async fn apply_score_guarded(
        &self,
        apply: &ScoreApply,
        guard: &Condition,
    ) -> StoreResult<GuardedScore> {
        self.score(apply, Some(guard)).await
    }

    // ---- idempotency records ---------------------------------------------------------------

    async fn record_claim(
        &self,
        tag: &str,
        name: &str,
        value: &[u8],
        ttl: Duration,
    ) -> StoreResult<Option<Vec<u8>>> {
        if self.is_cluster() {
            // SET NX GET (Redis 7): creates the record and answers nil, or leaves it and
            // answers the value already there, atomically. (A cluster keeps no record in a
            // bucket: see `claim_and_score`.)
            let reply = self
                .write(
                    redis::cmd("SET")
                        .arg(self.key(tag, name))
                        .arg(value)
                        .arg("NX")
                        .arg("GET")
                        .arg("PX")
                        .arg(px(ttl)),
                )
                .await?;
            return reply_bytes(reply);
        }
        let place = self.record_place(tag, name, ttl);
        let ttl = px(ttl).to_string();
        reply_bytes(self.record_script(place, "claim", &[value, ttl.as_bytes()]).await?)
    }

    async fn record_put(
        &self,
        tag: &str,
        name: &str,
        value: &[u8],
        ttl: Duration,
    ) -> StoreResult<()> {
        if self.is_cluster() {
            let key = self.key(tag, name);
            self.write(redis::cmd("SET").arg(key).arg(value).arg("PX").arg(px(ttl))).await?;
            return Ok(());
        }
        let place = self.record_place(tag, name, ttl);
        let ttl = px(ttl).to_string();
        self.record_script(place, "put", &[value, ttl.as_bytes()]).await?;
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
        if self.is_cluster() {
            let mut swap = self.scripts().record_swap.prepare_invoke();
            swap.key(self.key(tag, name)).arg(expected).arg(value).arg(px(ttl));
            return Ok(reply_int(self.run_script(&swap).await?)? == 1);
        }
        let place = self.record_place(tag, name, ttl);
        let ttl = px(ttl).to_string();
        let reply = self.record_script(place, "swap", &[expected, value, ttl.as_bytes()]).await?;
        Ok(reply_int(reply)? == 1)
    }

    async fn record_get(
        &self,
        tag: &str,
        name: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Vec<u8>>> {
        if self.is_cluster() {
            return reply_bytes(self.query(redis::cmd("GET").arg(self.key(tag, name))).await?);
        }
        reply_bytes(self.record_script(self.record_place(tag, name, ttl), "get", &[]).await?)
    }

    async fn claim_and_score(
        &self,
        record: RecordRef<'_>,
        pending: &[u8],
        done_head: &[u8],
        apply: &ScoreApply,
        guard: Option<&Condition>,
    ) -> StoreResult<ClaimedScore> {
        if self.is_cluster() {
            // The record's slot is not the PK's: three calls, each on its own node.
            return claim_and_score_in_steps(self, record, pending, done_head, apply, guard).await;
        }
        let place = self.record_place(record.tag, record.name, record.ttl);
        let [current, next, previous] = &place.buckets;
        let mut invocation = self.scripts().gift_one.prepare_invoke();
        invocation
            .key(&place.own)
            .key(current)
            .key(next)
            .key(previous)
            .arg(&place.field)
            .arg(pending)
            .arg(px(record.ttl))
            .arg(place.bucket_ttl_ms)
            .arg(done_head);
        self.score_keys_and_args(&mut invocation, apply, guard);
        let mut reply = reply_array(self.run_script(&invocation).await?)?.into_iter().peekable();
        if let Some(Value::BulkString(status)) = reply.peek()
            && status.as_slice() == b"exists"
        {
            reply.next();
            let existing = reply_bytes(reply.next().unwrap_or(Value::Nil))?;
            return existing
                .map(ClaimedScore::Existing)
                .ok_or_else(|| corrupt("gift_one answered exists without the record"));
        }
        match score_reply(reply, guard.is_some())? {
            GuardedScore::Judged(outcome) => Ok(ClaimedScore::Claimed(outcome)),
            GuardedScore::Moved => Ok(ClaimedScore::Moved),
        }
    }

    // ---- delay queue -----------------------------------------------------------------------

    async fn schedule_job(&self, job: &Job) -> StoreResult<()> {
        let (due, jobs) = self.bucket_keys(self.bucket_of(&job.id));
        let mut invocation = self.scripts().schedule_job.prepare_invoke();
        invocation.key(due).key(jobs).arg(&job.id).arg(job.due_ms).arg(encode_job_rest(job));
        self.run_script(&invocation).await?;
        Ok(())
    }

    async fn cancel_job(&self, id: &str) -> StoreResult<bool> {
        let (due, jobs) = self.bucket_keys(self.bucket_of(id));
        let mut invocation = self.scripts().cancel_job.prepare_invoke();
        invocation.key(due).key(jobs).arg(id);
        Ok(reply_int(self.run_script(&invocation).await?)? == 1)
    }

    async fn claim_due_jobs(
        &self,
        now_ms: u64,
        limit: usize,
        ttr: Duration,
    ) -> StoreResult<Vec<ClaimedJob>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let buckets = self.bucket_count();
        // How many to claim from each bucket. With several buckets, peek first (one pipelined
        // round trip, usually the only one: mostly nothing is due) so that the `limit` jobs
        // claimed are the earliest due across all buckets, as with a single queue.
        let mut per_bucket = vec![0usize; buckets];
        if let [only] = per_bucket.as_mut_slice() {
            *only = limit;
        } else {
            let mut pipeline = redis::pipe();
            for bucket in 0..buckets {
                pipeline
                    .cmd("ZRANGEBYSCORE")
                    .arg(self.bucket_keys(bucket).0)
                    .arg("-inf")
                    .arg(now_ms)
                    .arg("WITHSCORES")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit);
            }
            let replies = self.query_pipeline(&pipeline).await?;
            let mut candidates = Vec::new();
            for (bucket, reply) in replies.into_iter().enumerate() {
                for (id, due) in reply_scored(reply)? {
                    candidates.push((due, id, bucket));
                }
            }
            candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            for (_, _, bucket) in candidates.into_iter().take(limit) {
                if let Some(count) = per_bucket.get_mut(bucket) {
                    *count += 1;
                }
            }
        }
        let redeliver_at = now_ms.saturating_add(millis(ttr));
        let invocations: Vec<ScriptInvocation<'_>> = per_bucket
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(bucket, count)| {
                let (due, jobs) = self.bucket_keys(bucket);
                let mut invocation = self.scripts().claim_jobs.prepare_invoke();
                invocation.key(due).key(jobs).arg(now_ms).arg(*count).arg(redeliver_at);
                invocation
            })
            .collect();
        // The buckets are claimed concurrently: their scripts are pipelined rather than waiting
        // for each other's round trip.
        let replies = futures::future::try_join_all(
            invocations.iter().map(|invocation| self.run_script(invocation)),
        )
        .await?;
        let mut claimed = Vec::new();
        for reply in replies {
            let mut items = reply_array(reply)?.into_iter();
            while let (Some(id), Some(queued), Some(record)) =
                (items.next(), items.next(), items.next())
            {
                let queued = reply_float(queued)?.ok_or_else(|| corrupt("nil due time"))?;
                let record = reply_bytes(record)?.ok_or_else(|| corrupt("nil job record"))?;
                claimed.push((queued, decode_job(required_string(id)?, &record)?));
            }
        }
        // Earliest due first, ties by id: the order of one queue, whatever the buckets.
        claimed.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.job.id.cmp(&b.1.job.id)));
        Ok(claimed.into_iter().map(|(_, job)| job).collect())
    }

    async fn finish_job(&self, id: &str, lease: u64) -> StoreResult<bool> {
        let (due, jobs) = self.bucket_keys(self.bucket_of(id));
        let mut invocation = self.scripts().finish_job.prepare_invoke();
        invocation.key(due).key(jobs).arg(id).arg(lease);
        Ok(reply_int(self.run_script(&invocation).await?)? == 1)
    }

    async fn bury_job(&self, id: &str, lease: u64, reason: &str, now_ms: u64) -> StoreResult<bool> {
        let bucket = self.bucket_of(id);
        let (due, jobs) = self.bucket_keys(bucket);
        let (dead, dead_records) = self.dead_keys(bucket);
        let mut invocation = self.scripts().bury_job.prepare_invoke();
        invocation
            .key(due)
            .key(jobs)
            .key(dead)
            .key(dead_records)
            .arg(id)
            .arg(lease)
            .arg(now_ms)
            .arg(reason)
            .arg(self.inner.options.dead_jobs_per_bucket.max(1));
        Ok(reply_int(self.run_script(&invocation).await?)? == 1)
    }

    async fn dead_jobs(&self, limit: usize) -> StoreResult<Vec<DeadJob>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // The newest `limit` ids of every bucket, then their records; merged newest first.
        let mut pipeline = redis::pipe();
        for bucket in 0..self.bucket_count() {
            pipeline.cmd("ZREVRANGE").arg(self.dead_keys(bucket).0).arg(0).arg(rank(limit - 1));
        }
        let mut wanted = Vec::new();
        for (bucket, reply) in self.query_pipeline(&pipeline).await?.into_iter().enumerate() {
            for id in reply_array(reply)? {
                wanted.push((bucket, required_string(id)?));
            }
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipeline = redis::pipe();
        for (bucket, id) in &wanted {
            pipeline.cmd("HGET").arg(self.dead_keys(*bucket).1).arg(id);
        }
        let mut dead = Vec::new();
        for ((_, id), reply) in wanted.into_iter().zip(self.query_pipeline(&pipeline).await?) {
            // Trimmed between the two reads: gone.
            if let Some(record) = reply_bytes(reply)? {
                dead.push(decode_dead_job(id, &record)?);
            }
        }
        dead.sort_by(|a, b| {
            b.buried_at_ms.cmp(&a.buried_at_ms).then_with(|| a.job.id.cmp(&b.job.id))
        });
        dead.truncate(limit);
        Ok(dead)
    }

    async fn dead_job_count(&self) -> StoreResult<u64> {
        let mut pipeline = redis::pipe();
        for bucket in 0..self.bucket_count() {
            pipeline.cmd("ZCARD").arg(self.dead_keys(bucket).0);
        }
        let mut total = 0u64;
        for reply in self.query_pipeline(&pipeline).await? {
            total += u64::try_from(reply_int(reply)?).map_err(|_| corrupt("negative ZCARD"))?;
        }
        Ok(total)
    }

    async fn next_job_due(&self) -> StoreResult<Option<u64>> {
        let mut pipeline = redis::pipe();
        for bucket in 0..self.bucket_count() {
            pipeline.cmd("ZRANGE").arg(self.bucket_keys(bucket).0).arg(0).arg(0).arg("WITHSCORES");
        }
        let replies = self.query_pipeline(&pipeline).await?;
        let mut earliest: Option<f64> = None;
        for reply in replies {
            for (_, due) in reply_scored(reply)? {
                earliest = Some(earliest.map_or(due, |earliest| earliest.min(due)));
            }
        }
        // Due times are whole milliseconds written by us; the cast cannot lose anything
        // meaningful (negative or fractional scores would be a foreign writer).
        Ok(earliest.map(|due| due.max(0.0) as u64))
    }

    async fn job_count(&self) -> StoreResult<u64> {
        let mut pipeline = redis::pipe();
        for bucket in 0..self.bucket_count() {
            pipeline.cmd("ZCARD").arg(self.bucket_keys(bucket).0);
        }
        let replies = self.query_pipeline(&pipeline).await?;
        let mut total = 0u64;
        for reply in replies {
            total += u64::try_from(reply_int(reply)?).map_err(|_| corrupt("negative ZCARD"))?;
        }
        Ok(total)
    }

    // ---- event stream ----------------------------------------------------------------------

    async fn relay_outbox(&self, tag: &str) -> StoreResult<usize> {
        // Per batch of up to 100 entries: one script appends on the `events` tag, one pops on
        // the outbox's tag and returns the next batch (two round trips, plus the first read).
        let outbox = self.key(tag, reserved::OUTBOX);
        let seen = self.key(reserved::EVENTS_TAG, reserved::EVENTS_SEEN);
        let stream = self.stream_key();
        let retention = self.retention();
        let first =
            self.query(redis::cmd("LRANGE").arg(&outbox).arg(0).arg(rank(RELAY_BATCH - 1))).await?;
        let mut batch = reply_array(first)?;
        let mut appended = 0usize;
        while !batch.is_empty() {
            let entries = batch
                .into_iter()
                .map(|entry| reply_bytes(entry)?.ok_or_else(|| corrupt("nil outbox entry")))
                .collect::<StoreResult<Vec<Vec<u8>>>>()?;
            if let Some(short) = entries.iter().find(|entry| entry.len() < OUTBOX_ID_LEN) {
                return Err(corrupt(format_args!(
                    "outbox entry of {} bytes has no id ({outbox})",
                    short.len()
                )));
            }
            let now = wall_ms();
            let mut append = self.scripts().relay_append.prepare_invoke();
            append
                .key(&seen)
                .key(&stream)
                .arg(now)
                .arg(now.saturating_sub(reserved::SEEN_RETENTION_MS))
                .arg(retention);
            for entry in &entries {
                append.arg(entry.as_slice());
            }
            let count = reply_int(self.run_script(&append).await?)?;
            appended += usize::try_from(count).map_err(|_| corrupt("negative append count"))?;

            let mut pop = self.scripts().relay_pop.prepare_invoke();
            pop.key(&outbox).arg(RELAY_BATCH);
            for entry in &entries {
                // Every entry is at least OUTBOX_ID_LEN long: shorter ones returned above.
                pop.arg(&entry[..OUTBOX_ID_LEN]);
            }
            batch = reply_array(self.run_script(&pop).await?)?;
        }
        if appended > 0 {
            tracing::debug!(tag, appended, "relayed outbox");
        }
        Ok(appended)
    }

    async fn outbox_tags(&self) -> StoreResult<Vec<String>> {
        // The index of marked outboxes, plus a scan of the keyspace when this process starts
        // and then hourly: that finds outboxes no commit marked (written before the index
        // existed, or by an older replica during a rolling deploy), and marks them, while a
        // pass over every key stays rare.
        let mut tags = self.marked_outbox_tags().await?;
        let scanned_at = || {
            self.inner.outboxes_scanned_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if scanned_at().is_none_or(|at| at.elapsed() >= OUTBOX_SCAN_EVERY) {
            match self.scan_outbox_tags().await {
                Ok(found) => {
                    for tag in found {
                        if let Err(error) = self.mark_outbox(&tag).await {
                            tracing::warn!(tag, %error, "could not mark a scanned outbox");
                        }
                        tags.insert(tag);
                    }
                    *scanned_at() = Some(Instant::now());
                }
                Err(error) => {
                    // The index pass above still stands; scan again in a minute.
                    tracing::warn!(%error, "outbox keyspace scan failed");
                    *scanned_at() =
                        Instant::now().checked_sub(OUTBOX_SCAN_EVERY - OUTBOX_SCAN_RETRY);
                }
            }
        }
        Ok(tags.into_iter().collect())
    }

    async fn append_events(&self, payloads: &[Vec<u8>]) -> StoreResult<Vec<String>> {
        if payloads.is_empty() {
            return Ok(Vec::new());
        }
        let stream = self.stream_key();
        let retention = self.retention();
        let mut pipeline = redis::pipe();
        for payload in payloads {
            pipeline
                .cmd("XADD")
                .arg(&stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(retention)
                .arg("*")
                .arg("p")
                .arg(payload.as_slice());
        }
        // One stream key. With the replica wait: one pipeline, one round trip, on a cluster
        // too; without it, on a cluster, one XADD per event sent concurrently (query_pipeline),
        // so events of one call may land in another order than given.
        let replies = if self.inner.options.min_replicas > 0 {
            self.replicated(pipeline).await?
        } else {
            self.query_pipeline(&pipeline).await?
        };
        replies.into_iter().map(required_string).collect()
    }

    async fn read_events(
        &self,
        after_id: &str,
        limit: usize,
        block: Option<Duration>,
    ) -> StoreResult<Vec<StoredEvent>> {
        parse_event_id(after_id)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut command = redis::cmd("XREAD");
        command.arg("COUNT").arg(limit);
        let block = block.filter(|block| !block.is_zero());
        if let Some(block) = block {
            // BLOCK 0 would mean forever: wait at least 1 ms, at most what was asked.
            command.arg("BLOCK").arg(millis(block).max(1));
        }
        command.arg("STREAMS").arg(self.stream_key()).arg(after_id);
        let Some(block) = block else {
            return decode_xread(self.query(&command).await?);
        };
        match &self.inner.backend {
            Backend::Single(single) => single.blocking_read(&command, block).await,
            Backend::Cluster(cluster) => cluster.blocking_read(&command, block).await,
        }
        .and_then(decode_xread)
    }

    async fn last_event_id(&self) -> StoreResult<String> {
        let reply = self
            .query(
                redis::cmd("XREVRANGE")
                    .arg(self.stream_key())
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1),
            )
            .await?;
        Ok(decode_events(reply)?.pop().map(|event| event.id).unwrap_or_else(|| "0-0".into()))
    }

    async fn first_event_id(&self) -> StoreResult<Option<String>> {
        let reply = self
            .query(
                redis::cmd("XRANGE").arg(self.stream_key()).arg("-").arg("+").arg("COUNT").arg(1),
            )
            .await?;
        Ok(decode_events(reply)?.pop().map(|event| event.id))
    }

    // ---- pub/sub ---------------------------------------------------------------------------

    async fn publish(&self, channel: &str, message: &str) -> StoreResult<()> {
        self.query(
            redis::cmd("PUBLISH")
                .arg(format!("{}:{channel}", self.inner.keys.prefix()))
                .arg(message),
        )
        .await?;
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> StoreResult<BoxStream<'static, String>> {
        let channel = format!("{}:{channel}", self.inner.keys.prefix());
        // A subscribed connection can do nothing else, so it is dedicated, not pooled. The
        // pub/sub connection has no timeouts of its own: bound the set-up here.
        let clients: Vec<&redis::Client> = match &self.inner.backend {
            Backend::Single(single) => vec![&single.client],
            // Any node will do: a PUBLISH reaches the subscribers of every node.
            Backend::Cluster(cluster) => cluster.seeds.iter().collect(),
        };
        let setup = async {
            let mut last_error = None;
            for client in clients {
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        pubsub.subscribe(&channel).await?;
                        return Ok::<_, RedisError>(pubsub);
                    }
                    Err(error) => last_error = Some(error),
                }
            }
            Err(last_error
                .unwrap_or_else(|| (ErrorKind::Io, "no redis node to subscribe on").into()))
        };
        let pubsub = tokio::time::timeout(CONNECT_TIMEOUT + RESPONSE_TIMEOUT, setup)
            .await
            .map_err(|_| StoreError::Unavailable(format!("subscribing to {channel} timed out")))?
            .map_err(redis_error)?;
        Ok(pubsub
            .into_on_message()
            .filter_map(|message| futures::future::ready(message.get_payload::<String>().ok()))
            .boxed())
    }

    async fn server_time(&self) -> StoreResult<Option<u64>> {
        // TIME answers [seconds, microseconds] of Redis's own clock.
        let reply = self.query(&redis::cmd("TIME")).await?;
        let parts: Vec<String> = redis::from_redis_value(reply)
            .map_err(|error| corrupt(format!("TIME reply: {error}")))?;
        let number = |index: usize| {
            parts
                .get(index)
                .and_then(|part| part.parse::<u64>().ok())
                .ok_or_else(|| corrupt("TIME reply is not two numbers"))
        };
        Ok(Some(number(0)? * 1_000 + number(1)? / 1_000))
    }
}

impl RedisStore {
    /// Marks `tag`'s outbox in the index (scored by Redis's clock).
    async fn mark_outbox(&self, tag: &str) -> StoreResult<()> {
        let mut mark = self.scripts().outbox_mark.prepare_invoke();
        mark.key(self.key(reserved::OUTBOXES_TAG, reserved::OUTBOXES_MARKED)).arg(tag);
        self.run_script(&mark).await?;
        Ok(())
    }

    /// Tags of the outboxes in the index that hold events; forgets those found empty whose last
    /// mark is older than the grace (unless marked again meanwhile). Three round trips.
    async fn marked_outbox_tags(&self) -> StoreResult<BTreeSet<String>> {
        let index = self.key(reserved::OUTBOXES_TAG, reserved::OUTBOXES_MARKED);
        let reply =
            self.query(redis::cmd("ZRANGE").arg(&index).arg(0).arg(-1).arg("WITHSCORES")).await?;
        let mut marks = Vec::new();
        for (tag, score) in reply_pairs(reply)? {
            let tag = required_string(tag)?;
            let score = reply_float(score)?.ok_or_else(|| corrupt("outbox mark without score"))?;
            marks.push((tag, score as u64));
        }
        let mut tags = BTreeSet::new();
        if marks.is_empty() {
            return Ok(tags);
        }
        let mut lengths = redis::pipe();
        for (tag, _) in &marks {
            lengths.cmd("LLEN").arg(self.key(tag, reserved::OUTBOX));
        }
        let lengths = self.query_pipeline(&lengths).await?;
        if lengths.len() != marks.len() {
            return Err(corrupt("pipeline returned a different number of replies"));
        }
        // Empty ones go to the script, which forgets those old enough by Redis's clock.
        let mut forget = self.scripts().outbox_forget.prepare_invoke();
        forget.key(&index).arg(reserved::OUTBOX_MARK_GRACE_MS);
        let mut forgetting = false;
        for ((tag, marked_at), length) in marks.into_iter().zip(lengths) {
            if reply_int(length)? > 0 {
                tags.insert(tag);
            } else {
                forget.arg(tag).arg(marked_at);
                forgetting = true;
            }
        }
        if forgetting {
            self.run_script(&forget).await?;
        }
        Ok(tags)
    }

    /// Tags of every outbox in the keyspace (SCAN: a pass over every key; on a cluster, over
    /// every primary's keys).
    async fn scan_outbox_tags(&self) -> StoreResult<BTreeSet<String>> {
        let pattern = format!(
            "{}:{{*}}:{}",
            glob_escape(self.inner.keys.prefix()),
            glob_escape(reserved::OUTBOX)
        );
        let mut tags = BTreeSet::new();
        let nodes = match &self.inner.backend {
            Backend::Single(_) => vec![None],
            Backend::Cluster(cluster) => cluster.primaries().await?.into_iter().map(Some).collect(),
        };
        for node in nodes {
            let mut cursor = 0u64;
            loop {
                let mut command = redis::cmd("SCAN");
                command.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(SCAN_COUNT);
                let reply = match (&self.inner.backend, &node) {
                    (Backend::Cluster(cluster), Some((host, port))) => {
                        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port: *port,
                        });
                        let mut connection = cluster.connection.clone();
                        connection.route_command(command, routing).await.map_err(redis_error)?
                    }
                    _ => self.query(&command).await?,
                };
                let mut parts = reply_array(reply)?.into_iter();
                let (Some(next), Some(keys)) = (parts.next(), parts.next()) else {
                    return Err(corrupt("SCAN reply without cursor and keys"));
                };
                for key in reply_array(keys)? {
                    let key = required_string(key)?;
                    // `*` also matches across `}:`, so keep only keys that are exactly an outbox.
                    if let Some(tag) = self.inner.keys.tag_of(&key)
                        && self.key(tag, reserved::OUTBOX) == key
                    {
                        tags.insert(tag.to_owned());
                    }
                }
                let next = required_string(next)?;
                cursor = next.parse().map_err(|_| corrupt(format_args!("SCAN cursor {next:?}")))?;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(tags)
    }
}

impl Single {
    fn connect(url: &str) -> StoreResult<Single> {
        let connection_config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let manager =
            Manager::new_with_config(url, connection_config.clone()).map_err(redis_error)?;
        let pool = Pool::builder(manager)
            .max_size(POOL_MAX_SIZE)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|error| StoreError::Unavailable(format!("redis pool: {error}")))?;
        let client = redis::Client::open(url).map_err(redis_error)?;
        Ok(Single {
            shared: (0..SHARED_CONNECTIONS).map(|_| Default::default()).collect(),
            next_shared: AtomicUsize::new(0),
            connection_config,
            pool,
            client,
        })
    }

    /// A blocking read on a connection of its own from the pool: on a shared one it would hold
    /// up every request pipelined behind it.
    async fn blocking_read(&self, command: &redis::Cmd, block: Duration) -> StoreResult<Value> {
        let connection = self
            .pool
            .get()
            .await
            .map_err(|error| StoreError::Unavailable(format!("redis pool: {error}")))?;
        // A clone shares the pooled socket (kept out of the pool until we drop `connection`)
        // with a response timeout of its own, long enough for the server-side wait.
        let mut reader: MultiplexedConnection = (*connection).clone();
        reader.set_response_timeout(block + RESPONSE_TIMEOUT);
        match command.query_async::<Value>(&mut reader).await {
            Ok(reply) => Ok(reply),
            Err(error) => {
                if error.is_io_error() || error.is_unrecoverable_error() {
                    // Do not give a broken connection back to the pool.
                    drop(deadpool_redis::Connection::take(connection));
                }
                Err(redis_error(error))
            }
        }
    }
}

impl Cluster {
    async fn connect(seeds: &[String]) -> StoreResult<Cluster> {
        // No retries inside the client: it would re-send a command whose reply was lost after
        // it ran (a write applied twice, or answered as if another call had made it: a claim
        // finding its own record). A failed call is `Unavailable`, as on one Redis, and the
        // caller's retry is idempotent; a MOVED still makes the client refresh its slot map,
        // so the retry goes to the right node.
        let client = ClusterClient::builder(seeds.iter().map(String::as_str))
            .retries(0)
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .build()
            .map_err(redis_error)?;
        let opening = client.get_async_connection();
        let connection = tokio::time::timeout(CONNECT_TIMEOUT + RESPONSE_TIMEOUT, opening)
            .await
            .map_err(|_| {
                StoreError::Unavailable("connecting to the redis cluster timed out".into())
            })?
            .map_err(redis_error)?;
        let seeds = seeds
            .iter()
            .map(|seed| redis::Client::open(seed.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(redis_error)?;
        Ok(Cluster {
            connection,
            client,
            blocking: (0..CLUSTER_BLOCKING_CONNECTIONS).map(|_| Default::default()).collect(),
            seeds,
        })
    }

    /// A blocking read on a cluster connection of its own (kept for the next read unless it
    /// failed or timed out).
    async fn blocking_read(&self, command: &redis::Cmd, block: Duration) -> StoreResult<Value> {
        let mut slot = self.blocking.iter().find_map(|slot| slot.try_lock().ok());
        let kept = slot.as_mut().and_then(|slot| slot.clone());
        let mut connection = match kept {
            Some(connection) => connection,
            None => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(CLUSTER_BLOCKING_TIMEOUT);
                let opening = self.client.get_async_connection_with_config(config);
                tokio::time::timeout(CONNECT_TIMEOUT + RESPONSE_TIMEOUT, opening)
                    .await
                    .map_err(|_| {
                        StoreError::Unavailable("connecting to the redis cluster timed out".into())
                    })?
                    .map_err(redis_error)?
            }
        };
        let reply = tokio::time::timeout(
            block + RESPONSE_TIMEOUT,
            command.query_async::<Value>(&mut connection),
        )
        .await;
        match reply {
            Ok(Ok(reply)) => {
                if let Some(slot) = slot.as_mut() {
                    **slot = Some(connection);
                }
                Ok(reply)
            }
            failed => {
                // A connection that may still have a read outstanding is not reused.
                if let Some(slot) = slot.as_mut() {
                    **slot = None;
                }
                match failed {
                    Ok(Err(error)) => Err(redis_error(error)),
                    _ => Err(StoreError::Unavailable("blocking stream read timed out".into())),
                }
            }
        }
    }

    /// The primaries serving slots now, as (host, port), from `CLUSTER NODES`.
    async fn primaries(&self) -> StoreResult<Vec<(String, u16)>> {
        let mut connection = self.connection.clone();
        let reply: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut connection)
            .await
            .map_err(redis_error)?;
        Ok(primaries_of(&reply))
    }
}

/// The primaries that serve slots in a `CLUSTER NODES` reply, as (host, port).
fn primaries_of(nodes: &str) -> Vec<(String, u16)> {
    let mut primaries = Vec::new();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(address), Some(flags)) = (fields.get(1), fields.get(2)) else { continue };
        let serving = fields.len() > 8;
        let primary = flags.split(',').any(|flag| flag == "master")
            && !flags.split(',').any(|flag| matches!(flag, "fail" | "noaddr" | "handshake"));
        // `host:port@cport[,hostname]`
        let address = address.split(['@', ',']).next().unwrap_or_default();
        if let (true, true, Some((host, port))) = (primary, serving, address.rsplit_once(':'))
            && let Ok(port) = port.parse::<u16>()
        {
            primaries.push((host.to_owned(), port));
        }
    }
    primaries
}

/// The seed nodes of a cluster URL (`redis+cluster://[user:password@]host:port,host:port/`),
/// each as a single-node URL carrying the credentials; `None` for any other URL.
fn cluster_seeds(url: &str) -> StoreResult<Option<Vec<String>>> {
    let Some((scheme, rest)) = CLUSTER_SCHEMES
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme).map(|rest| (scheme, rest)))
    else {
        return Ok(None);
    };
    let plain = scheme.replace("+cluster", "");
    let rest = rest.trim_end_matches('/');
    let (credentials, hosts) = match rest.rsplit_once('@') {
        Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
        None => (String::new(), rest),
    };
    if hosts.contains('/') {
        return Err(StoreError::Unavailable(
            "a redis cluster URL names no database (a cluster has only database 0)".into(),
        ));
    }
    let seeds: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .map(|host| format!("{plain}{credentials}{host}"))
        .collect();
    if seeds.is_empty() {
        return Err(StoreError::Unavailable("a redis cluster URL names no node".into()));
    }
    Ok(Some(seeds))
}

#[cfg(test)]
mod tests {
    //! Focused checks against the local Redis, each under its own random prefix. The full
    //! semantics are held to MemoryStore's by the conformance suite; these cover what only a
    //! real Redis can get wrong (scripts, concurrency, binary payloads, blocking reads).

    use super::*;
    use crate::ScoringWindow;

    const URL: &str = "redis://127.0.0.1:6379";

    async fn store_with(options: StoreOptions) -> RedisStore {
        let prefix = format!("t{:016x}", rand::random::<u64>());
        RedisStore::connect(URL, &prefix, options).await.expect("local redis for tests")
    }

    async fn store() -> RedisStore {
        store_with(StoreOptions::default()).await
    }

    /// Deletes every key of the test's prefix (tests that fail leave theirs for inspection).
    async fn cleanup(store: &RedisStore) {
        let mut connection = store.shared().await.expect("connection").connection;
        let pattern = format!("{}:*", store.inner.keys.prefix());
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await
                .expect("scan");
            for key in keys {
                let _: i64 =
                    redis::cmd("DEL").arg(key).query_async(&mut connection).await.expect("del");
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }

    /// The local Redis has no replica: with `min_replicas` every write reaches the primary and
    /// is then answered Unavailable (it could be lost in a failover), never silently OK.
    #[tokio::test]
    async fn a_write_no_replica_acknowledged_is_unavailable_not_ok() {
        let options = StoreOptions {
            min_replicas: 1,
            replica_wait: Duration::from_millis(20),
            ..StoreOptions::default()
        };
        let store = store_with(options).await;
        let put = Op::Put { name: "a".into(), value: b"one".to_vec(), ttl: None };
        let error = store.commit(Transaction::new("t").op(put)).await.unwrap_err();
        assert!(
            matches!(&error, StoreError::Unavailable(message) if message.contains("0 of 1 replica")),
            "{error:?}"
        );
        // It did reach the primary: a retry is what settles it (here a versioned one conflicts).
        assert_eq!(store.get("t", "a").await.unwrap().map(|read| read.version), Some(1));
        let error = store.next_id("t", "n").await.unwrap_err();
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        let error = store.record_put("t", "r", b"x", Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        let error = store.append_events(&[b"e".to_vec()]).await.unwrap_err();
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        // Reads are not held up.
        assert!(store.hash_get_all("t", "nothing").await.unwrap().is_empty());
        // A script's CORRUPT refusal is still Corrupt when the replica wait rides along.
        let wrong = Transaction::new("t").op(Op::ZAdd {
            name: "a".into(),
            member: "m".into(),
            score: 1.0,
            ttl: None,
        });
        let error = store.commit(wrong).await.unwrap_err();
        assert!(matches!(error, StoreError::Corrupt(_)), "{error:?}");
        cleanup(&store).await;
    }

    #[test]
    fn cluster_urls_name_their_seed_nodes_with_credentials() {
        assert_eq!(cluster_seeds("redis://127.0.0.1:6379/3").expect("plain"), None);
        assert_eq!(
            cluster_seeds("redis+cluster://a:7001,b:7002/").expect("cluster"),
            Some(vec!["redis://a:7001".to_owned(), "redis://b:7002".to_owned()])
        );
        assert_eq!(
            cluster_seeds("redis+cluster://user:p%40ss@a:7001,b:7002").expect("credentials"),
            Some(vec![
                "redis://user:p%40ss@a:7001".to_owned(),
                "redis://user:p%40ss@b:7002".to_owned()
            ])
        );
        assert!(cluster_seeds("redis+cluster://a:7001/2").is_err(), "a cluster has no database 2");
        assert!(cluster_seeds("redis+cluster://").is_err(), "no node");
    }

    #[test]
    fn primaries_are_the_masters_that_serve_slots() {
        let nodes = "\
5a18 127.0.0.1:7102@17102 master - 0 1796067818462 2 connected 5461-10922
7b6a 127.0.0.1:7104@17104 slave b6ef 0 1796067818462 4 connected
8a5f 127.0.0.1:7106@17106 master,fail - 0 1796067818462 6 connected 0-10
56cd 10.0.0.5:7105@17105,redis-5.local master - 0 1796067819165 5 connected 10923-16383
e376 127.0.0.1:7101@17101 myself,master - 0 1796067819000 1 connected 0-5460
b6ef 127.0.0.1:7103@17103 master - 0 1796067818462 3 connected
";
        assert_eq!(
            primaries_of(nodes),
            vec![
                ("127.0.0.1".to_owned(), 7102),
                ("10.0.0.5".to_owned(), 7105),
                ("127.0.0.1".to_owned(), 7101)
            ]
        );
    }

    fn every_byte() -> Vec<u8> {
        (0..=255u8).chain(0..=255u8).collect()
    }

    fn open_window(from_ms: u64, until_ms: u64, epoch: u64) -> Op {
        Op::HSet {
            name: "window".into(),
            fields: ScoringWindow { open: true, from_ms, until_ms, epoch }.fields(),
            ttl: None,
        }
    }

    fn gift(txn_id: &str, sent_at_ms: u64, member: u64, value: i64) -> ScoreApply {
        ScoreApply {
            tag: "pk:1".into(),
            txn_id: txn_id.into(),
            window: "window".into(),
            sent_at_ms,
            counters: vec![
                ("score".into(), "host".into(), value),
                ("score".into(), "gifts".into(), 1),
            ],
            boards: vec![("board".into(), member, value)],
            fields: Vec::new(),
            ttl: Duration::from_secs(600),
            fingerprint: 0,
        }
    }

    #[tokio::test]
    async fn transaction_commits_or_conflicts_without_writing() {
        let store = store().await;
        let first = Transaction::new("lc:1")
            .expect_version("agg", 0)
            .op(Op::Put { name: "agg".into(), value: every_byte(), ttl: None })
            .op(Op::ZAdd { name: "idx".into(), member: "a".into(), score: 1.5, ttl: None });
        assert_eq!(store.commit(first).await.unwrap(), CommitOutcome::Committed);
        let stored = store.get("lc:1", "agg").await.unwrap().unwrap();
        assert_eq!(stored, Versioned { version: 1, value: every_byte() });

        let stale = Transaction::new("lc:1")
            .op(Op::ZAdd { name: "idx".into(), member: "b".into(), score: 2.0, ttl: None })
            .expect_version("other", 0)
            .expect_version("agg", 0)
            .op(Op::Put { name: "agg".into(), value: b"lost".to_vec(), ttl: None });
        assert_eq!(
            store.commit(stale).await.unwrap(),
            CommitOutcome::Conflict { name: "agg".into(), actual: 1 }
        );
        assert_eq!(store.zcard("lc:1", "idx").await.unwrap(), 1, "a conflict writes nothing");

        let second = Transaction::new("lc:1")
            .expect_version("agg", 1)
            .op(Op::Put {
                name: "agg".into(),
                value: Vec::new(),
                ttl: Some(Duration::from_secs(60)),
            })
            .op(Op::HSet { name: "h".into(), fields: vec![("f".into(), "v".into())], ttl: None });
        assert_eq!(store.commit(second).await.unwrap(), CommitOutcome::Committed);
        let many = store.get_many(&[("lc:1", "agg"), ("lc:2", "agg")]).await.unwrap();
        assert_eq!(many, vec![Some(Versioned { version: 2, value: Vec::new() }), None]);
        assert_eq!(store.hash_get_all("lc:1", "h").await.unwrap(), vec![("f".into(), "v".into())]);

        // A put on a key of another type is refused before anything is written.
        let wrong = Transaction::new("lc:1")
            .op(Op::ZRem { name: "idx".into(), member: "a".into() })
            .op(Op::Put { name: "h2".into(), value: b"x".to_vec(), ttl: None })
            .op(Op::Put { name: "idx".into(), value: b"x".to_vec(), ttl: None });
        assert!(matches!(store.commit(wrong).await, Err(StoreError::Corrupt(_))));
        assert_eq!(store.zcard("lc:1", "idx").await.unwrap(), 1);
        assert_eq!(store.get("lc:1", "h2").await.unwrap(), None);

        let delete = Transaction::new("lc:1").op(Op::Delete { name: "agg".into() });
        assert_eq!(store.commit(delete).await.unwrap(), CommitOutcome::Committed);
        assert_eq!(store.get("lc:1", "agg").await.unwrap(), None);
        assert_eq!(store.next_id("lc:1", "ids").await.unwrap(), 1);
        assert_eq!(store.next_id("lc:1", "ids").await.unwrap(), 2);
        cleanup(&store).await;
    }

    #[tokio::test]
    async fn sorted_set_ties_read_by_member() {
        let store = store().await;
        let mut transaction = Transaction::new("t");
        for (member, score) in [("b", 1.0), ("a", 1.0), ("c", 0.5), ("d", f64::INFINITY)] {
            transaction = transaction.op(Op::ZAdd {
                name: "z".into(),
                member: member.into(),
                score,
                ttl: None,
            });
        }
        store.commit(transaction).await.unwrap();
        let ascending = store.zrange("t", "z", 0, 10, Order::Ascending).await.unwrap();
        let names: Vec<&str> = ascending.iter().map(|(member, _)| member.as_str()).collect();
        assert_eq!(names, ["c", "a", "b", "d"]);
        assert_eq!(ascending[3].1, f64::INFINITY);
        let descending = store.zrange("t", "z", 1, 2, Order::Descending).await.unwrap();
        assert_eq!(descending, vec![("b".to_string(), 1.0), ("a".to_string(), 1.0)]);
        assert!(store.zrange("t", "z", 0, 0, Order::Ascending).await.unwrap().is_empty());
        assert_eq!(store.zscore("t", "z", "c").await.unwrap(), Some(0.5));
        assert_eq!(store.zscore("t", "z", "x").await.unwrap(), None);
        cleanup(&store).await;
    }

    #[tokio::test]
    async fn leaderboard_ties_go_to_the_first_arrival() {
        let store = store().await;
        store.commit(Transaction::new("pk:1").op(open_window(0, 1_000, 7))).await.unwrap();
        // 1 and 2 both reach 100, 1 first; 3 reaches 150; then 1 reaches 150 after 3.
        for (txn, member, value) in [("g1", 1, 100), ("g2", 2, 60), ("g3", 2, 40), ("g4", 3, 150)] {
            store.apply_score(&gift(txn, 10, member, value)).await.unwrap();
        }
        let page = store.board_page("pk:1", "board", 0, 10).await.unwrap();
        let order: Vec<(u64, i64)> = page.iter().map(|entry| (entry.member, entry.total)).collect();
        assert_eq!(order, [(3, 150), (1, 100), (2, 100)]);
        store.apply_score(&gift("g5", 10, 1, 50)).await.unwrap();
        let page = store.board_page("pk:1", "board", 0, 10).await.unwrap();
        let order: Vec<(u64, i64)> = page.iter().map(|entry| (entry.member, entry.total)).collect();
        assert_eq!(order, [(3, 150), (1, 150), (2, 100)]);
        assert_eq!(store.board_total("pk:1", "board", 2).await.unwrap(), Some(100));
        assert_eq!(store.board_total("pk:1", "board", 9).await.unwrap(), None);
        assert_eq!(
            store.board_page("pk:1", "board", 1, 1).await.unwrap(),
            vec![BoardEntry { member: 1, total: 150 }]
        );

        store.board_copy("pk:1", "board", "board2", Duration::from_secs(60)).await.unwrap();
        assert_eq!(store.board_page("pk:1", "board2", 0, 10).await.unwrap(), page);
        // The copy keeps the arrival counter: a later tie still ranks after the earlier ones.
        let mut later = gift("g6", 10, 4, 150);
        later.boards = vec![("board2".into(), 4, 150)];
        store.apply_score(&later).await.unwrap();
        let copied = store.board_page("pk:1", "board2", 0, 10).await.unwrap();
        assert_eq!(copied.iter().map(|entry| entry.member).collect::<Vec<_>>(), [3, 1, 4, 2]);
        // Copying an absent board empties the target.
        store.board_copy("pk:1", "missing", "board2", Duration::from_secs(60)).await.unwrap();
        assert!(store.board_page("pk:1", "board2", 0, 10).await.unwrap().is_empty());
        store
            .commit(Transaction::new("pk:1").op(Op::DeleteBoard { name: "board".into() }))
            .await
            .unwrap();
        assert!(store.board_page("pk:1", "board", 0, 10).await.unwrap().is_empty());
        assert_eq!(store.board_total("pk:1", "board", 1).await.unwrap(), None);
        cleanup(&store).await;
    }

    #[tokio::test]
    async fn apply_score_applies_once_and_only_inside_the_window() {
        let store = store().await;
        assert_eq!(store.apply_score(&gift("g0", 10, 1, 5)).await.unwrap(), ScoreOutcome::Outside);
        store.commit(Transaction::new("pk:1").op(open_window(100, 200, 42))).await.unwrap();
        for sent_at in [99, 200, 5_000] {
            assert_eq!(
                store.apply_score(&gift("g0", sent_at, 1, 5)).await.unwrap(),
                ScoreOutcome::Outside
            );
        }
        let applied = store.apply_score(&gift("g1", 100, 1, 5)).await.unwrap();
        assert_eq!(
            applied,
            ScoreOutcome::Applied { epoch: 42, counters: vec![5, 1], boards: vec![5] }
        );
        let applied = store.apply_score(&gift("g2", 199, 1, 1_000_000_000_000)).await.unwrap();
        assert_eq!(
            applied,
            ScoreOutcome::Applied {
                epoch: 42,
                counters: vec![1_000_000_000_005, 2],
                boards: vec![1_000_000_000_005]
            }
        );
        assert_eq!(
            store.apply_score(&gift("g1", 100, 1, 5)).await.unwrap(),
            ScoreOutcome::Duplicate { epoch: 42, counters: vec![5, 1], boards: vec![5] }
        );
        let hash: HashMap<String, String> =
            store.hash_get_all("pk:1", "score").await.unwrap().into_iter().collect();
        assert_eq!(hash.get("host").map(String::as_str), Some("1000000000005"));
        // Closing the window stops gifts whatever their time; duplicates still answer.
        let closed = ScoringWindow { open: false, from_ms: 100, until_ms: 200, epoch: 42 };
        store
            .commit(Transaction::new("pk:1").op(Op::HSet {
                name: "window".into(),
                fields: closed.fields(),
                ttl: None,
            }))
            .await
            .unwrap();
        assert_eq!(store.apply_score(&gift("g3", 150, 1, 5)).await.unwrap(), ScoreOutcome::Outside);
        assert!(matches!(
            store.apply_score(&gift("g2", 150, 1, 5)).await.unwrap(),
            ScoreOutcome::Duplicate { .. }
        ));
        cleanup(&store).await;
    }

    /// What the current slot's bucket holds of the record at `place`.
    async fn in_bucket(
        connection: &mut redis::aio::MultiplexedConnection,
        place: &RecordPlace,
    ) -> Option<Vec<u8>> {
        redis::cmd("HGET")
            .arg(&place.buckets[0])
            .arg(&place.field)
            .query_async(connection)
            .await
            .expect("HGET of the bucket")
    }

    /// Issue 15 (memory per gift): a gift counted in one step keeps its done record as a field
    /// of its time slot's bucket (no key of its own, no answer in the PK's txns); a record
    /// another replica left in the next or the previous slot's bucket (clocks apart) is found.
    #[tokio::test]
    async fn a_gift_counted_in_one_step_is_recorded_in_a_bucket_only() {
        let store = store().await;
        store.commit(Transaction::new("pk:1").op(open_window(100, 200, 42))).await.unwrap();
        let ttl = Duration::from_secs(60);
        let record = RecordRef { tag: "gift:g1", name: "record", ttl };
        let claimed =
            store.claim_and_score(record, b"pending", b"head|", &gift("g1", 150, 1, 5), None).await;
        let counted = ScoreOutcome::Applied { epoch: 42, counters: vec![5, 1], boards: vec![5] };
        assert_eq!(claimed.unwrap(), ClaimedScore::Claimed(counted));
        let mut connection = store.shared().await.expect("connection").connection;
        let place = store.record_place("gift:g1", "record", ttl);
        let own: Option<Vec<u8>> =
            redis::cmd("GET").arg(&place.own).query_async(&mut connection).await.unwrap();
        assert_eq!(own, None, "no key of its own");
        let kept = in_bucket(&mut connection, &place).await;
        assert_eq!(kept, Some(b"head|42|5,1|5".to_vec()), "in the current slot's bucket");
        let ttl_left: i64 =
            redis::cmd("PTTL").arg(&place.buckets[0]).query_async(&mut connection).await.unwrap();
        assert!(
            ttl_left > 0 && ttl_left <= 120_000,
            "the bucket expires, within 2 slots: {ttl_left}"
        );
        assert!(store.hash_get_all("pk:1", "txns").await.unwrap().is_empty(), "no txns answer");
        assert_eq!(
            store
                .claim_and_score(record, b"pending", b"head|", &gift("g1", 150, 1, 5), None)
                .await
                .unwrap(),
            ClaimedScore::Existing(b"head|42|5,1|5".to_vec())
        );
        // A write replaces it at its own key and takes it out of the bucket (so that it cannot
        // come back when its own key expires first).
        store.record_put("gift:g1", "record", b"put", ttl).await.unwrap();
        let kept = in_bucket(&mut connection, &place).await;
        assert_eq!(kept, None, "out of the bucket");
        assert_eq!(
            store.record_get("gift:g1", "record", ttl).await.unwrap(),
            Some(b"put".to_vec())
        );
        for (txn, bucket) in [("gift:ahead", 1), ("gift:behind", 2)] {
            let place = store.record_place(txn, "record", ttl);
            let _: i64 = redis::cmd("HSET")
                .arg(&place.buckets[bucket])
                .arg(&place.field)
                .arg(txn)
                .query_async(&mut connection)
                .await
                .unwrap();
            assert_eq!(
                store.record_claim(txn, "record", b"new", ttl).await.unwrap(),
                Some(txn.as_bytes().to_vec()),
                "a record in slot {bucket} of 3 is found"
            );
        }
        cleanup(&store).await;
    }

    #[tokio::test]
    async fn records_are_claimed_once() {
        let store = store().await;
        let ttl = Duration::from_secs(60);
        assert_eq!(store.record_claim("r", "k", &every_byte(), ttl).await.unwrap(), None);
        assert_eq!(store.record_claim("r", "k", b"other", ttl).await.unwrap(), Some(every_byte()));
        store.record_put("r", "k", b"new", ttl).await.unwrap();
        assert_eq!(store.record_get("r", "k", ttl).await.unwrap(), Some(b"new".to_vec()));
        assert_eq!(store.record_get("r", "absent", ttl).await.unwrap(), None);
        cleanup(&store).await;
    }

    fn job(id: &str, due_ms: u64) -> Job {
        Job { id: id.into(), topic: "topic with spaces".into(), due_ms, body: every_byte() }
    }

    #[tokio::test]
    async fn jobs_are_claimed_redelivered_and_finished_by_lease() {
        let store = store().await;
        let ttr = Duration::from_millis(500);
        for (id, due) in [("a", 1_000), ("b", 2_000), ("c", 1_500), ("d", 1_000)] {
            store.schedule_job(&job(id, due)).await.unwrap();
        }
        assert_eq!(store.job_count().await.unwrap(), 4);
        assert_eq!(store.next_job_due().await.unwrap(), Some(1_000));
        assert!(store.claim_due_jobs(999, 10, ttr).await.unwrap().is_empty());

        // Earliest first across buckets, ties by id, at most `limit`.
        let claimed = store.claim_due_jobs(1_500, 2, ttr).await.unwrap();
        let ids: Vec<&str> = claimed.iter().map(|claim| claim.job.id.as_str()).collect();
        assert_eq!(ids, ["a", "d"]);
        assert_eq!(claimed[0].job, job("a", 1_000));
        assert_eq!(claimed[0].attempt, 1);
        let first_lease = claimed[0].lease;
        let rest = store.claim_due_jobs(1_500, 10, ttr).await.unwrap();
        assert_eq!(rest.iter().map(|claim| claim.job.id.as_str()).collect::<Vec<_>>(), ["c"]);
        assert!(
            store.claim_due_jobs(1_999, 10, ttr).await.unwrap().is_empty(),
            "claimed jobs are hidden"
        );

        // Not finished within the TTR: delivered again (all four are due at 2000 now, so by id),
        // with a new lease.
        let again = store.claim_due_jobs(2_000, 10, ttr).await.unwrap();
        let ids: Vec<&str> = again.iter().map(|claim| claim.job.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        assert_eq!(again[1].attempt, 1);
        assert_eq!(again[0].attempt, 2);
        assert_ne!(again[0].lease, first_lease);
        assert!(
            !store.finish_job("a", first_lease).await.unwrap(),
            "a stale claimer cannot finish"
        );
        assert!(store.finish_job("a", again[0].lease).await.unwrap());
        assert!(!store.finish_job("a", again[0].lease).await.unwrap());

        // Re-scheduling replaces the job: attempts restart, the old lease is void.
        store.schedule_job(&job("d", 5_000)).await.unwrap();
        assert!(!store.finish_job("d", again[3].lease).await.unwrap());
        assert!(store.cancel_job("d").await.unwrap());
        assert!(!store.cancel_job("d").await.unwrap());
        assert_eq!(store.job_count().await.unwrap(), 2);
        cleanup(&store).await;
    }

    #[tokio::test]
    async fn concurrent_pollers_never_claim_the_same_delivery() {
        let store = store().await;
        for index in 0..60 {
            store.schedule_job(&job(&format!("j{index}"), 1_000 + index)).await.unwrap();
        }
        let pollers = (0..4).map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut claimed = Vec::new();
                for _ in 0..10 {
                    claimed.extend(
                        store.claim_due_jobs(2_000, 7, Duration::from_secs(60)).await.unwrap(),
                    );
                }
                claimed
            })
        });
        let mut ids = Vec::new();
        for poller in pollers {
            ids.extend(poller.await.unwrap().into_iter().map(|claim| claim.job.id));
        }
        let distinct: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(ids.len(), 60);
        assert_eq!(distinct.len(), 60);
        cleanup(&store).await;
    }

    #[tokio::test]
    async fn relay_moves_each_outbox_entry_exactly_once() {
        let store = store().await;
        let payloads: Vec<Vec<u8>> = (0..250u32)
            .map(|index| [index.to_be_bytes().as_slice(), &[0, 255, b'\n']].concat())
            .collect();
        for chunk in payloads.chunks(50) {
            let transaction = Transaction::new("lc:9").op(Op::Outbox { events: chunk.to_vec() });
            store.commit(transaction).await.unwrap();
        }
        assert_eq!(store.outbox_tags().await.unwrap(), ["lc:9"]);
        let relays = (0..2).map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.relay_outbox("lc:9").await.unwrap() })
        });
        let mut appended = 0;
        for relay in relays {
            appended += relay.await.unwrap();
        }
        assert_eq!(appended, 250);
        assert_eq!(store.relay_outbox("lc:9").await.unwrap(), 0);
        assert!(store.outbox_tags().await.unwrap().is_empty());
        let events = store.read_events("0", 1_000, None).await.unwrap();
        let relayed: Vec<Vec<u8>> = events.into_iter().map(|event| event.payload).collect();
        assert_eq!(relayed, payloads, "each event once, in order");
        cleanup(&store).await;
    }

    #[tokio::test]
    async fn read_events_after_an_id() {
        let store = store().await;
        assert_eq!(store.last_event_id().await.unwrap(), "0-0");
        assert_eq!(store.first_event_id().await.unwrap(), None);
        let ids =
            store.append_events(&[b"one".to_vec(), b"two".to_vec(), every_byte()]).await.unwrap();
        assert_eq!(ids.len(), 3);
        assert_eq!(store.first_event_id().await.unwrap().as_deref(), Some(ids[0].as_str()));
        assert_eq!(store.last_event_id().await.unwrap(), ids[2]);
        let after_first = store.read_events(&ids[0], 10, None).await.unwrap();
        assert_eq!(
            after_first.iter().map(|event| &event.id).collect::<Vec<_>>(),
            [&ids[1], &ids[2]]
        );
        assert_eq!(after_first[1].payload, every_byte());
        let limited = store.read_events("0", 1, None).await.unwrap();
        assert_eq!(limited, vec![StoredEvent { id: ids[0].clone(), payload: b"one".to_vec() }]);
        assert!(store.read_events(&ids[2], 10, None).await.unwrap().is_empty());
        assert!(matches!(
            store.read_events("nonsense", 10, None).await,
            Err(StoreError::Corrupt(_))
        ));

        // Blocking: nothing comes, so it returns empty after about the wait.
        let started = Instant::now();
        assert!(
            store
                .read_events(&ids[2], 10, Some(Duration::from_millis(200)))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(started.elapsed() >= Duration::from_millis(150));
        // Blocking: an append wakes it, well before a wait longer than the response timeout.
        let reader = {
            let store = store.clone();
            let after = ids[2].clone();
            tokio::spawn(async move {
                store.read_events(&after, 10, Some(Duration::from_secs(5))).await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let new = store.append_events(&[b"four".to_vec()]).await.unwrap();
        let woken = reader.await.unwrap().unwrap();
        assert_eq!(woken, vec![StoredEvent { id: new[0].clone(), payload: b"four".to_vec() }]);
        cleanup(&store).await;
    }

    #[tokio::test]
    async fn blocking_reads_may_outlast_the_response_timeout() {
        let store = store().await;
        let started = Instant::now();
        let events = store
            .read_events("0", 10, Some(RESPONSE_TIMEOUT + Duration::from_millis(500)))
            .await
            .unwrap();
        assert!(events.is_empty());
        assert!(started.elapsed() >= RESPONSE_TIMEOUT);
        cleanup(&store).await;
    }

    #[tokio::test]
    async fn pub_sub_delivers_under_the_prefix() {
        let store = store().await;
        let mut messages = store.subscribe("config").await.unwrap();
        store.publish("config", "changed").await.unwrap();
        let message = tokio::time::timeout(Duration::from_secs(2), messages.next()).await.unwrap();
        assert_eq!(message.as_deref(), Some("changed"));
    }

    #[tokio::test]
    async fn reading_another_type_is_corrupt() {
        let store = store().await;
        let transaction = Transaction::new("x").op(Op::ZAdd {
            name: "z".into(),
            member: "m".into(),
            score: 1.0,
            ttl: None,
        });
        store.commit(transaction).await.unwrap();
        assert!(matches!(store.get("x", "z").await, Err(StoreError::Corrupt(_))));
        let many = store.get_many(&[("x", "absent"), ("x", "z")]).await;
        assert!(matches!(many, Err(StoreError::Corrupt(_))), "{many:?}");
        assert!(matches!(store.hash_get_all("x", "z").await, Err(StoreError::Corrupt(_))));
        cleanup(&store).await;
    }

    #[tokio::test]
    async fn killed_connections_are_reopened() {
        let store = store().await;
        let mut ids = Vec::new();
        for _ in 0..SHARED_CONNECTIONS {
            ids.push(
                reply_int(store.query(&redis::cmd("CLIENT").arg("ID").to_owned()).await.unwrap())
                    .unwrap(),
            );
        }
        let killer = redis::Client::open(URL).unwrap();
        let mut killer = killer.get_multiplexed_async_connection().await.unwrap();
        for id in ids {
            let _: Value = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(id)
                .query_async(&mut killer)
                .await
                .unwrap();
        }
        // Each shared connection fails at most once, as Unavailable, and is then replaced.
        let mut failures = 0;
        for _ in 0..(3 * SHARED_CONNECTIONS) {
            match store.ping().await {
                Ok(()) => {}
                Err(StoreError::Unavailable(_)) => failures += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert!(failures <= SHARED_CONNECTIONS);
        for _ in 0..SHARED_CONNECTIONS {
            store.ping().await.unwrap();
        }
    }

    #[tokio::test]
    async fn unreachable_redis_is_unavailable_quickly() {
        let started = Instant::now();
        let result = RedisStore::connect("redis://127.0.0.1:1", "t", StoreOptions::default()).await;
        assert!(matches!(result, Err(StoreError::Unavailable(_))));
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn job_records_round_trip() {
        let job = job("x", 12);
        let mut record = b"3 9 ".to_vec();
        record.extend(encode_job_rest(&job));
        let claimed = decode_job("x".into(), &record).unwrap();
        assert_eq!(claimed, ClaimedJob { job, attempt: 3, lease: 9 });
        assert!(decode_job("x".into(), b"3 9 12 99 short").is_err());
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a64(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64("a"), 0xaf63_dc4c_8601_ec8c);
    }

    async fn queue_events(store: &RedisStore, tag: &str, events: &[&str]) {
        let events = events.iter().map(|event| event.as_bytes().to_vec()).collect();
        let outcome = store.commit(Transaction::new(tag).op(Op::Outbox { events })).await;
        assert_eq!(outcome.unwrap(), CommitOutcome::Committed);
    }

    async fn same_prefix(store: &RedisStore) -> RedisStore {
        RedisStore::connect(URL, store.inner.keys.prefix(), StoreOptions::default())
            .await
            .expect("local redis for tests")
    }

    #[tokio::test]
    async fn outbox_index_finds_outboxes_without_scanning() {
        let sweeper = store().await;
        assert!(sweeper.outbox_tags().await.unwrap().is_empty(), "the first call scans");
        // Another replica commits events and dies before relaying them.
        let writer = same_prefix(&sweeper).await;
        queue_events(&writer, "lc:1", &["a", "b"]).await;
        // An outbox nobody marked (written before the index existed).
        let legacy = sweeper.key("lc:2", reserved::OUTBOX);
        sweeper
            .query(redis::cmd("RPUSH").arg(&legacy).arg(format!("{:032x}c", 7u128)))
            .await
            .unwrap();
        assert_eq!(
            sweeper.outbox_tags().await.unwrap(),
            vec!["lc:1".to_string()],
            "later calls read the index only"
        );
        let restarted = same_prefix(&sweeper).await;
        assert_eq!(
            restarted.outbox_tags().await.unwrap(),
            vec!["lc:1".to_string(), "lc:2".to_string()],
            "a new process scans once and finds the unmarked outbox too"
        );
        assert_eq!(
            sweeper.outbox_tags().await.unwrap(),
            vec!["lc:1".to_string(), "lc:2".to_string()],
            "and marks it, so every replica's index pass sees it from then on"
        );
        assert_eq!(sweeper.relay_outbox("lc:1").await.unwrap(), 2);
        assert_eq!(sweeper.relay_outbox("lc:2").await.unwrap(), 1);
        assert!(sweeper.outbox_tags().await.unwrap().is_empty());
        cleanup(&sweeper).await;
    }

    #[tokio::test]
    async fn outbox_index_forgets_empty_outboxes_after_the_grace() {
        let store = store().await;
        let index = store.key(reserved::OUTBOXES_TAG, reserved::OUTBOXES_MARKED);
        let marked = |tag: &'static str| {
            let (store, index) = (store.clone(), index.clone());
            async move {
                let reply = store.query(redis::cmd("ZSCORE").arg(&index).arg(tag)).await.unwrap();
                reply_float(reply).unwrap().is_some()
            }
        };
        let age = |tag: &'static str| {
            let (store, index) = (store.clone(), index.clone());
            async move {
                // Older by the index's own clock (Redis's), as if marked over a minute ago.
                let reply = store.query(redis::cmd("ZSCORE").arg(&index).arg(tag)).await.unwrap();
                let marked_at = reply_float(reply).unwrap().expect("marked") as u64;
                let old = marked_at - reserved::OUTBOX_MARK_GRACE_MS - 1_000;
                store.query(redis::cmd("ZADD").arg(&index).arg(old).arg(tag)).await.unwrap();
            }
        };
        assert!(store.outbox_tags().await.unwrap().is_empty());
        queue_events(&store, "pk:relayed", &["a"]).await;
        queue_events(&store, "pk:waiting", &["b"]).await;
        queue_events(&store, "pk:recent", &["c"]).await;
        assert_eq!(store.relay_outbox("pk:relayed").await.unwrap(), 1);
        assert_eq!(store.relay_outbox("pk:recent").await.unwrap(), 1);
        age("pk:relayed").await;
        age("pk:waiting").await;
        assert_eq!(store.outbox_tags().await.unwrap(), vec!["pk:waiting".to_string()]);
        assert!(!marked("pk:relayed").await, "empty and old: forgotten");
        assert!(marked("pk:waiting").await, "old but still holding events: kept");
        assert!(marked("pk:recent").await, "empty but recent: a commit may be about to fill it");
        cleanup(&store).await;
    }
}
