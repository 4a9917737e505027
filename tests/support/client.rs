//! A connection to one running server, whichever way it was started, with the calls tests make
//! on every server.

use std::sync::Arc;
use std::time::Duration;

use livepk::pb::admin::admin_client::AdminClient;
use livepk::pb::admin::{GetPkRecordRequest, ListPkRecordsRequest, PkRecord, SetConfigRequest};
use livepk::pb::common::Mode;
use livepk::pb::events::events_client::EventsClient;
use livepk::pb::events::{Event, FetchRequest};
use livepk::pb::gift::gifts_client::GiftsClient;
use livepk::pb::linkcall::link_call_pk_client::LinkCallPkClient;
use livepk::pb::linkcall::{LinkcallpkPkInfo, PkPhase, UserSeekPkRequest};
use livepk_core::Clock;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;

use super::{Anchor, READY_TIMEOUT, SETTLE_SLACK, eventually, linkcall_filter, serving};

/// A server as the tests reach it: its name (for messages), a channel, and the clock it reads
/// (the system clock, or the manual clock a test moves).
#[derive(Clone)]
pub struct Client {
    /// For messages.
    pub name: String,
    /// A lazily connected channel (no token metadata).
    pub channel: Channel,
    /// The server's clock.
    pub clock: Arc<dyn Clock>,
}

impl Client {
    /// Now on the server's clock (ms).
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
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

    /// A health client.
    pub fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel.clone())
    }

    /// The health status of `service`, or `None` when the check failed.
    pub async fn health_status(&self, service: &str) -> Option<i32> {
        let request = tonic_health::pb::HealthCheckRequest { service: service.into() };
        match tokio::time::timeout(Duration::from_secs(2), self.health().check(request)).await {
            Ok(Ok(response)) => Some(response.into_inner().status),
            _ => None,
        }
    }

    /// Waits (retrying with a backoff) until health for "" answers SERVING; `exited` is asked
    /// between attempts for a reason the server can no longer start.
    pub async fn wait_serving(&self, mut exited: impl FnMut() -> Option<String>) {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        let mut backoff = Duration::from_millis(5);
        loop {
            if let Some(reason) = exited() {
                panic!("{} stopped before it was ready: {reason}", self.name);
            }
            if self.health_status("").await == Some(serving()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not answer SERVING within {READY_TIMEOUT:?}",
                self.name
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(100));
        }
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
