//! Domain <-> proto for RoomPk: the seed's `RoomPKLocation` and `RoomPK`, the boards with the
//! senders' profiles the domain leaves out, and the protobuf encoder of its notifications.

use std::collections::HashMap;

use async_trait::async_trait;
use livepk_battle::{EndedBy, PhaseName};
use livepk_core::{Mode, UserId};
use livepk_engine::{EncodeContext, EngineResult};
use livepk_roompk::adapter::{GifterProfile, RoomPkAdapter, RoomPkEncoder};
use livepk_roompk::{
    BattleInfo, Notification, NotificationKind, RoomPk, Seat, SeatAction, Team, TeamRow, UserTotals,
};

use crate::pb::roompk as proto;
use crate::pb::{any, encode_event};

/// A seat on the wire.
pub fn location(seat: &Seat) -> proto::RoomPkLocation {
    proto::RoomPkLocation {
        location: seat.location.get(),
        user_id: seat.user_id.map_or(0, UserId::get),
        locked: seat.locked,
        disabled: seat.disabled,
        invite_user_id: seat.invite.map_or(0, |invite| invite.user_id.get()),
        invite_room_id: seat.invite.map_or(0, |invite| invite.room_id.get()),
    }
}

/// A team (or none: a draw, no verdict) on the wire.
pub fn team(team: Option<Team>) -> proto::Team {
    match team {
        Some(Team::Red) => proto::Team::Red,
        Some(Team::Blue) => proto::Team::Blue,
        None => proto::Team::Unspecified,
    }
}

fn phase(phase: PhaseName) -> proto::Phase {
    match phase {
        PhaseName::Scoring => proto::Phase::Scoring,
        PhaseName::Punishment => proto::Phase::Punishment,
        PhaseName::Closed => proto::Phase::Over,
        // A team battle is created scoring: it is never idle.
        PhaseName::Idle => proto::Phase::Unspecified,
    }
}

fn ended_by(ended_by: Option<EndedBy>) -> proto::EndedBy {
    match ended_by {
        Some(EndedBy::Deadline | EndedBy::Count) => proto::EndedBy::Deadline,
        Some(EndedBy::Close | EndedBy::Leave) => proto::EndedBy::Finish,
        Some(EndedBy::Admin) => proto::EndedBy::Admin,
        Some(EndedBy::Abandoned) | None => proto::EndedBy::Unspecified,
    }
}

fn seat_action(action: SeatAction) -> proto::SeatAction {
    match action {
        SeatAction::Take => proto::SeatAction::Take,
        SeatAction::Leave => proto::SeatAction::Leave,
        SeatAction::HoldUp => proto::SeatAction::HoldUp,
        SeatAction::HoldDown => proto::SeatAction::HoldDown,
        SeatAction::Lock => proto::SeatAction::Lock,
        SeatAction::Unlock => proto::SeatAction::Unlock,
        SeatAction::Disable => proto::SeatAction::Disable,
        SeatAction::Enable => proto::SeatAction::Enable,
        SeatAction::Invite => proto::SeatAction::Invite,
        SeatAction::CancelInvite => proto::SeatAction::CancelInvite,
    }
}

/// The seed's `RoomPK` of a battle, its time left counted at `now_ms`.
pub fn pk_info(info: &BattleInfo, now_ms: u64) -> proto::RoomPkInfo {
    proto::RoomPkInfo {
        room_id: info.room_id.get(),
        pkid: info.pkid.get(),
        punishment: info.punishment.clone(),
        start_time: info.start_time_ms / 1000,
        countdown: info.countdown_ms / 1000,
        red_location_ids: Team::Red.locations().map(|location| location.get()).to_vec(),
        blue_location_ids: Team::Blue.locations().map(|location| location.get()).to_vec(),
        operator_id: info.operator_id.get(),
        phase: phase(info.phase) as i32,
        phase_deadline_ms: info.phase_deadline_ms,
        time_left: info.time_left_secs(now_ms),
        red_total: info.scores.first,
        blue_total: info.scores.second,
        settled: info.settled,
        winner: team(info.winner) as i32,
        ended_by: ended_by(info.ended_by) as i32,
    }
}

