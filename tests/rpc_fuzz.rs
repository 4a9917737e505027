//! Issue 12's property test: random and boundary requests to every RPC of every `pk.*` service,
//! through the real gRPC layer. The messages are generated from the proto descriptors the
//! server serves for reflection (so a new RPC or field is fuzzed without touching this file):
//! every field set or left out, numbers at their boundaries (0, 1, `i64::MAX`, `i64::MAX + 1`,
//! `u64::MAX`, negative), enum values the contract does not define, empty, long, non-ASCII and
//! brace-carrying strings, nested messages, repeated fields of a few elements. Each call must
//! answer, never INTERNAL, UNKNOWN, UNAVAILABLE, UNIMPLEMENTED, CANCELLED or DATA_LOSS (a panic or a bug shows as
//! those); every refusal carries the business code in its `ErrorInfo`; and a refused request
//! changes nothing in the store (every key under the server's prefix compared before and
//! after). The clock is manual and never moves, so no timer changes state in between.
//!
//! Bounded: `LIVEPK_FUZZ_CASES` requests per RPC (default 40) from seed `LIVEPK_FUZZ_SEED`
//! (default fixed, printed on failure, so a failure replays).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    MethodDescriptor, Value,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{TestServer, TestServerOptions, manual_clock, redis_url};
use tonic::codegen::http::uri::PathAndQuery;

/// The Redis database of this test: its own, so that reading every key of the server's prefix
/// does not scan what other tests left in database 0.
const FUZZ_DB: u8 = 9;

/// How deep a request nests generated messages (the request is at this depth, its fields'
/// messages one below, theirs two below).
const REQUEST_DEPTH: u32 = 2;

fn cases() -> usize {
    std::env::var("LIVEPK_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(40)
}

fn seed() -> u64 {
    std::env::var("LIVEPK_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_1209)
}

/// A random value of a scalar kind, biased to boundaries.
fn scalar(rng: &mut StdRng, kind: &Kind) -> Option<Value> {
    const U64: [u64; 9] = [
        0,
        1,
        2,
        100,
        1_700_000_000_000,
        i64::MAX as u64,
        i64::MAX as u64 + 1,
        u64::MAX - 1,
        u64::MAX,
    ];
    const I64: [i64; 6] = [0, 1, -1, i64::MIN, i64::MAX, 1_700_000_000_000];
    const U32: [u32; 6] = [0, 1, 2, 20, i32::MAX as u32 + 1, u32::MAX];
    const I32: [i32; 5] = [0, 1, -1, i32::MIN, i32::MAX];
    let pick = |rng: &mut StdRng, n: usize| rng.random_range(0..n);
    Some(match kind {
        Kind::Uint64 | Kind::Fixed64 => {
            Value::U64(if rng.random_bool(0.2) { rng.random() } else { U64[pick(rng, U64.len())] })
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(I64[pick(rng, I64.len())]),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(U32[pick(rng, U32.len())]),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(I32[pick(rng, I32.len())]),
        Kind::Bool => Value::Bool(rng.random()),
        Kind::Double => Value::F64([0.0, -1.0, f64::NAN, f64::INFINITY, 1e300][pick(rng, 5)]),
        Kind::Float => Value::F32([0.0, -1.0, f32::NAN, f32::INFINITY][pick(rng, 4)]),
        Kind::String => Value::String(text(rng)),
        Kind::Bytes => Value::Bytes(text(rng).into_bytes().into()),
        Kind::Enum(descriptor) => {
            let defined: Vec<i32> = descriptor.values().map(|value| value.number()).collect();
            Value::EnumNumber(if rng.random_bool(0.6) {
                defined[pick(rng, defined.len())]
            } else {
                [99, -1, i32::MAX, defined.len() as i32][pick(rng, 4)]
            })
        }
        Kind::Message(_) => return None,
    })
}

fn text(rng: &mut StdRng) -> String {
    match rng.random_range(0..9) {
        0 => String::new(),
        1 => "a".into(),
        2 => "x".repeat(129),
        3 => "y".repeat(5_000),
        4 => "{tag}:x".into(),
        5 => "名字🎁\u{0}\u{202e}".into(),
        6 => " ".into(),
        7 => "txn-1".into(),
        _ => (0..rng.random_range(1..24)).map(|_| rng.random_range('!'..='~')).collect(),
    }
}

/// A random message of `descriptor`: each field set or not, nested up to `depth`.
fn message(rng: &mut StdRng, descriptor: &MessageDescriptor, depth: u32) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    for field in descriptor.fields() {
        if !rng.random_bool(0.75) {
            continue;
        }
        if let Some(value) = field_value(rng, &field, depth) {
            message.set_field(&field, value);
        }
    }
    message
}

fn field_value(rng: &mut StdRng, field: &FieldDescriptor, depth: u32) -> Option<Value> {
    let one = |rng: &mut StdRng| -> Option<Value> {
        match field.kind() {
            Kind::Message(inner) => {
                // A well-known or recursive message deeper than this is left out.
                if depth == 0 || inner.full_name().starts_with("google.protobuf.") {
                    None
                } else {
                    Some(Value::Message(message(rng, &inner, depth - 1)))
                }
            }
            kind => scalar(rng, &kind),
        }
    };
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else { return None };
        let key_field = entry.map_entry_key_field();
        let value_field = entry.map_entry_value_field();
        let mut map = std::collections::HashMap::new();
        for _ in 0..rng.random_range(0..3) {
            let key = match scalar(rng, &key_field.kind())? {
                Value::String(s) => MapKey::String(s),
                Value::U64(v) => MapKey::U64(v),
                Value::I64(v) => MapKey::I64(v),
                Value::U32(v) => MapKey::U32(v),
                Value::I32(v) => MapKey::I32(v),
                Value::Bool(v) => MapKey::Bool(v),
                _ => return None,
            };
            map.insert(key, field_value(rng, &value_field, depth)?);
        }
        return Some(Value::Map(map));
    }
    if field.is_list() {
        // One more than the 1,000 a batch, a stream or a filter may hold; long lists of
        // messages only in the request itself (a batch of gifts), not deeper.
        let n = [0, 1, 2, 3, 1_001][rng.random_range(0..5)];
        let nested_messages = field.kind().as_message().is_some() && depth < REQUEST_DEPTH;
        let n = if nested_messages { n.min(3) } else { n };
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(one(rng)?);
        }
        return Some(Value::List(items));
    }
    one(rng)
}

