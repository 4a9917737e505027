//! Assertions on error statuses: the gRPC code, and the business code and field the
//! `google.rpc.ErrorInfo` detail carries.

use std::collections::HashMap;

/// The `google.rpc.ErrorInfo` metadata of an error status; panics when it has none.
pub fn error_metadata(status: &tonic::Status) -> HashMap<String, String> {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo detail in {status:?}"))
        .metadata
}

/// Asserts `status` has gRPC code `code` and business code `business` (e.g. "403400025");
/// returns its metadata.
pub fn assert_business(
    status: &tonic::Status,
    code: tonic::Code,
    business: &str,
) -> HashMap<String, String> {
    assert_eq!(status.code(), code, "{status:?}");
    let metadata = error_metadata(status);
    assert_eq!(metadata.get("code").map(String::as_str), Some(business), "{status:?}");
    metadata
}

/// Asserts INVALID_ARGUMENT, business code 403400021, naming `field`.
pub fn assert_invalid(status: &tonic::Status, field: &str) {
    let metadata = assert_business(status, tonic::Code::InvalidArgument, "403400021");
    assert_eq!(metadata.get("field").map(String::as_str), Some(field), "{status:?}");
}

/// Asserts `status` is INVALID_ARGUMENT with business code 403400021 naming `field`.
pub fn assert_invalid_argument(status: &tonic::Status, field: &str) {
    assert_invalid(status, field);
}
