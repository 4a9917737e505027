//! The two aggregates of InteractiveShow — [`Show`] (one per invitation and what became of it)
//! and [`Call`] (one per 1:1 call: its two parties and its open invitation) — and the small value
//! types they are made of. Plain data with serde derives: the adapter stores each aggregate as
//! one encoded value.

use livepk_battle::{Invitation, MS_PER_SECOND};
use livepk_core::{GiftId, InvalidArgument, SingerId, UserId};
use serde::{Deserialize, Serialize};

/// Most payment reports one show remembers (each with its answer, so that a repeated
/// transaction id answers as the first time). An invitation lives a minute by default, so a
/// gateway that reports more than this for one show is misbehaving; further reports are refused.
pub const MAX_PAYMENT_REPORTS: usize = 32;

/// Most shows a call remembers (for `Rate` by call, which rates the call's latest paid show).
pub const MAX_SHOWS_PER_CALL: usize = 32;

/// Longest payment transaction id (as the gift ledger's `gift_txn_id`).
pub const MAX_TXN_ID_LEN: usize = livepk_core::gift::MAX_TXN_ID_LEN;

livepk_core::non_zero_id!(
    /// A show (`show_id`, 表演id): one invitation inside a call and what became of it. Allocated
    /// by livepk from the mode's pkid counter, so it is also the events' `pkid`.
    ShowId
);
livepk_core::non_zero_id!(
    /// A paid 1:1 call (`call_id`, 通话id), the gateway's.
    CallId
);

/// A party of a 1:1 call: the anchor (主播, "girl" in the seed's diagrams) or the user who pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Party {
    /// The anchor.
    Anchor,
    /// The user.
    User,
}

impl Party {
    /// The other party.
    pub fn other(self) -> Party {
        match self {
            Party::Anchor => Party::User,
            Party::User => Party::Anchor,
        }
    }

    /// `tb_show.inviter_type` of a show this party invited: 1 anchor, 2 user.
    pub fn inviter_type(self) -> u32 {
        match self {
            Party::Anchor => 1,
            Party::User => 2,
        }
    }
}

/// A show invitation: from the inviter to the party who must answer, lapsing unanswered.
pub type ShowInvitation = Invitation<Party>;

/// The show's gift as the catalogue described it when the show was created (`gift_data`): the
/// messages of one show all show the same gift, whatever the catalogue does later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowGift {
    /// `gid`.
    pub gid: GiftId,
    /// `name` (礼物名, 表演名).
    pub name: String,
    /// `img`: icon URL.
    pub img: String,
    /// `effect_url`.
    pub effect_url: String,
    /// `price` in coins.
    pub price: u64,
    /// `unit_profit`: the anchor's share (0 for now, seed 003).
    pub unit_profit: u64,
}

/// The call evaluation's `show_rating`: 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShowRating(u8);

impl ShowRating {
    /// The highest rating.
    pub const MAX: u8 = 5;

    /// Parses a raw request value, 1 to [`ShowRating::MAX`].
    pub fn parse(field: &str, raw: u32) -> Result<Self, InvalidArgument> {
        match u8::try_from(raw) {
            Ok(value @ 1..=Self::MAX) => Ok(Self(value)),
            _ => Err(InvalidArgument::new(field, format!("must be 1 to {}", Self::MAX))),
        }
    }

