//! Redis memory per live battle, per gifter and per gift (issue 15, "Memory"). Not a test:
//! `cargo bench --bench memory`.
//!
//! Starts the real server in this process (the black-box tests' `TestServer`: real Redis, fresh
//! key prefix, temporary SQLite) and, mode by mode, opens `BENCH_MEM_BATTLES` battles over gRPC,
//! then sends each battle one gift from each of `BENCH_MEM_GIFTERS` distinct viewers, then one
//! more gift from each of the same viewers. After every step it reads `MEMORY USAGE <key>
//! SAMPLES 0` (exact) of every key under the prefix and prints the difference:
//!
//! * per battle   = bytes of the keys the battles created (state, windows, deadline jobs) / N;
//! * per gifter   = growth of the battle keys (boards, profiles) in the first gift round / gifts;
//! * per gift     = idempotency data per gift, in both rounds: the ledger's record (on one Redis a
//!   gift counted in one step keeps it as a field of a bucket hash `rec:<n>`, else as a key
//!   `gift:<txn>`) and the PK's `txns` entry (not written for a gift counted in one step); the
//!   second round (no new gifter) also shows that boards do not grow with repeat gifts;
//! * events       = the shared event stream and its de-dup set (capped by `event_retention`,
//!   not per battle), shown apart;
//!
//! then a breakdown per key shape (digits replaced by `#`) with its count, bytes, bytes per key,
//! Redis encoding and remaining TTL, so the dominant keys are visible. Targets (issue 15):
//! < 4 KB per battle + 100 B per gifter; <= 64 B per gift of idempotency data.
//!
//! Environment: BENCH_MEM_BATTLES (10), BENCH_MEM_GIFTERS (600 per battle: 300 per side, above
//! Redis's default `zset-max-listpack-entries` 128, and 1,200 `txns` entries, above
//! `hash-max-listpack-entries` 512, so boards and `txns` take the encoding a busy PK has),
//! BENCH_MEM_CONCURRENCY (32), BENCH_MEM_MODES (all: linkcall,roompk,acrosspk,giftpk,show),
//! BENCH_MEM_RECORD_BUCKETS (`gifts.record_buckets`; default: the run's gifts / 400, as the
//! README sizes it from the peak gifts per retry horizon), BENCH_CLEANUP (1),
//! LIVEPK_TEST_REDIS_URL.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use livepk::pb::acrosspk::AcceptSource;
use livepk::pb::gift::{RecordGiftRequest, RecordGiftResponse};
use livepk::pb::giftpk::gift_pk_client::GiftPkClient;
use livepk::pb::giftpk::{CreateRequest, GiftpkGift};
use livepk::pb::roompk::{SetOperatorRequest, StartRequest, TakeSeatRequest};
use livepk::pb::show::AnchorInviteRequest;
use support::{
    Anchor, Client, Configure, PartyRoom, SHOW_GIFT, TestServer, TestServerOptions, battle,
    put_show_catalogue, redis_url, roompk, show, user,
};

/// Targets of issue 15.
const TARGET_BATTLE: f64 = 4096.0;
const TARGET_GIFTER: f64 = 100.0;
const TARGET_GIFT: f64 = 64.0;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|value| value.trim().parse().ok()).unwrap_or(default)
}

/// One key as Redis reports it.
#[derive(Clone, Debug)]
struct KeyInfo {
    bytes: u64,
    encoding: String,
    ttl_ms: i64,
}

type Snapshot = HashMap<String, KeyInfo>;

/// What a key is for, from its `{tag}` and name.
fn category(key: &str) -> &'static str {
    let tag = key.split_once(":{").and_then(|(_, rest)| rest.split_once("}:"));
    let Some((tag, name)) = tag else { return "other" };
    if tag.starts_with("gift:") || tag.starts_with("rec:") || name == "txns" || name == "txns:prev"
    {
        "idempotency"
    } else if tag == "events" || tag == "outboxes" || name == "outbox" {
        "events"
    } else if tag.starts_with("dq:") {
        "timers"
    } else {
        "state"
    }
}

