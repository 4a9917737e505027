//! LinkCallPk races against a real Redis, through servers in this process on a manual clock:
//! instead of sleeping until a deadline the test moves the clock to the deadline plus an exact
//! offset. Each server's delay-queue poller still runs on its own and fires a due job within its
//! poll interval (50 ms, real time) after the clock moved, so a request sent then really races
//! the deadline job. Each race must end in exactly one consistent outcome: both anchors
//! Counting at the deadline together with the timer, Close racing the deadline, two hosts
//! Linking the same guest, Confirm racing the popup expiry, gifts across the deadline, and a
//! gift following its anchor into a new battle on another replica.

mod support;

use futures::future::join_all;
use livepk::pb::common::TargetKind;
use livepk::pb::linkcall::{ConfirmCode, PkPhase, PkState, SingerComeInRoomRequest};
use livepk_core::{Clock, ManualClock};
use support::*;
use tonic::Code;

/// `linkcall.pk_seconds` of these tests.
const PK_MS: u64 = 1_000;
/// `linkcall.punish_seconds` of these tests.
const PUNISH_MS: u64 = 1_000;
/// `linkcall.popup_seconds` of these tests.
const POPUP_MS: u64 = 1_000;

/// A server on its own manual clock (standing still until the test moves it), with short
/// popups, battles and punishments.
async fn server_on_manual_clock() -> (TestServer, ManualClock) {
    let clock = manual_clock();
    let server = TestServer::start_on(&clock).await;
    server.set_config("linkcall.popup_seconds", &(POPUP_MS / 1000).to_string()).await;
    server.set_config("linkcall.pk_seconds", &(PK_MS / 1000).to_string()).await;
    server.set_config("linkcall.punish_seconds", &(PUNISH_MS / 1000).to_string()).await;
    (server, clock)
}

/// Moves `clock` forward to `at_ms` (never back).
fn move_to(clock: &ManualClock, at_ms: u64) {
    assert!(at_ms >= clock.now_ms(), "the clock only moves forward: {at_ms} < {}", clock.now_ms());
    clock.set_ms(at_ms);
}

/// When the racing requests go out once the clock has reached their moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// At once: usually before the poller's next poll.
    AtOnce,
    /// Once a poller has claimed the due deadline job: they race its handler (or find it
    /// done).
    AfterClaim,
}

/// Moves the clock to `at_ms`, then waits for the moment `when` names.
async fn reach(server: &TestServer, clock: &ManualClock, at_ms: u64, when: When) {
    move_to(clock, at_ms);
    if when == When::AfterClaim {
        server.wait_due_timers_claimed().await;
    }
}

/// How far [`run_timers_out`] moves the clock: past every timer a round leaves behind (phase
/// deadlines and popups of a second here, the record write 2 s after a settle), yet less than
/// the delay queue's 30 s ttr, so that a job still running is not delivered a second time.
const RUN_OUT_MS: u64 = 10_000;

/// Moves the clock [`RUN_OUT_MS`] on and waits until every timer has fired and finished: no
/// timer is left to change anything afterwards.
async fn run_timers_out(server: &TestServer, clock: &ManualClock) {
    clock.advance_ms(RUN_OUT_MS);
    server.wait_timers_done().await;
}

