//! Domain <-> proto for GiftPk: the PK's gifts, totals and senders (profiles filled in from the
//! battle's stored profiles), and the protobuf encoder of its notifications.

use std::collections::HashMap;

use async_trait::async_trait;
use livepk_battle::{MS_PER_SECOND, Sides};
use livepk_core::{Mode, UserId};
use livepk_engine::{EncodeContext, EngineResult};
use livepk_giftpk::adapter::{GiftPkAdapter, GiftPkEncoder, GifterProfile};
use livepk_giftpk::{
    GiftPk, GiftTotals, Notification, NotificationKind, PkGift, PkView, SenderRow, seconds_left,
};

use crate::pb::giftpk as proto;
use crate::pb::{any, encode_event};

/// A gift of the PK.
pub fn gift(gift: &PkGift) -> proto::GiftpkGift {
    proto::GiftpkGift {
        gift_id: gift.gift_id.get(),
        gift_name: gift.gift_name.clone(),
        gift_logo: gift.gift_logo.clone(),
        gift_desc: gift.gift_desc.clone(),
    }
}

/// Both gifts, first first.
pub fn gifts(gifts: &Sides<PkGift>) -> Vec<proto::GiftpkGift> {
    gifts.both().into_iter().map(gift).collect()
}

/// Both gifts' count and value, first first.
pub fn totals(totals: &Sides<GiftTotals>) -> Vec<proto::GiftpkGiftTotal> {
    totals
        .both()
        .into_iter()
        .map(|totals| proto::GiftpkGiftTotal {
            gift_id: totals.gift_id.get(),
            gift_count: totals.count,
            gift_value: totals.value,
        })
        .collect()
}

/// A PK as a show lists it.
pub fn pk_info(view: &PkView) -> proto::GiftpkPkInfo {
    let status =
        if view.running { proto::GiftpkStatus::Running } else { proto::GiftpkStatus::Over };
    proto::GiftpkPkInfo {
        pkid: view.pkid.get(),
        show_id: view.show_id.get(),
        singer_id: view.singer_id.get(),
        gifts: gifts(&view.gifts),
        duration: view.duration_secs,
        interval: view.interval_ms,
        status: status as i32,
        created_at_ms: view.created_at_ms,
        deadline_ms: view.deadline_ms,
        ended_at_ms: view.ended_at_ms.unwrap_or(0),
    }
}

/// A sender at `rank` (0 when not computed) with their profile.
pub fn sender(
    rank: u64,
    row: &SenderRow,
    profiles: &HashMap<UserId, GifterProfile>,
) -> proto::GiftpkSender {
    let profile = profiles.get(&row.user_id).cloned().unwrap_or_default();
    proto::GiftpkSender {
        rank,
        user_id: row.user_id.get(),
        user_gift: row.total,
        user_nick: profile.nick,
        user_icon: profile.icon,
        user_level: profile.level,
        user_wealth: profile.wealth,
    }
}

/// Encodes GiftPk's notifications as `pk.events.v1.Event`s with the messages of
/// `pk.giftpk.v1`, senders' profiles filled in.
pub struct ProtoEncoder;

#[async_trait]
impl GiftPkEncoder for ProtoEncoder {
    async fn encode(
        &self,
        adapter: &GiftPkAdapter,
        notifications: &[Notification],
        context: EncodeContext<'_, GiftPk>,
    ) -> EngineResult<Vec<Vec<u8>>> {
        let users: Vec<UserId> = notifications
            .iter()
            .flat_map(|notification| match &notification.kind {
                NotificationKind::Progress { users, .. } => {
                    users.iter().map(|row| row.user_id).collect()
                }
                _ => Vec::new(),
            })
            .collect();
        let profiles = match context.battle {
            Some(battle) => adapter.gifter_profiles(battle.battle_id, &users).await?,
            None => HashMap::new(),
        };
        let (now_ms, time_now) = (context.now_ms, context.now_ms / MS_PER_SECOND);
        let mut events = Vec::with_capacity(notifications.len());
        for notification in notifications {
            // Every GiftPk notification goes to its show's room: the room id is the show id.
            let show_id = notification.target.id;
            let payload = match &notification.kind {
                NotificationKind::Create {
                    pkid,
                    duration_secs,
                    interval_ms,
                    deadline_ms,
                    gifts: both,
                } => any(&proto::GiftpkCreateNt {
                    pkid: pkid.get(),
                    show_id,
                    duration: *duration_secs,
                    interval: *interval_ms,
                    gifts: gifts(both),
                    deadline_ms: *deadline_ms,
                    time_left: seconds_left(*deadline_ms, now_ms),
                }),
                NotificationKind::Progress {
                    pkid,
                    counts,
                    gift_ids,
                    deadline_ms,
                    gift_id,
                    users,
                } => any(&proto::GiftpkProgressNt {
                    pkid: pkid.get(),
                    gifts: [(gift_ids.first, counts.first), (gift_ids.second, counts.second)]
                        .into_iter()
                        .map(|(gift_id, count)| proto::GiftpkGiftCount {
                            gift_id: gift_id.get(),
                            gift_count: count,
                        })
                        .collect(),
                    time_left: seconds_left(*deadline_ms, now_ms),
                    gift_id: gift_id.get(),
                    users: users.iter().map(|row| sender(0, row, &profiles)).collect(),
                }),
                NotificationKind::End { pkid } => {
                    any(&proto::GiftpkEndNt { pkid: pkid.get(), show_id })
                }
            };
            let kind = &notification.kind;
            events.push(encode_event(
                Mode::GiftPk,
                notification.target,
                kind.message_name(),
                kind.pkid().get(),
                time_now,
                payload,
            ));
        }
        Ok(events)
    }
}
