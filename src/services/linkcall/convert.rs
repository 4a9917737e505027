//! Domain <-> proto for LinkCallPk: the seed's messages, filled with the profiles the domain
//! leaves out (nick, icon, level, star of anchors; nick, icon, level, wealth of gifters).

use std::collections::HashMap;

use livepk_core::{Mode, SingerId, Target, TargetKind, UserId};
use livepk_linkcall::{
    Battle, GifterRow, ListedSinger, Notification, NotificationKind, PhaseName, PkInfo, PkState,
    Settled,
};
use prost::Message;

use super::{GifterProfile, LinkCallAdapter, SingerProfile};
use crate::pb::common::{Target as TargetProto, TargetKind as TargetKindProto};
use crate::pb::events::{Event, event::Payload};
use crate::pb::linkcall as proto;
use crate::pb::mode_to_proto;
use crate::status::ServiceError;

/// The wire number of a state.
pub fn state(pk_state: PkState) -> i32 {
    pk_state.number() as i32
}

/// The wire form of a PK's info, with the two rooms. The winner is derived: after a count
/// (punishment, or linked again) the side with more points, 0 on a draw or before any count.
pub fn pk_info(info: &PkInfo, host_sid: u64, guest_sid: u64) -> proto::LinkcallpkPkInfo {
    let phase = match info.phase {
        PhaseName::Linked => proto::PkPhase::Linked,
        PhaseName::Scoring => proto::PkPhase::Scoring,
        PhaseName::Punishment => proto::PkPhase::Punishment,
        PhaseName::Closed => proto::PkPhase::Unspecified,
    };
    let counted = info.starttime_secs != 0 && info.phase != PhaseName::Scoring;
    let winner_id = match info.host_gift.cmp(&info.guest_gift) {
        _ if !counted => 0,
        std::cmp::Ordering::Greater => info.host_id.get(),
        std::cmp::Ordering::Less => info.guest_id.get(),
        std::cmp::Ordering::Equal => 0,
    };
    proto::LinkcallpkPkInfo {
        starttime: info.starttime_secs,
        pkalltime: info.pkalltime_secs,
        host_gift: info.host_gift,
        guest_gift: info.guest_gift,
        host_id: info.host_id.get(),
        guest_id: info.guest_id.get(),
        host_sid,
        guest_sid,
        phase: phase as i32,
        phase_deadline_ms: info.phase_deadline_ms,
        winner_id,
    }
}

fn battle_pk_info(info: &PkInfo, battle: Option<&Battle>) -> proto::LinkcallpkPkInfo {
    let (host_sid, guest_sid) = battle
        .map_or((0, 0), |battle| (battle.host.singer_sid.get(), battle.guest.singer_sid.get()));
    pk_info(info, host_sid, guest_sid)
}

/// `repeated pk` as the seed sends it: empty or one entry.
pub fn pk_list(
    info: Option<&PkInfo>,
    host_sid: u64,
    guest_sid: u64,
) -> Vec<proto::LinkcallpkPkInfo> {
    info.map(|info| pk_info(info, host_sid, guest_sid)).into_iter().collect()
}

/// One row of an anchor list.
pub fn singer_info(
    row: &ListedSinger,
    profiles: &HashMap<SingerId, SingerProfile>,
) -> proto::LinkcallpkSingerInfo {
    let profile = profiles.get(&row.singer_id).cloned().unwrap_or_default();
    proto::LinkcallpkSingerInfo {
        pk_state: state(row.pk_state),
        singer_id: row.singer_id.get(),
        singer_nick: profile.nick,
        singer_sid: row.singer_sid.map_or(profile.sid, |sid| sid.get()),
        singer_icon: profile.icon,
        singer_level: profile.level,
        singer_star: profile.star,
    }
}

/// An anchor as `h_singer` / `g_singer`.
pub fn pk_singer(
    singer: SingerId,
    sid: u64,
    profiles: &HashMap<SingerId, SingerProfile>,
) -> proto::PkSingerInfo {
    let profile = profiles.get(&singer).cloned().unwrap_or_default();
    proto::PkSingerInfo {
        singer_id: singer.get(),
        singer_nick: profile.nick,
        singer_sid: sid,
        singer_icon: profile.icon,
        singer_level: profile.level,
        singer_star: profile.star,
    }
}

