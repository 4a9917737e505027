//! `ShowError`: every way an InteractiveShow command can be refused, with its business code — the
//! seed's where one fits (021 bad input or not a party, 026 a lapsed or answered invitation),
//! the mode's own range 4034004xx for the rest — and the kind that decides the gRPC status.

use livepk_core::{BusinessError, ErrorKind, codes};

use crate::model::{CallId, Party, ShowId};

/// InteractiveShow's own business codes (range 4034004xx).
pub mod show_codes {
    /// The call already has an invitation waiting for its answer (one open invitation per call).
    pub const SHOW_PENDING: u32 = 403_400_401;
    /// A payment was reported for a user's invitation the anchor has not accepted.
    pub const SHOW_NOT_ACCEPTED: u32 = 403_400_402;
    /// Finish or Rate of a show that was not paid.
    pub const SHOW_NOT_PAID: u32 = 403_400_403;
    /// Rate with another rating than the one the show already has.
    pub const SHOW_ALREADY_RATED: u32 = 403_400_404;
    /// Shows are switched off (`show.enabled` = 0) or for one of the accounts.
    pub const SHOW_DISABLED: u32 = 403_400_405;
    /// The show has answered as many payment reports as it keeps.
    pub const TOO_MANY_PAYMENT_REPORTS: u32 = 403_400_406;

    /// The stable upper-case name of a code of this range.
    pub fn name(code: u32) -> Option<&'static str> {
        Some(match code {
            SHOW_PENDING => "SHOW_PENDING",
            SHOW_NOT_ACCEPTED => "SHOW_NOT_ACCEPTED",
            SHOW_NOT_PAID => "SHOW_NOT_PAID",
            SHOW_ALREADY_RATED => "SHOW_ALREADY_RATED",
            SHOW_DISABLED => "SHOW_DISABLED",
            TOO_MANY_PAYMENT_REPORTS => "TOO_MANY_PAYMENT_REPORTS",
            _ => return None,
        })
    }
}

/// A refused InteractiveShow command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShowError {
    /// No show `show_id` is known (NOT_FOUND, 403400021 naming `show_id`).
    #[error("no show {0} is known")]
    UnknownShow(ShowId),
    /// No paid show of call `call_id` is known to rate (NOT_FOUND, 403400021 naming `call_id`).
    #[error("call {0} has no paid show")]
    NoPaidShowInCall(CallId),
    /// The anchor and the user of an invitation are the same account (403400021).
    #[error("the anchor and the user are the same account")]
    SameAccount,
    /// The account named in `field` is not the show's (or the call's) party on that side: only
    /// the two parties of the call may act (PERMISSION_DENIED, 403400021).
    #[error("{field} {id} is not a party of this call")]
    NotAParty {
        /// The request field that named it.
        field: &'static str,
        /// The id it named.
        id: u64,
    },
    /// The invitation waits for the other party's answer: each party acts only on its own side
    /// (PERMISSION_DENIED, 403400021).
    #[error("the invitation waits for the {}'s answer", party_word(*.waits_for))]
    NotYourAnswer {
        /// Whose answer it waits for.
        waits_for: Party,
        /// The request field naming the party that tried.
        field: &'static str,
    },
    /// 403400026: the invitation lapsed or was already answered.
    #[error("show {0}'s invitation lapsed or was already answered")]
    InvitationGone(ShowId),
    /// 403400401: the call already has an invitation waiting for its answer.
    #[error("call {call} already has an open show invitation ({show})")]
    ShowPending {
        /// The call.
        call: CallId,
        /// Its open show.
        show: ShowId,
    },
    /// 403400402: a payment for a user's invitation the anchor has not accepted yet.
    #[error("show {0} was not accepted by the anchor yet")]
    NotAccepted(ShowId),
    /// 403400403: Finish or Rate of a show that was not paid.
    #[error("show {0} was not paid")]
    NotPaid(ShowId),
    /// 403400404: the show already has another rating.
    #[error("show {show} is already rated {rating}")]
    AlreadyRated {
        /// The show.
        show: ShowId,
        /// Its rating.
        rating: u8,
    },
    /// 403400405: shows are switched off, for everyone (`account` 0) or for one account.
    #[error("interactive shows are switched off{}", disabled_for(*.account))]
    Disabled {
        /// The account switched off; 0 when the switch `show.enabled` is off.
        account: u64,
    },
    /// 403400406: the show has answered as many payment reports as it keeps.
    #[error("show {0} has answered too many payment reports")]
    TooManyPaymentReports(ShowId),
}

