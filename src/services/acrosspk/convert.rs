//! Domain <-> proto for AcrossPk: offers, rooms, the PK with its boards, and the notification
//! encoder (senders' profiles filled in from the battle's profile hash).

use std::collections::HashMap;

use async_trait::async_trait;
use livepk_acrosspk::adapter::{AcrossPkAdapter, AcrossPkEncoder, GifterProfile, SideBoards};
use livepk_acrosspk::{
    AcrossPk, BoardRow, Notification, NotificationKind, Offer, PkInfo, RoomCard,
};
use livepk_battle::{PhaseName, Side, Sides};
use livepk_core::{Mode, UserId};
use livepk_engine::{EncodeContext, EngineResult};

use crate::pb::acrosspk as proto;
use crate::pb::{any, encode_event};

fn secs(ms: u64) -> u64 {
    ms / 1000
}

/// The seed's `AcrossPK` object.
pub fn offer(offer: &Offer) -> proto::AcrossPkOffer {
    proto::AcrossPkOffer {
        create_room_id: offer.from.room_id.get(),
        pk_room_id: offer.to.map_or(0, |room| room.get()),
        room_name: offer.from.room_name.clone(),
        user_name: offer.from.user_name.clone(),
        user_avatar: offer.from.user_avatar.clone(),
        punishment: offer.terms.punishment.clone(),
        create_time: secs(offer.created_at_ms),
        countdown: offer.terms.countdown_secs,
        expire_time: offer.expires_at_ms.map_or(0, secs),
    }
}

/// A room as a PK shows it.
pub fn room(card: &RoomCard) -> proto::AcrossPkRoom {
    proto::AcrossPkRoom {
        room_id: card.room_id.get(),
        room_name: card.room_name.clone(),
        user_name: card.user_name.clone(),
        user_avatar: card.user_avatar.clone(),
    }
}

/// A board row with the viewer's profile where known.
pub fn user(row: &BoardRow, profiles: &HashMap<UserId, GifterProfile>) -> proto::AcrossPkUser {
    let profile = profiles.get(&row.user_id).cloned().unwrap_or_default();
    proto::AcrossPkUser {
        user_id: row.user_id.get(),
        value: row.total,
        user_nick: profile.nick,
        user_icon: profile.icon,
        user_level: profile.level,
        user_wealth: profile.wealth,
    }
}

fn phase(phase: PhaseName) -> proto::AcrossPkPhase {
    match phase {
        PhaseName::Scoring => proto::AcrossPkPhase::Scoring,
        PhaseName::Punishment => proto::AcrossPkPhase::Punishment,
        PhaseName::Closed => proto::AcrossPkPhase::Over,
        // A cross-room PK starts scoring at once: it is never idle.
        PhaseName::Idle => proto::AcrossPkPhase::Unspecified,
    }
}

/// The boards `GetState` adds to a PK, with the viewers' profiles.
pub struct Boards<'a> {
    /// Both rooms' boards, red first.
    pub boards: &'a Sides<SideBoards>,
    /// The viewers' profiles.
    pub profiles: &'a HashMap<UserId, GifterProfile>,
}

