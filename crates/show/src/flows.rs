//! The flows of seed 003 as pure functions `(states, request, now) -> Result<Transition, _>`:
//! the two invitations, the anchor's and the user's answers, the payment's outcome, Finish,
//! Rate, and the invitation's expiry. Each checks its state, so a late timer job or a repeated
//! request finds the state moved on and changes nothing.

use livepk_battle::Invitation;
use livepk_core::{SingerId, UserId};

use crate::config::ShowConfig;
use crate::effects::{ShowExpiry, ShowMessage, ShowState, TimerRequest, Transition};
use crate::error::ShowError;
use crate::model::{
    Call, CallId, ChatType, MAX_PAYMENT_REPORTS, MAX_SHOWS_PER_CALL, OpenInvitation, Party,
    PaymentAnswer, PaymentOutcome, PaymentReport, Show, ShowGift, ShowId, ShowInvitation,
    ShowRating, ShowStage, ShowStatus, TxnId,
};

/// An invitation (`AnchorInvite` or `UserInvite`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRequest {
    /// Who invites.
    pub inviter: Party,
    /// The call.
    pub call_id: CallId,
    /// Its anchor.
    pub anchor_id: SingerId,
    /// Its user.
    pub user_id: UserId,
    /// The show's gift, as the catalogue has it now.
    pub gift: ShowGift,
}

/// Who may use shows now, looked up by the adapter: the switch and each account's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShowGates {
    /// The anchor's account is enabled.
    pub anchor_enabled: bool,
    /// The user's account is enabled.
    pub user_enabled: bool,
}

fn expiry_timer(show: ShowId, invitation: &ShowInvitation) -> TimerRequest {
    TimerRequest::InvitationExpiry {
        invitation: ShowExpiry { show, expires_at_ms: invitation.expires_at_ms },
        due_ms: invitation.expires_at_ms,
    }
}

/// The show passed, ignoring one that is not `show_id` (an adapter mix-up must not let one show
/// be answered for another).
fn matching(show: Option<&Show>, show_id: ShowId) -> Result<&Show, ShowError> {
    show.filter(|show| show.show_id == show_id).ok_or(ShowError::UnknownShow(show_id))
}

/// `show` with `change` applied and its version bumped.
fn changed(show: &Show, change: impl FnOnce(&mut Show)) -> Show {
    let mut next = show.clone();
    change(&mut next);
    next.version += 1;
    next
}

// ---------------------------------------------------------------------------------------------
// Invitations (diagrams 1–4, first arrow)

/// Whether `request` may open a new show now: refused when shows are switched off (405, for
/// everyone or for one of the accounts), when the call belongs to other parties
/// (PERMISSION_DENIED: its first invitation fixed them), and when the call's latest invitation
/// still waits for its answer (401: one open invitation per call, see [`Call::blocking`]).
/// `call` and `open` are the call and the show it points at, as read. The adapter asks it before
/// allocating the new show's id, so a refused invitation uses none.
pub fn check_invite(
    call: Option<&Call>,
    open: Option<&Show>,
    request: &InviteRequest,
    gates: ShowGates,
    config: &ShowConfig,
    now_ms: u64,
) -> Result<(), ShowError> {
    let InviteRequest { call_id, anchor_id, user_id, .. } = *request;
    if anchor_id.get() == user_id.get() {
        return Err(ShowError::SameAccount);
    }
    if !config.enabled {
        return Err(ShowError::Disabled { account: 0 });
    }
    if !gates.anchor_enabled {
        return Err(ShowError::Disabled { account: anchor_id.get() });
    }
    if !gates.user_enabled {
        return Err(ShowError::Disabled { account: user_id.get() });
    }
    if let Some(call) = call.filter(|call| call.call_id == call_id) {
        if call.anchor_id != anchor_id {
            return Err(ShowError::NotAParty { field: "anchor_id", id: anchor_id.get() });
        }
        if call.user_id != user_id {
            return Err(ShowError::NotAParty { field: "user_id", id: user_id.get() });
        }
        if let Some(show) = call.blocking(open, now_ms) {
            return Err(ShowError::ShowPending { call: call_id, show });
        }
    }
    Ok(())
}

