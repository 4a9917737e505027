//! `GiftPkError`: every way a GiftPk command or query can be refused, with its business code (the
//! seed's 021 and 026 where they fit, GiftPk's own 4034003xx range for the rest) and the kind
//! that decides the gRPC status.

use livepk_core::{BusinessError, ErrorKind, GiftId, InvalidArgument, PkId, SingerId, codes};

use crate::model::ShowId;

/// GiftPk's own business codes (the 4034003xx range of SPEC §3).
pub mod giftpk_codes {
    /// A gift PK already runs in this show (one at a time, per show).
    pub const ALREADY_RUNNING: u32 = 403_400_301;
    /// The caller is not the anchor of the show's gift PK.
    pub const NOT_SHOW_ANCHOR: u32 = 403_400_302;
}

/// A refused GiftPk request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GiftPkError {
    /// 403400021, INVALID_ARGUMENT: bad input (names the field): two equal gifts, a duration
    /// outside `giftpk.min_duration_seconds..=giftpk.max_duration_seconds`, a gift id that is not
    /// one of the PK's.
    #[error(transparent)]
    Invalid(#[from] InvalidArgument),
    /// 403400301, FAILED_PRECONDITION: a gift PK already runs in this show (the running one's
    /// pkid in the details). Also while its deadline passed but its settle has not yet run.
    #[error("gift pk {pkid} is still running in show {show}")]
    AlreadyRunning {
        /// The show.
        show: ShowId,
        /// The running PK.
        pkid: PkId,
    },
    /// 403400302, PERMISSION_DENIED: only the anchor who created the show's gift PK may close it.
    #[error("anchor {singer} is not the anchor of gift pk {pkid}")]
    NotShowAnchor {
        /// The caller.
        singer: SingerId,
        /// The PK.
        pkid: PkId,
    },
    /// 403400021, NOT_FOUND: no gift PK with this pkid (in this show): never created, another
    /// show's, or forgotten (3 days after its last change; out of the show's history).
    #[error("no gift pk {pkid} is known here")]
    UnknownPk {
        /// The pkid asked for.
        pkid: PkId,
    },
    /// 403400026, FAILED_PRECONDITION: the PK is over (Close of an ended PK; also the loser of a
    /// Close racing the deadline).
    #[error("gift pk {pkid} is over")]
    PkOver {
        /// The PK.
        pkid: PkId,
    },
    /// 403400014 (internal, answered as 020): a Create that needs new ids got none.
    #[error("a new gift pk needs ids but none were allocated")]
    IdsMissing,
}

impl GiftPkError {
    /// A gift id that is not one of the PK's two (403400021 naming `field`).
    pub fn not_a_pk_gift(field: &str, gift: GiftId) -> GiftPkError {
        GiftPkError::Invalid(InvalidArgument::new(
            field,
            format!("gift {gift} is not one of this pk's two gifts"),
        ))
    }
}

impl BusinessError for GiftPkError {
    fn kind(&self) -> ErrorKind {
        match self {
            GiftPkError::Invalid(_) => ErrorKind::InvalidArgument,
            GiftPkError::AlreadyRunning { .. } | GiftPkError::PkOver { .. } => {
                ErrorKind::FailedPrecondition
            }
            GiftPkError::NotShowAnchor { .. } => ErrorKind::PermissionDenied,
            GiftPkError::UnknownPk { .. } => ErrorKind::NotFound,
            GiftPkError::IdsMissing => ErrorKind::Internal,
        }
    }

    fn business_code(&self) -> u32 {
        match self {
            GiftPkError::Invalid(_) | GiftPkError::UnknownPk { .. } => codes::INVALID_PARAMETER,
            GiftPkError::AlreadyRunning { .. } => giftpk_codes::ALREADY_RUNNING,
            GiftPkError::NotShowAnchor { .. } => giftpk_codes::NOT_SHOW_ANCHOR,
            GiftPkError::PkOver { .. } => codes::PK_OVER,
            GiftPkError::IdsMissing => codes::INTERNAL_PKID_FAILED,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            GiftPkError::Invalid(invalid) => Some(&invalid.field),
            GiftPkError::UnknownPk { .. } => Some("pkid"),
            GiftPkError::NotShowAnchor { .. } => Some("singer_id"),
            _ => None,
        }
    }

    /// The pkid the refusal is about: the running PK for 301, the PK for 302 and 026.
    fn details(&self) -> Vec<(String, String)> {
        match self {
            GiftPkError::AlreadyRunning { pkid, .. }
            | GiftPkError::NotShowAnchor { pkid, .. }
            | GiftPkError::PkOver { pkid } => vec![("pkid".into(), pkid.to_string())],
            _ => Vec::new(),
        }
    }

    fn reason(&self) -> &'static str {
        match self.business_code() {
            giftpk_codes::ALREADY_RUNNING => "GIFTPK_ALREADY_RUNNING",
            giftpk_codes::NOT_SHOW_ANCHOR => "GIFTPK_NOT_SHOW_ANCHOR",
            code => codes::name(codes::public(code)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_code_kind_and_reason() {
        let pkid = PkId::from_trusted(4);
        let rows: Vec<(GiftPkError, u32, ErrorKind, &str)> = vec![
            (
                InvalidArgument::new("duration", "too short").into(),
                403_400_021,
                ErrorKind::InvalidArgument,
                "INVALID_PARAMETER",
            ),
            (
                GiftPkError::AlreadyRunning { show: ShowId::from_trusted(1), pkid },
                403_400_301,
                ErrorKind::FailedPrecondition,
                "GIFTPK_ALREADY_RUNNING",
            ),
            (
                GiftPkError::NotShowAnchor { singer: SingerId::from_trusted(2), pkid },
                403_400_302,
                ErrorKind::PermissionDenied,
                "GIFTPK_NOT_SHOW_ANCHOR",
            ),
            (
                GiftPkError::UnknownPk { pkid },
                403_400_021,
                ErrorKind::NotFound,
                "INVALID_PARAMETER",
            ),
            (GiftPkError::PkOver { pkid }, 403_400_026, ErrorKind::FailedPrecondition, "PK_OVER"),
            (GiftPkError::IdsMissing, 403_400_014, ErrorKind::Internal, "SERVER_ERROR"),
        ];
        for (error, code, kind, reason) in rows {
            assert_eq!(error.business_code(), code, "{error}");
            assert_eq!(error.kind(), kind, "{error}");
            assert_eq!(error.reason(), reason, "{error}");
        }
        assert_eq!(GiftPkError::UnknownPk { pkid }.field(), Some("pkid"));
    }
}
