//! gRPC adapters: each converts proto <-> domain, calls the machinery or a feature, and maps
//! errors through [`crate::status`]. No business rule lives here.

pub mod acrosspk;
pub mod admin;
pub mod events;
pub mod giftpk;
pub mod gifts;
pub mod linkcall;
pub mod parse;
pub mod roompk;
pub mod show;

/// What every RPC of a mode's service answers.
pub(crate) type Answer<T> = Result<tonic::Response<T>, tonic::Status>;
