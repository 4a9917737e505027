//! One room, one battle (SPEC §5a): LinkCallPk, RoomPk and AcrossPk each take over a room's
//! stage, and at most one battle holds a room's stage at a time. GiftPk runs alongside; an
//! interactive show belongs to a 1:1 call.
//!
//! Each room has a holder record under its own tag (`stage:<room>`) naming the mode and battle
//! that hold it. The battle is the truth ([`livepk_battle::BattleState::stage`] names the rooms
//! it holds) and the holder a pointer that lets another mode find it. A commit that puts a battle
//! on a room's stage goes:
//! 1. **claim** — before anything is written, a *pending* holder is put by compare-and-set
//!    (rooms in ascending order). It lives [`CLAIM_TTL`] in the store: long enough for the
//!    command to write its battle, short enough that a command that died meanwhile does not
//!    block the room for long. Its expiry is the store's own clock, never a replica's.
//! 2. the battle is written (the truth);
//! 3. **take** — the holder is made permanent. If it is no longer this battle's (the command
//!    stalled past the claim's life and another battle claimed the room), the battle loses: the
//!    engine closes it and the command is refused, so two live battles never share a room.
//!    Every later commit of the battle takes its rooms again (one read when nothing is
//!    missing), which heals a holder lost to a crash between 2 and 3.
//!
//! A claim meets a holder of another battle: it is refused with 025 ([`StageTaken`], naming the
//! holding mode and its current pkid) while that battle holds the room, or while the holder is
//! pending; a taken holder whose battle no longer holds the room (closed, vanished, never taken
//! up) is free. A holder of a mode this replica does not serve (a newer release's, during a
//! rolling deploy) counts as held: rolling back a release that added a mode needs its battles
//! closed first. Holders are removed when their battle gives the room up.

use std::time::Duration;

use livepk_battle::BattleId;
use livepk_core::{Mode, PkId, RoomSid};
use livepk_store::{CommitOutcome, Op, Transaction};
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, decode, encode};
use crate::error::{Contended, EngineError, EngineResult, StageTaken};

/// How long a pending claim lives in the store before its battle is written and takes it.
pub const CLAIM_TTL: Duration = Duration::from_secs(5);
/// How often a holder write is retried after losing a compare-and-set race.
const MAX_ATTEMPTS: usize = 8;
const HOLDER: &str = "holder";

/// Who holds a room's stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Holder {
    mode: Mode,
    battle: BattleId,
    /// The battle's pkid when it claimed (its current one is asked from the battle).
    pkid: PkId,
    /// Taken (permanent) once the battle is written; pending (with [`CLAIM_TTL`]) before.
    taken: bool,
}

impl Holder {
    fn is(&self, mode: Mode, battle: BattleId) -> bool {
        self.mode == mode && self.battle == battle
    }
}

fn tag(room: RoomSid) -> String {
    format!("stage:{room}")
}

/// Claims `rooms` for `battle` of `mode` (pending holders). Refused with [`StageTaken`] (025)
/// when another battle holds one; rooms claimed by this call are then given back.
pub(crate) async fn claim(
    engine: &Engine,
    mode: Mode,
    (battle, pkid): (BattleId, PkId),
    rooms: &[RoomSid],
) -> EngineResult<()> {
    let mut rooms = rooms.to_vec();
    rooms.sort();
    rooms.dedup();
    let holder = Holder { mode, battle, pkid, taken: false };
    let mut claimed = Vec::new();
    for room in rooms {
        if let Err(error) = claim_one(engine, room, holder).await {
            release(engine, mode, battle, &claimed).await;
            return Err(error);
        }
        claimed.push(room);
    }
    Ok(())
}

async fn claim_one(engine: &Engine, room: RoomSid, holder: Holder) -> EngineResult<()> {
    for _ in 0..MAX_ATTEMPTS {
        let (current, version) = read(engine, room).await?;
        if let Some(current) = current {
            if current.is(holder.mode, holder.battle) {
                return Ok(());
            }
            if let Some(pkid) = held_pkid(engine, &current, room).await? {
                return Err(EngineError::business(StageTaken { room, mode: current.mode, pkid }));
            }
        }
        if put(engine, room, version, holder, Some(CLAIM_TTL)).await? {
            return Ok(());
        }
    }
    Err(EngineError::business(Contended))
}