/// A gifter row.
pub fn user_info(
    row: &GifterRow,
    profiles: &HashMap<UserId, GifterProfile>,
) -> proto::LinkcallpkUserInfo {
    let profile = profiles.get(&row.user_id).cloned().unwrap_or_default();
    proto::LinkcallpkUserInfo {
        user_gift: row.user_gift,
        user_id: row.user_id.get(),
        user_nick: profile.nick,
        user_icon: profile.icon,
        user_level: profile.level,
        user_wealth: profile.wealth,
    }
}

fn target(target: Target) -> TargetProto {
    let kind = match target.kind {
        TargetKind::Room => TargetKindProto::Room,
        TargetKind::Singer => TargetKindProto::Singer,
        TargetKind::User => TargetKindProto::User,
    };
    TargetProto { kind: kind as i32, id: target.id }
}

/// Singer ids a notification shows profiles of.
fn singers_of(notification: &Notification) -> Vec<SingerId> {
    match &notification.kind {
        NotificationKind::SingerState { singer_id, .. } => vec![*singer_id],
        NotificationKind::RoomPkScene { singer_id, .. } => vec![*singer_id],
        NotificationKind::RoomPkSingerInfo { host_id, guest_id, .. } => vec![*host_id, *guest_id],
        NotificationKind::RoomPkInfo { .. } | NotificationKind::SingerPkList { .. } => Vec::new(),
    }
}

/// Encodes notifications as `Event`s for the outbox, with profiles filled in. `board_owner` is
/// the anchor whose gifters a `linkcallpk_room_pk_info_nt` lists (0 when it lists none).
pub async fn notification_events(
    adapter: &LinkCallAdapter,
    notifications: &[Notification],
    battle: Option<&Battle>,
    board_owner: u64,
    now_ms: u64,
) -> Result<Vec<Vec<u8>>, ServiceError> {
    let singers: Vec<SingerId> = notifications.iter().flat_map(singers_of).collect();
    let profiles =
        if singers.is_empty() { HashMap::new() } else { adapter.singer_profiles(&singers).await? };
    let users: Vec<UserId> = notifications
        .iter()
        .flat_map(|notification| match &notification.kind {
            NotificationKind::RoomPkInfo { users, .. } => {
                users.iter().map(|row| row.user_id).collect()
            }
            _ => Vec::new(),
        })
        .collect();
    let gifters = match (battle, users.is_empty()) {
        (Some(battle), false) => adapter.gifter_profiles(battle.battle_id, &users).await?,
        _ => HashMap::new(),
    };
    // The pklist nt carries both sides' top gifters (the anchors redraw from it).
    let mut boards = None;
    if let Some(battle) = battle
        && notifications.iter().any(|n| matches!(n.kind, NotificationKind::SingerPkList { .. }))
    {
        let host =
            adapter.board(battle, battle.host.singer_id, livepk_linkcall::TOP_GIFTERS).await?;
        let guest =
            adapter.board(battle, battle.guest.singer_id, livepk_linkcall::TOP_GIFTERS).await?;
        let ids: Vec<UserId> = host.iter().chain(&guest).map(|row| row.user_id).collect();
        let profiles = adapter.gifter_profiles(battle.battle_id, &ids).await?;
        boards = Some((host, guest, profiles));
    }
    let time_now = now_ms / 1000;
    let mut events = Vec::with_capacity(notifications.len());
    for notification in notifications {
        let profile = |singer: &SingerId| profiles.get(singer).cloned().unwrap_or_default();
        let pkid = notification
            .kind
            .pkid()
            .or(battle.map(|battle| battle.pkid))
            .map_or(0, |pkid| pkid.get());
        let payload = match &notification.kind {
            NotificationKind::SingerState { pk_state, singer_id } => {
                let about = profile(singer_id);
                Payload::LinkcallpkSingerStateNt(proto::LinkcallpkSingerStateNt {
                    time_now,
                    pk_state: state(*pk_state),
                    singer_id: singer_id.get(),
                    singer_icon: about.icon,
                    singer_nick: about.nick,
                    singer_level: about.level,
                    singer_star: about.star,
                    singer_sid: about.sid,
                    pkid,
                })
            }
            NotificationKind::RoomPkScene { singer_id, singer_sid, pk_scene, pkid } => {
                Payload::LinkcallpkRoomPkSceneNt(proto::LinkcallpkRoomPkSceneNt {
                    singer_id: singer_id.get(),
                    singer_sid: singer_sid.get(),
                    singer_nick: profile(singer_id).nick,
                    time_now,
                    pk_scene: u64::from(pk_scene.number()),
                    pkid: pkid.get(),
                })
            }
            NotificationKind::RoomPkInfo { pkid, pk, users } => {
                Payload::LinkcallpkRoomPkInfoNt(proto::LinkcallpkRoomPkInfoNt {
                    time_now,
                    pkid: pkid.get(),
                    pk: vec![battle_pk_info(pk, battle)],
                    user: users.iter().map(|row| user_info(row, &gifters)).collect(),
                    singer_id: if users.is_empty() { 0 } else { board_owner },
                })
            }
            NotificationKind::RoomPkSingerInfo { pkid, host_id, host_sid, guest_id, guest_sid } => {
                Payload::LinkcallpkRoomPkSingerInfoNt(proto::LinkcallpkRoomPkSingerInfoNt {
                    h_singer: vec![pk_singer(*host_id, host_sid.get(), &profiles)],
                    g_singer: vec![pk_singer(*guest_id, guest_sid.get(), &profiles)],
                    time_now,
                    pkid: pkid.get(),
                })
            }
            NotificationKind::SingerPkList { pk_state, pkid, pk } => {
                let (h_users, g_users) = match &boards {
                    Some((host, guest, profiles)) => (
                        host.iter().map(|row| user_info(row, profiles)).collect(),
                        guest.iter().map(|row| user_info(row, profiles)).collect(),
                    ),
                    None => (Vec::new(), Vec::new()),
                };
                Payload::LinkcallpkSingerPklistNt(proto::LinkcallpkSingerPklistNt {
                    time_now,
                    pkid: pkid.get(),
                    pk_state: state(*pk_state),
                    pk: vec![battle_pk_info(pk, battle)],
                    h_users,
                    g_users,
                })
            }
        };
        events.push(event(notification, pkid, time_now, payload));
    }
    Ok(events)
}

