//! LinkCallPk races through the real `livepk` binary against a real Redis. Each race must end
//! in exactly one consistent outcome: both anchors Counting at the deadline together with the
//! timer, Close racing the deadline, two hosts Linking the same guest, Confirm racing the popup
//! expiry.

mod support;

use std::time::Duration;

use futures::future::join_all;
use livepk::pb::common::TargetKind;
use livepk::pb::linkcall::{ConfirmCode, PkPhase, PkState, SingerComeInRoomRequest};
use support::*;
use tonic::Code;

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
    let deployment = Deployment::new();
    let server = deployment.spawn().await;
    server.set_config("linkcall.pk_seconds", "1").await;
    server.set_config("linkcall.punish_seconds", "1").await;
    // Three pairs race at once, each at a slightly different moment after the deadline.
    let rounds = (0..3u64).map(|round| {
        let server = &server;
        async move {
            let host = Anchor::new(3001 + 2 * round, 7001 + 2 * round);
            let guest = Anchor::new(3002 + 2 * round, 7002 + 2 * round);
            host.online(server).await;
            guest.online(server).await;
            let started = battle(server, &host, &guest).await;
            let pkid = started.pkid;
            gift(server, &format!("race-count-{round}"), 9100 + round, &host, 40).await;
            sleep_until_ms(started.pk[0].phase_deadline_ms + 10 * round).await;
            let (by_host, by_guest) = tokio::join!(
                count(server, &host, &host, &guest),
                count(server, &guest, &host, &guest)
            );
            let wins = [&by_host, &by_guest].iter().filter(|result| result.is_ok()).count();
            assert!(wins <= 1, "two Counts settled the same pk: {by_host:?} {by_guest:?}");
            let expected = (pkid, 40, 0, host.id);
            assert_eq!(settled_of(&by_host), expected, "{by_host:?}");
            assert_eq!(settled_of(&by_guest), expected, "{by_guest:?}");

            eprintln!(
                "count race {round}: host {by_host:?} / guest {by_guest:?}",
                by_host = by_host.as_ref().map(|_| "COUNT").map_err(|_| "024"),
                by_guest = by_guest.as_ref().map(|_| "COUNT").map_err(|_| "024")
            );
            let record = server.wait_record(pkid).await;
            let ended_by = if wins == 1 { "count" } else { "deadline" };
            assert_eq!(record.ended_by, ended_by, "{record:?} after {by_host:?} {by_guest:?}");
            assert_eq!(record.winner_id, host.id);
            // Let the punishment end so any straggling timer has had its chance.
            server.wait_phase(&host, PkPhase::Linked).await;
            (host, guest, pkid)
        }
    });
    let battles = join_all(rounds).await;
    let events = server.fetch_all().await;
    for (host, guest, pkid) in &battles {
        assert_eq!(server.records_of(host.id).await.len(), 1, "one record for pk {pkid}");
        for anchor in [host, guest] {
            assert_eq!(
                count_pklists(&events, anchor.id, *pkid),
                1,
                "COUNT pklist nts of pk {pkid} to {}",
                anchor.id
            );
            let states = events
                .iter()
                .filter(|event| is_state(event, anchor.id, PkState::Count) && event.pkid == *pkid)
                .count();
            assert_eq!(states, 1, "COUNT state nts of pk {pkid} to {}", anchor.id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linkcall_races_close_with_the_deadline() {
    let deployment = Deployment::new();
    let server = deployment.spawn().await;
    server.set_config("linkcall.pk_seconds", "1").await;
    server.set_config("linkcall.punish_seconds", "1").await;
    let offsets: [i64; 4] = [-20, 0, 5, 25];
    let rounds = offsets.iter().enumerate().map(|(round, offset)| {
        let server = &server;
        let round = round as u64;
        async move {
            let host = Anchor::new(3101 + 2 * round, 7101 + 2 * round);
            let guest = Anchor::new(3102 + 2 * round, 7102 + 2 * round);
            host.online(server).await;
            guest.online(server).await;
            let started = battle(server, &host, &guest).await;
            let pkid = started.pkid;
            gift(server, &format!("race-close-{round}"), 9200 + round, &guest, 25).await;
            let deadline = started.pk[0].phase_deadline_ms;
            sleep_until_ms(deadline.saturating_add_signed(*offset)).await;
            let closed =
                close(server, &host, &host, &guest).await.expect("Close racing the deadline");
            assert_eq!((closed.pk_state, closed.pkid), (PkState::Over as i32, pkid), "{closed:?}");
            let pk = closed.pk[0];
            assert_eq!(
                (pk.host_gift, pk.guest_gift, pk.winner_id),
                (0, 25, guest.id),
                "{closed:?}"
            );

            let record = server.wait_record(pkid).await;
            assert!(["close", "deadline"].contains(&record.ended_by.as_str()), "{record:?}");
            eprintln!("close race at {offset:+} ms: ended by {}", record.ended_by);
            assert_eq!((record.winner_id, record.winner_side.as_str()), (guest.id, "guest"));
            // Both anchors are released and free to link again.
            for anchor in [&host, &guest] {
                assert_eq!(
                    server.seek_pk(anchor).await,
                    (0, None),
                    "anchor {} released",
                    anchor.id
                );
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
            // Past the time a punishment would have ended: nothing may come back to life.
            sleep_until_ms(now_ms().max(deadline + 1_500)).await;
            assert_eq!(server.seek_pk(&host).await, (0, None));
            assert_eq!(
                link(server, &host, &guest).await.expect("Link after the close").pk_state,
                PkState::Popup as i32
            );
            (host, guest, pkid, record.ended_by)
        }
    });
    let battles = join_all(rounds).await;
    let events = server.fetch_all().await;
    for (host, guest, pkid, ended_by) in &battles {
        assert_eq!(server.records_of(host.id).await.len(), 1, "one record for pk {pkid}");
        let counted = usize::from(ended_by == "deadline");
        for anchor in [host, guest] {
            assert_eq!(
                count_pklists(&events, anchor.id, *pkid),
                counted,
                "pk {pkid} ended by {ended_by}: COUNT pklist nts to {}",
                anchor.id
            );
        }
        let overs: Vec<usize> = (0..events.len())
            .filter(|index| {
                is_state(&events[*index], guest.id, PkState::Over) && events[*index].pkid == *pkid
            })
            .collect();
        assert_eq!(overs.len(), 1, "one OVER to the guest for pk {pkid}");
        // After the OVER nt only the close's own info nts (phase unspecified: closed) follow.
        for event in &events[overs[0]..] {
            if event.pkid != *pkid || event.r#type == "linkcallpk_singer_state_nt" {
                continue;
            }
            let closing_info = event.r#type == "linkcallpk_room_pk_info_nt"
                && info_nt(event).is_some_and(|nt| nt.pk[0].phase == PkPhase::Unspecified as i32);
            assert!(closing_info, "pk {pkid} ({ended_by}): event after the close: {event:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linkcall_races_hosts_link_the_same_guest() {
    let deployment = Deployment::new();
    let server = deployment.spawn().await;
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linkcall_races_confirm_with_the_popup_expiry() {
    let deployment = Deployment::new();
    let server = deployment.spawn().await;
    server.set_config("linkcall.popup_seconds", "1").await;
    // Milliseconds after Link was sent at which the guest agrees; the popup lives 1000 ms.
    let offsets: [u64; 6] = [500, 960, 990, 1000, 1020, 1500];
    let rounds = offsets.iter().enumerate().map(|(round, offset)| {
        let server = &server;
        let round = round as u64;
        async move {
            let host = Anchor::new(3301 + 2 * round, 7301 + 2 * round);
            let guest = Anchor::new(3302 + 2 * round, 7302 + 2 * round);
            host.online(server).await;
            guest.online(server).await;
            let sent = now_ms();
            link(server, &host, &guest).await.expect("Link");
            sleep_until_ms(sent + offset).await;
            let outcome = confirm(server, &guest, &host, ConfirmCode::Agree).await;
            // Whatever happened, let the expiry job run.
            sleep_until_ms(sent + 1_000 + 400).await;
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
            (*offset, host, guest, agreed)
        }
    });
    let outcomes = join_all(rounds).await;
    // Every expiry job has run by now (the last round waited past its expiry).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let events = server.fetch_all().await;
    for (offset, host, guest, agreed) in &outcomes {
        let answers: Vec<i32> = events
            .iter()
            .filter(|event| {
                event.r#type == "linkcallpk_singer_state_nt"
                    && target_of(event) == (TargetKind::Singer, host.id)
                    && state_nt(event).is_some_and(|nt| nt.singer_id == guest.id)
            })
            .map(|event| state_nt(event).unwrap().pk_state)
            .collect();
        let expected = if *agreed { PkState::Yes } else { PkState::No };
        assert_eq!(
            answers,
            vec![expected as i32],
            "confirm at +{offset} ms: the host hears one answer"
        );
    }
    assert!(outcomes[0].3, "a confirm well inside the popup's life succeeds");
    assert!(!outcomes[offsets.len() - 1].3, "a confirm well after the popup lapsed fails");
}

/// Gifts keep arriving while the deadline settles the PK: the settled score is exactly the sum
/// of the gifts whose RecordGift answered that they counted, no more, no less.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linkcall_races_gifts_across_the_deadline() {
    let deployment = Deployment::new();
    let server = deployment.spawn().await;
    server.set_config("linkcall.pk_seconds", "1").await;
    server.set_config("linkcall.punish_seconds", "1").await;
    let host = Anchor::new(3401, 7401);
    let guest = Anchor::new(3402, 7402);
    host.online(&server).await;
    guest.online(&server).await;
    let started = battle(&server, &host, &guest).await;
    let pkid = started.pkid;
    let deadline = started.pk[0].phase_deadline_ms;
    sleep_until_ms(deadline - 300).await;
    let senders = (0..4u64).map(|sender| {
        let (server, host, guest) = (&server, &host, &guest);
        async move {
            let mut counted = (0u64, 0u64);
            let mut n = 0;
            while now_ms() < deadline + 200 {
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
            }
            counted
        }
    });
    let counted = join_all(senders).await;
    let host_total: u64 = counted.iter().map(|(host, _)| host).sum();
    let guest_total: u64 = counted.iter().map(|(_, guest)| guest).sum();
    assert!(host_total + guest_total > 0, "no gift counted before the deadline");

    let record = server.wait_record(pkid).await;
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
}

/// The gift path remembers which battle an anchor scores in (for 2 s). When the anchor closes
/// that battle and starts another at once, the next gift must still land in the new battle —
/// the remembered one answers "outside" and the ledger looks again — and never in the old one.
/// Two servers on one Redis: the one that remembers is not the one that closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linkcall_races_gift_follows_the_anchor_into_a_new_battle() {
    let deployment = Deployment::new();
    let remembers = deployment.spawn().await;
    let other = deployment.spawn().await;
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
}
