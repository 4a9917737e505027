//! The state machine as one table: one row per (state, command) pair — one seed rule each —
//! with the expected outcome: either `err NNN <kind>` (the last three digits of the business code
//! and the error kind; nothing may have changed, nothing emitted) or the summary line of
//! [`World::summary`]: the shows, then the messages of the step.
//!
//! Parties: anchor 10 and user 20 in call 500; anchor 11, user 21, call 501 for the rest.
//! Gifts: 7 (`show`, 100 coins), 8 (`show_vip`, 300), 9 (retired).

use super::*;

/// The state a row starts from, always reached through the real commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Given {
    /// Nothing yet.
    Fresh,
    /// `show.enabled` = 0.
    ShowsOff,
    /// Anchor 10's account is switched off.
    AnchorOff,
    /// The anchor invited (show 1, to the user).
    AnchorInvited,
    /// AnchorInvited, 61 s later: lapsed, but its job did not run yet.
    AnchorInvitedPastDue,
    /// AnchorInvited and its expiry ran: lapsed.
    Lapsed,
    /// AnchorInvited, then the user's balance was too low (txn `t0`).
    Balance,
    /// AnchorInvited and paid (txn `t1`).
    Paid,
    /// Paid and performed.
    Finished,
    /// Paid and rated 4.
    Rated,
    /// AnchorInvited and rejected by the user.
    UserRejected,
    /// The user invited (show 1, to the anchor).
    UserInvited,
    /// UserInvited, 61 s later.
    UserInvitedPastDue,
    /// UserInvited, 10 s later accepted by the anchor (its request to pay lapses 60 s later).
    Accepted,
    /// Accepted, 61 s later.
    AcceptedPastDue,
    /// Accepted, and its request to pay lapsed (the expiry ran).
    AcceptedLapsed,
}

async fn given(state: Given) -> World {
    let mut world = World::new().await;
    let ok = "setup step must succeed";
    match state {
        Given::Fresh => {}
        Given::ShowsOff => world.set_config("show.enabled", 0).await,
        Given::AnchorOff => world.adapter.set_show_enable(ANCHOR, false).await.expect(ok),
        Given::AnchorInvited
        | Given::AnchorInvitedPastDue
        | Given::Lapsed
        | Given::Balance
        | Given::Paid
        | Given::Finished
        | Given::Rated
        | Given::UserRejected => {
            world.anchor_invite(CALL, ANCHOR, USER, GIFT).await.expect(ok);
            match state {
                Given::AnchorInvitedPastDue => world.advance_secs(61),
                Given::Lapsed => {
                    world.expire(61).await;
                }
                Given::Balance => {
                    world.pay(1, USER, "t0", PaymentOutcome::InsufficientBalance).await.expect(ok);
                }
                Given::Paid | Given::Finished | Given::Rated => {
                    world.pay(1, USER, "t1", PaymentOutcome::Success).await.expect(ok);
                    if state == Given::Finished {
                        world.finish(1, ANCHOR).await.expect(ok);
                    }
                    if state == Given::Rated {
                        world.rate(RateTarget::Show(show_id(1)), USER, 4).await.expect(ok);
                    }
                }
                Given::UserRejected => {
                    world.user_reject(1, USER).await.expect(ok);
                }
                _ => {}
            }
        }
        Given::UserInvited
        | Given::UserInvitedPastDue
        | Given::Accepted
        | Given::AcceptedPastDue
        | Given::AcceptedLapsed => {
            world.user_invite(CALL, USER, ANCHOR, VIP_GIFT).await.expect(ok);
            match state {
                Given::UserInvitedPastDue => world.advance_secs(61),
                Given::Accepted | Given::AcceptedPastDue | Given::AcceptedLapsed => {
                    world.advance_secs(10);
                    world.anchor_accept(1, ANCHOR).await.expect(ok);
                    if state == Given::AcceptedPastDue {
                        world.advance_secs(61);
                    }
                    if state == Given::AcceptedLapsed {
                        world.expire(61).await;
                    }
                }
                _ => {}
            }
        }
    }
    world.last.clear();
    world
}

