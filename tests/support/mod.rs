//! Black-box helpers for the LinkCallPk end-to-end tests: the real `livepk` binary as a child
//! process (killed when dropped), gRPC clients, an event collector, polling with a bounded
//! timeout, and the small steps every battle needs (anchors online, link, confirm, start).

#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use livepk::pb::admin::admin_client::AdminClient;
use livepk::pb::admin::{GetPkRecordRequest, ListPkRecordsRequest, PkRecord, SetConfigRequest};
use livepk::pb::common::{Mode, TargetKind, UserProfile};
use livepk::pb::events::events_client::EventsClient;
use livepk::pb::events::{Event, EventFilter, FetchRequest, SubscribeRequest, event::Payload};
use livepk::pb::gift::gifts_client::GiftsClient;
use livepk::pb::gift::{RecordGiftRequest, RecordGiftResponse};
use livepk::pb::linkcall::link_call_pk_client::LinkCallPkClient;
use livepk::pb::linkcall::{
    ConfirmCode, ConfirmRequest, ConfirmResponse, LinkRequest, LinkcallpkPkInfo,
    OpenFunctionRequest, PkPhase, RefreshSingerProfileRequest, SingerComeInRoomRequest,
    StartRequest, StartResponse, UserSeekPkRequest,
};
use tonic::transport::Channel;

/// How long a spawned server may take to answer SERVING.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a deadline-driven change may take to become visible after its due time
/// (the delay queue promises 200 ms p99; this leaves room for a loaded CI machine).
pub const SETTLE_SLACK: Duration = Duration::from_secs(5);

/// Milliseconds since the Unix epoch (the server runs on the same machine and clock).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as u64
}

/// The Redis the tests use.
pub fn redis_url() -> String {
    std::env::var("LIVEPK_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix nobody else uses.
pub fn fresh_prefix() -> String {
    format!("t{:016x}", rand::random::<u64>())
}

/// What several server processes share: the Redis key prefix and the SQLite file (in a
/// temporary directory that also holds the servers' logs).
pub struct Deployment {
    /// Temporary directory (database, logs); removed when dropped.
    pub dir: tempfile::TempDir,
    /// `LIVEPK_KEY_PREFIX`.
    pub prefix: String,
    /// `LIVEPK_DATABASE_URL`.
    pub database_url: String,
    spawned: Mutex<u32>,
}

impl Deployment {
    /// A fresh prefix and a fresh SQLite file.
    pub fn new() -> Deployment {
        let dir = tempfile::tempdir().expect("temporary directory");
        let database_url = format!("sqlite://{}/livepk.db?mode=rwc", dir.path().display());
        Deployment { dir, prefix: fresh_prefix(), database_url, spawned: Mutex::new(0) }
    }

    /// Starts one more `livepk` process on this deployment and waits until it is SERVING.
    pub async fn spawn(&self) -> Server {
        let n = {
            let mut spawned = self.spawned.lock().unwrap();
            *spawned += 1;
            *spawned
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = self.dir.path().join(format!("server-{n}.log"));
        let log_file = std::fs::File::create(&log).expect("server log file");
        let child = Command::new(env!("CARGO_BIN_EXE_livepk"))
            .current_dir(self.dir.path())
            .env_remove("LIVEPK_CONFIG")
            .env_remove("LIVEPK_AUTH_TOKEN")
            .env_remove("LIVEPK_ADMIN_TOKEN")
            .env_remove("LIVEPK_LOG_FORMAT")
            .env("LIVEPK_LISTEN", addr.to_string())
            .env("LIVEPK_METRICS_LISTEN", "")
            .env("LIVEPK_REDIS_URL", redis_url())
            .env("LIVEPK_KEY_PREFIX", &self.prefix)
            .env("LIVEPK_DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file handle"))
            .stderr(log_file)
            .spawn()
            .expect("spawn the livepk binary");
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(1))
            .connect_lazy();
        let mut server =
            Server { name: format!("server-{n}"), addr, channel, child: Some(child), log };
        server.wait_serving().await;
        server
    }
}

impl Drop for Deployment {
    /// Best effort: removes every Redis key of the prefix (servers are gone by now: they are
    /// declared after the deployment and so dropped before it).
    fn drop(&mut self) {
        if let Err(error) = delete_prefix(&redis_url(), &self.prefix) {
            eprintln!("could not clean the Redis keys of {}: {error}", self.prefix);
        }
    }
}

/// Deletes `prefix:*` with SCAN + UNLINK over a plain RESP connection.
fn delete_prefix(url: &str, prefix: &str) -> std::io::Result<()> {
    let rest = url.strip_prefix("redis://").unwrap_or(url);
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((auth, rest)) => (Some(auth), rest),
        None => (None, rest),
    };
    let (address, db) = match rest.split_once('/') {
        Some((address, db)) => (address, db),
        None => (rest, ""),
    };
    let stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut resp = Resp { reader: std::io::BufReader::new(stream.try_clone()?), writer: stream };
    if let Some(auth) = auth {
        let password = auth.rsplit(':').next().unwrap_or(auth);
        match auth.split_once(':') {
            Some((user, _)) if !user.is_empty() => resp.call(&["AUTH", user, password])?,
            _ => resp.call(&["AUTH", password])?,
        };
    }
    if !db.is_empty() {
        resp.call(&["SELECT", db])?;
    }
    let pattern = format!("{prefix}:*");
    let mut cursor = "0".to_owned();
    loop {
        let reply = resp.call(&["SCAN", &cursor, "MATCH", &pattern, "COUNT", "1000"])?;
        let Reply::Array(mut parts) = reply else { return Ok(()) };
        let keys = match parts.pop() {
            Some(Reply::Array(keys)) => keys,
            _ => Vec::new(),
        };
        cursor = match parts.pop() {
            Some(Reply::Bulk(next)) => next,
            _ => "0".into(),
        };
        let mut command = vec!["UNLINK".to_owned()];
        command.extend(keys.into_iter().filter_map(|key| match key {
            Reply::Bulk(key) => Some(key),
            _ => None,
        }));
        if command.len() > 1 {
            let args: Vec<&str> = command.iter().map(String::as_str).collect();
            resp.call(&args)?;
        }
        if cursor == "0" {
            return Ok(());
        }
    }
}

