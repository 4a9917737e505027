//! Request checks shared by the gRPC services: each refusal names the field (business code 021).

use livepk_core::InvalidArgument;

/// A free-text field, bounded so that a caller cannot blow up a stored value
/// ([`livepk_core::gift::MAX_TEXT_LEN`] bytes).
pub fn text(field: &str, value: &str) -> Result<(), InvalidArgument> {
    livepk_core::gift::check_text(field, value)
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