/// `AnchorInvite` / `UserInvite`: a new show `new_show` in the call, whose invitation goes to the
/// other party (51 to the user, or 52 to the anchor) and lapses after `show.invite_seconds`.
/// Refused as [`check_invite`] says.
pub fn invite(
    call: Option<&Call>,
    open: Option<&Show>,
    request: InviteRequest,
    new_show: ShowId,
    gates: ShowGates,
    config: &ShowConfig,
    now_ms: u64,
) -> Result<Transition<Show>, ShowError> {
    check_invite(call, open, &request, gates, config, now_ms)?;
    let InviteRequest { inviter, call_id, anchor_id, user_id, gift } = request;
    let call = call.filter(|call| call.call_id == call_id);
    let invitation = Invitation::new(inviter, inviter.other(), now_ms, config.invite_ms());
    let show = Show {
        show_id: new_show,
        call_id,
        anchor_id,
        user_id,
        inviter,
        gift,
        created_at_ms: now_ms,
        stage: ShowStage::Invited { invitation },
        answered_at_ms: None,
        payments: Vec::new(),
        finished_at_ms: None,
        rating: None,
        rated_at_ms: None,
        version: 1,
    };
    let mut shows = call.map(|call| call.shows.clone()).unwrap_or_default();
    shows.push(new_show);
    if shows.len() > MAX_SHOWS_PER_CALL {
        shows.remove(0);
    }
    let open = OpenInvitation { show: new_show, expires_at_ms: invitation.expires_at_ms };
    let call = Call { call_id, anchor_id, user_id, open: Some(open), shows };
    let chat_type = match inviter {
        Party::Anchor => ChatType::AnchorInvite,
        Party::User => ChatType::UserInvite,
    };
    let mut transition = Transition::unchanged(show.clone());
    // The call first: it is the guard of "one open invitation per call" (compare-and-set; a call
    // pointing at a show not written yet blocks until that invitation's expiry, see
    // `Call::blocking`). The message goes with the show, the last write.
    transition.aggregates.push(call.into());
    transition.aggregates.push(show.clone().into());
    transition.effects.notifications.push(ShowMessage::of(&show, chat_type, now_ms));
    transition.effects.timers.push(expiry_timer(new_show, &invitation));
    Ok(transition)
}

// ---------------------------------------------------------------------------------------------
// Answers (diagrams 2–4)

/// The live invitation of `show` that `by` may answer; `field` names `by` in the request.
fn answerable<'a>(
    show: &'a Show,
    by: Party,
    field: &'static str,
    now_ms: u64,
) -> Result<&'a ShowInvitation, ShowError> {
    match &show.stage {
        ShowStage::Invited { invitation } | ShowStage::Accepted { invitation }
            if invitation.to == by =>
        {
            if invitation.is_live(now_ms) {
                Ok(invitation)
            } else {
                Err(ShowError::InvitationGone(show.show_id))
            }
        }
        // The other party's invitation to answer (an accepted one was the anchor's, answered).
        ShowStage::Invited { invitation } => {
            Err(ShowError::NotYourAnswer { waits_for: invitation.to, field })
        }
        _ => Err(ShowError::InvitationGone(show.show_id)),
    }
}

/// The anchor of `show` is `anchor`.
fn check_anchor(show: &Show, anchor: SingerId) -> Result<(), ShowError> {
    if show.anchor_id == anchor {
        Ok(())
    } else {
        Err(ShowError::NotAParty { field: "anchor_id", id: anchor.get() })
    }
}

/// The user of `show` is `user`.
fn check_user(show: &Show, user: UserId) -> Result<(), ShowError> {
    if show.user_id == user {
        Ok(())
    } else {
        Err(ShowError::NotAParty { field: "user_id", id: user.get() })
    }
}

