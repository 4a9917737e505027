//! The small shared core of livepk: time, validated identifiers, the error vocabulary with the
//! seeds' business codes, the notification envelope and the gift that scores every battle.
//!
//! Invariant: no I/O and no transport types here. Everything in this crate is plain data and pure
//! functions, so every feature crate can depend on it and stay a pure state machine.

pub mod clock;
pub mod error;
pub mod event;
pub mod gift;
pub mod ids;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{BusinessError, ErrorKind, InvalidArgument, codes};
pub use event::{Mode, Target, TargetKind};
pub use gift::{Gift, SenderProfile};
pub use ids::{GiftId, PkId, RoomSid, SingerId, UserId};