    /// The value.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// A payment's transaction id (the gateway's `send_gift` transaction): what makes a repeated
/// report a duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TxnId(String);

impl TxnId {
    /// Parses a raw request value: 1 to [`MAX_TXN_ID_LEN`] characters of `A-Z a-z 0-9 . _ : -`
    /// (as a gift's `gift_txn_id`, which is usually the same transaction).
    pub fn parse(field: &str, raw: &str) -> Result<Self, InvalidArgument> {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_TXN_ID_LEN
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
        if !valid {
            return Err(InvalidArgument::new(
                field,
                format!("must be 1 to {MAX_TXN_ID_LEN} characters of A-Z a-z 0-9 . _ : -"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the gateway's payment of the show's gift came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PaymentOutcome {
    /// The gift was paid: the show is on.
    Success,
    /// The user's balance was too low (用户金币不足): the invitation stays answerable.
    InsufficientBalance,
}

/// The seed's `chat_type` of each message (seed 003 "chat_type").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChatType {
    /// 51 `anchor_invite`: the anchor invites the user (to the user).
    AnchorInvite,
    /// 52 `user_invite`: the user invites the anchor (to the anchor).
    UserInvite,
    /// 53 `anchor_accept`: the anchor agrees to perform (to the user).
    AnchorAccept,
    /// 54 `user_accept`: the user paid to watch the anchor's show (to the anchor).
    UserAccept,
    /// 55 `anchor_reject`: the anchor refuses to perform (to the user).
    AnchorReject,
    /// 56 `user_reject`: the user refuses to pay (to the anchor).
    UserReject,
    /// 57 `user_balance`: the user's balance was too low (to the anchor).
    UserBalance,
    /// 58 `user_accept_self`: the user paid for the show they asked for (to the anchor).
    UserAcceptSelf,
}

impl ChatType {
    /// Every type, in the seed's order.
    pub const ALL: [ChatType; 8] = [
        ChatType::AnchorInvite,
        ChatType::UserInvite,
        ChatType::AnchorAccept,
        ChatType::UserAccept,
        ChatType::AnchorReject,
        ChatType::UserReject,
        ChatType::UserBalance,
        ChatType::UserAcceptSelf,
    ];

    /// The message of a successful payment for a show `inviter` invited: 54 `user_accept` for
    /// the anchor's invitation, 58 `user_accept_self` for the user's (the anchor accepted it).
    pub fn paid(inviter: Party) -> ChatType {
        match inviter {
            Party::Anchor => ChatType::UserAccept,
            Party::User => ChatType::UserAcceptSelf,
        }
    }

    /// The seed's number.
    pub fn number(self) -> u32 {
        match self {
            ChatType::AnchorInvite => 51,
            ChatType::UserInvite => 52,
            ChatType::AnchorAccept => 53,
            ChatType::UserAccept => 54,
            ChatType::AnchorReject => 55,
            ChatType::UserReject => 56,
            ChatType::UserBalance => 57,
            ChatType::UserAcceptSelf => 58,
        }
    }

    /// The seed's `message_type` name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatType::AnchorInvite => "anchor_invite",
            ChatType::UserInvite => "user_invite",
            ChatType::AnchorAccept => "anchor_accept",
            ChatType::UserAccept => "user_accept",
            ChatType::AnchorReject => "anchor_reject",
            ChatType::UserReject => "user_reject",
            ChatType::UserBalance => "user_balance",
            ChatType::UserAcceptSelf => "user_accept_self",
        }
    }

    /// The event type of its message: `show_<message_type>_nt`.
    pub fn event_type(self) -> &'static str {
        match self {
            ChatType::AnchorInvite => "show_anchor_invite_nt",
            ChatType::UserInvite => "show_user_invite_nt",
            ChatType::AnchorAccept => "show_anchor_accept_nt",
            ChatType::UserAccept => "show_user_accept_nt",
            ChatType::AnchorReject => "show_anchor_reject_nt",
            ChatType::UserReject => "show_user_reject_nt",
            ChatType::UserBalance => "show_user_balance_nt",
            ChatType::UserAcceptSelf => "show_user_accept_self_nt",
        }
    }

    /// Who the message is from (`uid`): the anchor for her invitation and answers, the user
    /// for everything else (her invitation, her answers, her payment's outcome).
    pub fn sender(self) -> Party {
        match self {
            ChatType::AnchorInvite | ChatType::AnchorAccept | ChatType::AnchorReject => {
                Party::Anchor
            }
            ChatType::UserInvite
            | ChatType::UserAccept
            | ChatType::UserReject
            | ChatType::UserBalance
            | ChatType::UserAcceptSelf => Party::User,
        }
    }
}

/// Where a show is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShowStage {
    /// The inviter's invitation waits for the other party's answer: the user pays or rejects
    /// (the anchor invited), or the anchor accepts or rejects (the user invited).
    Invited {
        /// The invitation.
        invitation: ShowInvitation,
    },
    /// The anchor accepted the user's invitation: the user's payment is awaited, as after an
    /// anchor's invitation (the acceptance asks the user to pay, with an expiry of its own).
    Accepted {
        /// The anchor's request to pay.
        invitation: ShowInvitation,
    },
    /// The user paid: the show is on (and performed once `finished_at_ms` is set).
    Paid {
        /// When.
        at_ms: u64,
        /// The successful payment.
        txn_id: TxnId,
    },
    /// A party refused.
    Rejected {
        /// Who.
        by: Party,
        /// When.
        at_ms: u64,
    },
    /// Nobody answered in time.
    Lapsed {
        /// The invitation that lapsed (at its `expires_at_ms`). Kept whole: a payment the
        /// payment system confirmed before that moment still pays for the show when its report
        /// arrives after the lapse (see [`crate::report_payment`]).
        invitation: ShowInvitation,
    },
}

/// A show's status (`tb_show.status`), [`ShowStage`] without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ShowStatus {
    /// [`ShowStage::Invited`].
    Invited,
    /// [`ShowStage::Accepted`].
    Accepted,
    /// [`ShowStage::Paid`].
    Paid,
    /// [`ShowStage::Rejected`] by the user.
    UserRejected,
    /// [`ShowStage::Rejected`] by the anchor.
    AnchorRejected,
    /// [`ShowStage::Lapsed`].
    Lapsed,
}

impl ShowStage {
    /// The status.
    pub fn status(&self) -> ShowStatus {
        match self {
            ShowStage::Invited { .. } => ShowStatus::Invited,
            ShowStage::Accepted { .. } => ShowStatus::Accepted,
            ShowStage::Paid { .. } => ShowStatus::Paid,
            ShowStage::Rejected { by: Party::User, .. } => ShowStatus::UserRejected,
            ShowStage::Rejected { by: Party::Anchor, .. } => ShowStatus::AnchorRejected,
            ShowStage::Lapsed { .. } => ShowStatus::Lapsed,
        }
    }