/// A command of a row.
#[derive(Debug, Clone, Copy)]
enum Cmd {
    AnchorInvite {
        call: u64,
        anchor: u64,
        user: u64,
        gid: u64,
    },
    UserInvite {
        call: u64,
        user: u64,
        anchor: u64,
        gid: u64,
    },
    Accept {
        show: u64,
        anchor: u64,
    },
    AnchorReject {
        show: u64,
        anchor: u64,
    },
    UserReject {
        show: u64,
        user: u64,
    },
    /// A payment reported now: a success charged now, or an insufficient balance.
    Pay {
        show: u64,
        user: u64,
        txn: &'static str,
        ok: bool,
    },
    /// A success of show 1's user whose charge was confirmed `at` ms after the kit's start
    /// (the first invitation's time), reported now.
    PaidAt {
        txn: &'static str,
        at: u64,
    },
    Finish {
        show: u64,
        anchor: u64,
    },
    Rate {
        show: u64,
        user: u64,
        rating: u32,
    },
    RateCall {
        call: u64,
        user: u64,
        rating: u32,
    },
    /// Move the clock by this many seconds and run the due jobs.
    Expire(u64),
}

use Cmd::*;

const fn pay(txn: &'static str) -> Cmd {
    Pay { show: 1, user: USER, txn, ok: true }
}

const fn balance(txn: &'static str) -> Cmd {
    Pay { show: 1, user: USER, txn, ok: false }
}

const INVITE: Cmd = AnchorInvite { call: CALL, anchor: ANCHOR, user: USER, gid: GIFT };
const ASK: Cmd = UserInvite { call: CALL, user: USER, anchor: ANCHOR, gid: VIP_GIFT };
const ACCEPT: Cmd = Accept { show: 1, anchor: ANCHOR };
const ANCHOR_REJECT: Cmd = AnchorReject { show: 1, anchor: ANCHOR };
const USER_REJECT: Cmd = UserReject { show: 1, user: USER };
const FINISH: Cmd = Finish { show: 1, anchor: ANCHOR };

/// Runs `cmd`; the summary line, or the refusal.
async fn run(world: &mut World, cmd: Cmd) -> String {
    let outcome = match cmd {
        AnchorInvite { call, anchor, user, gid } => {
            world.anchor_invite(call, anchor, user, gid).await.map(drop)
        }
        UserInvite { call, user, anchor, gid } => {
            world.user_invite(call, user, anchor, gid).await.map(drop)
        }
        Accept { show, anchor } => world.anchor_accept(show, anchor).await.map(drop),
        AnchorReject { show, anchor } => world.anchor_reject(show, anchor).await.map(drop),
        UserReject { show, user } => world.user_reject(show, user).await.map(drop),
        Pay { show, user, txn, ok } => {
            let outcome =
                if ok { PaymentOutcome::Success } else { PaymentOutcome::InsufficientBalance };
            world.pay(show, user, txn, outcome).await.map(drop)
        }
        PaidAt { txn, at } => {
            world.pay_at(1, USER, txn, livepk_engine::testkit::START_MS + at).await.map(drop)
        }
        Finish { show, anchor } => world.finish(show, anchor).await.map(drop),
        Rate { show, user, rating } => {
            world.rate(RateTarget::Show(show_id(show)), user, rating).await.map(drop)
        }
        RateCall { call: raw, user, rating } => {
            world.rate(RateTarget::Call(call(raw)), user, rating).await.map(drop)
        }
        Expire(secs) => {
            world.expire(secs).await;
            Ok(())
        }
    };
    match outcome {
        Ok(()) => world.summary().await,
        Err(refusal) => refusal.short(),
    }
}

