//! `pk.admin.v1.Admin`: operators' tools (admin token): hot config, the anchor whitelist,
//! settled PK records, forced closes, and the interactive show's gift catalogue and statistics.

use livepk_core::{ConfigSpec, InvalidArgument, Mode, PkId, SingerId};
use livepk_sql::RecordFilter;
use tonic::{Request, Response, Status};

use crate::App;
use crate::pb::admin::admin_server::{Admin, AdminServer};
use crate::pb::admin::{
    AddWhitelistRequest, AddWhitelistResponse, ConfigEntry, DeadJob, ForceCloseRequest,
    ForceCloseResponse, GetConfigRequest, GetConfigResponse, GetPkRecordRequest,
    GetPkRecordResponse, GetShowStatisticsRequest, GetShowStatisticsResponse, ListDeadJobsRequest,
    ListDeadJobsResponse, ListPkRecordsRequest, ListPkRecordsResponse, ListShowGiftsRequest,
    ListShowGiftsResponse, ListWhitelistRequest, ListWhitelistResponse, Participant, PkRecord,
    RemoveWhitelistRequest, RemoveWhitelistResponse, SetConfigRequest, SetConfigResponse,
    SetShowGiftRequest, SetShowGiftResponse, ShowRatingCount, WhitelistEntry,
};
use crate::pb::{mode_from_proto, mode_to_proto};
use crate::services::show::convert::{gift_from_proto, gift_to_proto, in_gift};
use crate::status::ServiceError;

/// Default page size of the list calls.
const DEFAULT_PAGE_SIZE: u32 = 20;
/// Largest page size of the list calls.
const MAX_PAGE_SIZE: u32 = 200;

/// The service.
pub struct AdminService {
    app: App,
}

/// The tonic server for `Admin`.
pub fn server(app: App) -> AdminServer<AdminService> {
    AdminServer::new(AdminService { app })
}

fn entry(spec: &ConfigSpec, value: i64) -> ConfigEntry {
    ConfigEntry {
        key: spec.name.into(),
        value: value.to_string(),
        description: spec.description.into(),
    }
}

/// Parses a config value of `spec` (`key` when it is unknown): an integer, or for durations
/// also `90s`, `15m`, `2h`.
fn parse_value(spec: Option<&ConfigSpec>, key: &str, raw: &str) -> Result<i64, InvalidArgument> {
    let raw = raw.trim();
    let bad = || InvalidArgument::new("value", format!("{raw:?} is not a number for {key}"));
    let is_duration = spec.is_some_and(ConfigSpec::is_duration);
    let (digits, unit) = match raw.char_indices().last() {
        Some((index, 's')) if is_duration => (&raw[..index], 1),
        Some((index, 'm')) if is_duration => (&raw[..index], 60),
        Some((index, 'h')) if is_duration => (&raw[..index], 3600),
        _ => (raw, 1),
    };
    digits.parse::<i64>().map_err(|_| bad())?.checked_mul(unit).ok_or_else(bad)
}