/// Only the user's invitations are the anchor's to answer; the anchor's own are the user's.
fn check_anchor_answers(show: &Show) -> Result<(), ShowError> {
    match show.inviter {
        Party::User => Ok(()),
        Party::Anchor => {
            Err(ShowError::NotYourAnswer { waits_for: Party::User, field: "anchor_id" })
        }
    }
}

/// `AnchorAccept` (diagram 3): the anchor agrees to perform the show the user asked for. The
/// user is told (53) and asked to pay: the acceptance is a new invitation to the user, lapsing
/// after `show.invite_seconds` from now.
pub fn anchor_accept(
    show: Option<&Show>,
    show_id: ShowId,
    anchor: SingerId,
    config: &ShowConfig,
    now_ms: u64,
) -> Result<Transition<Show>, ShowError> {
    let show = matching(show, show_id)?;
    check_anchor(show, anchor)?;
    check_anchor_answers(show)?;
    answerable(show, Party::Anchor, "anchor_id", now_ms)?;
    let invitation = Invitation::new(Party::Anchor, Party::User, now_ms, config.invite_ms());
    let accepted = changed(show, |show| {
        show.stage = ShowStage::Accepted { invitation };
        show.answered_at_ms = Some(now_ms);
    });
    let mut transition = Transition::unchanged(accepted.clone());
    transition.effects.notifications.push(ShowMessage::of(
        &accepted,
        ChatType::AnchorAccept,
        now_ms,
    ));
    transition.effects.timers.push(expiry_timer(show_id, &invitation));
    transition.aggregates.push(accepted.into());
    Ok(transition)
}

/// `AnchorReject` (diagram 4): the anchor refuses the user's invitation; the user is told (55).
pub fn anchor_reject(
    show: Option<&Show>,
    show_id: ShowId,
    anchor: SingerId,
    now_ms: u64,
) -> Result<Transition<Show>, ShowError> {
    let show = matching(show, show_id)?;
    check_anchor(show, anchor)?;
    check_anchor_answers(show)?;
    answerable(show, Party::Anchor, "anchor_id", now_ms)?;
    Ok(reject(show, Party::Anchor, now_ms))
}

/// `UserReject` (diagram 2): the user refuses to pay for the anchor's show — or for the show the
/// anchor accepted to perform — and the anchor is told (56).
pub fn user_reject(
    show: Option<&Show>,
    show_id: ShowId,
    user: UserId,
    now_ms: u64,
) -> Result<Transition<Show>, ShowError> {
    let show = matching(show, show_id)?;
    check_user(show, user)?;
    answerable(show, Party::User, "user_id", now_ms)?;
    Ok(reject(show, Party::User, now_ms))
}

fn reject(show: &Show, by: Party, now_ms: u64) -> Transition<Show> {
    let rejected = changed(show, |show| {
        show.stage = ShowStage::Rejected { by, at_ms: now_ms };
        show.answered_at_ms = Some(now_ms);
    });
    let chat_type = match by {
        Party::Anchor => ChatType::AnchorReject,
        Party::User => ChatType::UserReject,
    };
    let mut transition = Transition::unchanged(rejected.clone());
    transition.effects.notifications.push(ShowMessage::of(&rejected, chat_type, now_ms));
    transition.aggregates.push(rejected.into());
    transition
}

// ---------------------------------------------------------------------------------------------
// The payment (diagrams 1 and 3, last arrows)

/// The gateway's report of the user's `send_gift` for the show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// The show.
    pub show_id: ShowId,
    /// The user who paid (or tried to).
    pub user_id: UserId,
    /// The payment's transaction id.
    pub txn_id: TxnId,
    /// What it came to.
    pub outcome: PaymentOutcome,
    /// When the payment system confirmed the charge (ms, a success's): the gateway charges
    /// first and reports after, so a success is judged by this time, not by the report's
    /// arrival. `None` judges it at the arrival, as an insufficient balance always is.
    pub paid_at_ms: Option<u64>,
}

