//! Plain data written to and read from the durable tables: settled PK records and whitelist
//! entries. No I/O here; `database.rs` converts them to rows.

use livepk_core::{InvalidArgument, Mode, PkId, SingerId};
use serde::{Deserialize, Serialize};

/// Most participants one record may carry. A team battle has 8 seats (seed 002); the bound only
/// stops a caller from storing an unbounded JSON blob.
pub const MAX_PARTICIPANTS: usize = 64;

/// Longest `ended_by` value (the column is VARCHAR(16)).
pub const MAX_ENDED_BY_LEN: usize = 16;

/// Longest participant `side` label.
pub const MAX_SIDE_LEN: usize = 32;

/// Longest whitelist note, in characters (the column is VARCHAR(255)).
pub const MAX_NOTE_LEN: usize = 255;

/// Largest page a list call may ask for.
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// One side's anchor (or seat holder) in a settled PK, with its final score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// The anchor (`singer_id`, `host_id`, `guest_id`) or seat holder. Indexed, so "records of
    /// anchor X" is cheap. Must be non-zero and at most `i64::MAX`.
    pub id: u64,
    /// The participant's room (`singer_sid`); 0 when the mode has no per-participant room.
    pub sid: u64,
    /// Which side it fought on, in the mode's words: `host`/`guest` (linkcall), `red`/`blue`
    /// (room PK), the gift id (gift PK).
    pub side: String,
    /// Final score in points.
    pub score: u64,
}

/// A settled PK of any mode, as written once at settlement and read back by `Admin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PkRecord {
    /// The feature the PK belongs to.
    pub mode: Mode,
    /// The PK number within its mode; (mode, pkid) is unique.
    pub pkid: PkId,
    /// Everyone who took part, with their final scores, in the mode's order (host first).
    pub participants: Vec<Participant>,
    /// The winning participant's id; 0 for a draw.
    pub winner_id: u64,
    /// When scoring started, ms since the epoch.
    pub start_ms: u64,
    /// When the PK ended (settled), ms since the epoch. Listings are newest first by this.
    pub end_ms: u64,
    /// How it ended, at most 16 ASCII characters: `timeout` (the timer ran out), `closed` (an
    /// anchor closed it), `admin` (forced close), or a mode's own word.
    pub ended_by: String,
    /// When this row was written, ms since the epoch.
    pub created_at_ms: u64,
}

impl PkRecord {
    /// Checks what the types cannot: bounded text, non-zero participant ids, ids that fit the
    /// signed BIGINT columns.
    pub fn validate(&self) -> Result<(), InvalidArgument> {
        if self.participants.is_empty() || self.participants.len() > MAX_PARTICIPANTS {
            return Err(InvalidArgument::new(
                "participants",
                format!("must hold 1 to {MAX_PARTICIPANTS} participants"),
            ));
        }
        for participant in &self.participants {
            if participant.id == 0 || participant.id > i64::MAX as u64 {
                return Err(InvalidArgument::new("participants.id", "must be 1 to 2^63-1"));
            }
            if participant.side.chars().count() > MAX_SIDE_LEN {
                return Err(InvalidArgument::new(
                    "participants.side",
                    format!("must be at most {MAX_SIDE_LEN} characters"),
                ));
            }
        }
        if self.ended_by.is_empty()
            || self.ended_by.len() > MAX_ENDED_BY_LEN
            || !self.ended_by.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(InvalidArgument::new(
                "ended_by",
                format!("must be 1 to {MAX_ENDED_BY_LEN} printable ASCII characters"),
            ));
        }
        for (field, value) in [
            ("pkid", self.pkid.get()),
            ("winner_id", self.winner_id),
            ("start_ms", self.start_ms),
            ("end_ms", self.end_ms),
            ("created_at_ms", self.created_at_ms),
        ] {
            if value > i64::MAX as u64 {
                return Err(InvalidArgument::new(field, "must be at most 2^63-1"));
            }
        }
        Ok(())
    }
}

/// Which records `list_records` returns. The default lists every record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordFilter {
    /// Only this mode.
    pub mode: Option<Mode>,
    /// Only records this anchor took part in.
    pub singer_id: Option<SingerId>,
}

/// One anchor on the whitelist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhitelistEntry {
    /// The anchor allowed to open a linkcall PK.
    pub singer_id: SingerId,
    /// Why the operator added it (free text, at most 255 characters).
    pub note: String,
    /// When it was added, ms since the epoch.
    pub created_at_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> PkRecord {
        PkRecord {
            mode: Mode::LinkCall,
            pkid: PkId::from_trusted(1),
            participants: vec![Participant { id: 7, sid: 70, side: "host".into(), score: 3 }],
            winner_id: 7,
            start_ms: 1,
            end_ms: 2,
            ended_by: "timeout".into(),
            created_at_ms: 3,
        }
    }

    #[test]
    fn validation_names_the_field() {
        type BreakIt = fn(&mut PkRecord);
        let table: [(&str, BreakIt); 6] = [
            ("participants", |r| r.participants.clear()),
            ("participants.id", |r| r.participants[0].id = 0),
            ("participants.side", |r| r.participants[0].side = "x".repeat(33)),
            ("ended_by", |r| r.ended_by = String::new()),
            ("ended_by", |r| r.ended_by = "seventeen-chars-x".into()),
            ("end_ms", |r| r.end_ms = u64::MAX),
        ];
        assert!(record().validate().is_ok());
        for (field, break_it) in table {
            let mut broken = record();
            break_it(&mut broken);
            assert_eq!(broken.validate().unwrap_err().field, field);
        }
    }
}