fn party_word(party: Party) -> &'static str {
    match party {
        Party::Anchor => "anchor",
        Party::User => "user",
    }
}

fn disabled_for(account: u64) -> String {
    if account == 0 { String::new() } else { format!(" for account {account}") }
}

impl BusinessError for ShowError {
    fn kind(&self) -> ErrorKind {
        match self {
            ShowError::UnknownShow(_) | ShowError::NoPaidShowInCall(_) => ErrorKind::NotFound,
            ShowError::SameAccount => ErrorKind::InvalidArgument,
            ShowError::NotAParty { .. } | ShowError::NotYourAnswer { .. } => {
                ErrorKind::PermissionDenied
            }
            ShowError::InvitationGone(_)
            | ShowError::ShowPending { .. }
            | ShowError::NotAccepted(_)
            | ShowError::NotPaid(_)
            | ShowError::AlreadyRated { .. }
            | ShowError::Disabled { .. }
            | ShowError::TooManyPaymentReports(_) => ErrorKind::FailedPrecondition,
        }
    }

    fn business_code(&self) -> u32 {
        match self {
            ShowError::UnknownShow(_)
            | ShowError::NoPaidShowInCall(_)
            | ShowError::SameAccount
            | ShowError::NotAParty { .. }
            | ShowError::NotYourAnswer { .. } => codes::INVALID_PARAMETER,
            ShowError::InvitationGone(_) => codes::PK_OVER,
            ShowError::ShowPending { .. } => show_codes::SHOW_PENDING,
            ShowError::NotAccepted(_) => show_codes::SHOW_NOT_ACCEPTED,
            ShowError::NotPaid(_) => show_codes::SHOW_NOT_PAID,
            ShowError::AlreadyRated { .. } => show_codes::SHOW_ALREADY_RATED,
            ShowError::Disabled { .. } => show_codes::SHOW_DISABLED,
            ShowError::TooManyPaymentReports(_) => show_codes::TOO_MANY_PAYMENT_REPORTS,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ShowError::UnknownShow(_) => Some("show_id"),
            ShowError::NoPaidShowInCall(_) => Some("call_id"),
            ShowError::SameAccount => Some("user_id"),
            ShowError::NotAParty { field, .. } | ShowError::NotYourAnswer { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }

    /// The show a refusal is about, and for 401 the call's open show, so the gateway can show it.
    fn details(&self) -> Vec<(String, String)> {
        match self {
            ShowError::ShowPending { show, .. } => vec![("show_id".into(), show.to_string())],
            ShowError::AlreadyRated { rating, .. } => {
                vec![("show_rating".into(), rating.to_string())]
            }
            _ => Vec::new(),
        }
    }

    fn reason(&self) -> &'static str {
        let code = self.business_code();
        show_codes::name(code).unwrap_or_else(|| codes::name(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_of_the_range_has_a_name() {
        for code in 403_400_401..=403_400_406 {
            assert!(show_codes::name(code).is_some(), "{code}");
        }
        assert_eq!(show_codes::name(403_400_407), None);
        let error = ShowError::Disabled { account: 0 };
        assert_eq!(error.reason(), "SHOW_DISABLED");
        assert_eq!(error.to_string(), "interactive shows are switched off");
        assert_eq!(ShowError::InvitationGone(ShowId::from_trusted(1)).reason(), "PK_OVER");
    }
}