/// A PK as both rooms see it at `now_ms`, with its boards when given.
pub fn pk_info(pk: &PkInfo, now_ms: u64, boards: Option<Boards<'_>>) -> proto::AcrossPkInfo {
    let side = |side: Side| {
        let (contribute, pk_board) = match &boards {
            Some(Boards { boards, profiles }) => (
                boards[side].contribute.iter().map(|row| user(row, profiles)).collect(),
                boards[side].pk_value.iter().map(|row| user(row, profiles)).collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        proto::AcrossPkSide {
            room: Some(room(&pk.rooms[side])),
            pk_value: pk.scores[side],
            contribute,
            pk: pk_board,
        }
    };
    let result = match (pk.settled, pk.winner) {
        (false, _) => proto::AcrossPkResult::Unspecified,
        (true, Some(Side::First)) => proto::AcrossPkResult::Red,
        (true, Some(Side::Second)) => proto::AcrossPkResult::Blue,
        (true, None) => proto::AcrossPkResult::Draw,
    };
    proto::AcrossPkInfo {
        pkid: pk.pkid.get(),
        red: Some(side(Side::First)),
        blue: Some(side(Side::Second)),
        punishment: pk.terms.punishment.clone(),
        start_time: secs(pk.start_ms),
        countdown: pk.terms.countdown_secs,
        time_left: pk.phase_deadline_ms.saturating_sub(now_ms).div_ceil(1000),
        phase: phase(pk.phase) as i32,
        phase_deadline_ms: pk.phase_deadline_ms,
        result: result as i32,
        winner_room_id: pk.winner.map_or(0, |side| pk.rooms[side].room_id.get()),
        ended_by: pk.ended_by.map(|ended_by| ended_by.as_str().to_owned()).unwrap_or_default(),
    }
}

/// Encodes AcrossPk's notifications as `pk.events.v1.Event`s, the contributors of score
/// notifications with their profiles.
pub struct ProtoEncoder;

#[async_trait]
impl AcrossPkEncoder for ProtoEncoder {
    async fn encode(
        &self,
        adapter: &AcrossPkAdapter,
        notifications: &[Notification],
        context: EncodeContext<'_, AcrossPk>,
    ) -> EngineResult<Vec<Vec<u8>>> {
        let users: Vec<UserId> = notifications
            .iter()
            .flat_map(|notification| match &notification.kind {
                NotificationKind::Score { users, .. } => {
                    users.iter().map(|row| row.user_id).collect()
                }
                _ => Vec::new(),
            })
            .collect();
        let profiles = match context.battle {
            Some(battle) if !users.is_empty() => {
                adapter.gifter_profiles(battle.battle_id, &users).await?
            }
            _ => HashMap::new(),
        };
        let (now_ms, time_now) = (context.now_ms, secs(context.now_ms));
        let mut events = Vec::with_capacity(notifications.len());
        for notification in notifications {
            let pkid = notification.kind.pkid().map_or(0, |pkid| pkid.get());
            let payload = match &notification.kind {
                NotificationKind::Challenged { challenge } => {
                    any(&proto::AcrosspkChallengeNt { time_now, challenge: Some(offer(challenge)) })
                }
                NotificationKind::Rejected { challenge, operator_id } => {
                    any(&proto::AcrosspkChallengeRejectNt {
                        time_now,
                        challenge: Some(offer(challenge)),
                        operator_id: operator_id.get(),
                    })
                }
                NotificationKind::Lapsed { challenge } => any(&proto::AcrosspkChallengeExpireNt {
                    time_now,
                    challenge: Some(offer(challenge)),
                }),
                NotificationKind::Withdrawn { challenge, busy_room, pkid } => {
                    any(&proto::AcrosspkChallengeCancelNt {
                        time_now,
                        challenge: Some(offer(challenge)),
                        busy_room_id: busy_room.get(),
                        pkid: pkid.get(),
                    })
                }
                NotificationKind::Started { pk } => any(&proto::AcrosspkStartNt {
                    time_now,
                    pkid,
                    pk: Some(pk_info(pk, now_ms, None)),
                }),
                NotificationKind::Score { scores, side, users, .. } => {
                    let room_id =
                        context.battle.map_or(0, |battle| battle.rooms[*side].room_id.get());
                    any(&proto::AcrosspkScoreNt {
                        time_now,
                        pkid,
                        red_pk_value: scores.first,
                        blue_pk_value: scores.second,
                        room_id,
                        contribute: users.iter().map(|row| user(row, &profiles)).collect(),
                    })
                }
                NotificationKind::Result { pk } => any(&proto::AcrosspkResultNt {
                    time_now,
                    pkid,
                    pk: Some(pk_info(pk, now_ms, None)),
                }),
                NotificationKind::Over { pk, .. } => any(&proto::AcrosspkOverNt {
                    time_now,
                    pkid,
                    pk: Some(pk_info(pk, now_ms, None)),
                }),
            };
            let name = notification.kind.message_name();
            events.push(encode_event(
                Mode::AcrossPk,
                notification.target,
                name,
                pkid,
                time_now,
                payload,
            ));
        }
        Ok(events)
    }
}
