//! Encodings both stores share, so that the embedded store and Redis cannot drift on them:
//! leaderboard members, gift records, outbox entry ids, event ids, job buckets.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{StoreError, StoreResult};

/// Upper bound of the arrival sequence encoded in leaderboard members (see DESIGN.md).
const BOARD_SEQ_MAX: u64 = 999_999_999_999_999;

/// Length of the id that prefixes every outbox entry.
pub(crate) const OUTBOX_ID_LEN: usize = 32;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// Encodes a leaderboard member so that equal totals sort earliest-arrival first when read
/// highest first (see DESIGN.md "Leaderboards"; `lua/board_add.lua` writes the same shape).
pub(crate) fn board_member(seq: u64, member: u64) -> String {
    format!("{:015}:{}", BOARD_SEQ_MAX.saturating_sub(seq), member)
}

/// Recovers the member id from an encoded leaderboard member.
pub(crate) fn board_member_id(encoded: &str) -> StoreResult<u64> {
    encoded
        .rsplit_once(':')
        .and_then(|(_, id)| id.parse().ok())
        .ok_or_else(|| corrupt(format_args!("bad leaderboard member {encoded:?}")))
}

/// What a PK's txn record holds for a gift judged outside its scoring window (final, like a
/// count: a later call of the same gift answers the same; `lua/apply_score.lua` writes it too).
pub(crate) const OUTSIDE_RECORD: &str = "out";

/// The fingerprint as the scripts take and store it: 16 lowercase hex digits, '' for none (0).
pub(crate) fn fingerprint_arg(fingerprint: u64) -> String {
    if fingerprint == 0 { String::new() } else { format!("{fingerprint:016x}") }
}

/// A stored answer with the fingerprint of its gift appended (`"<answer>#<16 hex>"`, as
/// `lua/apply_score.lua` writes it), or the answer alone for a gift without one.
pub(crate) fn with_fingerprint(answer: &str, fingerprint: u64) -> String {
    if fingerprint == 0 { answer.to_owned() } else { format!("{answer}#{fingerprint:016x}") }
}

/// Splits a stored answer into the answer and its gift's fingerprint (`None`: none recorded).
pub(crate) fn split_fingerprint(stored: &str) -> StoreResult<(&str, Option<u64>)> {
    match stored.rsplit_once('#') {
        None => Ok((stored, None)),
        Some((answer, print)) => u64::from_str_radix(print, 16)
            .map(|print| (answer, Some(print)))
            .map_err(|_| corrupt(format_args!("bad gift record {stored:?}"))),
    }
}

/// Encodes a gift record `"<epoch>|<c1>,<c2>|<b1>,<b2>"`, followed by `"|<version>"` when it
/// counted under a guard (as `lua/apply_score.lua` does).
pub(crate) fn encode_score_record(
    epoch: u64,
    counters: &[i64],
    boards: &[i64],
    guard_version: Option<u64>,
) -> String {
    let join = |values: &[i64]| values.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let mut record = format!("{epoch}|{}|{}", join(counters), join(boards));
    if let Some(version) = guard_version {
        record.push_str(&format!("|{version}"));
    }
    record
}

/// The guard's version a gift record was counted under, if any (see [`encode_score_record`]).
pub(crate) fn score_record_guard(record: &str) -> StoreResult<Option<u64>> {
    match record.split('|').nth(3) {
        None => Ok(None),
        Some(version) => version
            .parse()
            .map(Some)
            .map_err(|_| corrupt(format_args!("bad gift record {record:?}"))),
    }
}

/// Decodes a gift record written by [`encode_score_record`] or the script (its guard's version
/// is read by [`score_record_guard`]).
pub(crate) fn decode_score_record(record: &str) -> StoreResult<(u64, Vec<i64>, Vec<i64>)> {
    let bad = || corrupt(format_args!("bad gift record {record:?}"));
    let mut parts = record.split('|');
    let epoch = parts.next().and_then(|epoch| epoch.parse().ok()).ok_or_else(bad)?;
    let mut numbers = || -> StoreResult<Vec<i64>> {
        let part = parts.next().ok_or_else(bad)?;
        if part.is_empty() {
            return Ok(Vec::new());
        }
        part.split(',').map(|number| number.parse().map_err(|_| bad())).collect()
    };
    let counters = numbers()?;
    let boards = numbers()?;
    if let Some(version) = parts.next()
        && version.parse::<u64>().is_err()
    {
        return Err(bad());
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok((epoch, counters, boards))
}

/// A fresh random id for an outbox entry: [`OUTBOX_ID_LEN`] lowercase hex characters.
pub(crate) fn outbox_entry_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Parses a stream position `<ms>-<seq>` (or a bare `<ms>`, or "0") into a comparable pair.
pub(crate) fn parse_event_id(id: &str) -> StoreResult<(u64, u64)> {
    let bad = || corrupt(format_args!("bad event id {id:?}"));
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    Ok((ms.parse().map_err(|_| bad())?, seq.parse().map_err(|_| bad())?))
}

/// FNV-1a 64-bit, to spread job ids over delay-queue buckets.
pub(crate) fn fnv1a64(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Wall-clock ms, only for bookkeeping that needs no injected clock (de-dup retention).
pub(crate) fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn board_members_sort_earliest_first_when_reversed() {
        let early = board_member(1, 42);
        let late = board_member(2, 7);
        assert!(early > late, "descending order must put the earlier arrival first");
        assert_eq!(board_member_id(&early).unwrap(), 42);
    }

    #[test]
    fn score_records_round_trip() {
        let record = encode_score_record(9, &[1, -2], &[], None);
        assert_eq!(decode_score_record(&record).unwrap(), (9, vec![1, -2], vec![]));
        assert_eq!(score_record_guard(&record).unwrap(), None);
        let guarded = encode_score_record(9, &[1], &[3], Some(12));
        assert_eq!(guarded, "9|1|3|12");
        assert_eq!(decode_score_record(&guarded).unwrap(), (9, vec![1], vec![3]));
        assert_eq!(score_record_guard(&guarded).unwrap(), Some(12));
        assert!(decode_score_record("1|2|3|x").is_err());
        assert!(decode_score_record("1|2|3|4|5").is_err());
    }

    #[test]
    fn fingerprints_round_trip() {
        let stored = with_fingerprint("9|1|3", 0xab);
        assert_eq!(stored, "9|1|3#00000000000000ab");
        assert_eq!(split_fingerprint(&stored).unwrap(), ("9|1|3", Some(0xab)));
        assert_eq!(split_fingerprint("out").unwrap(), ("out", None));
        assert_eq!(with_fingerprint("out", 0), "out");
        assert_eq!(fingerprint_arg(0), "");
        assert!(split_fingerprint("out#xyz").is_err());
    }

    #[test]
    fn event_ids_compare_numerically() {
        assert!(parse_event_id("10-0").unwrap() > parse_event_id("9-5").unwrap());
        assert_eq!(parse_event_id("0").unwrap(), (0, 0));
        assert!(parse_event_id("x").is_err());
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a64(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
