//! The error vocabulary shared by every feature: what kind of failure it is (which decides the
//! gRPC status) and which business code of the seeds it carries (which the gateway reads).
//!
//! Features define their own `thiserror` enums and implement [`BusinessError`] for them; the
//! server maps any `BusinessError` to a `tonic::Status` in exactly one place.

use std::fmt;

/// Business codes of seed 000 §A. Codes of the other modes extend the same scheme in their own
/// ranges, declared next to their feature: 4034001xx AcrossPk, 4034002xx RoomPk, 4034003xx
/// GiftPk, 4034004xx InteractiveShow (each mode also answers the seed's codes where they fit:
/// 021 bad input, 025 already in a PK, 026 over or lapsed).
pub mod codes {
    /// Success (never sent as an error).
    pub const OK: u32 = 0;
    /// Internal: database connection lost. Logged, answered as [`SERVER_ERROR`].
    pub const INTERNAL_DB_DISCONNECTED: u32 = 403_400_011;
    /// Internal: data read was empty. Logged, answered as [`SERVER_ERROR`].
    pub const INTERNAL_EMPTY_READ: u32 = 403_400_012;
    /// Internal: decoding failed. Logged, answered as [`SERVER_ERROR`].
    pub const INTERNAL_DECODE_FAILED: u32 = 403_400_013;
    /// Internal: creating a pkid failed. Logged, answered as [`SERVER_ERROR`].
    pub const INTERNAL_PKID_FAILED: u32 = 403_400_014;
    /// Internal: recording a gift amount failed. Logged, answered as [`SERVER_ERROR`].
    pub const INTERNAL_GIFT_RECORD_FAILED: u32 = 403_400_015;
    /// Internal: reading mysql configuration failed. Logged, answered as [`SERVER_ERROR`].
    pub const INTERNAL_CONFIG_READ_FAILED: u32 = 403_400_016;
    /// The server had a small problem (the only internal code a caller sees).
    pub const SERVER_ERROR: u32 = 403_400_020;
    /// Invalid parameter.
    pub const INVALID_PARAMETER: u32 = 403_400_021;
    /// Conditions not met, the anchor cannot open linkcall PK (star level, whitelist).
    pub const CONDITIONS_NOT_MET: u32 = 403_400_022;
    /// A PK timer is still running (client ignores).
    pub const TIMER_STILL_RUNNING: u32 = 403_400_023;
    /// The PK has already been settled (client ignores).
    pub const ALREADY_SETTLED: u32 = 403_400_024;
    /// The anchor is already in a PK; linking failed.
    pub const ANCHOR_IN_PK: u32 = 403_400_025;
    /// The PK is over.
    pub const PK_OVER: u32 = 403_400_026;
    /// The PK has not started (client ignores).
    pub const PK_NOT_STARTED: u32 = 403_400_027;
    /// The anchor is playing a game.
    pub const ANCHOR_IN_GAME: u32 = 403_400_028;
    /// The anchor is running a chainsaw (电锯) session.
    pub const ANCHOR_IN_SAW: u32 = 403_400_029;
    /// The anchor has an unhandled PK popup.
    pub const ANCHOR_HAS_POPUP: u32 = 403_400_030;
    /// The other anchor is offline; linking failed.
    pub const ANCHOR_OFFLINE: u32 = 403_400_031;
    /// A `gift_txn_id` already recorded for another gift (livepk's own, after the seed's
    /// codes: the gift path is shared by every mode).
    pub const GIFT_TXN_REUSED: u32 = 403_400_032;

