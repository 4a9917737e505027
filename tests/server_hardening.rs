//! Issue 12 items 3 (auth fails closed), 4 (bounded metrics, streams' real status), 5 (bounded
//! streams and connections) and 9 (nonsense settings refused at start), through the real gRPC
//! layer: the in-process server, the real binary, or a raw HTTP/2 connection where the test
//! must misbehave below gRPC (never answering pings, never reading).

mod support;

use std::sync::Arc;
use std::time::Duration;

use livepk::config::Config;
use livepk::metrics::METRICS;
use livepk::pb::admin::GetConfigRequest;
use livepk::pb::events::{Event, FetchRequest, SubscribeRequest};
use livepk::pb::gift::RecordGiftsRequest;
use livepk_store::Store;
use prost::Message;
use support::{Deployment, TestServer, TestServerOptions, eventually, fresh_prefix, redis_url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Request;

fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn configure(change: impl Fn(&mut Config) + Send + Sync + 'static) -> Option<support::Configure> {
    Some(Arc::new(change))
}

/// An event the `Events` service can decode, `padding` bytes of payload.
fn event_bytes(padding: usize) -> Vec<u8> {
    Event {
        r#type: "item5_probe".into(),
        payload: Some(prost_types::Any {
            type_url: "type.googleapis.com/livepk.Padding".into(),
            value: vec![b'x'; padding],
        }),
        ..Event::default()
    }
    .encode_to_vec()
}

// ---- item 3 ----------------------------------------------------------------------------------

#[test]
fn item3_redis_deployment_without_tokens_refuses_to_start() {
    let prefix = fresh_prefix();
    let redis = redis_url();
    let base = [("LIVEPK_REDIS_URL", redis.as_str()), ("LIVEPK_KEY_PREFIX", prefix.as_str())];
    let (code, log) = support::run_binary(&base, Duration::from_secs(20));
    assert_eq!(code, Some(2), "no tokens on Redis must refuse to start:\n{log}");
    assert!(log.contains("LIVEPK_AUTH_TOKEN") && log.contains("LIVEPK_INSECURE"), "{log}");

    let mut only_gateway = base.to_vec();
    only_gateway.push(("LIVEPK_AUTH_TOKEN", "gateway-token"));
    let (code, log) = support::run_binary(&only_gateway, Duration::from_secs(20));
    assert_eq!(code, Some(2), "no admin token on Redis must refuse to start:\n{log}");
    assert!(log.contains("LIVEPK_ADMIN_TOKEN"), "{log}");

    let mut blank = base.to_vec();
    blank.extend([("LIVEPK_AUTH_TOKEN", " "), ("LIVEPK_ADMIN_TOKEN", "admin-token")]);
    let (code, log) = support::run_binary(&blank, Duration::from_secs(20));
    assert_eq!(code, Some(2), "a blank token is no token:\n{log}");
}

#[tokio::test]
async fn item3_insecure_flag_lets_a_redis_deployment_start_without_tokens() {
    // `Deployment` starts the binary on Redis with LIVEPK_INSECURE=1 and no token.
    let deployment = Deployment::new();
    let server = deployment.spawn().await;
    let mut events = server.events();
    events.fetch(FetchRequest::default()).await.expect("open: LIVEPK_INSECURE=1");
    assert!(
        server.log_tail().contains("OPEN"),
        "the open posture is logged:\n{}",
        server.log_tail()
    );
}

#[tokio::test]
async fn item3_admin_refuses_without_token_when_only_the_gateway_token_is_set() {
    let server = TestServer::start_with(TestServerOptions {
        auth_token: Some("gateway-token".into()),
        admin_token: None,
        ..Default::default()
    })
    .await;
    let mut admin = server.admin();
    let status = admin.get_config(GetConfigRequest::default()).await.expect_err("no token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let status = admin
        .get_config(with_token(GetConfigRequest::default(), "wrong"))
        .await
        .expect_err("wrong token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    admin
        .get_config(with_token(GetConfigRequest::default(), "gateway-token"))
        .await
        .expect("Admin falls back to the gateway token");
    server.shutdown().await;
}

#[tokio::test]
async fn item3_a_blank_toml_token_is_refused_before_serving() {
    // `auth_token = ""` used to switch the check off (or accept `Bearer `): now no server runs
    // with it, embedded or not (the gate's own tests show a blank token accepts nothing).
    let mut config: Config = toml::from_str("auth_token = \"\"").expect("valid TOML");
    config.redis_url = Some(redis_url());
    config.key_prefix = fresh_prefix();
    config.metrics_listen = None;
    let dir = tempfile::tempdir().expect("temporary directory");
    config.database_url = format!("sqlite://{}/livepk.db?mode=rwc", dir.path().display());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        livepk::run(listener, config, std::future::pending()),
    )
    .await
    .expect("refused at once, not served");
    let error = result.expect_err("a blank token").to_string();
    assert!(error.contains("auth_token") && error.contains("blank"), "{error}");
}

// ---- item 4 ----------------------------------------------------------------------------------

#[tokio::test]
async fn item4_unknown_paths_share_one_metric_label() {
    let server = TestServer::start_with(TestServerOptions {
        auth_token: Some("gateway-token".into()),
        admin_token: Some("admin-token".into()),
        ..Default::default()
    })
    .await;
    let channel = server.connect().await;
    let marker = format!("{:08x}", rand::random::<u32>());
    for n in 0..50 {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.expect("ready");
        let path = format!("/item4.{marker}.Random/Path{n}").parse().unwrap();
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        // Refused (no token) or unimplemented: either way it must not add a series.
        let _ = grpc.unary(Request::new(()), path, codec).await;
    }
    let rendered = METRICS.render();
    assert!(!rendered.contains(&marker), "a caller's path became a label:\n{rendered}");
    assert!(rendered.contains("method=\"unknown\""), "{rendered}");
    server.shutdown().await;
}

#[tokio::test]
async fn item4_streaming_calls_record_their_final_status() {
    let unavailable = || METRICS.rpc_requests.with_label_values(&["Events/Subscribe", "14"]).get();
    let before = unavailable();
    let mut server = TestServer::start().await;
    let mut stream = server
        .events()
        .subscribe(SubscribeRequest { after_event_id: String::new(), filter: None })
        .await
        .expect("subscribe")
        .into_inner();
    // The drain ends the stream with UNAVAILABLE in its trailers, after its headers said OK.
    server.trigger_shutdown();
    let status = loop {
        match stream.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    drop(stream);
    server.join().await.expect("clean stop");
    eventually("the stream's UNAVAILABLE to be counted", Duration::from_secs(5), || async {
        (unavailable() > before).then_some(())
    })
    .await;
}

// ---- item 5 ----------------------------------------------------------------------------------

#[tokio::test]
async fn item5_subscribers_beyond_the_limit_are_refused_resource_exhausted() {
    let server = TestServer::start_with(TestServerOptions {
        configure: configure(|config| config.limits.max_subscribers = 2),
        ..Default::default()
    })
    .await;
    let subscribe = || {
        let mut events = server.events();
        async move { events.subscribe(SubscribeRequest::default()).await }
    };
    let first = subscribe().await.expect("first");
    let _second = subscribe().await.expect("second");
    let status = subscribe().await.expect_err("a third beyond limits.max_subscribers = 2");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("limits.max_subscribers"), "{status:?}");
    drop(first);
    eventually("the closed stream's slot to be free", Duration::from_secs(10), || async {
        subscribe().await.ok()
    })
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn item5_a_hundred_subscribers_all_get_events() {
    // The store's pool of blocking connections holds 32: with a blocking read per stream, the
    // streams beyond it waited for one and ended UNAVAILABLE.
    let server = TestServer::start().await;
    let mut streams = Vec::new();
    for _ in 0..100 {
        let stream = server
            .events()
            .subscribe(SubscribeRequest::default())
            .await
            .expect("subscribe")
            .into_inner();
        streams.push(stream);
    }
    // Past the store's pool timeout (2 s), a stream holding no pooled connection still waits.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    server.store().await.append_events(&[event_bytes(10)]).await.expect("append");
    for (n, stream) in streams.iter_mut().enumerate() {
        let message = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .unwrap_or_else(|_| panic!("stream {n} got nothing"))
            .unwrap_or_else(|status| panic!("stream {n} failed: {status:?}"))
            .expect("an event");
        assert_eq!(message.event.expect("event").r#type, "item5_probe");
    }
    drop(streams);
    server.shutdown().await;
}

/// Opens a `Subscribe` stream its reader never reads, and appends more than the stream's
/// buffers and HTTP/2 window hold.
async fn stuck_reader(
    server: &TestServer,
) -> tonic::Streaming<livepk::pb::events::SubscribeResponse> {
    let stream = server
        .events()
        .subscribe(SubscribeRequest::default())
        .await
        .expect("subscribe")
        .into_inner();
    let store = server.store().await;
    let batch: Vec<Vec<u8>> = (0..100).map(|_| event_bytes(1_000)).collect();
    for _ in 0..30 {
        store.append_events(&batch).await.expect("append");
    }
    stream
}

#[tokio::test]
async fn item5_a_reader_that_stops_reading_loses_its_slot() {
    let server = TestServer::start_with(TestServerOptions {
        configure: configure(|config| {
            config.limits.max_subscribers = 1;
            config.limits.subscribe_send_timeout_ms = 200;
        }),
        ..Default::default()
    })
    .await;
    let _stuck = stuck_reader(&server).await;
    // The stuck stream holds the only slot until its send times out.
    eventually("the stuck reader's slot to be free", Duration::from_secs(10), || async {
        server.events().subscribe(SubscribeRequest::default()).await.ok()
    })
    .await;
}

#[tokio::test]
async fn item5_shutdown_is_not_held_by_a_reader_that_stopped_reading() {
    let mut server = TestServer::start_with(TestServerOptions {
        configure: configure(|config| {
            config.limits.subscribe_send_timeout_ms = 200;
            config.limits.shutdown_grace_ms = 500;
        }),
        ..Default::default()
    })
    .await;
    let _stuck = stuck_reader(&server).await;
    server.trigger_shutdown();
    // Panics when the server does not stop within STOP_TIMEOUT.
    server.join().await.expect("the server stopped cleanly");
}

#[tokio::test]
async fn item5_idle_uploads_time_out_and_free_their_slots() {
    let server = TestServer::start_with(TestServerOptions {
        max_concurrent_requests: Some(2),
        configure: configure(|config| config.limits.request_timeout_ms = 500),
        ..Default::default()
    })
    .await;
    let mut uploads = Vec::new();
    for _ in 0..2 {
        let mut gifts = server.gifts();
        uploads.push(tokio::spawn(async move {
            // An upload that never sends a gift nor ends.
            gifts.record_gifts(futures::stream::pending::<RecordGiftsRequest>()).await
        }));
    }
    for upload in uploads {
        let status = tokio::time::timeout(Duration::from_secs(10), upload)
            .await
            .expect("the idle upload ends")
            .expect("task")
            .expect_err("an idle upload times out");
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
        assert!(status.message().contains("limits.request_timeout_ms"), "{status:?}");
    }
    server.events().fetch(FetchRequest::default()).await.expect("the slots are free again");
    server.shutdown().await;
}

/// A raw HTTP/2 connection: the client preface and an empty SETTINGS frame, then nothing (it
/// answers no ping, acknowledges no setting).
async fn raw_connection(server: &TestServer) -> tokio::net::TcpStream {
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    socket.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    socket.write_all(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]).await.unwrap();
    socket
}

/// Reads frames until `wanted` (frame type) arrives or the connection ends; returns the frame's
/// payload, or `None` at the end of the connection.
async fn read_until_frame(socket: &mut tokio::net::TcpStream, wanted: u8) -> Option<Vec<u8>> {
    loop {
        let mut header = [0u8; 9];
        if socket.read_exact(&mut header).await.is_err() {
            return None;
        }
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0u8; length];
        if socket.read_exact(&mut payload).await.is_err() {
            return None;
        }
        if header[3] == wanted {
            return Some(payload);
        }
    }
}

#[tokio::test]
async fn item5_connections_advertise_the_stream_cap() {
    let server = TestServer::start_with(TestServerOptions {
        configure: configure(|config| config.limits.max_concurrent_streams = 7),
        ..Default::default()
    })
    .await;
    let mut socket = raw_connection(&server).await;
    let settings = tokio::time::timeout(Duration::from_secs(5), read_until_frame(&mut socket, 0x4))
        .await
        .expect("the server's SETTINGS")
        .expect("a SETTINGS frame");
    let max_streams = settings
        .chunks(6)
        .find(|setting| setting[..2] == [0, 0x3])
        .map(|setting| u32::from_be_bytes([setting[2], setting[3], setting[4], setting[5]]));
    assert_eq!(max_streams, Some(7), "SETTINGS_MAX_CONCURRENT_STREAMS");
    drop(socket);
    server.shutdown().await;
}

#[tokio::test]
async fn item5_connections_that_do_not_answer_pings_are_closed() {
    let server = TestServer::start_with(TestServerOptions {
        configure: configure(|config| {
            config.limits.keepalive_interval_ms = 200;
            config.limits.keepalive_timeout_ms = 200;
        }),
        ..Default::default()
    })
    .await;
    let mut socket = raw_connection(&server).await;
    // Reads (and ignores) every frame, pings included, until the server closes.
    let closed = tokio::time::timeout(Duration::from_secs(10), read_until_frame(&mut socket, 0xff))
        .await
        .expect("a connection that answers no ping is closed");
    assert_eq!(closed, None);
    server.shutdown().await;
}

#[tokio::test]
async fn item5_connections_are_closed_after_their_max_age() {
    let server = TestServer::start_with(TestServerOptions {
        configure: configure(|config| {
            config.limits.max_connection_age_ms = 1_000;
            config.limits.shutdown_grace_ms = 500;
        }),
        ..Default::default()
    })
    .await;
    // Pings every 30 s (the default): only the age can end this connection within the wait.
    let mut socket = raw_connection(&server).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), read_until_frame(&mut socket, 0xff))
        .await
        .expect("closed after limits.max_connection_age_ms and the grace");
    assert_eq!(closed, None);
    server.shutdown().await;
}