    /// The invitation waiting for an answer (live or lapsed), in the stages that have one.
    pub fn pending(&self) -> Option<&ShowInvitation> {
        match self {
            ShowStage::Invited { invitation } | ShowStage::Accepted { invitation } => {
                Some(invitation)
            }
            ShowStage::Paid { .. } | ShowStage::Rejected { .. } | ShowStage::Lapsed { .. } => None,
        }
    }
}

/// What a payment report was answered, kept so that a repeat answers the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAnswer {
    /// The message the anchor was sent: 54, 58 or 57.
    pub chat_type: ChatType,
    /// The show's status right after the report.
    pub status: ShowStatus,
}

/// A payment report the show answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentReport {
    /// Its transaction id.
    pub txn_id: TxnId,
    /// What it reported.
    pub outcome: PaymentOutcome,
    /// What it was answered.
    pub answer: PaymentAnswer,
}

/// One show: an invitation inside a 1:1 call and what became of it (a `tb_show` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Show {
    /// `show_id`.
    pub show_id: ShowId,
    /// The call it belongs to.
    pub call_id: CallId,
    /// The call's anchor.
    pub anchor_id: SingerId,
    /// The call's user (who pays).
    pub user_id: UserId,
    /// Who invited (`inviter_type`).
    pub inviter: Party,
    /// The gift the user pays with.
    pub gift: ShowGift,
    /// When it was created (`ctime`).
    pub created_at_ms: u64,
    /// Where it is.
    pub stage: ShowStage,
    /// When the anchor answered the user's invitation (accept or reject), or the user rejected.
    pub answered_at_ms: Option<u64>,
    /// Every payment report answered, in arrival order.
    pub payments: Vec<PaymentReport>,
    /// When the anchor performed it (`finish_time`; the back office's "success").
    pub finished_at_ms: Option<u64>,
    /// The user's rating (call evaluation).
    pub rating: Option<ShowRating>,
    /// When it was rated.
    pub rated_at_ms: Option<u64>,
    /// Bumped by every change: the `tb_show` row's version, so that a late write never moves the
    /// row back.
    pub version: u64,
}

impl Show {
    /// The id of the party `party` of this show (anchor or user id).
    pub fn party_id(&self, party: Party) -> u64 {
        match party {
            Party::Anchor => self.anchor_id.get(),
            Party::User => self.user_id.get(),
        }
    }

    /// The status.
    pub fn status(&self) -> ShowStatus {
        self.stage.status()
    }

    /// The invitation still waiting for an answer at `now_ms` (not lapsed).
    pub fn live_invitation(&self, now_ms: u64) -> Option<&ShowInvitation> {
        self.stage.pending().filter(|invitation| invitation.is_live(now_ms))
    }

    /// When the successful payment was made.
    pub fn paid_at_ms(&self) -> Option<u64> {
        match self.stage {
            ShowStage::Paid { at_ms, .. } => Some(at_ms),
            _ => None,
        }
    }

    /// The answer a report with `txn_id` was given, if one was.
    pub fn answered_payment(&self, txn_id: &TxnId) -> Option<&PaymentReport> {
        self.payments.iter().find(|report| &report.txn_id == txn_id)
    }
}

/// One 1:1 call as InteractiveShow knows it: its parties (set by its first invitation) and its
/// shows. The invitation pointer is what keeps one open invitation per call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// `call_id`.
    pub call_id: CallId,
    /// The anchor.
    pub anchor_id: SingerId,
    /// The user.
    pub user_id: UserId,
    /// The call's latest invitation, which may still be open: the guard of "one open
    /// invitation per call" (see [`Call::blocking`]).
    pub open: Option<OpenInvitation>,
    /// The call's shows, oldest first (at most [`MAX_SHOWS_PER_CALL`], the oldest dropped).
    pub shows: Vec<ShowId>,
}

/// The invitation a call opened last, as the call remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenInvitation {
    /// Its show.
    pub show: ShowId,
    /// When it lapses unanswered (as created; an acceptance's request to pay is the show's).
    pub expires_at_ms: u64,
}