#[tokio::test]
async fn every_seed_rule() {
    use Given::*;
    let rows: Vec<(Given, Cmd, &str)> = vec![
        // -- invitations: diagram 1/2 (the anchor) and 3/4 (the user) start with one message --
        (Fresh, INVITE, "#1 invited>user | 51>u20"),
        (Fresh, ASK, "#1 invited>anchor | 52>a10"),
        // Only the catalogue's offered gifts.
        (
            Fresh,
            AnchorInvite { call: CALL, anchor: ANCHOR, user: USER, gid: RETIRED_GIFT },
            "err 021 InvalidArgument",
        ),
        (
            Fresh,
            AnchorInvite { call: CALL, anchor: ANCHOR, user: USER, gid: 99 },
            "err 021 InvalidArgument",
        ),
        // The two parties are two accounts.
        (
            Fresh,
            AnchorInvite { call: CALL, anchor: ANCHOR, user: ANCHOR, gid: GIFT },
            "err 021 InvalidArgument",
        ),
        // The switch, and each account's (the UI shows only when both sides are enabled).
        (ShowsOff, INVITE, "err 405 FailedPrecondition"),
        (AnchorOff, ASK, "err 405 FailedPrecondition"),
        // One open invitation per call, whoever asks.
        (AnchorInvited, INVITE, "err 401 FailedPrecondition"),
        (AnchorInvited, ASK, "err 401 FailedPrecondition"),
        (Accepted, INVITE, "err 401 FailedPrecondition"),
        // ... but another call is another matter, and an answered or lapsed one frees the call.
        (
            AnchorInvited,
            AnchorInvite { call: OTHER_CALL, anchor: ANCHOR, user: OTHER_USER, gid: GIFT },
            "#1 invited>user #2 invited>user | 51>u21",
        ),
        (AnchorInvitedPastDue, INVITE, "#1 invited>user #2 invited>user | 51>u20"),
        (Lapsed, ASK, "#1 lapsed #2 invited>anchor | 52>a10"),
        (UserRejected, INVITE, "#1 user_rejected #2 invited>user | 51>u20"),
        (Paid, ASK, "#1 paid #2 invited>anchor | 52>a10"),
        // A call's parties are fixed by its first invitation.
        (
            AnchorInvited,
            AnchorInvite { call: CALL, anchor: ANCHOR, user: OTHER_USER, gid: GIFT },
            "err 021 PermissionDenied",
        ),
        (
            Paid,
            UserInvite { call: CALL, user: USER, anchor: OTHER_ANCHOR, gid: GIFT },
            "err 021 PermissionDenied",
        ),
        // -- diagram 1: the user pays for the anchor's show --
        (AnchorInvited, pay("t1"), "#1 paid | 54>a10"),
        (AnchorInvited, balance("t0"), "#1 invited>user | 57>a10"),
        // Insufficient balance leaves the invitation answerable: another attempt may pay.
        (Balance, pay("t1"), "#1 paid | 54>a10"),
        (Balance, balance("t2"), "#1 invited>user | 57>a10"),
        (Balance, USER_REJECT, "#1 user_rejected | 56>a10"),
        // A repeated transaction id changes nothing and answers as the first time.
        (Balance, balance("t0"), "#1 invited>user |"),
        (Paid, pay("t1"), "#1 paid |"),
        // A new payment of an answered or lapsed invitation is 026.
        (Paid, pay("t2"), "err 026 FailedPrecondition"),
        (Paid, balance("t3"), "err 026 FailedPrecondition"),
        (AnchorInvitedPastDue, pay("t1"), "err 026 FailedPrecondition"),
        (Lapsed, pay("t1"), "err 026 FailedPrecondition"),
        (UserRejected, pay("t1"), "err 026 FailedPrecondition"),
        // A success is judged by when the charge was confirmed (the gateway charges, then
        // reports): before the expiry (60 s after the invitation) it pays, even once the show
        // lapsed; at or after it, 026 (the gateway refunds). A charge time later than the
        // report's arrival counts as the arrival.
        (AnchorInvitedPastDue, PaidAt { txn: "t1", at: 59_999 }, "#1 paid | 54>a10"),
        (AnchorInvitedPastDue, PaidAt { txn: "t1", at: 60_000 }, "err 026 FailedPrecondition"),
        (AnchorInvitedPastDue, PaidAt { txn: "t1", at: 3_600_000 }, "err 026 FailedPrecondition"),
        (Lapsed, PaidAt { txn: "t1", at: 59_999 }, "#1 paid | 54>a10"),
        (Lapsed, PaidAt { txn: "t1", at: 60_000 }, "err 026 FailedPrecondition"),
        (AnchorInvited, PaidAt { txn: "t1", at: 3_600_000 }, "#1 paid | 54>a10"),
        // ... but only a live or lapsed invitation to pay: not an answered one, and a failed
        // attempt after the lapse is late whatever it says.
        (UserRejected, PaidAt { txn: "t1", at: 1 }, "err 026 FailedPrecondition"),
        (Paid, PaidAt { txn: "t2", at: 1 }, "err 026 FailedPrecondition"),
        (Lapsed, balance("t0"), "err 026 FailedPrecondition"),
        // Only the call's user pays.
        (
            AnchorInvited,
            Pay { show: 1, user: OTHER_USER, txn: "t1", ok: true },
            "err 021 PermissionDenied",
        ),
        (Fresh, pay("t1"), "err 021 NotFound"),
        // -- diagram 2: the user refuses the anchor's show --
        (AnchorInvited, USER_REJECT, "#1 user_rejected | 56>a10"),
        (UserRejected, USER_REJECT, "err 026 FailedPrecondition"),
        (AnchorInvitedPastDue, USER_REJECT, "err 026 FailedPrecondition"),
        (AnchorInvited, UserReject { show: 1, user: OTHER_USER }, "err 021 PermissionDenied"),
        // Each party only on its own side: the anchor does not answer her own invitation.
        (AnchorInvited, ACCEPT, "err 021 PermissionDenied"),
        (AnchorInvited, ANCHOR_REJECT, "err 021 PermissionDenied"),
        // -- diagram 3: the anchor accepts the user's invitation, the user pays --
        (UserInvited, ACCEPT, "#1 accepted>user | 53>u20"),
        (Accepted, pay("t1"), "#1 paid | 58>a10"),
        (Accepted, balance("t0"), "#1 accepted>user | 57>a10"),
        (Accepted, USER_REJECT, "#1 user_rejected | 56>a10"),
        (Accepted, ACCEPT, "err 026 FailedPrecondition"),
        (AcceptedPastDue, pay("t1"), "err 026 FailedPrecondition"),
        // The request to pay lapses 60 s after the acceptance (70 s after the invitation).
        (AcceptedPastDue, PaidAt { txn: "t1", at: 69_999 }, "#1 paid | 58>a10"),
        (AcceptedPastDue, PaidAt { txn: "t1", at: 70_000 }, "err 026 FailedPrecondition"),
        (AcceptedLapsed, PaidAt { txn: "t1", at: 69_999 }, "#1 paid | 58>a10"),
        (AcceptedLapsed, PaidAt { txn: "t1", at: 70_000 }, "err 026 FailedPrecondition"),
        // No payment before the anchor accepted.
        (UserInvited, pay("t1"), "err 402 FailedPrecondition"),
        (UserInvitedPastDue, pay("t1"), "err 026 FailedPrecondition"),
        // A user's invitation the anchor never accepted was never payable.
        (UserInvitedPastDue, PaidAt { txn: "t1", at: 1 }, "err 026 FailedPrecondition"),
        (UserInvitedPastDue, ACCEPT, "err 026 FailedPrecondition"),
        (UserInvited, Accept { show: 1, anchor: OTHER_ANCHOR }, "err 021 PermissionDenied"),
        // The user's own invitation waits for the anchor, not for her.
        (UserInvited, USER_REJECT, "err 021 PermissionDenied"),
        (Fresh, ACCEPT, "err 021 NotFound"),
        // -- diagram 4: the anchor refuses the user's invitation --
        (UserInvited, ANCHOR_REJECT, "#1 anchor_rejected | 55>u20"),
        (UserInvitedPastDue, ANCHOR_REJECT, "err 026 FailedPrecondition"),
        (Accepted, ANCHOR_REJECT, "err 026 FailedPrecondition"),
        // -- the invitation lapses after show.invite_seconds (60 s), once, without a message --
        (AnchorInvited, Expire(59), "#1 invited>user |"),
        (AnchorInvited, Expire(60), "#1 lapsed |"),
        (UserInvited, Expire(61), "#1 lapsed |"),
        // The acceptance's request to pay has its own expiry: the first job (at 60 s) is stale.
        (Accepted, Expire(51), "#1 accepted>user |"),
        (Accepted, Expire(60), "#1 lapsed |"),
        (Paid, Expire(61), "#1 paid |"),
        // -- Finish: the paid show was performed --
        (Paid, FINISH, "#1 paid fin |"),
        (Finished, FINISH, "#1 paid fin |"),
        (AnchorInvited, FINISH, "err 403 FailedPrecondition"),
        (Lapsed, FINISH, "err 403 FailedPrecondition"),
        (Paid, Finish { show: 1, anchor: OTHER_ANCHOR }, "err 021 PermissionDenied"),
        // -- Rate: the call evaluation's show_rating, by show or by call --
        (Paid, Rate { show: 1, user: USER, rating: 4 }, "#1 paid r4 |"),
        (Finished, Rate { show: 1, user: USER, rating: 5 }, "#1 paid fin r5 |"),
        (Rated, Rate { show: 1, user: USER, rating: 4 }, "#1 paid r4 |"),
        (Rated, Rate { show: 1, user: USER, rating: 5 }, "err 404 FailedPrecondition"),
        (AnchorInvited, Rate { show: 1, user: USER, rating: 4 }, "err 403 FailedPrecondition"),
        (Paid, Rate { show: 1, user: OTHER_USER, rating: 4 }, "err 021 PermissionDenied"),
        (Paid, RateCall { call: CALL, user: USER, rating: 3 }, "#1 paid r3 |"),
        (AnchorInvited, RateCall { call: CALL, user: USER, rating: 3 }, "err 021 NotFound"),
        (Paid, RateCall { call: OTHER_CALL, user: USER, rating: 3 }, "err 021 NotFound"),
        (Paid, RateCall { call: CALL, user: OTHER_USER, rating: 3 }, "err 021 PermissionDenied"),
    ];
    let mut failures = Vec::new();
    for (state, cmd, expected) in rows {
        let mut world = given(state).await;
        let before = world.shows().await;
        let got = run(&mut world, cmd).await;
        if got.starts_with("err") {
            // A refusal changes nothing and says nothing.
            assert_eq!(world.shows().await, before, "{state:?} {cmd:?} changed state");
            assert!(world.last.is_empty(), "{state:?} {cmd:?} emitted {:?}", world.last);
        }
        if got != expected {
            failures.push(format!("{state:?} + {cmd:?}:\n  expected {expected}\n  got      {got}"));
        }
    }
    assert!(failures.is_empty(), "{} rows failed:\n{}", failures.len(), failures.join("\n"));
}