// ---- item 9 ----------------------------------------------------------------------------------

#[test]
fn item9_nonsense_settings_refuse_to_start_naming_the_setting() {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (text, setting) in [
        ("[timers]\nbatch = 0\n", "timers.batch"),
        ("[timers]\npoll_interval_ms = 0\n", "timers.poll_interval_ms"),
        ("[timers]\nttr_ms = 0\n", "timers.ttr_ms"),
        ("[events]\nretention = 0\n", "events.retention"),
        ("[limits]\nmax_concurrent_requests = 0\n", "limits.max_concurrent_requests"),
    ] {
        let path = dir.path().join("livepk.toml");
        std::fs::write(&path, text).unwrap();
        let path = path.display().to_string();
        let (code, log) =
            support::run_binary(&[("LIVEPK_CONFIG", path.as_str())], Duration::from_secs(20));
        assert_eq!(code, Some(2), "{text}: must refuse to start:\n{log}");
        assert!(log.contains(setting), "{text}: the message names {setting}:\n{log}");
    }
}

// ---- item 6 ----------------------------------------------------------------------------------

#[tokio::test]
async fn item6_a_replica_whose_clock_is_off_reports_not_serving_and_claims_no_deadline() {
    use std::sync::atomic::{AtomicI64, Ordering};

    use livepk_core::{Clock, ManualClock, SystemClock};

    // A manual clock kept at the wall clock plus `skew` (Redis TIME runs on the wall clock).
    let clock = ManualClock::new(SystemClock.now_ms());
    let skew = Arc::new(AtomicI64::new(0));
    let follow = {
        let (clock, skew) = (clock.clone(), skew.clone());
        tokio::spawn(async move {
            loop {
                let now = SystemClock.now_ms() as i64 + skew.load(Ordering::SeqCst);
                clock.set_ms(now as u64);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let server = TestServer::start_with(TestServerOptions {
        clock: Some(Arc::new(clock.clone())),
        configure: configure(|config| {
            config.clock.max_skew_ms = 500;
            config.clock.check_interval_ms = 50;
        }),
        ..Default::default()
    })
    .await;
    let status = |wanted: i32| {
        let server = &server;
        async move { (server.health_status("").await == Some(wanted)).then_some(()) }
    };

    // Two seconds fast: NOT_SERVING, and a due deadline stays unclaimed.
    skew.store(2_000, Ordering::SeqCst);
    eventually("NOT_SERVING with the clock 2 s fast", Duration::from_secs(10), || {
        status(support::not_serving())
    })
    .await;
    let store = server.store().await;
    let due = clock.now_ms() - 10;
    store
        .schedule_job(&livepk_store::Job {
            id: "item6-probe".into(),
            topic: "item6.probe".into(),
            due_ms: due,
            body: Vec::new(),
        })
        .await
        .unwrap();
    // Many poll intervals (50 ms) and clock checks (50 ms): still not claimed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.next_job_due().await.unwrap(), Some(due), "a skewed replica claimed a job");
    assert_eq!(server.health_status("pk.gift.v1.Gifts").await, Some(support::not_serving()));

    // Back in step: SERVING, and the deadline is claimed.
    skew.store(0, Ordering::SeqCst);
    eventually("SERVING again", Duration::from_secs(10), || status(support::serving())).await;
    server.wait_due_timers_claimed().await;
    follow.abort();
    server.shutdown().await;
}

#[tokio::test]
async fn item5_subscribe_on_the_embedded_store_follows_new_events() {
    // The embedded store (scripts/run.sh) feeds streams through the same one-reader tail.
    let dir = tempfile::tempdir().expect("temporary directory");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let config = Config {
        listen: addr,
        metrics_listen: None,
        redis_url: None,
        database_url: format!("sqlite://{}/livepk.db?mode=rwc", dir.path().display()),
        ..Config::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(livepk::run(listener, config, async move {
        let _ = stopped.await;
    }));
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect_lazy();
    let client = support::Client {
        name: "embedded".into(),
        channel,
        clock: Arc::new(livepk_core::SystemClock),
    };
    client.wait_serving(|| task.is_finished().then(|| "its task ended".into())).await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        let stream = client
            .events()
            .subscribe(SubscribeRequest::default())
            .await
            .expect("subscribe")
            .into_inner();
        streams.push(stream);
    }
    let (host, guest) = (support::Anchor::new(9_101, 19_101), support::Anchor::new(9_102, 19_102));
    host.online(&client).await;
    guest.online(&client).await;
    support::link(&client, &host, &guest).await.expect("Link");
    for (n, stream) in streams.iter_mut().enumerate() {
        let message = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .unwrap_or_else(|_| panic!("stream {n} got nothing"))
            .unwrap_or_else(|status| panic!("stream {n} failed: {status:?}"))
            .expect("an event");
        assert!(message.event.is_some());
    }
    drop(streams);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("stops")
        .expect("task")
        .expect("clean stop");
}
