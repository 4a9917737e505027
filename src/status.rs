//! The one mapping from errors to `tonic::Status`. Handlers never build a `Status` by hand:
//! they return [`ServiceError`], and `?` does the rest.
//!
//! The status code fits the case (SPEC §3) and the seed's numeric business code travels in a
//! `google.rpc.ErrorInfo` detail (`reason` = the code's name, `domain` = "livepk", metadata
//! `code` = the number, `field` = the bad request field) so the gateway never parses text.

use std::collections::HashMap;

use livepk_core::{BusinessError, ErrorKind, InvalidArgument, codes};
use livepk_store::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Any failure of a request.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A domain rule said no (or the input was invalid).
    #[error("{0}")]
    Business(Box<dyn BusinessError>),
    /// Redis is down or answered with an error.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The caller did not present the right token.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The thing asked for does not exist; `field` is the request field that named it.
    #[error("not found: {message}")]
    NotFound { field: &'static str, message: String },
    /// The server is at its concurrency limit.
    #[error("server at its concurrency limit; retry with backoff")]
    Overloaded,
    /// This replica serves its most `Subscribe` streams (`limits.max_subscribers`).
    #[error(
        "this replica serves its most Subscribe streams ({max}, limits.max_subscribers); retry with backoff"
    )]
    SubscribersFull { max: usize },
    /// The server is shutting down; reconnect (to another replica).
    #[error("server draining; reconnect")]
    Draining,
}

impl From<InvalidArgument> for ServiceError {
    fn from(error: InvalidArgument) -> Self {
        ServiceError::Business(Box::new(error))
    }
}

impl From<livepk_engine::EngineError> for ServiceError {
    fn from(error: livepk_engine::EngineError) -> Self {
        match error {
            livepk_engine::EngineError::Business(error) => ServiceError::Business(error),
            livepk_engine::EngineError::Store(error) => ServiceError::Store(error),
        }
    }
}

impl From<livepk_sql::SqlError> for ServiceError {
    fn from(error: livepk_sql::SqlError) -> Self {
        // The SQL layer classifies its own errors (unavailable, invalid, corrupt).
        ServiceError::Business(Box::new(error))
    }
}

impl ServiceError {
    /// Wraps a feature's error.
    pub fn business(error: impl BusinessError) -> Self {
        ServiceError::Business(Box::new(error))
    }

    /// The status code, business code, field and details of this error.
    fn parts(&self) -> (Code, u32, Option<String>, Vec<(String, String)>) {
        match self {
            ServiceError::Business(error) => (
                code_of(error.kind()),
                error.business_code(),
                error.field().map(str::to_owned),
                error.details(),
            ),
            ServiceError::Store(StoreError::Unavailable(_)) => {
                (Code::Unavailable, codes::INTERNAL_DB_DISCONNECTED, None, Vec::new())
            }
            ServiceError::Store(StoreError::Corrupt(_)) => {
                (Code::Internal, codes::INTERNAL_DECODE_FAILED, None, Vec::new())
            }
            ServiceError::Unauthenticated(_) => {
                (Code::Unauthenticated, codes::SERVER_ERROR, None, Vec::new())
            }
            ServiceError::NotFound { field, .. } => {
                (Code::NotFound, codes::INVALID_PARAMETER, Some((*field).to_owned()), Vec::new())
            }
            ServiceError::Overloaded | ServiceError::SubscribersFull { .. } => {
                (Code::ResourceExhausted, codes::SERVER_ERROR, None, Vec::new())
            }
            ServiceError::Draining => (Code::Unavailable, codes::SERVER_ERROR, None, Vec::new()),
        }
    }

    /// The business code a caller sees (internal 011..016 become 020).
    pub fn public_code(&self) -> u32 {
        codes::public(self.parts().1)
    }
}

/// Longest message or detail value an error carries, in characters. Errors echo the caller's
/// input (`unknown key "…"`); a 5,000-character key would otherwise make the trailers (the
/// message is sent twice: `grpc-message` and the details) larger than an HTTP/2 peer accepts,
/// and the caller would see a protocol error instead of the refusal.
const MAX_ERROR_TEXT: usize = 256;

fn clip(text: String) -> String {
    match text.char_indices().nth(MAX_ERROR_TEXT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

fn code_of(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidArgument => Code::InvalidArgument,
        ErrorKind::FailedPrecondition => Code::FailedPrecondition,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::Aborted => Code::Aborted,
        ErrorKind::PermissionDenied => Code::PermissionDenied,
        ErrorKind::Unauthenticated => Code::Unauthenticated,
        ErrorKind::ResourceExhausted => Code::ResourceExhausted,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::Internal => Code::Internal,
    }
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Status {
        let (code, business_code, field, details) = error.parts();
        let public_code = codes::public(business_code);
        // Internal codes are for our logs only (seed 000 §A); the caller gets 020 and a
        // message that does not leak internals.
        let message = if public_code != business_code {
            tracing::error!(business_code, error = %error, "request failed");
            "the server had a problem; retry later".to_owned()
        } else {
            clip(error.to_string())
        };
        let mut metadata: HashMap<String, String> =
            details.into_iter().map(|(key, value)| (key, clip(value))).collect();
        metadata.insert("code".into(), public_code.to_string());
        if let Some(field) = &field {
            metadata.insert("field".into(), field.clone());
        }
        let reason = match &error {
            // A mode names the codes of its own range; internal codes are hidden behind 020.
            ServiceError::Business(business) if public_code == business_code => business.reason(),
            _ => codes::name(public_code),
        };
        let mut error_details = ErrorDetails::with_error_info(reason, "livepk", metadata);
        if let Some(field) = field {
            error_details.add_bad_request_violation(field, message.clone());
        }
        Status::with_error_details(code, message, error_details)
    }
}

#[cfg(test)]
mod tests {
    use livepk_core::SingerId;

    use super::*;

    fn info(status: &Status) -> tonic_types::ErrorInfo {
        status.get_details_error_info().expect("every error carries ErrorInfo")
    }

    #[test]
    fn invalid_argument_names_the_field_and_code() {
        let status: Status = ServiceError::from(SingerId::parse("host_id", 0).unwrap_err()).into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("host_id"));
        let info = info(&status);
        assert_eq!(info.metadata["code"], "403400021");
        assert_eq!(info.metadata["field"], "host_id");
        assert_eq!(info.reason, "INVALID_PARAMETER");
    }

    #[test]
    fn store_outage_is_unavailable_and_hides_the_internal_code() {
        let status: Status =
            ServiceError::Store(StoreError::Unavailable("connection refused".into())).into();
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(info(&status).metadata["code"], "403400020");
        assert!(!status.message().contains("refused"));
    }

    #[test]
    fn an_echoed_huge_input_is_clipped_so_the_refusal_still_fits_the_trailers() {
        let key = "k".repeat(5_000);
        let error = InvalidArgument::new("key", format!("unknown key {key:?}"));
        let status: Status = ServiceError::from(error).into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message().chars().count(), MAX_ERROR_TEXT + 1);
        assert!(status.message().ends_with('…'));
        assert_eq!(info(&status).metadata["field"], "key");
        assert_eq!(clip("名字".repeat(200)).chars().count(), MAX_ERROR_TEXT + 1);
    }
}
