//! What can go wrong running a mode's command, and the engine's own refusals.

use livepk_core::{BusinessError, ErrorKind, Mode, PkId, RoomSid, codes};
use livepk_store::StoreError;

/// Any failure of an engine call. The server maps it to a gRPC status in one place.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A rule said no (a mode's error, bad input, a room already on stage, SQL).
    #[error("{0}")]
    Business(Box<dyn BusinessError>),
    /// Redis is down or answered with an error, or stored data could not be decoded.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result of an engine call.
pub type EngineResult<T> = Result<T, EngineError>;

impl EngineError {
    /// Wraps a rule's refusal.
    pub fn business(error: impl BusinessError) -> Self {
        EngineError::Business(Box::new(error))
    }

    /// Data in the store that cannot be decoded.
    pub fn corrupt(what: impl std::fmt::Display) -> Self {
        EngineError::Store(StoreError::Corrupt(what.to_string()))
    }

    /// A dependency that did not answer (the caller may retry).
    pub fn unavailable(what: impl Into<String>) -> Self {
        EngineError::Store(StoreError::Unavailable(what.into()))
    }

    /// The refusal, when this is one.
    pub fn as_business(&self) -> Option<&dyn BusinessError> {
        match self {
            EngineError::Business(error) => Some(error.as_ref()),
            EngineError::Store(_) => None,
        }
    }
}

impl From<livepk_core::InvalidArgument> for EngineError {
    fn from(error: livepk_core::InvalidArgument) -> Self {
        EngineError::business(error)
    }
}

impl From<livepk_sql::SqlError> for EngineError {
    fn from(error: livepk_sql::SqlError) -> Self {
        // The SQL layer classifies its own errors (unavailable, invalid, corrupt).
        EngineError::business(error)
    }
}

impl From<livepk_battle::RoundError> for EngineError {
    fn from(error: livepk_battle::RoundError) -> Self {
        EngineError::business(error)
    }
}

/// A lost race that kept being lost: the caller may retry.
#[derive(Debug, thiserror::Error)]
#[error("too much contention on this pk; retry")]
pub struct Contended;

impl BusinessError for Contended {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Aborted
    }
    fn business_code(&self) -> u32 {
        codes::SERVER_ERROR
    }
}

/// 403400025 across modes (SPEC §5a): a room's stage is held by another battle. The holding mode
/// and pkid travel in the `ErrorInfo` metadata (`holding_mode`, `holding_pkid`, `room_id`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("room {room} is already in a {} pk ({pkid})", .mode.as_str())]
pub struct StageTaken {
    /// The room.
    pub room: RoomSid,
    /// The mode holding it.
    pub mode: Mode,
    /// The holding battle's pkid.
    pub pkid: PkId,
}

impl BusinessError for StageTaken {
    fn kind(&self) -> ErrorKind {
        ErrorKind::FailedPrecondition
    }
    fn business_code(&self) -> u32 {
        codes::ANCHOR_IN_PK
    }
    fn details(&self) -> Vec<(String, String)> {
        vec![
            ("holding_mode".into(), self.mode.as_str().into()),
            ("holding_pkid".into(), self.pkid.to_string()),
            ("room_id".into(), self.room.to_string()),
        ]
    }
}