/// The key without the prefix, digit runs replaced by `#`.
fn shape(key: &str) -> String {
    let rest = key.split_once(':').map_or(key, |(_, rest)| rest);
    let mut out = String::new();
    let mut in_digits = false;
    for ch in rest.chars() {
        if ch.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(ch);
            in_digits = false;
        }
    }
    out
}

async fn snapshot(redis: &mut redis::aio::MultiplexedConnection, prefix: &str) -> Snapshot {
    let keys = support::keys_matching(redis, &format!("{prefix}:*")).await.expect("SCAN");
    let mut out = Snapshot::new();
    for chunk in keys.chunks(500) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("MEMORY").arg("USAGE").arg(key).arg("SAMPLES").arg(0);
            pipe.cmd("OBJECT").arg("ENCODING").arg(key);
            pipe.cmd("PTTL").arg(key);
        }
        let values: Vec<redis::Value> = pipe.query_async(redis).await.expect("MEMORY USAGE");
        for (key, triple) in chunk.iter().zip(values.chunks(3)) {
            let bytes: Option<u64> = redis::from_redis_value(triple[0].clone()).ok();
            let encoding: Option<String> = redis::from_redis_value(triple[1].clone()).ok();
            let ttl_ms: i64 = redis::from_redis_value(triple[2].clone()).unwrap_or(-2);
            if let Some(bytes) = bytes {
                out.insert(
                    key.clone(),
                    KeyInfo { bytes, encoding: encoding.unwrap_or_default(), ttl_ms },
                );
            }
        }
    }
    out
}

/// Bytes per category that `after` holds more than `before` (new keys and growth; keys that
/// went away count negative).
fn delta(before: &Snapshot, after: &Snapshot) -> BTreeMap<&'static str, i64> {
    let mut out = BTreeMap::new();
    for (key, info) in after {
        let old = before.get(key).map_or(0, |old| old.bytes as i64);
        *out.entry(category(key)).or_insert(0) += info.bytes as i64 - old;
    }
    for (key, info) in before {
        if !after.contains_key(key) {
            *out.entry(category(key)).or_insert(0) -= info.bytes as i64;
        }
    }
    out
}

/// Per key shape of the keys `after` holds that are new or changed since `base`: count, bytes
/// now, encodings, TTL range.
#[derive(Default)]
struct ShapeRow {
    keys: usize,
    bytes: u64,
    encodings: BTreeMap<String, usize>,
    ttl_min: i64,
    ttl_max: i64,
}

fn shapes(base: &Snapshot, after: &Snapshot) -> BTreeMap<String, ShapeRow> {
    let mut out: BTreeMap<String, ShapeRow> = BTreeMap::new();
    for (key, info) in after {
        if base.get(key).is_some_and(|old| old.bytes == info.bytes) {
            continue;
        }
        let row = out.entry(shape(key)).or_insert_with(|| ShapeRow {
            ttl_min: i64::MAX,
            ttl_max: i64::MIN,
            ..ShapeRow::default()
        });
        row.keys += 1;
        row.bytes += info.bytes;
        *row.encodings.entry(info.encoding.clone()).or_insert(0) += 1;
        row.ttl_min = row.ttl_min.min(info.ttl_ms);
        row.ttl_max = row.ttl_max.max(info.ttl_ms);
    }
    out
}

