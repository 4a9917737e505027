//! Read-only flows: the online list (1.2), UserSeekPk (6), UserSeekGift (7), the applicant list
//! (8) and UserComeInRoom (9). Pure functions from states to response data; the adapter reads
//! the sorted-set windows these functions name, loads the anchors, and adds profiles.

use livepk_core::{PkId, RoomSid, SingerId};

use crate::battle_flows::live_battle_of;
use crate::config::LinkCallConfig;
use livepk_battle::Scores;

use crate::model::{Anchor, Battle, GifterRow, PkInfo, PkState};

/// How many top gifters per side the user queries show (seed §7, §9: "最前的5个").
pub const TOP_GIFTERS: usize = 5;

/// A range of sorted-set ranks, newest first (`ZREVRANGE start stop`, both inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListWindow {
    /// First rank.
    pub start: u64,
    /// Last rank (inclusive).
    pub stop: u64,
}

/// One row of an anchor list (`linkcallpk_singer_info` without the profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedSinger {
    /// The listed anchor's state as seen by the caller.
    pub pk_state: PkState,
    /// The anchor.
    pub singer_id: SingerId,
    /// Its room.
    pub singer_sid: Option<RoomSid>,
}

/// Which ranks of the online list to read for page `page_num` (0 is the first page, which is
/// also what a client that leaves the field at its default gets). The caller is left out of
/// its own list, so the window is one longer than a page and starts one later when the caller
/// ranks before it; `caller_rank` is the caller's rank in the list (`ZREVRANK`), if listed.
pub fn online_list_window(
    page_num: u32,
    config: &LinkCallConfig,
    caller_rank: Option<u64>,
) -> ListWindow {
    let size = u64::from(config.rows_per_page());
    let first = u64::from(page_num).saturating_mul(size);
    let start = match caller_rank {
        Some(rank) if rank < first => first + 1,
        _ => first,
    };
    ListWindow { start, stop: start + size }
}

/// Seed §1.2: one page of the online list for `caller` from the anchors of the window (in list
/// order; anchors whose record is gone are simply not passed). The caller is left out; busy
/// anchors are shown with their state (`pking`, `gaming`, `sawing`, `popup`, `offline`),
/// anchors the caller already applied to (`caller_applied_to`, its guestlist) as `applying`,
/// the rest as `apply`.
pub fn seek_online_list(
    caller: SingerId,
    window: &[Anchor],
    caller_applied_to: &[SingerId],
    config: &LinkCallConfig,
    now_ms: u64,
) -> Vec<ListedSinger> {
    window
        .iter()
        .filter(|anchor| anchor.singer_id != caller)
        .take(config.rows_per_page() as usize)
        .map(|anchor| {
            let available = if caller_applied_to.contains(&anchor.singer_id) {
                PkState::Applying
            } else {
                PkState::Apply
            };
            ListedSinger {
                pk_state: anchor.listed_state(now_ms, available),
                singer_id: anchor.singer_id,
                singer_sid: anchor.singer_sid,
            }
        })
        .collect()
}

/// Which ranks of the caller's applicant list (hostlist, newest first) to read for page
/// `page_num` (0 first).
pub fn link_list_window(page_num: u32, config: &LinkCallConfig) -> ListWindow {
    let size = u64::from(config.rows_per_page());
    let start = u64::from(page_num).saturating_mul(size);
    ListWindow { start, stop: start + size - 1 }
}

/// Seed §8: the anchors that applied to the caller, from the window's anchors in list order,
/// each with its state: `apply` when it can be linked, else why not.
pub fn seek_link_list(
    window: &[Anchor],
    config: &LinkCallConfig,
    now_ms: u64,
) -> Vec<ListedSinger> {
    window
        .iter()
        .take(config.rows_per_page() as usize)
        .map(|anchor| ListedSinger {
            pk_state: anchor.listed_state(now_ms, PkState::Apply),
            singer_id: anchor.singer_id,
            singer_sid: anchor.singer_sid,
        })
        .collect()
}

/// Data for `linkcallpk_user_seek_pk_rs`; `None` answers pkid 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PkView {
    /// The room's PK scene, if any.
    pub pkid: Option<PkId>,
    /// Its PK info.
    pub pk: Option<PkInfo>,
}

/// Seed §6: the PK of `anchor`'s room (`battle` is the one it points at, `scores` its totals).
pub fn user_seek_pk(anchor: Option<&Anchor>, battle: Option<&Battle>, scores: Scores) -> PkView {
    let live = anchor.and_then(|anchor| live_battle_of(anchor, battle));
    PkView { pkid: live.map(|battle| battle.pkid()), pk: live.map(|battle| battle.pk_info(scores)) }
}

/// Data for `linkcallpk_user_seek_gift_rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiftView {
    /// The room's PK scene, if any (0 on the wire).
    pub pkid: Option<PkId>,
    /// Its top gifters (at most [`TOP_GIFTERS`]); empty without a PK.
    pub users: Vec<GifterRow>,
}

/// Seed §7: the top gifters of `anchor`'s side. `board` is that side's board, best first (the
/// adapter finds the side with [`Battle::side_of`]).
pub fn user_seek_gift(
    anchor: Option<&Anchor>,
    battle: Option<&Battle>,
    board: &[GifterRow],
) -> GiftView {
    match anchor.and_then(|anchor| live_battle_of(anchor, battle)) {
        Some(battle) => GiftView { pkid: Some(battle.pkid()), users: top(board) },
        None => GiftView { pkid: None, users: Vec::new() },
    }
}

/// Data for `linkcallpk_user_comein_room_rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRoomView {
    /// `pkid`, `None` (0) when the room has no PK scene.
    pub pkid: Option<PkId>,
    /// `pk`; `starttime` is 0 while the scene is only the placeholder (seed §9).
    pub pk: Option<PkInfo>,
    /// `h_singer`: the host and its room.
    pub host: Option<(SingerId, RoomSid)>,
    /// `g_singer`: the guest and its room.
    pub guest: Option<(SingerId, RoomSid)>,
    /// `h_users`: the host's top gifters.
    pub host_users: Vec<GifterRow>,
    /// `g_users`: the guest's top gifters.
    pub guest_users: Vec<GifterRow>,
}

/// Seed §9: everything a viewer entering `anchor`'s room needs about its PK scene.
/// `host_board` / `guest_board` are the sides' boards, best first.
pub fn user_come_in_room(
    anchor: Option<&Anchor>,
    battle: Option<&Battle>,
    scores: Scores,
    host_board: &[GifterRow],
    guest_board: &[GifterRow],
) -> UserRoomView {
    match anchor.and_then(|anchor| live_battle_of(anchor, battle)) {
        Some(battle) => UserRoomView {
            pkid: Some(battle.pkid()),
            pk: Some(battle.pk_info(scores)),
            host: Some((battle.host.singer_id, battle.host.singer_sid)),
            guest: Some((battle.guest.singer_id, battle.guest.singer_sid)),
            host_users: top(host_board),
            guest_users: top(guest_board),
        },
        None => UserRoomView {
            pkid: None,
            pk: None,
            host: None,
            guest: None,
            host_users: Vec::new(),
            guest_users: Vec::new(),
        },
    }
}

fn top(board: &[GifterRow]) -> Vec<GifterRow> {
    board.iter().take(TOP_GIFTERS).copied().collect()
}