/// A RESP reply, as much of it as the cleanup needs.
enum Reply {
    Simple,
    Bulk(String),
    Array(Vec<Reply>),
}

struct Resp {
    reader: std::io::BufReader<std::net::TcpStream>,
    writer: std::net::TcpStream,
}

impl Resp {
    fn call(&mut self, args: &[&str]) -> std::io::Result<Reply> {
        use std::io::Write;
        let mut command = format!("*{}\r\n", args.len());
        for arg in args {
            command.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        self.writer.write_all(command.as_bytes())?;
        self.read()
    }

    fn read(&mut self) -> std::io::Result<Reply> {
        use std::io::{BufRead, Read};
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let line = line.trim_end();
        let (kind, body) = line.split_at(line.len().min(1));
        let number = || body.parse::<i64>().unwrap_or(-1);
        match kind {
            "+" | ":" => Ok(Reply::Simple),
            "-" => Err(std::io::Error::other(body.to_owned())),
            "$" if number() < 0 => Ok(Reply::Simple),
            "$" => {
                let mut bytes = vec![0; number() as usize + 2];
                self.reader.read_exact(&mut bytes)?;
                bytes.truncate(bytes.len() - 2);
                Ok(Reply::Bulk(String::from_utf8_lossy(&bytes).into_owned()))
            }
            "*" => {
                let mut items = Vec::new();
                for _ in 0..number().max(0) {
                    items.push(self.read()?);
                }
                Ok(Reply::Array(items))
            }
            _ => Err(std::io::Error::other(format!("unexpected RESP line {line:?}"))),
        }
    }
}

impl Default for Deployment {
    fn default() -> Self {
        Self::new()
    }
}

/// A running `livepk` child process. Dropping it kills the process (SIGKILL) and, when the
/// test is failing, prints the end of its log.
pub struct Server {
    /// For messages.
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// A lazily connected channel.
    pub channel: Channel,
    child: Option<Child>,
    log: PathBuf,
}

impl Server {
    async fn wait_serving(&mut self) {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        let mut backoff = Duration::from_millis(10);
        loop {
            if let Some(status) =
                self.child.as_mut().and_then(|child| child.try_wait().ok().flatten())
            {
                panic!("{} exited before it was ready ({status}):\n{}", self.name, self.log_tail());
            }
            let mut health =
                tonic_health::pb::health_client::HealthClient::new(self.channel.clone());
            let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
            if let Ok(Ok(response)) =
                tokio::time::timeout(Duration::from_secs(1), health.check(request)).await
                && response.into_inner().status
                    == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not answer SERVING within {READY_TIMEOUT:?}:\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(100));
        }
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Kills the process with SIGKILL (`kill -9`) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A LinkCallPk client.
    pub fn linkcall(&self) -> LinkCallPkClient<Channel> {
        LinkCallPkClient::new(self.channel.clone())
    }

