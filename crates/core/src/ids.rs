//! Validated identifiers. Raw integers from a request are parsed into these once, at the edge;
//! the domain never re-checks them.

/// Declares a validated non-zero `u64` id: `parse` at the edge (zero is refused naming the
/// field, business code 021), `from_trusted` for values read back from our own store, `get`,
/// `Display`, serde as the bare number. Modes declare their own ids with it (a show, a call);
/// the crate using it needs `serde`.
#[macro_export]
macro_rules! non_zero_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(u64);

        impl $name {
            /// Parses a raw request value; zero is rejected naming `field`.
            pub fn parse(field: &str, raw: u64) -> Result<Self, $crate::InvalidArgument> {
                if raw == 0 {
                    Err($crate::InvalidArgument::new(field, "must be non-zero"))
                } else {
                    Ok(Self(raw))
                }
            }

            /// Wraps a value already known to be non-zero (read back from our own store).
            pub fn from_trusted(raw: u64) -> Self {
                debug_assert!(raw != 0, concat!(stringify!($name), " must be non-zero"));
                Self(raw)
            }

            /// The raw value, for the wire and the store.
            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

non_zero_id!(
    /// An anchor (主播, "singer" in the seeds).
    SingerId
);
non_zero_id!(
    /// An anchor's room / channel id (`singer_sid`, `room_sid`).
    RoomSid
);
non_zero_id!(
    /// A viewer.
    UserId
);
non_zero_id!(
    /// Whoever received a gift: an anchor (`singer_id`, LinkCallPk and AcrossPk) or the user on
    /// a seat (RoomPk). Each mode reads it as its own kind of id.
    ReceiverId
);
non_zero_id!(
    /// A battle number. Allocated from one counter per mode, starting at 1 (seed 000 §B.6).
    PkId
);
non_zero_id!(
    /// A gift in the platform's catalogue.
    GiftId
);

impl From<SingerId> for ReceiverId {
    fn from(singer: SingerId) -> Self {
        ReceiverId(singer.get())
    }
}

impl ReceiverId {
    /// The receiver read as an anchor.
    pub fn as_singer(self) -> SingerId {
        SingerId(self.0)
    }

    /// The receiver read as a (seated) user.
    pub fn as_user(self) -> UserId {
        UserId(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_rejected_with_the_field_name() {
        let error = SingerId::parse("host_id", 0).unwrap_err();
        assert_eq!(error.field, "host_id");
        assert_eq!(SingerId::parse("host_id", 7).unwrap().get(), 7);
    }
}