/// The fields of every message (seed 003 "message" and "gift_data"), exactly.
#[tokio::test]
async fn messages_carry_the_seeds_fields() {
    let mut world = given(Given::UserInvited).await;
    let invited_at = world.now();
    let show = world.show(1).await;
    world.advance_secs(3);
    world.anchor_accept(1, ANCHOR).await.unwrap();
    let accepted_at = world.now();
    let vip = catalogue_gift(VIP_GIFT);
    let gift = ShowGift {
        gid: GiftId::from_trusted(VIP_GIFT),
        name: vip.name,
        img: vip.img,
        effect_url: vip.effect_url,
        price: 300,
        unit_profit: 0,
    };
    assert_eq!(show.gift, gift);
    assert_eq!(show.created_at_ms, invited_at);
    assert_eq!(
        world.last,
        vec![ShowMessage {
            target: livepk_core::Target::user(USER),
            chat_type: ChatType::AnchorAccept,
            uid: ANCHOR,
            receive_uid: USER,
            ctime: accepted_at / 1000,
            show_id: show_id(1),
            call_id: call(CALL),
            gift: gift.clone(),
        }]
    );
    world.advance_secs(2);
    let answer = world.pay(1, USER, "pay-1", PaymentOutcome::Success).await.unwrap();
    assert_eq!(
        answer,
        PaymentAnswer { chat_type: ChatType::UserAcceptSelf, status: ShowStatus::Paid }
    );
    assert_eq!(
        world.last,
        vec![ShowMessage {
            target: livepk_core::Target::singer(ANCHOR),
            chat_type: ChatType::UserAcceptSelf,
            uid: USER,
            receive_uid: ANCHOR,
            ctime: world.now() / 1000,
            show_id: show_id(1),
            call_id: call(CALL),
            gift,
        }]
    );
    // The row: inviter 2 (user), paid with its transaction, answered at the acceptance.
    let row = world.kit.engine().database.get_show(1).await.unwrap().unwrap();
    assert_eq!(row.inviter_type, livepk_sql::InviterType::User);
    assert_eq!(row.status, livepk_sql::ShowStatus::Paid);
    assert_eq!(
        (row.ctime, row.answer_time, row.pay_time),
        (invited_at / 1000, accepted_at / 1000, world.now() / 1000)
    );
    assert_eq!((row.pay_txn_id.as_str(), row.expire_time, row.gid), ("pay-1", 0, VIP_GIFT));
}