    /// An Events client.
    pub fn events(&self) -> EventsClient<Channel> {
        EventsClient::new(self.channel.clone())
    }

    /// A Gifts client.
    pub fn gifts(&self) -> GiftsClient<Channel> {
        GiftsClient::new(self.channel.clone())
    }

    /// An Admin client.
    pub fn admin(&self) -> AdminClient<Channel> {
        AdminClient::new(self.channel.clone())
    }

    /// `Admin.SetConfig`.
    pub async fn set_config(&self, key: &str, value: &str) {
        self.admin()
            .set_config(SetConfigRequest { key: key.into(), value: value.into() })
            .await
            .unwrap_or_else(|status| panic!("SetConfig {key}={value}: {status:?}"));
    }

    /// `Admin.GetPkRecord` for a LinkCall pkid; `None` on NOT_FOUND.
    pub async fn record(&self, pkid: u64) -> Option<PkRecord> {
        match self
            .admin()
            .get_pk_record(GetPkRecordRequest { mode: Mode::Linkcall as i32, pkid })
            .await
        {
            Ok(response) => response.into_inner().record,
            Err(status) if status.code() == tonic::Code::NotFound => None,
            Err(status) => panic!("GetPkRecord {pkid}: {status:?}"),
        }
    }

    /// Waits until the record of `pkid` exists.
    pub async fn wait_record(&self, pkid: u64) -> PkRecord {
        eventually(&format!("the pk record of {pkid}"), SETTLE_SLACK, || async move {
            self.record(pkid).await
        })
        .await
    }

    /// Every LinkCall record with `singer_id` as a participant.
    pub async fn records_of(&self, singer_id: u64) -> Vec<PkRecord> {
        let response = self
            .admin()
            .list_pk_records(ListPkRecordsRequest {
                mode: Mode::Linkcall as i32,
                singer_id,
                page_num: 0,
                page_size: 200,
            })
            .await
            .expect("ListPkRecords")
            .into_inner();
        assert_eq!(response.total as usize, response.records.len(), "more than one page");
        response.records
    }

    /// The PK of `singer`'s room as `UserSeekPk` shows it: (pkid, pk entry).
    pub async fn seek_pk(&self, singer: &Anchor) -> (u64, Option<LinkcallpkPkInfo>) {
        let response = self
            .linkcall()
            .user_seek_pk(UserSeekPkRequest { singer_id: singer.id, singer_sid: singer.sid })
            .await
            .expect("UserSeekPk")
            .into_inner();
        assert!(response.pk.len() <= 1, "{response:?}");
        (response.pkid, response.pk.into_iter().next())
    }

    /// Waits until `singer`'s PK is in `phase`; returns it.
    pub async fn wait_phase(&self, singer: &Anchor, phase: PkPhase) -> (u64, LinkcallpkPkInfo) {
        eventually(
            &format!("anchor {} in phase {phase:?}", singer.id),
            SETTLE_SLACK,
            || async move {
                match self.seek_pk(singer).await {
                    (pkid, Some(pk)) if pk.phase == phase as i32 => Some((pkid, pk)),
                    _ => None,
                }
            },
        )
        .await
    }

    /// Every LinkCall event of the stream, read with `Fetch` from the oldest.
    pub async fn fetch_all(&self) -> Vec<Event> {
        let mut events = Vec::new();
        let mut after = "0".to_owned();
        loop {
            let response = self
                .events()
                .fetch(FetchRequest {
                    after_event_id: after.clone(),
                    limit: 1000,
                    filter: Some(linkcall_filter()),
                })
                .await
                .expect("Fetch")
                .into_inner();
            assert!(!response.truncated, "the event stream was truncated");
            let done = response.last_event_id == after;
            events.extend(response.events);
            if done {
                return events;
            }
            after = response.last_event_id;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("---- {} log (tail) ----\n{}", self.name, self.log_tail());
        }
    }
}

/// Polls `probe` until it answers `Some`, at most `timeout`; panics naming `what` otherwise.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Sleeps until the wall clock reads `at_ms` (no-op when it already passed).
pub async fn sleep_until_ms(at_ms: u64) {
    let now = now_ms();
    if at_ms > now {
        tokio::time::sleep(Duration::from_millis(at_ms - now)).await;
    }
}

// ---- events -----------------------------------------------------------------------------------

/// Only LinkCall events.
pub fn linkcall_filter() -> EventFilter {
    EventFilter { modes: vec![Mode::Linkcall as i32], ..Default::default() }
}

/// A Subscribe stream (from the oldest event, LinkCall only) collected by a background task.
pub struct EventLog {
    events: Arc<Mutex<Vec<Event>>>,
    task: tokio::task::JoinHandle<()>,
}

impl EventLog {
    /// Subscribes to `server` from event "0".
    pub async fn subscribe(server: &Server) -> EventLog {
        let mut stream = server
            .events()
            .subscribe(SubscribeRequest {
                after_event_id: "0".into(),
                filter: Some(linkcall_filter()),
            })
            .await
            .expect("Subscribe")
            .into_inner();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let task = tokio::spawn(async move {
            while let Ok(Some(message)) = stream.message().await {
                assert!(!message.truncated, "the subscription was truncated");
                if let Some(event) = message.event {
                    sink.lock().unwrap().push(event);
                }
            }
        });
        EventLog { events, task }
    }