fn ttl_text(ms: i64) -> String {
    match ms {
        -1 => "none".into(),
        -2 => "gone".into(),
        ms if ms >= 86_400_000 => format!("{:.1} d", ms as f64 / 86_400_000.0),
        ms if ms >= 3_600_000 => format!("{:.1} h", ms as f64 / 3_600_000.0),
        ms if ms >= 60_000 => format!("{:.1} min", ms as f64 / 60_000.0),
        ms => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

/// How each mode opens battle `index` and sends its gifts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    LinkCall,
    RoomPk,
    AcrossPk,
    GiftPk,
    Show,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::LinkCall => "linkcall",
            Mode::RoomPk => "roompk",
            Mode::AcrossPk => "acrosspk",
            Mode::GiftPk => "giftpk",
            Mode::Show => "show",
        }
    }

    /// A base id that keeps each mode's rooms, anchors and users apart.
    fn base(self) -> u64 {
        match self {
            Mode::LinkCall => 1_000_000,
            Mode::RoomPk => 2_000_000,
            Mode::AcrossPk => 3_000_000,
            Mode::GiftPk => 4_000_000,
            Mode::Show => 5_000_000,
        }
    }

    /// Opens battle `index`: scoring from now for 10 minutes.
    async fn open(self, server: &Client, index: u64) {
        let base = self.base() + index * 10;
        match self {
            Mode::LinkCall => {
                let host = Anchor::new(base + 1, base + 2);
                let guest = Anchor::new(base + 3, base + 4);
                host.online(server).await;
                guest.online(server).await;
                battle(server, &host, &guest).await;
            }
            Mode::RoomPk => {
                let room = base;
                let operator = base + 9;
                let mut client = roompk(server);
                client
                    .set_operator(SetOperatorRequest { room_id: room, operator_id: operator })
                    .await
                    .expect("SetOperator");
                for (location, user_id) in [(11, base + 1), (15, base + 5)] {
                    client
                        .take_seat(TakeSeatRequest { room_id: room, location, user_id })
                        .await
                        .expect("TakeSeat");
                }
                client
                    .start(StartRequest {
                        room_id: room,
                        operator_id: operator,
                        punishment: String::new(),
                        countdown: 600,
                    })
                    .await
                    .expect("RoomPk Start");
            }
            Mode::AcrossPk => {
                let (creator, taker) = (PartyRoom::new(base), PartyRoom::new(base + 1));
                creator.create(server, 600).await.expect("AcrossPk Create");
                taker.accept(server, &creator, AcceptSource::Created).await.expect("Accept");
            }
            Mode::GiftPk => {
                let gift = |id: u64| GiftpkGift {
                    gift_id: id,
                    gift_name: format!("gift {id}"),
                    ..Default::default()
                };
                GiftPkClient::new(server.channel.clone())
                    .create(CreateRequest {
                        show_id: base,
                        singer_id: base + 1,
                        gifts: vec![gift(11), gift(22)],
                        duration: 600,
                    })
                    .await
                    .expect("GiftPk Create");
            }
            Mode::Show => {
                show(server)
                    .anchor_invite(AnchorInviteRequest {
                        call_id: base,
                        anchor_id: base + 1,
                        user_id: base + 2,
                        gid: SHOW_GIFT,
                    })
                    .await
                    .expect("AnchorInvite");
            }
        }
    }

    /// Gift `txn` of viewer `sender` in battle `index`, to side `side` (0 or 1).
    fn gift(self, index: u64, txn: String, sender: u64, side: u64) -> RecordGiftRequest {
        let base = self.base() + index * 10;
        let (receiver_id, room_sid, gift_id, show_id) = match self {
            Mode::LinkCall => (base + 1 + 2 * side, base + 2 + 2 * side, 7, None),
            Mode::RoomPk => (base + 1 + 4 * side, base, 7, None),
            Mode::AcrossPk => (base + 900 + side, base + side, 9, None),
            Mode::GiftPk => (base + 1, base, [11, 22][side as usize], Some(base)),
            Mode::Show => unreachable!("shows are not scored by gifts"),
        };
        RecordGiftRequest {
            gift_txn_id: txn,
            sender: Some(user(sender)),
            receiver_id,
            room_sid,
            gift_id,
            gift_count: 1,
            unit_value: 10,
            sent_at_ms: now_ms(),
            show_id,
            call_id: None,
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// Sends one gift per (battle, gifter) with txn ids of `round`; returns how many counted.
async fn gift_round(
    server: &Client,
    mode: Mode,
    battles: u64,
    gifters: u64,
    round: &str,
    concurrency: usize,
) -> (usize, usize) {
    let requests: Vec<RecordGiftRequest> = (0..battles)
        .flat_map(|index| {
            (0..gifters).map(move |gifter| {
                let sender = mode.base() + 100_000 + index * gifters + gifter;
                let txn = format!("m{}-b{index}-u{gifter}-{round}", mode.name());
                mode.gift(index, txn, sender, gifter % 2)
            })
        })
        .collect();
    let total = requests.len();
    let counted = futures::stream::iter(requests)
        .map(|request| {
            let mut client = server.gifts();
            async move {
                let response: RecordGiftResponse =
                    client.record_gift(request).await.expect("RecordGift").into_inner();
                usize::from(!response.changes.is_empty())
            }
        })
        .buffer_unordered(concurrency)
        .fold(0usize, |sum, counted| async move { sum + counted })
        .await;
    (counted, total)
}

struct ModeRow {
    mode: Mode,
    battles: u64,
    per_battle: f64,
    per_battle_timers: f64,
    per_gifter: f64,
    per_gift_first: f64,
    per_gift_repeat: f64,
    board_growth_repeat: f64,
    events_per_gift: f64,
    counted: (usize, usize),
}

fn per(bytes: i64, count: u64) -> f64 {
    if count == 0 { 0.0 } else { bytes as f64 / count as f64 }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let battles: u64 = env("BENCH_MEM_BATTLES", 10);
    let gifters: u64 = env("BENCH_MEM_GIFTERS", 600);
    let concurrency: usize = env("BENCH_MEM_CONCURRENCY", 32);
    let wanted: String = env("BENCH_MEM_MODES", "linkcall,roompk,acrosspk,giftpk,show".to_string());
    let modes: Vec<Mode> = [Mode::LinkCall, Mode::RoomPk, Mode::AcrossPk, Mode::GiftPk, Mode::Show]
        .into_iter()
        .filter(|mode| wanted.split(',').any(|name| name.trim() == mode.name()))
        .collect();

    // As an operator sizes them (README "Retry horizon"): the gifts of one horizon / 400.
    let scored_modes = modes.iter().filter(|mode| **mode != Mode::Show).count() as u64;
    let record_buckets: u64 =
        env("BENCH_MEM_RECORD_BUCKETS", (scored_modes * battles * gifters * 2 / 400).max(1));
    let started = Instant::now();
    let configure: Configure = Arc::new(move |config: &mut livepk::config::Config| {
        config.gifts.record_buckets = record_buckets;
    });
    let server = TestServer::start_with(TestServerOptions {
        configure: Some(configure),
        ..Default::default()
    })
    .await;
    let prefix = server.key_prefix.clone();
    let mut redis = redis::Client::open(redis_url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let info: String = redis::cmd("INFO").arg("server").query_async(&mut redis).await.unwrap();
    let version =
        info.lines().find_map(|line| line.strip_prefix("redis_version:")).unwrap_or("?").to_owned();
    let mut limits = Vec::new();
    for name in ["hash-max-listpack-entries", "zset-max-listpack-entries"] {
        let value: Vec<String> =
            redis::cmd("CONFIG").arg("GET").arg(name).query_async(&mut redis).await.unwrap();
        limits.push(value.join(" "));
    }
    put_show_catalogue(&server).await;
    server.set_config("giftpk.min_duration_seconds", "10").await;

    let mut rows = Vec::new();
    let mut breakdowns = Vec::new();
    for &mode in &modes {
        let s0 = snapshot(&mut redis, &prefix).await;
        for index in 0..battles {
            mode.open(&server, index).await;
        }
        let s1 = snapshot(&mut redis, &prefix).await;
        let opened = delta(&s0, &s1);
        let (mut s2, mut s3) = (s1.clone(), s1.clone());
        let mut counted = (0, 0);
        if mode != Mode::Show {
            let first = gift_round(&server, mode, battles, gifters, "a", concurrency).await;
            s2 = snapshot(&mut redis, &prefix).await;
            let second = gift_round(&server, mode, battles, gifters, "b", concurrency).await;
            s3 = snapshot(&mut redis, &prefix).await;
            counted = (first.0 + second.0, first.1 + second.1);
        }
        let round1 = delta(&s1, &s2);
        let round2 = delta(&s2, &s3);
        let gifts = battles * gifters;
        let get = |map: &BTreeMap<&str, i64>, name: &str| map.get(name).copied().unwrap_or(0);
        rows.push(ModeRow {
            mode,
            battles,
            per_battle: per(get(&opened, "state") + get(&opened, "timers"), battles),
            per_battle_timers: per(get(&opened, "timers"), battles),
            per_gifter: per(get(&round1, "state"), gifts),
            per_gift_first: per(get(&round1, "idempotency"), gifts),
            per_gift_repeat: per(get(&round2, "idempotency"), gifts),
            board_growth_repeat: per(get(&round2, "state"), gifts),
            events_per_gift: per(get(&round1, "events") + get(&round2, "events"), 2 * gifts),
            counted,
        });
        breakdowns.push((mode, shapes(&s0, &s3)));
    }

    println!(
        "Redis memory per battle / gifter / gift (MEMORY USAGE SAMPLES 0; Redis {version}; {}; \
         {battles} battles per mode, {gifters} distinct gifters per battle, 2 gift rounds; \
         {record_buckets} gift record buckets; the in-process server on the real clock; {:.0} s)",
        limits.join(", "),
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<9} {:>8} {:>11} {:>9} {:>10} {:>9} {:>11} {:>11} {:>12} {:>10} {:>13}",
        "mode",
        "battles",
        "B/battle",
        "of timers",
        "B/gifter",
        "B/gift 1",
        "B/gift rep",
        "board rep",
        "events B/g",
        "counted",
        "vs target"
    );
    for row in &rows {
        let verdict = format!(
            "{:.2}x/{:.2}x/{:.2}x",
            row.per_battle / TARGET_BATTLE,
            row.per_gifter / TARGET_GIFTER,
            (row.per_gift_repeat + row.per_gift_first) / 2.0 / TARGET_GIFT
        );
        println!(
            "{:<9} {:>8} {:>11.0} {:>9.0} {:>10.1} {:>9.1} {:>11.1} {:>11.1} {:>12.1} {:>10} {:>13}",
            row.mode.name(),
            row.battles,
            row.per_battle,
            row.per_battle_timers,
            row.per_gifter,
            row.per_gift_first,
            row.per_gift_repeat,
            row.board_growth_repeat,
            row.events_per_gift,
            format!("{}/{}", row.counted.0, row.counted.1),
            if row.mode == Mode::Show {
                format!("{:.2}x", row.per_battle / TARGET_BATTLE)
            } else {
                verdict
            },
        );
    }
    println!(
        "targets: < {TARGET_BATTLE:.0} B per battle, < {TARGET_GIFTER:.0} B per gifter, <= {TARGET_GIFT:.0} B per gift \
         (idempotency); 'vs target' = battle/gifter/gift (the mean of both rounds) as a ratio of \
         the target (> 1 = missed)."
    );
    println!(
        "Gift records share bucket hashes, which grow by the allocator's size classes (steps of \
         a few KB): one round may pay for a step the next one fills, so read B/gift over both \
         rounds, and the bucket line below (all records of the run) as the steady figure."
    );
    println!(
        "B/gift 1: first round (each gift from a new gifter), B/gift rep: second round (repeat \
         gifters); board rep: battle-key growth in the second round; events: the shared stream \
         and de-dup set (capped at event_retention, not per battle)."
    );
    for (mode, rows) in breakdowns {
        println!();
        println!("{} keys written (new or changed), by shape:", mode.name());
        println!(
            "  {:<48} {:<12} {:>7} {:>11} {:>9} {:<22} {:>17}",
            "key shape", "what", "keys", "bytes", "B/key", "encoding", "TTL left"
        );
        let mut rows: Vec<_> = rows.into_iter().collect();
        rows.sort_by_key(|(_, row)| std::cmp::Reverse(row.bytes));
        for (shape, row) in rows {
            let encodings = row
                .encodings
                .iter()
                .map(|(name, count)| {
                    if row.encodings.len() == 1 { name.clone() } else { format!("{name}:{count}") }
                })
                .collect::<Vec<_>>()
                .join(",");
            let ttl = if row.ttl_min == row.ttl_max {
                ttl_text(row.ttl_min)
            } else {
                format!("{}..{}", ttl_text(row.ttl_min), ttl_text(row.ttl_max))
            };
            let what = category(&format!("p:{shape}"));
            println!(
                "  {:<48} {:<12} {:>7} {:>11} {:>9.0} {:<22} {:>17}",
                shape,
                what,
                row.keys,
                row.bytes,
                row.bytes as f64 / row.keys as f64,
                encodings,
                ttl
            );
        }
    }
    // What one gift's idempotency data holds, byte for byte.
    let snap = snapshot(&mut redis, &prefix).await;
    if let Some(record) = snap.keys().filter(|key| key.contains(":{gift:")).min() {
        let value: Vec<u8> = redis::cmd("GET").arg(record).query_async(&mut redis).await.unwrap();
        println!();
        println!(
            "one gift record: key {} ({} B), value {} B: {:?}; MEMORY USAGE {} B",
            record,
            record.len(),
            value.len(),
            if value.first() == Some(&b'{') {
                String::from_utf8_lossy(&value).into_owned()
            } else {
                // The compact done record (ledger.rs `done_codec`): shown as hex.
                value.iter().map(|byte| format!("{byte:02x}")).collect::<String>()
            },
            snap[record].bytes
        );
    }
    if let Some(bucket) =
        snap.keys().filter(|key| key.contains(":{rec:")).max_by_key(|key| snap[*key].bytes)
    {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = redis::cmd("HSCAN")
            .arg(bucket)
            .arg(0)
            .arg("COUNT")
            .arg(1)
            .query_async::<(u64, Vec<(Vec<u8>, Vec<u8>)>)>(&mut redis)
            .await
            .map(|(_, entries)| entries)
            .unwrap_or_default();
        let len: u64 = redis::cmd("HLEN").arg(bucket).query_async(&mut redis).await.unwrap();
        let buckets = snap.keys().filter(|key| key.contains(":{rec:")).count();
        let records: u64 = {
            let mut total = 0;
            for key in snap.keys().filter(|key| key.contains(":{rec:")) {
                total += redis::cmd("HLEN").arg(key).query_async::<u64>(&mut redis).await.unwrap();
            }
            total
        };
        let bytes: u64 =
            snap.iter().filter(|(key, _)| key.contains(":{rec:")).map(|(_, info)| info.bytes).sum();
        println!();
        println!(
            "gift record buckets: {buckets} keys, {records} records, {bytes} B ({:.1} B/record, \
             {:.1} records/bucket)",
            bytes as f64 / records.max(1) as f64,
            records as f64 / buckets.max(1) as f64
        );
        if let Some((field, value)) = entries.first() {
            let hex =
                |bytes: &[u8]| bytes.iter().map(|byte| format!("{byte:02x}")).collect::<String>();
            println!(
                "one record of the largest bucket {bucket} ({len} records, {} B, {:.1} B/record, {}): \
                 field {} ({} B), value {} ({} B)",
                snap[bucket].bytes,
                snap[bucket].bytes as f64 / len.max(1) as f64,
                snap[bucket].encoding,
                hex(field),
                field.len(),
                hex(value),
                value.len()
            );
        }
    }
    if let Some(txns) = snap.keys().filter(|key| key.ends_with("}:txns")).min() {
        let entries: Vec<(String, Vec<u8>)> = redis::cmd("HSCAN")
            .arg(txns)
            .arg(0)
            .arg("COUNT")
            .arg(1)
            .query_async::<(u64, Vec<(String, Vec<u8>)>)>(&mut redis)
            .await
            .map(|(_, entries)| entries)
            .unwrap_or_default();
        let len: u64 = redis::cmd("HLEN").arg(txns).query_async(&mut redis).await.unwrap();
        if let Some((field, value)) = entries.first() {
            println!(
                "one txns entry of {txns} ({len} entries, {} B, {:.1} B/entry, {}): field {field:?} ({} B), value {:?} ({} B)",
                snap[txns].bytes,
                snap[txns].bytes as f64 / len.max(1) as f64,
                snap[txns].encoding,
                field.len(),
                String::from_utf8_lossy(value),
                value.len()
            );
        }
    }
    support::remove_bench_keys(&redis_url(), &prefix);
    drop(server);
}