/// The payment's outcome. Success: the show is paid and the anchor is told — 54 `user_accept`
/// when she invited, 58 `user_accept_self` when the user did and she accepted. Insufficient
/// balance: the anchor is told (57) and the invitation stays answerable until it lapses.
///
/// A success is judged at its charge time (`paid_at_ms`, never later than `now_ms`: a charge is
/// confirmed before its report arrives): charged before the invitation to pay lapsed, it pays
/// for the show even when the report arrives after the lapse — the show goes from lapsed to
/// paid, for the money was taken in time. Charged at or after the expiry: 026, and the gateway
/// refunds. An insufficient balance is judged at the report's arrival (nothing was taken).
///
/// Idempotent on the transaction id: a report whose id the show already answered changes
/// nothing and answers as the first time (seed 004's double-payment lesson), whatever happened
/// to the show since. A new report on an invitation that lapsed (judged as above) or was
/// answered (also: paid by another transaction) is 026; before the anchor accepted the user's
/// invitation, 402.
pub fn report_payment(
    show: Option<&Show>,
    request: PaymentRequest,
    now_ms: u64,
) -> Result<Transition<PaymentAnswer>, ShowError> {
    let PaymentRequest { show_id, user_id, txn_id, outcome, paid_at_ms } = request;
    let show = matching(show, show_id)?;
    check_user(show, user_id)?;
    if let Some(report) = show.answered_payment(&txn_id) {
        return Ok(Transition::unchanged(report.answer));
    }
    if let ShowStage::Invited { invitation } = &show.stage
        && invitation.to == Party::Anchor
    {
        return Err(if invitation.is_live(now_ms) {
            ShowError::NotAccepted(show_id)
        } else {
            ShowError::InvitationGone(show_id)
        });
    }
    let judged_at_ms = match outcome {
        PaymentOutcome::Success => paid_at_ms.map_or(now_ms, |paid_at| paid_at.min(now_ms)),
        PaymentOutcome::InsufficientBalance => now_ms,
    };
    let invitation = match &show.stage {
        ShowStage::Invited { invitation } | ShowStage::Accepted { invitation } => Some(invitation),
        // Money taken before the lapse still pays (see above); a failed attempt after it is late.
        ShowStage::Lapsed { invitation } if outcome == PaymentOutcome::Success => Some(invitation),
        ShowStage::Lapsed { .. } | ShowStage::Paid { .. } | ShowStage::Rejected { .. } => None,
    };
    if !invitation
        .is_some_and(|invitation| invitation.to == Party::User && invitation.is_live(judged_at_ms))
    {
        return Err(ShowError::InvitationGone(show_id));
    }
    if show.payments.len() >= MAX_PAYMENT_REPORTS {
        return Err(ShowError::TooManyPaymentReports(show_id));
    }
    let (chat_type, stage) = match outcome {
        PaymentOutcome::Success => (
            ChatType::paid(show.inviter),
            ShowStage::Paid { at_ms: judged_at_ms, txn_id: txn_id.clone() },
        ),
        PaymentOutcome::InsufficientBalance => (ChatType::UserBalance, show.stage.clone()),
    };
    let answer = PaymentAnswer { chat_type, status: stage.status() };
    let reported = changed(show, |show| {
        show.stage = stage;
        show.payments.push(PaymentReport { txn_id, outcome, answer });
    });
    let mut transition = Transition::unchanged(answer);
    transition.effects.notifications.push(ShowMessage::of(&reported, chat_type, now_ms));
    transition.aggregates.push(reported.into());
    Ok(transition)
}

// ---------------------------------------------------------------------------------------------
// After the show

