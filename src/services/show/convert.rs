//! Domain <-> proto for InteractiveShow: the seed's message (`ShowMessage` with its `gift_data`),
//! a show as the RPCs answer it, the catalogue's gifts, and the protobuf encoder of the mode's
//! messages.

use livepk_core::{InvalidArgument, Mode};
use livepk_show::adapter::{ShowEncoder, show_row};
use livepk_show::{CallId, Show, ShowGift, ShowId, ShowMessage, ShowStatus};
use livepk_sql::{ShowGiftRow, ShowGiftType, SqlError};

use crate::pb::show as proto;
use crate::pb::{any, encode_event};

/// `content_type` of every message: 8 ("本字段只是为了兼容其他代码避免报错").
pub const CONTENT_TYPE: u32 = 8;

/// The wire status.
pub fn status(status: ShowStatus) -> proto::ShowStatus {
    match status {
        ShowStatus::Invited => proto::ShowStatus::Invited,
        ShowStatus::Accepted => proto::ShowStatus::Accepted,
        ShowStatus::Paid => proto::ShowStatus::Paid,
        ShowStatus::UserRejected => proto::ShowStatus::UserRejected,
        ShowStatus::AnchorRejected => proto::ShowStatus::AnchorRejected,
        ShowStatus::Lapsed => proto::ShowStatus::Lapsed,
    }
}

/// The seed's `gift_data`: the gift of show `show_id` in call `call_id`.
pub fn gift_data(call_id: CallId, show_id: ShowId, gift: &ShowGift) -> proto::GiftData {
    proto::GiftData {
        call_id: call_id.get(),
        show_id: show_id.get(),
        gid: gift.gid.get(),
        name: gift.name.clone(),
        img: gift.img.clone(),
        num: 1,
        effect_url: gift.effect_url.clone(),
        unit_profit: gift.unit_profit,
        price: gift.price,
    }
}

/// A show as the RPCs answer it: its `tb_show` row's fields (one mapping for both).
pub fn show_info(show: &Show) -> proto::ShowInfo {
    let row = show_row(show, 0);
    let inviter = match row.inviter_type {
        livepk_sql::InviterType::Anchor => proto::InviterType::Anchor,
        livepk_sql::InviterType::User => proto::InviterType::User,
    };
    proto::ShowInfo {
        show_id: row.show_id,
        call_id: row.call_id,
        anchor_id: row.anchor_id,
        user_id: row.user_id,
        inviter_type: inviter as i32,
        gid: row.gid,
        status: status(show.status()) as i32,
        ctime: row.ctime,
        expire_time: row.expire_time,
        answer_time: row.answer_time,
        pay_time: row.pay_time,
        finish_time: row.finish_time,
        show_rating: row.rating,
        gift_data: Some(gift_data(show.call_id, show.show_id, &show.gift)),
    }
}

/// The wire form of a message.
pub fn message(message: &ShowMessage) -> proto::ShowMessage {
    proto::ShowMessage {
        uid: message.uid,
        receive_uid: message.receive_uid,
        ctime: message.ctime,
        gid: message.gift.gid.get(),
        show_id: message.show_id.get(),
        chat_type: message.chat_type.number(),
        content_type: CONTENT_TYPE,
        content: String::new(),
        gift_data: Some(gift_data(message.call_id, message.show_id, &message.gift)),
    }
}

/// Encodes InteractiveShow's messages as `pk.events.v1.Event`s (type `show_<type>_nt`, pkid the
/// show, target the receiving party).
pub struct ProtoEncoder;

impl ShowEncoder for ProtoEncoder {
    fn encode(&self, messages: &[ShowMessage]) -> Vec<Vec<u8>> {
        messages
            .iter()
            .map(|nt| {
                let payload = any(&message(nt));
                let pkid = nt.show_id.get();
                encode_event(
                    Mode::InteractiveShow,
                    nt.target,
                    nt.message_name(),
                    pkid,
                    nt.ctime,
                    payload,
                )
            })
            .collect()
    }
}

/// The wire form of a catalogue gift.
pub fn gift_to_proto(gift: &ShowGiftRow) -> proto::ShowGift {
    let gift_type = match gift.gift_type {
        ShowGiftType::Show => proto::GiftType::Show,
        ShowGiftType::ShowVip => proto::GiftType::ShowVip,
    };
    proto::ShowGift {
        gid: gift.gid,
        gift_type: gift_type as i32,
        name: gift.name.clone(),
        img: gift.img.clone(),
        effect_url: gift.effect_url.clone(),
        price: gift.price,
        unit_profit: gift.unit_profit,
        enabled: gift.enabled,
    }
}

/// A catalogue gift to write (lengths and ids are checked by the SQL layer, naming the field:
/// see [`in_gift`]).
pub fn gift_from_proto(gift: proto::ShowGift, now_ms: u64) -> Result<ShowGiftRow, InvalidArgument> {
    let gift_type = match proto::GiftType::try_from(gift.gift_type) {
        Ok(proto::GiftType::Show) => ShowGiftType::Show,
        Ok(proto::GiftType::ShowVip) => ShowGiftType::ShowVip,
        _ => return Err(InvalidArgument::new("gift.gift_type", "must be SHOW or SHOW_VIP")),
    };
    if gift.gid == 0 {
        return Err(InvalidArgument::new("gift.gid", "must be non-zero"));
    }
    Ok(ShowGiftRow {
        gid: gift.gid,
        gift_type,
        name: gift.name,
        img: gift.img,
        effect_url: gift.effect_url,
        price: gift.price,
        unit_profit: gift.unit_profit,
        enabled: gift.enabled,
        updated_at_ms: now_ms,
    })
}

/// An error of writing a catalogue gift, its field named as the request names it
/// (`gift.<field>`: the gift is the request's `gift`).
pub fn in_gift(error: SqlError) -> SqlError {
    match error {
        SqlError::Invalid(invalid) => {
            SqlError::invalid(format!("gift.{}", invalid.field), invalid.reason)
        }
        other => other,
    }
}