/// Every key under `prefix` in the fuzz database with its serialized value.
async fn snapshot(
    redis: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(redis)
            .await
            .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let mut state = BTreeMap::new();
    for key in keys {
        let dumped: Option<Vec<u8>> =
            redis::cmd("DUMP").arg(&key).query_async(redis).await.expect("DUMP");
        if let Some(dumped) = dumped {
            state.insert(key, dumped);
        }
    }
    state
}

/// A request as `field=value` pairs.
fn show(message: &DynamicMessage) -> String {
    let fields: Vec<String> = message
        .fields()
        .map(|(field, value)| match value {
            Value::Message(inner) => format!("{}={{{}}}", field.name(), show(inner)),
            Value::String(text) if text.len() > 40 => {
                format!("{}=<{} chars>", field.name(), text.chars().count())
            }
            Value::List(items) if items.len() > 3 => {
                format!("{}=[{} items]", field.name(), items.len())
            }
            value => format!("{}={value:?}", field.name()),
        })
        .collect();
    fields.join(" ")
}

/// Encodes a dynamic message as the request, and reads any reply as bytes it ignores.
type Codec = tonic_prost::ProstCodec<DynamicMessage, ()>;

/// Calls `method` with `request` (a stream of a few for client streaming; the first reply of a
/// server stream). The answer's status (OK included).
async fn call(
    channel: &tonic::transport::Channel,
    method: &MethodDescriptor,
    requests: Vec<DynamicMessage>,
) -> tonic::Status {
    let path = PathAndQuery::try_from(format!(
        "/{}/{}",
        method.parent_service().full_name(),
        method.name()
    ))
    .expect("a method path");
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("the channel");
    let ok = || tonic::Status::ok("");
    match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => {
            let request = requests.into_iter().next().expect("one request");
            grpc.unary(tonic::Request::new(request), path, Codec::default())
                .await
                .map_or_else(|status| status, |_| ok())
        }
        (true, false) => grpc
            .client_streaming(
                tonic::Request::new(tokio_stream::iter(requests)),
                path,
                Codec::default(),
            )
            .await
            .map_or_else(|status| status, |_| ok()),
        (false, true) => {
            let request = requests.into_iter().next().expect("one request");
            match grpc.server_streaming(tonic::Request::new(request), path, Codec::default()).await
            {
                Err(status) => status,
                Ok(response) => {
                    let mut stream = response.into_inner();
                    match tokio::time::timeout(Duration::from_millis(50), stream.message()).await {
                        Ok(Err(status)) => status,
                        _ => ok(),
                    }
                }
            }
        }
        (true, true) => panic!("no bidirectional RPC is expected: {}", method.full_name()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_boundary_requests_to_every_rpc_never_fail_inside_nor_change_state_when_refused()
{
    let pool = DescriptorPool::decode(livepk::pb::FILE_DESCRIPTOR_SET).expect("the descriptors");
    let url = format!("{}/{FUZZ_DB}", redis_url().trim_end_matches('/'));
    let clock = manual_clock();
    let server = TestServer::start_with(TestServerOptions {
        redis_url: Some(url.clone()),
        clock: Some(std::sync::Arc::new(clock.clone())),
        ..TestServerOptions::default()
    })
    .await;
    let mut redis = redis::Client::open(url.as_str())
        .expect("the Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let methods: Vec<MethodDescriptor> = pool
        .services()
        .filter(|service| service.full_name().starts_with("pk."))
        .flat_map(|service| service.methods().collect::<Vec<_>>())
        .collect();
    assert!(methods.len() > 40, "every service's methods: {}", methods.len());

    let mut failures = Vec::new();
    let mut answered: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for method in &methods {
        for case in 0..cases() {
            let count = if method.is_client_streaming() { rng.random_range(0..4) } else { 1 };
            let requests: Vec<DynamicMessage> =
                (0..count).map(|_| message(&mut rng, &method.input(), REQUEST_DEPTH)).collect();
            let shown = requests.iter().map(show).collect::<Vec<_>>().join(" | ");
            let before = snapshot(&mut redis, &server.key_prefix).await;
            let status = tokio::time::timeout(
                Duration::from_secs(10),
                call(&server.channel, method, requests),
            )
            .await
            .unwrap_or_else(|_| panic!("{} hung on {shown}", method.full_name()));
            *answered
                .entry(method.full_name().to_owned())
                .or_default()
                .entry(format!("{:?}", status.code()))
                .or_default() += 1;
            let code = status.code();
            let what = || format!("{} case {case} (seed {seed}) {shown}", method.full_name());
            if matches!(
                code,
                tonic::Code::Internal
                    | tonic::Code::Unknown
                    | tonic::Code::Unavailable
                    | tonic::Code::Unimplemented
                    | tonic::Code::DataLoss
                    | tonic::Code::Cancelled
                    | tonic::Code::DeadlineExceeded
            ) {
                failures.push(format!("{}: {code:?} {:?}", what(), status.message()));
                continue;
            }
            if code == tonic::Code::Ok {
                continue;
            }
            use tonic_types::StatusExt;
            if status
                .get_details_error_info()
                .is_none_or(|info| !info.metadata.contains_key("code"))
            {
                failures.push(format!("{}: {code:?} without a business code: {status:?}", what()));
            }
            let after = snapshot(&mut redis, &server.key_prefix).await;
            if after != before {
                let changed: Vec<String> = before
                    .keys()
                    .chain(after.keys())
                    .filter(|key| before.get(*key) != after.get(*key))
                    .map(|key| String::from_utf8_lossy(key).into_owned())
                    .collect();
                failures.push(format!("{}: refused ({code:?}) but changed {changed:?}", what()));
            }
        }
    }
    for (method, codes) in &answered {
        println!("{method}: {codes:?}");
    }
    // One example per (method, kind of failure), with how many there were.
    let mut grouped: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for failure in &failures {
        let method = failure.split(' ').next().unwrap_or_default();
        let kind = failure.rsplit(": ").next().unwrap_or_default();
        let kind: String = kind.chars().take(60).collect();
        let entry = grouped.entry(format!("{method} {kind}")).or_insert((0, failure.clone()));
        entry.0 += 1;
    }
    let failures: Vec<String> =
        grouped.values().map(|(n, example)| format!("[{n}x] {example}")).collect();
    // Still serving after it all.
    assert_eq!(server.health_status("").await, Some(support::serving()));
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    server.shutdown().await;
}