/// Page arguments -> (offset, limit).
fn page(page_num: u32, page_size: u32) -> Result<(u64, u32), InvalidArgument> {
    crate::services::parse::page(page_num, page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
}

fn parse_mode(field: &str, value: i32) -> Result<Mode, InvalidArgument> {
    mode_from_proto(value).ok_or_else(|| InvalidArgument::new(field, "must name a mode"))
}

/// An optional mode: MODE_UNSPECIFIED is "every mode"; a value the contract does not define is
/// refused (a newer client's mode must not silently widen the answer to every mode).
fn parse_mode_filter(field: &str, value: i32) -> Result<Option<Mode>, InvalidArgument> {
    if value == 0 { Ok(None) } else { parse_mode(field, value).map(Some) }
}

/// The wire form of a settled record.
pub fn record_to_proto(record: &livepk_sql::PkRecord) -> PkRecord {
    let winner_side = record
        .participants
        .iter()
        .find(|participant| participant.id == record.winner_id)
        .map(|participant| participant.side.clone())
        .unwrap_or_default();
    PkRecord {
        mode: mode_to_proto(record.mode) as i32,
        pkid: record.pkid.get(),
        participants: record
            .participants
            .iter()
            .map(|participant| Participant {
                id: participant.id,
                sid: participant.sid,
                side: participant.side.clone(),
                score: participant.score as i64,
            })
            .collect(),
        winner_id: record.winner_id,
        starttime_ms: record.start_ms,
        endtime_ms: record.end_ms,
        ended_by: record.ended_by.clone(),
        winner_side,
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn get_config(
        &self,
        request: Request<GetConfigRequest>,
    ) -> Result<Response<GetConfigResponse>, Status> {
        let key = request.into_inner().key;
        let values = self.app.settings.snapshot().await.map_err(ServiceError::from)?;
        let registry = self.app.settings.registry();
        let entries = if key.is_empty() {
            registry.specs().iter().map(|spec| entry(spec, values.get(spec))).collect()
        } else {
            let spec = registry.find(&key).ok_or_else(|| {
                ServiceError::from(InvalidArgument::new("key", format!("unknown key {key:?}")))
            })?;
            vec![entry(spec, values.get(spec))]
        };
        Ok(Response::new(GetConfigResponse { entries }))
    }

    async fn set_config(
        &self,
        request: Request<SetConfigRequest>,
    ) -> Result<Response<SetConfigResponse>, Status> {
        let request = request.into_inner();
        let spec = self.app.settings.registry().find(&request.key);
        let value = parse_value(spec, &request.key, &request.value).map_err(ServiceError::from)?;
        let (spec, value) = self
            .app
            .settings
            .set(&request.key, value, self.app.clock.now_ms())
            .await
            .map_err(ServiceError::from)?;
        tracing::info!(key = spec.name, value, "config changed");
        Ok(Response::new(SetConfigResponse { entry: Some(entry(spec, value)) }))
    }

    async fn add_whitelist(
        &self,
        request: Request<AddWhitelistRequest>,
    ) -> Result<Response<AddWhitelistResponse>, Status> {
        let request = request.into_inner();
        let singer = SingerId::parse("singer_id", request.singer_id).map_err(ServiceError::from)?;
        let now_ms = self.app.clock.now_ms();
        let added = self
            .app
            .database
            .whitelist_add(singer, &request.note, now_ms)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(AddWhitelistResponse {
            entry: Some(WhitelistEntry {
                singer_id: singer.get(),
                note: request.note,
                added_at_ms: now_ms,
            }),
            added,
        }))
    }

    async fn remove_whitelist(
        &self,
        request: Request<RemoveWhitelistRequest>,
    ) -> Result<Response<RemoveWhitelistResponse>, Status> {
        let singer = SingerId::parse("singer_id", request.into_inner().singer_id)
            .map_err(ServiceError::from)?;
        let removed =
            self.app.database.whitelist_remove(singer).await.map_err(ServiceError::from)?;
        Ok(Response::new(RemoveWhitelistResponse { removed }))
    }

    async fn list_whitelist(
        &self,
        request: Request<ListWhitelistRequest>,
    ) -> Result<Response<ListWhitelistResponse>, Status> {
        let request = request.into_inner();
        let (offset, limit) =
            page(request.page_num, request.page_size).map_err(ServiceError::from)?;
        let (entries, total) =
            self.app.database.whitelist_list(offset, limit).await.map_err(ServiceError::from)?;
        Ok(Response::new(ListWhitelistResponse {
            entries: entries
                .into_iter()
                .map(|entry| WhitelistEntry {
                    singer_id: entry.singer_id.get(),
                    note: entry.note,
                    added_at_ms: entry.created_at_ms,
                })
                .collect(),
            total,
        }))
    }

    async fn get_pk_record(
        &self,
        request: Request<GetPkRecordRequest>,
    ) -> Result<Response<GetPkRecordResponse>, Status> {
        let request = request.into_inner();
        let mode = parse_mode("mode", request.mode).map_err(ServiceError::from)?;
        let pkid = PkId::parse("pkid", request.pkid).map_err(ServiceError::from)?;
        let record = self.app.database.get_record(mode, pkid).await.map_err(ServiceError::from)?;
        match record {
            Some(record) => {
                Ok(Response::new(GetPkRecordResponse { record: Some(record_to_proto(&record)) }))
            }
            None => Err(ServiceError::NotFound {
                field: "pkid",
                message: format!("no settled {} pk {pkid}", mode.as_str()),
            }
            .into()),
        }
    }

    async fn list_pk_records(
        &self,
        request: Request<ListPkRecordsRequest>,
    ) -> Result<Response<ListPkRecordsResponse>, Status> {
        let request = request.into_inner();
        let (offset, limit) =
            page(request.page_num, request.page_size).map_err(ServiceError::from)?;
        let filter = RecordFilter {
            mode: parse_mode_filter("mode", request.mode).map_err(ServiceError::from)?,
            singer_id: (request.singer_id != 0).then(|| SingerId::from_trusted(request.singer_id)),
        };
        let (records, total) = self
            .app
            .database
            .list_records(filter, offset, limit)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(ListPkRecordsResponse {
            records: records.iter().map(record_to_proto).collect(),
            total,
        }))
    }

    async fn force_close(
        &self,
        request: Request<ForceCloseRequest>,
    ) -> Result<Response<ForceCloseResponse>, Status> {
        let request = request.into_inner();
        let mode = parse_mode("mode", request.mode).map_err(ServiceError::from)?;
        let pkid = PkId::parse("pkid", request.pkid).map_err(ServiceError::from)?;
        let record =
            self.app.force_close(mode, pkid, &request.reason).await.map_err(ServiceError::from)?;
        Ok(Response::new(ForceCloseResponse { record: record.as_ref().map(record_to_proto) }))
    }

    async fn set_show_gift(
        &self,
        request: Request<SetShowGiftRequest>,
    ) -> Result<Response<SetShowGiftResponse>, Status> {
        let gift = request
            .into_inner()
            .gift
            .ok_or_else(|| ServiceError::from(InvalidArgument::new("gift", "is required")))?;
        let gift = gift_from_proto(gift, self.app.clock.now_ms()).map_err(ServiceError::from)?;
        let stored = self.app.database.put_show_gift(&gift).await;
        stored.map_err(in_gift).map_err(ServiceError::from)?;
        Ok(Response::new(SetShowGiftResponse { gift: Some(gift_to_proto(&gift)) }))
    }

    async fn list_show_gifts(
        &self,
        _request: Request<ListShowGiftsRequest>,
    ) -> Result<Response<ListShowGiftsResponse>, Status> {
        let gifts = self.app.database.show_gifts(true).await.map_err(ServiceError::from)?;
        Ok(Response::new(ListShowGiftsResponse {
            gifts: gifts.iter().map(gift_to_proto).collect(),
        }))
    }

    async fn get_show_statistics(
        &self,
        request: Request<GetShowStatisticsRequest>,
    ) -> Result<Response<GetShowStatisticsResponse>, Status> {
        let request = request.into_inner();
        if request.to_time <= request.from_time {
            return Err(ServiceError::from(InvalidArgument::new(
                "to_time",
                "must be after from_time",
            ))
            .into());
        }
        let statistics = self
            .app
            .database
            .show_statistics(request.from_time, request.to_time)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(GetShowStatisticsResponse {
            anchor_invites: statistics.anchor_invites,
            user_invites: statistics.user_invites,
            calls_show_enabled: statistics.calls_show_enabled,
            paid_shows: statistics.paid_shows,
            successful_shows: statistics.successful_shows,
            coins: statistics.coins,
            rated_shows: statistics.rated_shows(),
            average_rating: statistics.average_rating(),
            rating_counts: statistics
                .ratings
                .iter()
                .zip(1u32..)
                .map(|(shows, show_rating)| ShowRatingCount { show_rating, shows: *shows })
                .collect(),
        }))
    }

    async fn list_dead_jobs(
        &self,
        request: Request<ListDeadJobsRequest>,
    ) -> Result<Response<ListDeadJobsResponse>, Status> {
        let (_, limit) = page(0, request.into_inner().limit)
            .map_err(|_| InvalidArgument::new("limit", format!("must be at most {MAX_PAGE_SIZE}")))
            .map_err(ServiceError::from)?;
        let dead = self.app.store.dead_jobs(limit as usize).await.map_err(ServiceError::from)?;
        let total = self.app.store.dead_job_count().await.map_err(ServiceError::from)?;
        Ok(Response::new(ListDeadJobsResponse {
            jobs: dead
                .into_iter()
                .map(|dead| DeadJob {
                    id: dead.job.id,
                    topic: dead.job.topic,
                    due_ms: dead.job.due_ms,
                    attempts: dead.attempts,
                    reason: dead.reason,
                    buried_at_ms: dead.buried_at_ms,
                    body: dead.job.body,
                })
                .collect(),
            total,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units() {
        let registry = crate::config_registry();
        let parse = |key: &str, raw: &str| parse_value(registry.find(key), key, raw);
        assert_eq!(parse("linkcall.pk_seconds", "90").unwrap(), 90);
        assert_eq!(parse("linkcall.pk_seconds", "2m").unwrap(), 120);
        assert_eq!(parse("linkcall.pk_seconds", "1h").unwrap(), 3600);
        assert_eq!(parse("linkcall.min_star", "5").unwrap(), 5);
        assert_eq!(parse("linkcall.min_star", "5m").unwrap_err().field, "value");
        assert_eq!(parse("no.such_seconds", "5m").unwrap_err().field, "value");
    }

    #[test]
    fn pages_are_bounded() {
        assert_eq!(page(0, 0).unwrap(), (0, DEFAULT_PAGE_SIZE));
        assert_eq!(page(2, 10).unwrap(), (20, 10));
        assert_eq!(page(0, 1_000).unwrap_err().field, "page_size");
    }
}
