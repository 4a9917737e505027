//! Request checks shared by the gRPC services: each refusal names the field (business code 021)
//! and is a [`ServiceError`], so a method's `?` turns it into its `tonic::Status`.

use livepk_core::{InvalidArgument, RoomSid, SingerId, UserId};

use crate::status::ServiceError;

/// A room id (`room_id`, `singer_sid`, ...): non-zero.
pub fn room(field: &str, raw: u64) -> Result<RoomSid, ServiceError> {
    Ok(RoomSid::parse(field, raw)?)
}

/// A user id (`user_id`, `operator_id`, ...): non-zero.
pub fn user(field: &str, raw: u64) -> Result<UserId, ServiceError> {
    Ok(UserId::parse(field, raw)?)
}

/// An anchor id (`singer_id`, `anchor_id`, ...): non-zero.
pub fn singer(field: &str, raw: u64) -> Result<SingerId, ServiceError> {
    Ok(SingerId::parse(field, raw)?)
}

/// A free-text field, bounded so that a caller cannot blow up a stored value
/// ([`livepk_core::gift::MAX_TEXT_LEN`] bytes).
pub fn text(field: &str, value: &str) -> Result<(), ServiceError> {
    Ok(livepk_core::gift::check_text(field, value)?)
}

/// Page arguments -> (offset, limit): `page_size` 0 is `default_size`, above `max_size` refused.
pub fn page(
    page_num: u32,
    page_size: u32,
    default_size: u32,
    max_size: u32,
) -> Result<(u64, u32), InvalidArgument> {
    let size = match page_size {
        0 => default_size,
        size if size > max_size => {
            return Err(InvalidArgument::new("page_size", format!("must be at most {max_size}")));
        }
        size => size,
    };
    Ok((u64::from(page_num) * u64::from(size), size))
}