/// Settled answers must agree: the 024 of the loser carries what the winner settled.
fn settled_of(
    result: &Result<livepk::pb::linkcall::CountResponse, tonic::Status>,
) -> (u64, u64, u64, u64) {
    match result {
        Ok(response) => {
            assert_eq!(response.pk_state, PkState::Count as i32, "{response:?}");
            let pk = response.pk[0];
            (response.pkid, pk.host_gift, pk.guest_gift, pk.winner_id)
        }
        Err(status) => {
            let metadata = assert_business(status, Code::Aborted, "403400024");
            let number = |key: &str| -> u64 {
                metadata
                    .get(key)
                    .unwrap_or_else(|| panic!("no {key} in {status:?}"))
                    .parse()
                    .unwrap()
            };
            assert_eq!(metadata.get("pk_state").map(String::as_str), Some("12"));
            (number("pkid"), number("host_gift"), number("guest_gift"), number("winner_id"))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linkcall_races_both_count_with_the_deadline() {
    // Each round on its own server and clock, all at once: (ms after the deadline, when the two
    // Counts go out).
    let rounds =
        [(0, When::AtOnce), (10, When::AtOnce), (0, When::AfterClaim), (20, When::AfterClaim)];
    let rounds = rounds.into_iter().enumerate().map(|(round, (offset, when))| async move {
        let round = round as u64;
        let (server, clock) = server_on_manual_clock().await;
        let host = Anchor::new(3001 + 2 * round, 7001 + 2 * round);
        let guest = Anchor::new(3002 + 2 * round, 7002 + 2 * round);
        host.online(&server).await;
        guest.online(&server).await;
        let started_at = clock.now_ms();
        let started = battle(&server, &host, &guest).await;
        let pkid = started.pkid;
        let deadline = started.pk[0].phase_deadline_ms;
        assert_eq!(deadline, started_at + PK_MS, "the deadline is exactly pk_seconds after Start");
        gift(&server, &format!("race-count-{round}"), 9100 + round, &host, 40).await;

        // A millisecond before the deadline a Count is too early (023), whoever calls it.
        move_to(&clock, deadline - 1);
        for caller in [&host, &guest] {
            let early =
                count(&server, caller, &host, &guest).await.expect_err("Count before the deadline");
            assert_business(&early, Code::FailedPrecondition, "403400023");
        }

        reach(&server, &clock, deadline + offset, when).await;
        let (by_host, by_guest) = tokio::join!(
            count(&server, &host, &host, &guest),
            count(&server, &guest, &host, &guest)
        );
        let wins = [&by_host, &by_guest].iter().filter(|result| result.is_ok()).count();
        assert!(wins <= 1, "two Counts settled the same pk: {by_host:?} {by_guest:?}");
        let expected = (pkid, 40, 0, host.id);
        assert_eq!(settled_of(&by_host), expected, "{by_host:?}");
        assert_eq!(settled_of(&by_guest), expected, "{by_guest:?}");
        eprintln!(
            "count race at +{offset} ms ({when:?}): host {by_host:?} / guest {by_guest:?}",
            by_host = by_host.as_ref().map(|_| "COUNT").map_err(|_| "024"),
            by_guest = by_guest.as_ref().map(|_| "COUNT").map_err(|_| "024")
        );
        let record = server.wait_record(pkid).await;
        let ended_by = if wins == 1 { "count" } else { "deadline" };
        assert_eq!(record.ended_by, ended_by, "{record:?} after {by_host:?} {by_guest:?}");
        assert_eq!(record.winner_id, host.id);
        assert_eq!(record.endtime_ms, deadline, "a settle at or after the deadline ends at it");

        // The punishment ends at its deadline; then every timer left runs, so a straggling one
        // has had its chance to settle again.
        let (_, punished) = server.wait_phase(&host, PkPhase::Punishment).await;
        assert_eq!(punished.phase_deadline_ms, deadline + offset + PUNISH_MS, "{punished:?}");
        move_to(&clock, punished.phase_deadline_ms);
        server.wait_phase(&host, PkPhase::Linked).await;
        run_timers_out(&server, &clock).await;

        let events = server.fetch_all().await;
        assert_eq!(server.records_of(host.id).await.len(), 1, "one record for pk {pkid}");
        for anchor in [&host, &guest] {
            assert_eq!(
                count_pklists(&events, anchor.id, pkid),
                1,
                "COUNT pklist nts of pk {pkid} to {}",
                anchor.id
            );
            let states = events
                .iter()
                .filter(|event| is_state(event, anchor.id, PkState::Count) && event.pkid == pkid)
                .count();
            assert_eq!(states, 1, "COUNT state nts of pk {pkid} to {}", anchor.id);
        }
        server.shutdown().await;
    });
    join_all(rounds).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linkcall_races_close_with_the_deadline() {
    // Each round on its own server and clock, all at once: (ms from the deadline, when Close
    // goes out).
    let rounds: [(i64, When); 4] =
        [(-20, When::AtOnce), (0, When::AtOnce), (5, When::AfterClaim), (25, When::AfterClaim)];
    let rounds = rounds.into_iter().enumerate().map(|(round, (offset, when))| async move {
        let round = round as u64;
        let (server, clock) = server_on_manual_clock().await;
        let host = Anchor::new(3101 + 2 * round, 7101 + 2 * round);
        let guest = Anchor::new(3102 + 2 * round, 7102 + 2 * round);
        host.online(&server).await;
        guest.online(&server).await;
        let started = battle(&server, &host, &guest).await;
        let pkid = started.pkid;
        gift(&server, &format!("race-close-{round}"), 9200 + round, &guest, 25).await;
        let deadline = started.pk[0].phase_deadline_ms;
        let close_at = deadline.saturating_add_signed(offset);
        reach(&server, &clock, close_at, when).await;
        let closed = close(&server, &host, &host, &guest).await.expect("Close racing the deadline");
        assert_eq!((closed.pk_state, closed.pkid), (PkState::Over as i32, pkid), "{closed:?}");
        let pk = closed.pk[0];
        assert_eq!((pk.host_gift, pk.guest_gift, pk.winner_id), (0, 25, guest.id), "{closed:?}");

        let record = server.wait_record(pkid).await;
        eprintln!("close race at {offset:+} ms ({when:?}): ended by {}", record.ended_by);
        if offset < 0 {
            // The deadline is not due yet: no poller can have settled the battle.
            assert_eq!(record.ended_by, "close", "{record:?}");
        } else {
            assert!(["close", "deadline"].contains(&record.ended_by.as_str()), "{record:?}");
        }
        assert_eq!((record.winner_id, record.winner_side.as_str()), (guest.id, "guest"));
        assert_eq!(
            record.endtime_ms,
            close_at.min(deadline),
            "scoring ends at the close or the deadline, whichever came first"
        );
        // Both anchors are released and free to link again.
        for anchor in [&host, &guest] {
            assert_eq!(server.seek_pk(anchor).await, (0, None), "anchor {} released", anchor.id);
            let comein = server
                .linkcall()
                .singer_come_in_room(SingerComeInRoomRequest {
                    singer_id: anchor.id,
                    singer_sid: anchor.sid,
                })
                .await
                .expect("SingerComeInRoom")
                .into_inner();
            assert_eq!((comein.pkid, comein.pk.len()), (0, 0));
        }
        // Past the time a punishment would have ended, once every timer ran (the deadline job
        // too, when Close came first): nothing may come back to life.
        run_timers_out(&server, &clock).await;
        assert_eq!(server.seek_pk(&host).await, (0, None));
        assert_eq!(
            link(&server, &host, &guest).await.expect("Link after the close").pk_state,
            PkState::Popup as i32
        );

        let events = server.fetch_all().await;
        let ended_by = record.ended_by.as_str();
        assert_eq!(server.records_of(host.id).await.len(), 1, "one record for pk {pkid}");
        let counted = usize::from(ended_by == "deadline");
        for anchor in [&host, &guest] {
            assert_eq!(
                count_pklists(&events, anchor.id, pkid),
                counted,
                "pk {pkid} ended by {ended_by}: COUNT pklist nts to {}",
                anchor.id
            );
        }
        let overs: Vec<usize> = (0..events.len())
            .filter(|index| {
                is_state(&events[*index], guest.id, PkState::Over) && events[*index].pkid == pkid
            })
            .collect();
        assert_eq!(overs.len(), 1, "one OVER to the guest for pk {pkid}");
        // After the OVER nt only the close's own info nts (phase unspecified: closed) follow.
        for event in &events[overs[0]..] {
            if event.pkid != pkid || event.r#type == "linkcallpk_singer_state_nt" {
                continue;
            }
            let closing_info = event.r#type == "linkcallpk_room_pk_info_nt"
                && info_nt(event).is_some_and(|nt| nt.pk[0].phase == PkPhase::Unspecified as i32);
            assert!(closing_info, "pk {pkid} ({ended_by}): event after the close: {event:?}");
        }
        server.shutdown().await;
    });
    join_all(rounds).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linkcall_races_hosts_link_the_same_guest() {
    // The clock stands still: no popup lapses while the hosts race.
    let clock = manual_clock();
    let server = TestServer::start_on(&clock).await;
    let guests = [Anchor::new(3201, 7201), Anchor::new(3202, 7202)];
    let hosts: Vec<Vec<Anchor>> = (0..2u64)
        .map(|g| (0..4u64).map(|h| Anchor::new(3210 + 10 * g + h, 7210 + 10 * g + h)).collect())
        .collect();
    for anchor in guests.iter().chain(hosts.iter().flatten()) {
        anchor.online(&server).await;
    }
    let races = guests.iter().zip(&hosts).map(|(guest, hosts)| {
        let server = &server;
        async move {
            let results = join_all(hosts.iter().map(|host| link(server, host, guest))).await;
            let mut winners = Vec::new();
            for (host, result) in hosts.iter().zip(&results) {
                match result {
                    Ok(response) => {
                        assert_eq!(response.pk_state, PkState::Popup as i32);
                        winners.push(host.id);
                    }
                    Err(status) => {
                        let metadata =
                            assert_business(status, Code::FailedPrecondition, "403400030");
                        assert_eq!(metadata.get("pk_state").map(String::as_str), Some("8"));
                    }
                }
            }
            assert_eq!(winners.len(), 1, "exactly one popup for guest {}: {results:?}", guest.id);
            let comein = server
                .linkcall()
                .singer_come_in_room(SingerComeInRoomRequest {
                    singer_id: guest.id,
                    singer_sid: guest.sid,
                })
                .await
                .expect("SingerComeInRoom")
                .into_inner();
            assert_eq!(comein.popup_id, winners[0], "{comein:?}");
            (guest.id, winners[0])
        }
    });
    let outcomes = join_all(races).await;
    let events = server.fetch_all().await;
    for (guest, winner) in outcomes {
        let popups: Vec<u64> = events
            .iter()
            .filter(|event| is_state(event, guest, PkState::Popup))
            .map(|event| state_nt(event).unwrap().singer_id)
            .collect();
        assert_eq!(popups, vec![winner], "one POPUP nt to guest {guest}, from the winner");
    }
    // The losers are free: none of them is waiting for an answer.
    for (guest, hosts) in guests.iter().zip(&hosts) {
        for host in hosts {
            let comein = server
                .linkcall()
                .singer_come_in_room(SingerComeInRoomRequest {
                    singer_id: host.id,
                    singer_sid: host.sid,
                })
                .await
                .expect("SingerComeInRoom")
                .into_inner();
            assert_eq!(
                (comein.popup_id, comein.pkid),
                (0, 0),
                "host {} near guest {}",
                host.id,
                guest.id
            );
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linkcall_races_confirm_with_the_popup_expiry() {
    // Milliseconds after Link at which the guest agrees; the popup lives POPUP_MS (1000 ms) and
    // is live while now < expiry: an agreement before it makes the pair, one at or after it is
    // refused (026), whether or not the expiry job has run yet. Each round on its own server
    // and clock, all at once.
    let offsets: [u64; 6] = [500, 990, 999, 1000, 1001, 1500];
    let rounds = offsets.into_iter().enumerate().map(|(round, offset)| async move {
        let round = round as u64;
        let (server, clock) = server_on_manual_clock().await;
        let host = Anchor::new(3301 + 2 * round, 7301 + 2 * round);
        let guest = Anchor::new(3302 + 2 * round, 7302 + 2 * round);
        host.online(&server).await;
        guest.online(&server).await;
        let sent = clock.now_ms();
        link(&server, &host, &guest).await.expect("Link");
        move_to(&clock, sent + offset);
        let outcome = confirm(&server, &guest, &host, ConfirmCode::Agree).await;
        // Whatever happened, let the expiry job run (and finish).
        run_timers_out(&server, &clock).await;
        let agreed = match &outcome {
            Ok(confirmed) => {
                assert_eq!(confirmed.pk_state, PkState::Yes as i32, "{confirmed:?}");
                for anchor in [&host, &guest] {
                    let (pkid, pk) = server.seek_pk(anchor).await;
                    assert_eq!(pkid, confirmed.pkid, "anchor {} is in the new pk", anchor.id);
                    assert_eq!(pk.expect("pk").phase, PkPhase::Linked as i32);
                }
                true
            }
            Err(status) => {
                assert_business(status, Code::NotFound, "403400026");
                for anchor in [&host, &guest] {
                    assert_eq!(
                        server.seek_pk(anchor).await,
                        (0, None),
                        "anchor {} has no pk",
                        anchor.id
                    );
                }
                false
            }
        };
        eprintln!("confirm at +{offset} ms: {}", if agreed { "YES" } else { "026" });
        assert_eq!(agreed, offset < POPUP_MS, "confirm at +{offset} ms: {outcome:?}");
        let comein = server
            .linkcall()
            .singer_come_in_room(SingerComeInRoomRequest {
                singer_id: guest.id,
                singer_sid: guest.sid,
            })
            .await
            .expect("SingerComeInRoom")
            .into_inner();
        assert_eq!(comein.popup_id, 0, "the popup is gone either way: {comein:?}");

        // The expiry job has run (its events are in the stream): the host heard one answer.
        let events = server.fetch_all().await;
        let answers: Vec<i32> = events
            .iter()
            .filter(|event| {
                event.r#type == "linkcallpk_singer_state_nt"
                    && target_of(event) == (TargetKind::Singer, host.id)
                    && state_nt(event).is_some_and(|nt| nt.singer_id == guest.id)
            })
            .map(|event| state_nt(event).unwrap().pk_state)
            .collect();
        let expected = if agreed { PkState::Yes } else { PkState::No };
        assert_eq!(
            answers,
            vec![expected as i32],
            "confirm at +{offset} ms: the host hears one answer"
        );
        server.shutdown().await;
    });
    join_all(rounds).await;
}

/// Gifts keep arriving while the deadline settles the PK: the settled score is exactly the sum
/// of the gifts whose RecordGift answered that they counted, no more, no less. The senders move
/// the clock themselves, a little after each gift, from 300 ms before the deadline to 200 ms
/// after it; the poller settles the battle whenever it next polls after the clock passed the
/// deadline, while gifts are still coming.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linkcall_races_gifts_across_the_deadline() {
    let (server, clock) = server_on_manual_clock().await;
    let host = Anchor::new(3401, 7401);
    let guest = Anchor::new(3402, 7402);
    host.online(&server).await;
    guest.online(&server).await;
    let started = battle(&server, &host, &guest).await;
    let pkid = started.pkid;
    let deadline = started.pk[0].phase_deadline_ms;
    move_to(&clock, deadline - 300);
    let senders = (0..4u64).map(|sender| {
        let (server, host, guest, clock) = (&server, &host, &guest, &clock);
        async move {
            let mut counted = (0u64, 0u64);
            let mut n = 0;
            while clock.now_ms() < deadline + 200 {
                n += 1;
                let to = if n % 2 == 0 { host } else { guest };
                let value = 1 + sender;
                let response =
                    gift(server, &format!("across-{sender}-{n}"), 9500 + sender, to, value).await;
                match response.changes.as_slice() {
                    [] => {}
                    [change] => {
                        assert_eq!(change.pkid, pkid, "{response:?}");
                        if to == host { counted.0 += value } else { counted.1 += value }
                    }
                    more => panic!("one gift changed several PKs: {more:?}"),
                }
                clock.advance_ms(2);
            }
            counted
        }
    });
    let counted = join_all(senders).await;
    let host_total: u64 = counted.iter().map(|(host, _)| host).sum();
    let guest_total: u64 = counted.iter().map(|(_, guest)| guest).sum();
    assert!(host_total + guest_total > 0, "no gift counted before the deadline");

    // The deadline's settle waits `score.grace_ms` (3 s by default) for gifts sent before it.
    move_to(&clock, deadline + 3_000);
    let record = server.wait_record(pkid).await;
    assert_eq!(record.ended_by, "deadline", "{record:?}");
    let scores: Vec<i64> = record.participants.iter().map(|p| p.score).collect();
    assert_eq!(scores, vec![host_total as i64, guest_total as i64], "{record:?}");
    let (_, pk) = server.seek_pk(&host).await;
    let pk = pk.expect("pk");
    assert_eq!((pk.host_gift, pk.guest_gift), (host_total, guest_total), "{pk:?}");
    let events = server.fetch_all().await;
    let settled: Vec<(u64, u64)> = events
        .iter()
        .filter(|event| is_pklist(event, host.id, PkState::Count, pkid))
        .map(|event| {
            let pk = pklist_nt(event).unwrap().pk[0];
            (pk.host_gift, pk.guest_gift)
        })
        .collect();
    assert_eq!(settled, vec![(host_total, guest_total)]);
    server.shutdown().await;
}

/// The gift path remembers which battle an anchor scores in (for 2 s). When the anchor closes
/// that battle and starts another at once, the next gift must still land in the new battle —
/// the remembered one answers "outside" and the ledger looks again — and never in the old one.
/// Two replicas on one Redis: the one that remembers is not the one that closed. The clock
/// stands still, so the memory is fresh when the gift comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linkcall_races_gift_follows_the_anchor_into_a_new_battle() {
    let clock = manual_clock();
    let remembers = TestServer::start_on(&clock).await;
    let other = remembers.replica().await;
    let a = Anchor::new(3501, 7501);
    let b = Anchor::new(3502, 7502);
    let c = Anchor::new(3503, 7503);
    for anchor in [&a, &b, &c] {
        anchor.online(&remembers).await;
    }
    let first = battle(&other, &a, &b).await;
    let counted = gift(&remembers, "follow-1", 9601, &a, 30).await;
    assert_eq!(counted.changes.len(), 1, "{counted:?}");
    assert_eq!(counted.changes[0].pkid, first.pkid);

    close(&other, &a, &a, &b).await.expect("Close");
    let second = battle(&other, &a, &c).await;
    assert_ne!(second.pkid, first.pkid);
    let followed = gift(&remembers, "follow-2", 9602, &a, 5).await;
    assert!(!followed.duplicate, "{followed:?}");
    assert_eq!(followed.changes.len(), 1, "the gift must count once: {followed:?}");
    assert_eq!(followed.changes[0].pkid, second.pkid, "{followed:?}");
    assert_eq!(followed.changes[0].side_total, 5, "{followed:?}");

    // A retry answers the first outcome; nothing counts twice anywhere.
    let retried = gift(&remembers, "follow-2", 9602, &a, 5).await;
    assert!(retried.duplicate, "{retried:?}");
    assert_eq!(retried.changes, followed.changes);
    let (_, pk) = remembers.seek_pk(&a).await;
    let pk = pk.expect("the new battle");
    assert_eq!((pk.host_gift, pk.guest_gift), (5, 0), "{pk:?}");
    let record = remembers.wait_record(first.pkid).await;
    let scores: Vec<i64> = record.participants.iter().map(|p| p.score).collect();
    assert_eq!(scores, vec![30, 0], "the closed battle keeps only its own gift: {record:?}");
    other.shutdown().await;
    remembers.shutdown().await;
}