/// Board rows with the senders' profiles (missing profiles, as on PK-value boards, are empty).
pub fn board(rows: &[TeamRow], profiles: &HashMap<UserId, GifterProfile>) -> Vec<proto::BoardRow> {
    rows.iter()
        .map(|row| {
            let profile = profiles.get(&row.user_id).cloned().unwrap_or_default();
            proto::BoardRow {
                user_id: row.user_id.get(),
                value: row.value,
                user_nick: profile.nick,
                user_icon: profile.icon,
                user_level: profile.level,
                user_wealth: profile.wealth,
            }
        })
        .collect()
}

/// One user's totals on the wire.
pub fn user_totals(totals: &UserTotals) -> proto::UserTotals {
    proto::UserTotals {
        user_id: totals.user_id.get(),
        location: totals.location.map_or(0, |location| location.get()),
        total_pk_value: totals.total_pk_value,
        total_contribute_value: totals.total_contribute_value,
        pk_value: totals.pk_value,
        contribute_value: totals.contribute_value,
    }
}

/// Encodes RoomPk's notifications as `pk.events.v1.Event`s, senders' profiles filled in.
pub struct ProtoEncoder;

#[async_trait]
impl RoomPkEncoder for ProtoEncoder {
    async fn encode(
        &self,
        adapter: &RoomPkAdapter,
        notifications: &[Notification],
        context: EncodeContext<'_, RoomPk>,
    ) -> EngineResult<Vec<Vec<u8>>> {
        let now_ms = context.now_ms;
        let time_now = now_ms / 1000;
        let mut events = Vec::with_capacity(notifications.len());
        for notification in notifications {
            let pkid = notification.kind.pkid().map_or(0, |pkid| pkid.get());
            let payload = match &notification.kind {
                NotificationKind::Seat { room_id, action, seat, by } => any(&proto::RoompkSeatNt {
                    room_id: room_id.get(),
                    action: seat_action(*action) as i32,
                    location: Some(location(seat)),
                    by_user_id: by.get(),
                    time_now,
                }),
                NotificationKind::Invite { room_id, location, invite, by } => {
                    any(&proto::RoompkInviteNt {
                        room_id: room_id.get(),
                        location: location.get(),
                        invite_user_id: invite.user_id.get(),
                        invite_room_id: invite.room_id.get(),
                        operator_id: by.get(),
                        time_now,
                    })
                }
                NotificationKind::Start { battle } => {
                    any(&proto::RoompkStartNt { pk: Some(pk_info(battle, now_ms)), time_now })
                }
                NotificationKind::AddTime { battle, added_secs } => any(&proto::RoompkAddtimeNt {
                    pk: Some(pk_info(battle, now_ms)),
                    added_seconds: *added_secs,
                    time_now,
                }),
                NotificationKind::Score { battle, team: scored, rows } => {
                    let ids: Vec<UserId> = rows.iter().map(|row| row.user_id).collect();
                    let profiles = adapter.gifter_profiles(battle.room_id, &ids).await?;
                    any(&proto::RoompkScoreNt {
                        pk: Some(pk_info(battle, now_ms)),
                        team: team(Some(*scored)) as i32,
                        users: board(rows, &profiles),
                        time_now,
                    })
                }
                NotificationKind::Result { battle } => {
                    any(&proto::RoompkResultNt { pk: Some(pk_info(battle, now_ms)), time_now })
                }
                NotificationKind::Over { battle } => {
                    any(&proto::RoompkOverNt { pk: Some(pk_info(battle, now_ms)), time_now })
                }
            };
            let name = notification.kind.message_name();
            let target = notification.target;
            events.push(encode_event(Mode::RoomPk, target, name, pkid, time_now, payload));
        }
        Ok(events)
    }
}
