//! The small shared core of livepk: time, validated identifiers, the error vocabulary with the
//! seeds' business codes, the notification envelope, the gift that scores every battle and the
//! declaration of hot configuration keys.
//!
//! Invariant: no I/O and no transport types here. Everything in this crate is plain data and pure
//! functions, so every feature crate can depend on it and stay a pure state machine.

pub mod clock;
pub mod config;
pub mod error;
pub mod event;
pub mod gift;
pub mod ids;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ConfigError, ConfigRegistry, ConfigSpec, ConfigValues};
pub use error::{BusinessError, ErrorKind, InvalidArgument, codes};
pub use event::{Mode, Target, TargetKind};
pub use gift::{Gift, GiftTxnReused, SenderProfile};
pub use ids::{GiftId, PkId, ReceiverId, RoomSid, SingerId, UserId};