/// `Finish`: the anchor performed the paid show (`finish_time`, the back office's "success").
/// Finishing again changes nothing and answers the same show. A show that was not paid: 403.
pub fn finish(
    show: Option<&Show>,
    show_id: ShowId,
    anchor: SingerId,
    now_ms: u64,
) -> Result<Transition<Show>, ShowError> {
    let show = matching(show, show_id)?;
    check_anchor(show, anchor)?;
    if show.status() != ShowStatus::Paid {
        return Err(ShowError::NotPaid(show_id));
    }
    if show.finished_at_ms.is_some() {
        return Ok(Transition::unchanged(show.clone()));
    }
    let finished = changed(show, |show| show.finished_at_ms = Some(now_ms));
    let mut transition = Transition::unchanged(finished.clone());
    transition.aggregates.push(finished.into());
    Ok(transition)
}

/// `Rate`: the call evaluation's `show_rating` for a paid show (performed or not: the user may
/// rate a show that was paid and never performed). The same rating again changes nothing;
/// another one is refused (404): the first evaluation stands.
pub fn rate(
    show: Option<&Show>,
    show_id: ShowId,
    user: UserId,
    rating: ShowRating,
    now_ms: u64,
) -> Result<Transition<Show>, ShowError> {
    let show = matching(show, show_id)?;
    check_user(show, user)?;
    if show.status() != ShowStatus::Paid {
        return Err(ShowError::NotPaid(show_id));
    }
    match show.rating {
        Some(current) if current == rating => Ok(Transition::unchanged(show.clone())),
        Some(current) => Err(ShowError::AlreadyRated { show: show_id, rating: current.get() }),
        None => {
            let rated = changed(show, |show| {
                show.rating = Some(rating);
                show.rated_at_ms = Some(now_ms);
            });
            let mut transition = Transition::unchanged(rated.clone());
            transition.aggregates.push(rated.into());
            Ok(transition)
        }
    }
}

/// The show `Rate` by call rates: the call's latest paid show among `shows` (the call's shows as
/// read). The user must be the call's.
pub fn show_to_rate(
    call: Option<&Call>,
    call_id: CallId,
    user: UserId,
    shows: &[&Show],
) -> Result<ShowId, ShowError> {
    let call =
        call.filter(|call| call.call_id == call_id).ok_or(ShowError::NoPaidShowInCall(call_id))?;
    if call.user_id != user {
        return Err(ShowError::NotAParty { field: "user_id", id: user.get() });
    }
    shows
        .iter()
        .filter(|show| show.call_id == call_id && call.shows.contains(&show.show_id))
        .filter_map(|show| show.paid_at_ms().map(|paid_at| (paid_at, show.show_id)))
        .max()
        .map(|(_, show_id)| show_id)
        .ok_or(ShowError::NoPaidShowInCall(call_id))
}

// ---------------------------------------------------------------------------------------------
// The invitation's expiry

/// The expiry job of `expiry`: the show's invitation lapsed unanswered (the seed has no message
/// for it: each client counts the invitation down itself). A job whose invitation was answered
/// or replaced (an acceptance's new expiry) does nothing; one that came early asks again for
/// the expiry time.
pub fn on_invitation_expired(
    show: Option<&ShowState>,
    expiry: &ShowExpiry,
    now_ms: u64,
) -> Transition<()> {
    let Some(show) = show.and_then(ShowState::as_show).filter(|show| show.show_id == expiry.show)
    else {
        return Transition::unchanged(());
    };
    let Some(invitation) =
        show.stage.pending().filter(|invitation| invitation.expires_at_ms == expiry.expires_at_ms)
    else {
        return Transition::unchanged(());
    };
    let mut transition = Transition::unchanged(());
    if invitation.is_live(now_ms) {
        transition.effects.timers.push(expiry_timer(show.show_id, invitation));
        return transition;
    }
    let invitation = *invitation;
    let lapsed = changed(show, |show| show.stage = ShowStage::Lapsed { invitation });
    transition.aggregates.push(lapsed.into());
    transition
}

/// The expiry of `show`'s pending invitation, if it has one (for the adapter's safety net,
/// which lapses a show its expiry job has not reached yet).
pub fn pending_expiry(show: &Show) -> Option<ShowExpiry> {
    show.stage.pending().map(|invitation| ShowExpiry {
        show: show.show_id,
        expires_at_ms: invitation.expires_at_ms,
    })
}