/// Makes `battle`'s holders of `rooms` permanent (see the module documentation). A room whose
/// holder names another battle is answered with that holder as [`StageTaken`]: the caller must
/// give the battle up.
pub(crate) async fn take(
    engine: &Engine,
    mode: Mode,
    (battle, pkid): (BattleId, PkId),
    rooms: &[RoomSid],
) -> EngineResult<()> {
    let holder = Holder { mode, battle, pkid, taken: true };
    // One read when nothing is missing: the common case, on every commit of a battle on stage.
    let tags: Vec<String> = rooms.iter().map(|room| tag(*room)).collect();
    let keys: Vec<(&str, &str)> = tags.iter().map(|tag| (tag.as_str(), HOLDER)).collect();
    let mut all_taken = true;
    for versioned in engine.store.get_many(&keys).await? {
        let held: Option<Holder> =
            versioned.map(|v| decode("stage holder", &v.value)).transpose()?;
        all_taken &= held.is_some_and(|held| held.is(mode, battle) && held.taken);
    }
    if all_taken {
        return Ok(());
    }
    'rooms: for &room in rooms {
        for _ in 0..MAX_ATTEMPTS {
            let (current, version) = read(engine, room).await?;
            match current {
                Some(current) if current.is(mode, battle) && current.taken => continue 'rooms,
                Some(current) if !current.is(mode, battle) => {
                    let pkid = held_pkid(engine, &current, room).await?.unwrap_or(current.pkid);
                    return Err(EngineError::business(StageTaken {
                        room,
                        mode: current.mode,
                        pkid,
                    }));
                }
                // Ours and pending, or lost (expired, or a crash between write and take).
                _ => {
                    if put(engine, room, version, holder, None).await? {
                        continue 'rooms;
                    }
                }
            }
        }
        return Err(EngineError::business(Contended));
    }
    Ok(())
}

/// Gives back `rooms` if `battle` of `mode` still holds them. Failures are logged: a taken
/// holder whose battle no longer holds the room is free anyway, a pending one expires.
pub(crate) async fn release(engine: &Engine, mode: Mode, battle: BattleId, rooms: &[RoomSid]) {
    for &room in rooms {
        let result = async {
            let (current, version) = read(engine, room).await?;
            if current.is_some_and(|held| held.is(mode, battle)) {
                let transaction = Transaction::new(tag(room))
                    .expect_version(HOLDER, version)
                    .op(Op::Delete { name: HOLDER.into() });
                engine.store.commit(transaction).await?;
            }
            Ok::<_, EngineError>(())
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(%room, mode = mode.as_str(), %battle, %error, "stage release failed");
        }
    }
}

/// Refuses with [`StageTaken`] when a battle of another mode than `mode` holds one of `rooms` (a
/// read only: the early answer before a command that would claim them later).
pub async fn check(engine: &Engine, mode: Mode, rooms: &[RoomSid]) -> EngineResult<()> {
    for &room in rooms {
        if let (Some(current), _) = read(engine, room).await?
            && current.mode != mode
            && let Some(pkid) = held_pkid(engine, &current, room).await?
        {
            return Err(EngineError::business(StageTaken { room, mode: current.mode, pkid }));
        }
    }
    Ok(())
}

async fn read(engine: &Engine, room: RoomSid) -> EngineResult<(Option<Holder>, u64)> {
    match engine.store.get(&tag(room), HOLDER).await? {
        Some(versioned) => Ok((Some(decode("stage holder", &versioned.value)?), versioned.version)),
        None => Ok((None, 0)),
    }
}

/// Writes `holder` over the version read; false when another write came first.
async fn put(
    engine: &Engine,
    room: RoomSid,
    version: u64,
    holder: Holder,
    ttl: Option<Duration>,
) -> EngineResult<bool> {
    let transaction = Transaction::new(tag(room)).expect_version(HOLDER, version).op(Op::Put {
        name: HOLDER.into(),
        value: encode(&holder),
        ttl,
    });
    Ok(engine.store.commit(transaction).await? == CommitOutcome::Committed)
}

/// The holding battle's current pkid while `holder` holds `room`; `None` when the room is free.
async fn held_pkid(engine: &Engine, holder: &Holder, room: RoomSid) -> EngineResult<Option<PkId>> {
    let Some(driver) = engine.driver(holder.mode) else {
        // A mode this replica does not serve: counted as held (see the module documentation).
        return Ok(Some(holder.pkid));
    };
    match driver.stage_pkid(holder.battle, room).await? {
        Some(pkid) => Ok(Some(pkid)),
        // Pending: its battle is being written (or its command died; the claim then expires).
        None if !holder.taken => Ok(Some(holder.pkid)),
        None => Ok(None),
    }
}