fn event(notification: &Notification, pkid: u64, time_now: u64, payload: Payload) -> Vec<u8> {
    Event {
        event_id: String::new(),
        time_now,
        mode: mode_to_proto(Mode::LinkCall) as i32,
        pkid,
        target: Some(target(notification.target)),
        r#type: notification.kind.message_name().to_owned(),
        payload: Some(payload),
    }
    .encode_to_vec()
}

/// Encodes coalesced score notifications (`linkcallpk_room_pk_info_nt` listing the gifters of
/// `receiver`'s board that changed).
pub async fn score_events(
    adapter: &LinkCallAdapter,
    battle: &Battle,
    receiver: SingerId,
    notifications: &[Notification],
    now_ms: u64,
) -> Result<Vec<Vec<u8>>, ServiceError> {
    notification_events(adapter, notifications, Some(battle), receiver.get(), now_ms).await
}

/// The SQL record of a settled PK.
pub fn record_of(settled: &Settled, now_ms: u64) -> livepk_sql::PkRecord {
    livepk_sql::PkRecord {
        mode: Mode::LinkCall,
        pkid: settled.pkid,
        participants: vec![
            livepk_sql::Participant {
                id: settled.host.get(),
                sid: 0,
                side: "host".into(),
                score: settled.host_score,
            },
            livepk_sql::Participant {
                id: settled.guest.get(),
                sid: 0,
                side: "guest".into(),
                score: settled.guest_score,
            },
        ],
        winner_id: settled.winner.map_or(0, SingerId::get),
        start_ms: settled.start_ms,
        end_ms: settled.end_ms,
        ended_by: settled.ended_by.as_str().into(),
        created_at_ms: now_ms,
    }
}
