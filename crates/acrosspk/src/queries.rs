//! Read-only views: the challenges a room received (`ListChallenges`), a page of the open-PK list
//! (`ListCreated`), and a room's PK (`GetState`).

use livepk_battle::{Scores, Side};
use livepk_core::RoomSid;

use crate::model::{Battle, Offer, PkInfo, Room, RoomCard};
use crate::offer_flows::pending_challenge;

/// How many rows `GetState` shows of each board (seed: top lists; livepk shows 20).
pub const TOP_BOARD_ROWS: usize = 20;

/// The challenges `room` received that are pending at `now_ms` (both halves agree, not lapsed),
/// newest first. `challenger` gives the challenging rooms as read.
pub fn pending_challenges<'a>(
    room: &Room,
    challenger: impl Fn(RoomSid) -> Option<&'a Room>,
    now_ms: u64,
) -> Vec<Offer> {
    let mut senders: Vec<RoomSid> =
        room.received.iter().map(|challenge| challenge.invitation.from).collect();
    senders.sort();
    senders.dedup();
    let mut offers: Vec<Offer> = senders
        .into_iter()
        .filter_map(|from| pending_challenge(challenger(from), Some(room), now_ms))
        .map(Offer::from)
        .collect();
    offers.sort_by(|a, b| {
        b.created_at_ms.cmp(&a.created_at_ms).then(a.from.room_id.cmp(&b.from.room_id))
    });
    offers
}

/// Which rows of the open-PK list (newest first, every room's) to read for page `page_num` of
/// the list without the caller's own room: `(offset, count)`. `caller_rank` is the caller's
/// place in the list if it has a created PK there; the window is one row longer when the
/// caller's row falls inside it, and [`created_page`] drops that row.
pub fn created_window(page_num: u32, page_size: u32, caller_rank: Option<u64>) -> (usize, usize) {
    let page_size = u64::from(page_size.max(1));
    let start = u64::from(page_num).saturating_mul(page_size);
    let (offset, count) = match caller_rank {
        // The caller is before this page: every row of the page moves one further.
        Some(rank) if rank < start => (start + 1, page_size),
        // The caller is inside the page: read one more and drop it.
        Some(rank) if rank < start.saturating_add(page_size) => (start, page_size + 1),
        // After the page, or not listed.
        Some(_) | None => (start, page_size),
    };
    (usize::try_from(offset).unwrap_or(usize::MAX), usize::try_from(count).unwrap_or(usize::MAX))
}

/// The open PKs of a page of the list (`rooms`, in list order, as read), the caller's own room
/// and rooms whose created PK is gone left out, at most `page_size`.
pub fn created_page(
    caller: RoomSid,
    rooms: &[(RoomSid, Option<&Room>)],
    page_size: u32,
) -> Vec<Offer> {
    rooms
        .iter()
        .filter(|(id, _)| *id != caller)
        .filter_map(|(id, room)| {
            room.filter(|room| room.room_id == *id).and_then(|room| room.created.as_ref())
        })
        .map(Offer::from)
        .take(page_size.max(1) as usize)
        .collect()
}

/// A room's cross-room PK as `GetState` shows it: the PK, the room's side and the other room
/// (the seed's `RoomAcrossPK`: `pkRoomId`, `pkRoomName`, `pkUserName`, `pkUserAvater`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPk {
    /// The PK.
    pub pk: PkInfo,
    /// The room's side (red: it created or challenged).
    pub side: Side,
    /// The other room.
    pub other: RoomCard,
}

/// The PK `room` is in or was last in (`battle`, the one its pointer names, with its totals), or
/// `None` when it has none. A PK that is over is still shown (phase closed, final totals) until
/// the room's next PK replaces it or it expires.
pub fn room_pk(
    room_id: RoomSid,
    room: Option<&Room>,
    battle: Option<&Battle>,
    scores: Scores,
) -> Option<RoomPk> {
    let pointer = room.filter(|room| room.room_id == room_id)?.battle?;
    let battle = battle.filter(|battle| battle.battle_id == pointer && !battle.is_abandoned())?;
    let side = battle.side_of(room_id)?;
    Some(RoomPk { pk: battle.pk_info(scores), side, other: battle.rooms[side.other()].clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_created_window_skips_the_callers_own_row() {
        // 5 a page; caller at rank 7 (page 1 holds list rows 5..=10 without it).
        assert_eq!(created_window(0, 5, Some(7)), (0, 5));
        assert_eq!(created_window(1, 5, Some(7)), (5, 6));
        assert_eq!(created_window(2, 5, Some(7)), (11, 5));
        assert_eq!(created_window(2, 5, None), (10, 5));
        assert_eq!(created_window(0, 0, None), (0, 1));
    }
}