impl Call {
    /// The show whose invitation keeps the call from opening another at `now_ms`, if any.
    /// `open` is the call's open show as read (`None` when it is not in the store).
    ///
    /// The show is the truth once written: it blocks while it waits for an answer (an
    /// acceptance's request to pay included), and answering it frees the call without touching
    /// it. A show not in the store blocks until its invitation's expiry: the invitation that
    /// wrote the call may not have written its show yet (the two live under different hash
    /// tags), and one that never will (its replica died in between) frees the call when it
    /// would have lapsed.
    pub fn blocking(&self, open: Option<&Show>, now_ms: u64) -> Option<ShowId> {
        let invitation = self.open?;
        let blocks = match open.filter(|show| show.show_id == invitation.show) {
            Some(show) => show.live_invitation(now_ms).is_some(),
            None => now_ms < invitation.expires_at_ms,
        };
        blocks.then_some(invitation.show)
    }
}

/// Whole seconds of a time in ms (the seed's `ctime`, "utc秒").
pub fn secs(ms: u64) -> u64 {
    ms / MS_PER_SECOND
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_are_parsed_naming_the_field() {
        assert_eq!(ShowId::parse("show_id", 0).unwrap_err().field, "show_id");
        assert_eq!(ShowRating::parse("show_rating", 0).unwrap_err().field, "show_rating");
        assert_eq!(ShowRating::parse("show_rating", 6).unwrap_err().field, "show_rating");
        assert_eq!(ShowRating::parse("show_rating", 5).unwrap().get(), 5);
        assert!(TxnId::parse("txn_id", "").is_err());
        assert!(TxnId::parse("txn_id", "a b").is_err());
        assert!(TxnId::parse("txn_id", &"x".repeat(129)).is_err());
        assert_eq!(TxnId::parse("txn_id", "pay:1-2_3.4").unwrap().as_str(), "pay:1-2_3.4");
    }

    #[test]
    fn a_call_is_blocked_by_its_open_invitation_and_by_one_not_written_yet() {
        let show_id = ShowId::from_trusted(1);
        let invitation = Invitation::new(Party::Anchor, Party::User, 1_000, 60_000);
        let call = Call {
            call_id: CallId::from_trusted(9),
            anchor_id: SingerId::from_trusted(10),
            user_id: UserId::from_trusted(20),
            open: Some(OpenInvitation { show: show_id, expires_at_ms: invitation.expires_at_ms }),
            shows: vec![show_id],
        };
        let gift = ShowGift {
            gid: GiftId::from_trusted(7),
            name: "show".into(),
            img: String::new(),
            effect_url: String::new(),
            price: 100,
            unit_profit: 0,
        };
        let mut show = Show {
            show_id,
            call_id: call.call_id,
            anchor_id: call.anchor_id,
            user_id: call.user_id,
            inviter: Party::Anchor,
            gift,
            created_at_ms: 1_000,
            stage: ShowStage::Invited { invitation },
            answered_at_ms: None,
            payments: Vec::new(),
            finished_at_ms: None,
            rating: None,
            rated_at_ms: None,
            version: 1,
        };
        // Pending: blocks until it lapses, whether its job ran or not.
        assert_eq!(call.blocking(Some(&show), 60_999), Some(show_id));
        assert_eq!(call.blocking(Some(&show), 61_000), None);
        // Not written (yet): blocks until the expiry it was created with.
        assert_eq!(call.blocking(None, 60_999), Some(show_id));
        assert_eq!(call.blocking(None, 61_000), None);
        // Answered: free at once.
        show.stage = ShowStage::Rejected { by: Party::User, at_ms: 2_000 };
        assert_eq!(call.blocking(Some(&show), 2_000), None);
        // An acceptance's request to pay blocks past the first expiry.
        let request = Invitation::new(Party::Anchor, Party::User, 50_000, 60_000);
        show.stage = ShowStage::Accepted { invitation: request };
        assert_eq!(call.blocking(Some(&show), 100_000), Some(show_id));
        assert_eq!(Call { open: None, ..call }.blocking(None, 0), None);
    }

    #[test]
    fn chat_types_are_the_seeds() {
        let numbers: Vec<u32> = ChatType::ALL.iter().map(|chat| chat.number()).collect();
        assert_eq!(numbers, (51..=58).collect::<Vec<_>>());
        for chat_type in ChatType::ALL {
            assert_eq!(chat_type.event_type(), format!("show_{}_nt", chat_type.as_str()));
        }
        assert_eq!(ChatType::AnchorAccept.sender(), Party::Anchor);
        assert_eq!(ChatType::UserAcceptSelf.sender(), Party::User);
    }
}
