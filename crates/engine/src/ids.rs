//! Ids that never repeat (issue 12 item 8). A pkid comes from a store counter, which can go
//! back: Redis loses data on a failover or a flush, and the embedded store starts from nothing
//! when the process restarts over a persistent SQLite file. A repeated pkid would put a new PK's
//! record, jobs and show row on an old one's key. So each pkid is drawn *above a floor*: the
//! largest pkid (for InteractiveShow also show id) SQL holds for the mode — re-read at most once
//! a minute, at the first allocation after start — and the largest this process handed out
//! ([`livepk_store::Store::next_id_above`]). What can still slip through (another replica's
//! pkids since the last read, of PKs not yet recorded, right after a Redis loss) meets the
//! write side: a record under a used key is an error, never "already written".
//!
//! Battle ids key only Redis state, which a reset loses together with the counter; they are
//! drawn above the largest this process handed out.

use std::collections::HashMap;
use std::sync::Mutex;

use livepk_core::Mode;
use livepk_sql::Database;

use crate::error::EngineResult;

/// How long the floor read from SQL is used before it is read again (ms).
const SQL_FLOOR_TTL_MS: u64 = 60_000;

/// Which counter of a mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Counter {
    /// pkids (and InteractiveShow's show ids).
    Pkid,
    /// Battle ids.
    Battle,
}

#[derive(Debug, Default, Clone, Copy)]
struct Floor {
    /// The largest id known to be used.
    known: u64,
    /// When SQL was last read for it (pkids only).
    read_at_ms: Option<u64>,
}

/// The floors of every mode's counters.
#[derive(Debug, Default)]
pub(crate) struct IdFloors {
    floors: Mutex<HashMap<(Mode, Counter), Floor>>,
}

impl IdFloors {
    fn get(&self, key: (Mode, Counter)) -> Floor {
        let floors = self.floors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        floors.get(&key).copied().unwrap_or_default()
    }

    /// The floor for the next id of `counter` of `mode`, reading SQL when the pkid floor is
    /// older than a minute. A failed read keeps the floor known so far; with none known yet
    /// (the first allocation after start) it fails, so no id is handed out blind.
    pub(crate) async fn floor(
        &self,
        mode: Mode,
        counter: Counter,
        database: &Database,
        now_ms: u64,
    ) -> EngineResult<u64> {
        let floor = self.get((mode, counter));
        if counter == Counter::Battle
            || floor.read_at_ms.is_some_and(|at| now_ms.saturating_sub(at) < SQL_FLOOR_TTL_MS)
        {
            return Ok(floor.known);
        }
        let read = async {
            let mut max = database.max_pkid(mode).await?;
            if mode == Mode::InteractiveShow {
                max = max.max(database.max_show_id().await?);
            }
            Ok::<u64, livepk_sql::SqlError>(max)
        };
        match read.await {
            Ok(max) => {
                let mut floors =
                    self.floors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let entry = floors.entry((mode, counter)).or_default();
                entry.known = entry.known.max(max);
                entry.read_at_ms = Some(now_ms);
                Ok(entry.known)
            }
            Err(error) if floor.read_at_ms.is_some() => {
                tracing::warn!(mode = mode.as_str(), %error, "reading the pkid floor failed; using the last one");
                Ok(floor.known)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Remembers that `id` was handed out.
    pub(crate) fn used(&self, mode: Mode, counter: Counter, id: u64) {
        let mut floors = self.floors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = floors.entry((mode, counter)).or_default();
        entry.known = entry.known.max(id);
    }
}