    /// What arrived so far.
    pub fn snapshot(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// Waits until an event matching `matches` arrived; returns it.
    pub async fn wait_for(&self, what: &str, matches: impl Fn(&Event) -> bool) -> Event {
        eventually(what, SETTLE_SLACK, || {
            let found = self.events.lock().unwrap().iter().find(|event| matches(event)).cloned();
            async move { found }
        })
        .await
    }

    /// Waits until at least `count` events match `matches`.
    pub async fn wait_count(&self, what: &str, count: usize, matches: impl Fn(&Event) -> bool) {
        eventually(what, SETTLE_SLACK, || {
            let n = self.events.lock().unwrap().iter().filter(|event| matches(event)).count();
            async move { (n >= count).then_some(()) }
        })
        .await
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The event's target as (kind, id).
pub fn target_of(event: &Event) -> (TargetKind, u64) {
    let target = event.target.expect("every event has a target");
    (TargetKind::try_from(target.kind).expect("known target kind"), target.id)
}

/// True when `event` is of type `kind` addressed to (`target_kind`, `id`).
pub fn is(event: &Event, kind: &str, target_kind: TargetKind, id: u64) -> bool {
    event.r#type == kind && target_of(event) == (target_kind, id)
}

/// The `linkcallpk_singer_state_nt` payload, if that is what `event` carries.
pub fn state_nt(event: &Event) -> Option<&livepk::pb::linkcall::LinkcallpkSingerStateNt> {
    match &event.payload {
        Some(Payload::LinkcallpkSingerStateNt(nt)) => Some(nt),
        _ => None,
    }
}

/// The `linkcallpk_singer_pklist_nt` payload, if that is what `event` carries.
pub fn pklist_nt(event: &Event) -> Option<&livepk::pb::linkcall::LinkcallpkSingerPklistNt> {
    match &event.payload {
        Some(Payload::LinkcallpkSingerPklistNt(nt)) => Some(nt),
        _ => None,
    }
}

/// The `linkcallpk_room_pk_info_nt` payload, if that is what `event` carries.
pub fn info_nt(event: &Event) -> Option<&livepk::pb::linkcall::LinkcallpkRoomPkInfoNt> {
    match &event.payload {
        Some(Payload::LinkcallpkRoomPkInfoNt(nt)) => Some(nt),
        _ => None,
    }
}

/// The `linkcallpk_room_pk_scene_nt` payload, if that is what `event` carries.
pub fn scene_nt(event: &Event) -> Option<&livepk::pb::linkcall::LinkcallpkRoomPkSceneNt> {
    match &event.payload {
        Some(Payload::LinkcallpkRoomPkSceneNt(nt)) => Some(nt),
        _ => None,
    }
}

/// The `linkcallpk_room_pk_singer_info_nt` payload, if that is what `event` carries.
pub fn singer_info_nt(
    event: &Event,
) -> Option<&livepk::pb::linkcall::LinkcallpkRoomPkSingerInfoNt> {
    match &event.payload {
        Some(Payload::LinkcallpkRoomPkSingerInfoNt(nt)) => Some(nt),
        _ => None,
    }
}

/// A state nt of `pk_state` to anchor `to`.
pub fn is_state(event: &Event, to: u64, pk_state: livepk::pb::linkcall::PkState) -> bool {
    is(event, "linkcallpk_singer_state_nt", TargetKind::Singer, to)
        && state_nt(event).is_some_and(|nt| nt.pk_state == pk_state as i32)
}

/// A pklist nt of `pk_state` for `pkid` to anchor `to`.
pub fn is_pklist(
    event: &Event,
    to: u64,
    pk_state: livepk::pb::linkcall::PkState,
    pkid: u64,
) -> bool {
    is(event, "linkcallpk_singer_pklist_nt", TargetKind::Singer, to)
        && pklist_nt(event).is_some_and(|nt| nt.pk_state == pk_state as i32 && nt.pkid == pkid)
}

/// How many COUNT pklist nts `events` holds for (`pkid`, anchor `to`).
pub fn count_pklists(events: &[Event], to: u64, pkid: u64) -> usize {
    events
        .iter()
        .filter(|event| is_pklist(event, to, livepk::pb::linkcall::PkState::Count, pkid))
        .count()
}

// ---- errors -----------------------------------------------------------------------------------

/// The `google.rpc.ErrorInfo` metadata of an error status; panics when it has none.
pub fn error_metadata(status: &tonic::Status) -> HashMap<String, String> {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo detail in {status:?}"))
        .metadata
}

/// Asserts `status` has gRPC code `code` and business code `business` (e.g. "403400025");
/// returns its metadata.
pub fn assert_business(
    status: &tonic::Status,
    code: tonic::Code,
    business: &str,
) -> HashMap<String, String> {
    assert_eq!(status.code(), code, "{status:?}");
    let metadata = error_metadata(status);
    assert_eq!(metadata.get("code").map(String::as_str), Some(business), "{status:?}");
    metadata
}

/// Asserts INVALID_ARGUMENT, business code 403400021, naming `field`.
pub fn assert_invalid(status: &tonic::Status, field: &str) {
    let metadata = assert_business(status, tonic::Code::InvalidArgument, "403400021");
    assert_eq!(metadata.get("field").map(String::as_str), Some(field), "{status:?}");
}

// ---- anchors and battles ----------------------------------------------------------------------

/// An anchor of a test: id, room and profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// `singer_id`.
    pub id: u64,
    /// `singer_sid`.
    pub sid: u64,
    /// Nickname.
    pub nick: String,
    /// Star level.
    pub star: u32,
}

impl Anchor {
    /// Anchor `id` in room `sid`, star 5.
    pub fn new(id: u64, sid: u64) -> Anchor {
        Anchor { id, sid, nick: format!("anchor-{id}"), star: 5 }
    }

    /// Its avatar URL.
    pub fn icon(&self) -> String {
        format!("https://img.example/{}.png", self.id)
    }

    /// Its level.
    pub fn level(&self) -> u32 {
        (self.id % 50) as u32 + 1
    }

    /// `RefreshSingerProfile`.
    pub async fn refresh(&self, server: &Server) {
        server
            .linkcall()
            .refresh_singer_profile(RefreshSingerProfileRequest {
                singer_id: self.id,
                singer_sid: self.sid,
                singer_nick: self.nick.clone(),
                singer_icon: self.icon(),
                singer_level: self.level(),
                singer_star: self.star,
            })
            .await
            .unwrap_or_else(|status| panic!("RefreshSingerProfile {}: {status:?}", self.id));
    }

    /// `OpenFunction` with `pk_open` 1 (result returned).
    pub async fn open(
        &self,
        server: &Server,
    ) -> Result<livepk::pb::linkcall::OpenFunctionResponse, tonic::Status> {
        server
            .linkcall()
            .open_function(OpenFunctionRequest {
                singer_id: self.id,
                singer_sid: self.sid,
                pk_open: 1,
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Refresh profile, come in the room and open the function: ready to be listed and linked.
    pub async fn online(&self, server: &Server) {
        self.refresh(server).await;
        server
            .linkcall()
            .singer_come_in_room(SingerComeInRoomRequest {
                singer_id: self.id,
                singer_sid: self.sid,
            })
            .await
            .unwrap_or_else(|status| panic!("SingerComeInRoom {}: {status:?}", self.id));
        self.open(server)
            .await
            .unwrap_or_else(|status| panic!("OpenFunction {}: {status:?}", self.id));
    }
}

/// `Link` host -> guest.
pub async fn link(
    server: &Server,
    host: &Anchor,
    guest: &Anchor,
) -> Result<livepk::pb::linkcall::LinkResponse, tonic::Status> {
    server
        .linkcall()
        .link(LinkRequest {
            host_id: host.id,
            host_sid: host.sid,
            guest_id: guest.id,
            guest_sid: guest.sid,
        })
        .await
        .map(tonic::Response::into_inner)
}

/// `Confirm` by `guest` of `host`'s popup.
pub async fn confirm(
    server: &Server,
    guest: &Anchor,
    host: &Anchor,
    code: ConfirmCode,
) -> Result<ConfirmResponse, tonic::Status> {
    server
        .linkcall()
        .confirm(ConfirmRequest {
            guest_id: guest.id,
            guest_sid: guest.sid,
            host_id: host.id,
            host_sid: host.sid,
            code: code as i32,
        })
        .await
        .map(tonic::Response::into_inner)
}

/// `Start` by `host`.
pub async fn start(
    server: &Server,
    host: &Anchor,
    guest: &Anchor,
) -> Result<StartResponse, tonic::Status> {
    server
        .linkcall()
        .start(StartRequest {
            host_id: host.id,
            host_sid: host.sid,
            guest_id: guest.id,
            guest_sid: guest.sid,
        })
        .await
        .map(tonic::Response::into_inner)
}

/// `Count` called by `caller` (host or guest).
pub async fn count(
    server: &Server,
    caller: &Anchor,
    host: &Anchor,
    guest: &Anchor,
) -> Result<livepk::pb::linkcall::CountResponse, tonic::Status> {
    server
        .linkcall()
        .count(livepk::pb::linkcall::CountRequest {
            singer_id: caller.id,
            guest_id: guest.id,
            guest_sid: guest.sid,
            host_id: host.id,
            host_sid: host.sid,
        })
        .await
        .map(tonic::Response::into_inner)
}

/// `Close` called by `caller` (host or guest).
pub async fn close(
    server: &Server,
    caller: &Anchor,
    host: &Anchor,
    guest: &Anchor,
) -> Result<livepk::pb::linkcall::CloseResponse, tonic::Status> {
    server
        .linkcall()
        .close(livepk::pb::linkcall::CloseRequest {
            singer_id: caller.id,
            guest_id: guest.id,
            guest_sid: guest.sid,
            host_id: host.id,
            host_sid: host.sid,
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Link + Confirm agree: returns the placeholder pkid.
pub async fn pair_up(server: &Server, host: &Anchor, guest: &Anchor) -> u64 {
    link(server, host, guest)
        .await
        .unwrap_or_else(|status| panic!("Link {}->{}: {status:?}", host.id, guest.id));
    let confirmed = confirm(server, guest, host, ConfirmCode::Agree)
        .await
        .unwrap_or_else(|status| panic!("Confirm {}<-{}: {status:?}", guest.id, host.id));
    assert!(confirmed.pkid > 0, "{confirmed:?}");
    confirmed.pkid
}

/// Link + Confirm + Start: returns the Start response (scoring has begun).
pub async fn battle(server: &Server, host: &Anchor, guest: &Anchor) -> StartResponse {
    let placeholder = pair_up(server, host, guest).await;
    let started =
        start(server, host, guest).await.unwrap_or_else(|status| panic!("Start: {status:?}"));
    assert_eq!(started.pkid, placeholder, "the first Start reuses the placeholder pkid");
    started
}

/// A viewer.
pub fn user(id: u64) -> UserProfile {
    UserProfile {
        user_id: id,
        user_nick: format!("user-{id}"),
        user_icon: format!("https://img.example/u{id}.png"),
        user_level: (id % 30) as u32 + 1,
        user_wealth: (id % 7) as u32 + 1,
    }
}

/// `RecordGift` of `value` points (one gift of unit value `value`) from `sender` to `to`, sent
/// now.
pub async fn gift(
    server: &Server,
    txn: &str,
    sender: u64,
    to: &Anchor,
    value: u64,
) -> RecordGiftResponse {
    gift_at(server, txn, sender, to, value, now_ms()).await
}

/// `RecordGift` as [`gift`], sent at `sent_at_ms`.
pub async fn gift_at(
    server: &Server,
    txn: &str,
    sender: u64,
    to: &Anchor,
    value: u64,
    sent_at_ms: u64,
) -> RecordGiftResponse {
    server
        .gifts()
        .record_gift(RecordGiftRequest {
            gift_txn_id: txn.into(),
            sender: Some(user(sender)),
            receiver_id: to.id,
            room_sid: to.sid,
            gift_id: 7,
            gift_count: 1,
            unit_value: value,
            sent_at_ms,
            show_id: None,
        })
        .await
        .unwrap_or_else(|status| panic!("RecordGift {txn}: {status:?}"))
        .into_inner()
}