    /// The stable upper-case name of a code, used as the `reason` of the `ErrorInfo` detail.
    pub fn name(code: u32) -> &'static str {
        match code {
            OK => "OK",
            INTERNAL_DB_DISCONNECTED => "INTERNAL_DB_DISCONNECTED",
            INTERNAL_EMPTY_READ => "INTERNAL_EMPTY_READ",
            INTERNAL_DECODE_FAILED => "INTERNAL_DECODE_FAILED",
            INTERNAL_PKID_FAILED => "INTERNAL_PKID_FAILED",
            INTERNAL_GIFT_RECORD_FAILED => "INTERNAL_GIFT_RECORD_FAILED",
            INTERNAL_CONFIG_READ_FAILED => "INTERNAL_CONFIG_READ_FAILED",
            SERVER_ERROR => "SERVER_ERROR",
            INVALID_PARAMETER => "INVALID_PARAMETER",
            CONDITIONS_NOT_MET => "CONDITIONS_NOT_MET",
            TIMER_STILL_RUNNING => "TIMER_STILL_RUNNING",
            ALREADY_SETTLED => "ALREADY_SETTLED",
            ANCHOR_IN_PK => "ANCHOR_IN_PK",
            PK_OVER => "PK_OVER",
            PK_NOT_STARTED => "PK_NOT_STARTED",
            ANCHOR_IN_GAME => "ANCHOR_IN_GAME",
            ANCHOR_IN_SAW => "ANCHOR_IN_SAW",
            ANCHOR_HAS_POPUP => "ANCHOR_HAS_POPUP",
            ANCHOR_OFFLINE => "ANCHOR_OFFLINE",
            GIFT_TXN_REUSED => "GIFT_TXN_REUSED",
            _ => "BUSINESS_ERROR",
        }
    }

    /// Maps an internal-only code (011..016) to the code a caller sees (020); other codes pass
    /// through unchanged.
    pub fn public(code: u32) -> u32 {
        if (INTERNAL_DB_DISCONNECTED..=INTERNAL_CONFIG_READ_FAILED).contains(&code) {
            SERVER_ERROR
        } else {
            code
        }
    }
}

/// What kind of failure an error is. It decides the gRPC status code; the business code is
/// carried separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is malformed (a field is zero, out of range, unknown enum value).
    InvalidArgument,
    /// The request is well-formed but the state does not allow it.
    FailedPrecondition,
    /// The thing asked about does not exist.
    NotFound,
    /// The caller lost a race (another request changed the state first).
    Aborted,
    /// The caller may not do this (not a participant, not the invited anchor).
    PermissionDenied,
    /// The caller did not authenticate.
    Unauthenticated,
    /// The server is shedding load.
    ResourceExhausted,
    /// A dependency (Redis, SQL) is unreachable; retrying later may succeed.
    Unavailable,
    /// A bug or corrupt data.
    Internal,
}

/// An error that knows its kind and its business code. Every feature error implements it.
pub trait BusinessError: std::error::Error + Send + Sync + 'static {
    /// The kind of failure, which decides the gRPC status code.
    fn kind(&self) -> ErrorKind;
    /// The business code of the seeds (403400xxx for LinkCallPk).
    fn business_code(&self) -> u32;
    /// The request field at fault, for invalid input.
    fn field(&self) -> Option<&str> {
        None
    }
    /// Extra machine-readable details for the caller (for example the already-settled result
    /// that accompanies 403400024), added to the `ErrorInfo` metadata.
    fn details(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// The stable upper-case name of the code, the `reason` of the `ErrorInfo` detail. The seed's
    /// codes are named by [`codes::name`]; a mode names the codes of its own range.
    fn reason(&self) -> &'static str {
        codes::name(codes::public(self.business_code()))
    }
}

/// A request field that failed validation. Names the field, as the gateway team asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidArgument {
    /// The proto field name (snake_case, as in the seeds).
    pub field: String,
    /// Why it is invalid, in a few words ("must be non-zero").
    pub reason: String,
}

impl InvalidArgument {
    /// An invalid `field` because of `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}

impl fmt::Display for InvalidArgument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.reason)
    }
}

impl std::error::Error for InvalidArgument {}

impl BusinessError for InvalidArgument {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
    fn business_code(&self) -> u32 {
        codes::INVALID_PARAMETER
    }
    fn field(&self) -> Option<&str> {
        Some(&self.field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_codes_are_hidden_behind_server_error() {
        for code in 403_400_011..=403_400_016 {
            assert_eq!(codes::public(code), codes::SERVER_ERROR);
        }
        assert_eq!(codes::public(codes::ANCHOR_IN_PK), codes::ANCHOR_IN_PK);
        assert_eq!(codes::public(codes::SERVER_ERROR), codes::SERVER_ERROR);
    }

    #[test]
    fn invalid_argument_names_its_field() {
        let error = InvalidArgument::new("singer_id", "must be non-zero");
        assert_eq!(error.to_string(), "invalid singer_id: must be non-zero");
        assert_eq!(error.field(), Some("singer_id"));
        assert_eq!(error.business_code(), codes::INVALID_PARAMETER);
    }
}
