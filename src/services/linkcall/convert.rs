//! Domain <-> proto for LinkCallPk: the seed's messages, filled with the profiles the domain
//! leaves out (nick, icon, level, star of anchors; nick, icon, level, wealth of gifters).

use std::collections::HashMap;

use async_trait::async_trait;
use livepk_battle::PhaseName;
use livepk_core::{Mode, SingerId, UserId};
use livepk_engine::{EncodeContext, EngineResult};
use livepk_linkcall::adapter::{GifterProfile, LinkCallAdapter, LinkCallEncoder, SingerProfile};
use livepk_linkcall::{
    Battle, GifterRow, LinkCall, ListedSinger, Notification, NotificationKind, PkInfo, PkState,
    TOP_GIFTERS,
};

use crate::pb::linkcall as proto;
use crate::pb::{any, encode_event};

/// The wire number of a state.
pub fn state(pk_state: PkState) -> i32 {
    pk_state.number() as i32
}

/// The wire form of a PK's info, with the two rooms.
pub fn pk_info(info: &PkInfo, host_sid: u64, guest_sid: u64) -> proto::LinkcallpkPkInfo {
    let phase = match info.phase {
        PhaseName::Idle => proto::PkPhase::Linked,
        PhaseName::Scoring => proto::PkPhase::Scoring,
        PhaseName::Punishment => proto::PkPhase::Punishment,
        PhaseName::Closed => proto::PkPhase::Unspecified,
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
        winner_id: info.winner_id.map_or(0, SingerId::get),
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

/// Singer ids a notification shows profiles of.
fn singers_of(notification: &Notification) -> Vec<SingerId> {
    match &notification.kind {
        NotificationKind::SingerState { singer_id, .. } => vec![*singer_id],
        NotificationKind::RoomPkScene { singer_id, .. } => vec![*singer_id],
        NotificationKind::RoomPkSingerInfo { host_id, guest_id, .. } => vec![*host_id, *guest_id],
        NotificationKind::RoomPkInfo { .. } | NotificationKind::SingerPkList { .. } => Vec::new(),
    }
}

/// Encodes LinkCallPk's notifications as `pk.events.v1.Event`s with the seed's messages, profiles
/// filled in.
pub struct ProtoEncoder;

#[async_trait]
impl LinkCallEncoder for ProtoEncoder {
    async fn encode(
        &self,
        adapter: &LinkCallAdapter,
        notifications: &[Notification],
        context: EncodeContext<'_, LinkCall>,
    ) -> EngineResult<Vec<Vec<u8>>> {
        let battle = context.battle;
        let singers: Vec<SingerId> = notifications.iter().flat_map(singers_of).collect();
        let profiles = if singers.is_empty() {
            HashMap::new()
        } else {
            adapter.singer_profiles(&singers).await?
        };
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
            && notifications.iter().any(|notification| {
                matches!(notification.kind, NotificationKind::SingerPkList { .. })
            })
        {
            let host = adapter.board(battle, battle.host.singer_id, TOP_GIFTERS).await?;
            let guest = adapter.board(battle, battle.guest.singer_id, TOP_GIFTERS).await?;
            let ids: Vec<UserId> = host.iter().chain(&guest).map(|row| row.user_id).collect();
            let profiles = adapter.gifter_profiles(battle.battle_id, &ids).await?;
            boards = Some((host, guest, profiles));
        }
        // The anchor whose gifters a score update lists (`singer_id` of the info nt).
        let board_owner = match (battle, context.board) {
            (Some(battle), Some(side)) => battle.side(side).singer_id.get(),
            _ => 0,
        };
        let time_now = context.now_ms / 1000;
        let mut events = Vec::with_capacity(notifications.len());
        for notification in notifications {
            let profile = |singer: &SingerId| profiles.get(singer).cloned().unwrap_or_default();
            let pkid =
                notification.kind.pkid().or(battle.map(Battle::pkid)).map_or(0, |pkid| pkid.get());
            let payload = match &notification.kind {
                NotificationKind::SingerState { pk_state, singer_id } => {
                    let about = profile(singer_id);
                    any(&proto::LinkcallpkSingerStateNt {
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
                    any(&proto::LinkcallpkRoomPkSceneNt {
                        singer_id: singer_id.get(),
                        singer_sid: singer_sid.get(),
                        singer_nick: profile(singer_id).nick,
                        time_now,
                        pk_scene: u64::from(pk_scene.number()),
                        pkid: pkid.get(),
                    })
                }
                NotificationKind::RoomPkInfo { pkid, pk, users } => {
                    any(&proto::LinkcallpkRoomPkInfoNt {
                        time_now,
                        pkid: pkid.get(),
                        pk: vec![battle_pk_info(pk, battle)],
                        user: users.iter().map(|row| user_info(row, &gifters)).collect(),
                        singer_id: if users.is_empty() { 0 } else { board_owner },
                    })
                }
                NotificationKind::RoomPkSingerInfo {
                    pkid,
                    host_id,
                    host_sid,
                    guest_id,
                    guest_sid,
                } => any(&proto::LinkcallpkRoomPkSingerInfoNt {
                    h_singer: vec![pk_singer(*host_id, host_sid.get(), &profiles)],
                    g_singer: vec![pk_singer(*guest_id, guest_sid.get(), &profiles)],
                    time_now,
                    pkid: pkid.get(),
                }),
                NotificationKind::SingerPkList { pk_state, pkid, pk } => {
                    let (h_users, g_users) = match &boards {
                        Some((host, guest, profiles)) => (
                            host.iter().map(|row| user_info(row, profiles)).collect(),
                            guest.iter().map(|row| user_info(row, profiles)).collect(),
                        ),
                        None => (Vec::new(), Vec::new()),
                    };
                    any(&proto::LinkcallpkSingerPklistNt {
                        time_now,
                        pkid: pkid.get(),
                        pk_state: state(*pk_state),
                        pk: vec![battle_pk_info(pk, battle)],
                        h_users,
                        g_users,
                    })
                }
            };
            let name = notification.kind.message_name();
            let encoded =
                encode_event(Mode::LinkCall, notification.target, name, pkid, time_now, payload);
            events.push(encoded);
        }
        Ok(events)
    }
}