/// Refusals name the field at fault and carry the gRPC-relevant kind.
#[tokio::test]
async fn refusals_name_the_field() {
    let mut world = given(Given::AnchorInvited).await;
    let refusal = world.anchor_accept(1, ANCHOR).await.unwrap_err();
    assert_eq!(refusal.field().as_deref(), Some("anchor_id"));
    assert!(matches!(
        refusal.show(),
        Some(ShowError::NotYourAnswer { waits_for: Party::User, .. })
    ));
    let refusal = world.anchor_invite(CALL, ANCHOR, USER, GIFT).await.unwrap_err();
    assert_eq!(
        refusal.show(),
        Some(&ShowError::ShowPending { call: call(CALL), show: show_id(1) })
    );
    let refusal = world.anchor_invite(OTHER_CALL, ANCHOR, OTHER_USER, 99).await.unwrap_err();
    assert_eq!(refusal.field().as_deref(), Some("gid"));
    let refusal = world.pay(1, OTHER_USER, "t1", PaymentOutcome::Success).await.unwrap_err();
    assert_eq!(refusal.field().as_deref(), Some("user_id"));
    let refusal = world.finish(2, ANCHOR).await.unwrap_err();
    assert_eq!(refusal.field().as_deref(), Some("show_id"));
}

/// A show remembers at most [`MAX_PAYMENT_REPORTS`] reports; then new ones are refused (406),
/// while repeats still answer as the first time.
#[tokio::test]
async fn payment_reports_are_bounded() {
    let mut world = given(Given::AnchorInvited).await;
    for attempt in 0..MAX_PAYMENT_REPORTS {
        world
            .pay(1, USER, &format!("low-{attempt}"), PaymentOutcome::InsufficientBalance)
            .await
            .unwrap();
    }
    let refusal = world.pay(1, USER, "t-last", PaymentOutcome::Success).await.unwrap_err();
    assert_eq!(refusal.short(), "err 406 FailedPrecondition");
    let repeat = world.pay(1, USER, "low-0", PaymentOutcome::InsufficientBalance).await.unwrap();
    assert_eq!(
        repeat,
        PaymentAnswer { chat_type: ChatType::UserBalance, status: ShowStatus::Invited }
    );
    assert!(world.last.is_empty());
}

/// A refused invitation spends no show id: the next one gets the next number.
#[tokio::test]
async fn a_refused_invitation_spends_no_show_id() {
    let mut world = given(Given::AnchorInvited).await;
    world.user_invite(CALL, USER, ANCHOR, GIFT).await.unwrap_err();
    world.user_reject(1, USER).await.unwrap();
    let next = world.user_invite(CALL, USER, ANCHOR, GIFT).await.unwrap();
    assert_eq!(next.show_id, show_id(2));
}
